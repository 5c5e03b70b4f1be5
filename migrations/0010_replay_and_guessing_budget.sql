-- Replay protection and the guessing budget. Same portable subset as 0001: TEXT and BIGINT
-- columns, times as unix milliseconds.

-- A signed request's one-time token (Plivo's V3 nonce, Vonage's JWT `jti`), kept until a
-- request carrying it could no longer be accepted anyway: a second request with the same
-- token within that time is refused.
create table seen_tokens (
    provider   text not null,
    token      text not null,
    expires_at bigint not null,
    primary key (provider, token)
);
create index seen_tokens_expires_at on seen_tokens (expires_at);

-- How much of its guessing budget each virtual number has spent: the customer numbers that
-- unknown callers' wrong PINs could have reached, as an expectation, in millionths, leaking
-- away at the budget's rate. `scope` is a virtual number as the attempt limits key it, or '*'
-- for the orders valid on every number (reachable from any dialled number).
create table pin_budgets (
    scope      text primary key,
    spent      bigint not null,      -- millionths of a customer number, as of updated_at
    updated_at bigint not null       -- unix milliseconds
);

-- What each wrong PIN could have reached: the chance, in millionths, that a guess of its
-- length hit an active order on its number (or valid on every number) when it was keyed, and
-- the part of it that orders valid on every number make. Kept a day for the exposure the
-- dashboard and /metrics show.
alter table pin_failures add column weight bigint not null default 0;
alter table pin_failures add column weight_every bigint not null default 0;

-- Callers an operator vouches for (the fleet's couriers): never stopped by a number's spent
-- guessing budget, only by their own wrong-PIN limit.
create table trusted_callers (
    number     text primary key,     -- E.164
    label      text,                 -- the operator's name for them
    created_at bigint not null
);

-- A caller bridged through a virtual number recently is known there: looked up by caller.
create index calls_caller_bridged on calls (caller, virtual_number, bridged_at)
    where bridged_at is not null;

-- A number's active PINs by length, for the weight of a wrong PIN and the PIN density the
-- dashboard shows: counted in this index alone, without the orders' rows.
create index orders_active_by_number on orders (virtual_number, expires_at, pin)
    where deactivated_at is null;
