-- Caller-based masking: the virtual-number pool and the bookings that pair two parties on one
-- number. Same portable subset as 0001.

-- A virtual number pinbridge may hand out.
create table virtual_numbers (
    number     text primary key,     -- E.164
    provider   text not null,        -- exotel | twilio | plivo | 8x8 | vonage
    reserved   bigint not null default 0,  -- 1: only given to bookings that name it
    drained_at bigint,               -- set by DELETE: no new bookings, existing ones go on
    created_at bigint not null
);

-- Two parties who reach each other through `virtual_number` until `expires_at` or closing.
-- Rule (Twilio Proxy's): a party never holds the same virtual number in two active bookings,
-- so (caller, virtual number) names at most one active booking.
create table bookings (
    booking_id     text primary key,
    reference      text,             -- the business's own id (ride-42)
    party_a        text not null,    -- E.164
    party_b        text not null,    -- E.164
    virtual_number text not null,    -- E.164
    created_at     bigint not null,
    expires_at     bigint not null,
    closed_at      bigint
);
create index bookings_virtual_number on bookings (virtual_number, expires_at);
create index bookings_party_a on bookings (party_a);
create index bookings_party_b on bookings (party_b);

-- How a call was bridged: `route` is pin | booking | callback; `bridged_at` dates the bridge,
-- so a callback finds the last caller who reached someone on a virtual number.
alter table calls add column route text;
alter table calls add column booking_id text;
alter table calls add column bridged_at bigint;
create index calls_callback on calls (virtual_number, destination, bridged_at);
