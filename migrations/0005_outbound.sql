-- Outbound: click-to-call through Exotel's Calls/connect, and the SMS after an unanswered call.
-- Same portable subset as 0001: TEXT and BIGINT only, times as unix milliseconds.

-- One click-to-call. Its call record is the `calls` row (provider 'exotel', call_sid = call_id,
-- route 'click_to_call'); this row ties it to Exotel's Call Sid, which the status callback
-- carries as `CallSid` (and our id as `CustomField`).
create table outbound_calls (
    call_id     text primary key,    -- pinbridge's id, sent as CustomField
    exotel_sid  text unique,         -- Exotel's Call.Sid, once it answered
    order_id    text,
    booking_id  text,
    status      text not null,       -- requested | accepted | rejected | unknown
    http_status bigint,              -- Exotel's HTTP status when it did not accept
    created_at  bigint not null,
    updated_at  bigint not null
);

-- One SMS decision per unanswered call: a repeated delivery of the call's end finds its row and
-- sends nothing more. No phone number or message text is kept.
create table outbound_sms (
    provider    text not null,       -- of the unanswered call
    call_sid    text not null,
    subject     text not null,       -- order:<order_id> | booking:<booking_id>
    status      text not null,       -- sending | sent | failed | cooldown
    exotel_sid  text,                -- SMSMessage.Sid, once accepted
    created_at  bigint not null,
    updated_at  bigint not null,
    primary key (provider, call_sid)
);

-- The last SMS per order or booking: a new one only after PINBRIDGE_SMS_COOLDOWN. Claimed by a
-- single conditional upsert, so two instances (or two deliveries) never both send.
create table sms_cooldowns (
    subject     text primary key,
    claimed_at  bigint not null,
    claimed_by  text not null        -- provider:call_sid of the call that claimed it
);
