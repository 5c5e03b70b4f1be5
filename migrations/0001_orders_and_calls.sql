-- Portable between SQLite and PostgreSQL through sqlx::Any (DESIGN.md, "State"):
-- TEXT and BIGINT columns only, times as unix milliseconds, flags as 0/1.

-- One order of the PIN flow: the courier who keys `pin` on `virtual_number` reaches `customer_number`.
create table orders (
    order_id        text primary key,
    customer_number text not null,       -- E.164
    pin             text not null,
    virtual_number  text,                -- E.164; null: the PIN works on every virtual number
    created_at      bigint not null,
    expires_at      bigint not null,
    deactivated_at  bigint               -- set by DELETE /api/v1/orders/{id}
);
-- PIN look-ups during a call.
create index orders_pin on orders (pin, virtual_number);

-- One call: the session state the flow engine needs between webhooks, and the call record
-- that the call log shows. Keyed by provider and the provider's call id.
create table calls (
    provider         text not null,
    call_sid         text not null,
    caller           text,               -- E.164 when it parsed, else as received
    virtual_number   text,               -- E.164 when it parsed, else as received
    phase            text not null,      -- collecting_pin | resolved | exhausted
    last_failure     text,               -- wrong_pin | no_input
    pin_attempts     bigint not null default 0,
    order_id         text,
    destination      text,               -- the number pinbridge told the provider to dial
    outcome          text not null,      -- connected | no_answer | busy | canceled | failed | pin_failed | abandoned | in_progress
    dial_call_status text,               -- as received
    call_type        text,               -- as received
    dial_secs        bigint,
    talk_secs        bigint,
    recording_url    text,
    legs             text,               -- JSON array of the legs as received
    provider_start_time text,            -- as received (Exotel: IST, no offset)
    started_at       bigint not null,
    updated_at       bigint not null,
    ended_at         bigint,
    primary key (provider, call_sid)
);
create index calls_started_at on calls (started_at);
create index calls_order_id on calls (order_id);

-- Values generated on the first start and kept across restarts: the Exotel URL secret, and the
-- SHA-256 of a generated admin token (the token itself is printed once and never stored).
create table instance_secrets (
    name       text primary key,
    value      text not null,
    created_at bigint not null
);
