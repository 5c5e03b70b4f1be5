-- Event webhooks: the outbox of events for the business's endpoint (PINBRIDGE_EVENTS_URL).
-- Same portable subset as 0001: TEXT and BIGINT columns, times as unix milliseconds.
--
-- A row is written in the path of the request that caused the event (a cheap insert) and
-- delivered in the background, at least once. It stays `pending` until the endpoint answers
-- 2xx, across restarts; delivered and abandoned rows are kept a while so that a repeated
-- provider callback (the same `dedupe_key`) emits nothing new.

create table event_outbox (
    id              text primary key,     -- evt_...: the `id` of the delivered JSON
    dedupe_key      text not null,        -- call.completed:exotel:{CallSid}, booking.expired:{booking_id}, ...
    kind            text not null,        -- call.completed | call.unanswered | pin.locked | booking.expired
    body            text not null,        -- the exact JSON posted, fixed when the event was stored
    status          text not null,        -- pending | delivered | abandoned
    attempts        bigint not null default 0,
    created_at      bigint not null,
    next_attempt_at bigint not null,      -- a pending row is due from then on
    leased_until    bigint,               -- an instance is delivering it until then
    last_status     bigint,               -- HTTP status of the last attempt; null: none, or no answer
    last_error      text,                 -- why the last attempt failed (never the secret or a number)
    done_at         bigint                -- when it was delivered or abandoned
);
create unique index event_outbox_dedupe_key on event_outbox (dedupe_key);
create index event_outbox_due on event_outbox (status, next_attempt_at);
