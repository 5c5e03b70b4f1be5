-- The admin web UI: sign-in sessions, greetings edited as templates, the steps of each call.

-- A signed-in browser. `id_sha256` is the SHA-256 of the session cookie's value (the cookie
-- itself is never stored); `csrf` is the token every form of the session must carry.
create table admin_sessions (
    id_sha256  text primary key,
    token_name text not null,
    pii        bigint not null,      -- 1: may see full phone numbers
    csrf       text not null,
    created_at bigint not null,
    expires_at bigint not null
);

-- An operator's version of a prompt. `virtual_number` '' means every number of that language.
create table greetings (
    prompt         text not null,    -- welcome | enter_pin | wrong_pin | no_input | attempts_used_up | no_one_to_dial
    language       text not null,    -- BCP 47 primary tag: en, hi, ta, ...
    virtual_number text not null,    -- E.164, or '' for every number
    kind           text not null,    -- text | audio
    body           text not null,    -- minijinja template source (text) or an audio URL
    updated_at     bigint not null,
    primary key (prompt, language, virtual_number)
);

-- The language callers on a virtual number hear; null: PINBRIDGE_DEFAULT_LANGUAGE.
alter table virtual_numbers add column language text;

-- Each step of a call's flow, in time order: what was asked, what was answered, how long
-- pinbridge took. `detail` never holds a phone number or digits.
create table call_steps (
    provider   text not null,
    call_sid   text not null,
    at         bigint not null,      -- unix milliseconds
    applet     text not null,        -- greeting, check-pin, voice, pin, ...
    event      text not null,        -- started, digits, no_input, dial_needed, ...
    decision   text not null,        -- ask_for_pin, bridge, goodbye, ...
    detail     text,
    elapsed_us bigint not null
);
create index call_steps_call on call_steps (provider, call_sid, at);
