-- Abuse resistance: every wrong PIN is a row, so the per-caller and per-virtual-number limits
-- are counted in a window by every instance alike; and orders may name the couriers allowed
-- to use their PIN.

create table pin_failures (
    caller         text not null,    -- E.164, else as received, else 'anonymous'
    virtual_number text not null,    -- E.164, else as received, else 'unknown'
    at             bigint not null   -- unix milliseconds
);
create index pin_failures_caller on pin_failures (caller, at);
create index pin_failures_virtual_number on pin_failures (virtual_number, at);

-- Comma-separated E.164 numbers; null: any caller may use the PIN.
alter table orders add column allowed_callers text;
