-- An order id may be given again once its order is closed (deactivated or expired), and the
-- closed order is kept: the call log and its callbacks still refer to it. So `order_id` is no
-- longer the primary key. At most one order of an id is active, which an index can not say
-- (expiry is a matter of time): the write transaction that admits a new order checks it
-- (`import::admission`), as it checks PINs. An order is told from an older one of its id by
-- its creation time.
--
-- SQLite can not drop a primary key: the table is rebuilt, its rows copied, and its indexes
-- (0001, 0010, 0011) made again. The same statements run on PostgreSQL.
create table orders_rebuilt (
    order_id        text not null,
    customer_number text not null,       -- E.164
    pin             text not null,
    virtual_number  text,                -- E.164; null: the PIN works on every virtual number
    created_at      bigint not null,
    expires_at      bigint not null,
    deactivated_at  bigint,              -- set by DELETE /api/v1/orders/{id}
    allowed_callers text                 -- comma-separated E.164; null: any caller (0003)
);
insert into orders_rebuilt (order_id, customer_number, pin, virtual_number, created_at,
                            expires_at, deactivated_at, allowed_callers)
    select order_id, customer_number, pin, virtual_number, created_at, expires_at,
           deactivated_at, allowed_callers
    from orders;
drop table orders;
alter table orders_rebuilt rename to orders;

-- An order by its id, the newest first. Not unique: an id given again in the millisecond its
-- order was deactivated has the closed order's creation time.
create index orders_id on orders (order_id, created_at);
create index orders_pin on orders (pin, virtual_number);
create index orders_active_by_number on orders (virtual_number, expires_at, pin)
    where deactivated_at is null;
create index orders_created on orders (created_at, order_id);

-- The admin API lists bookings and the virtual-number pool newest first, a page at a time
-- (`GET /api/v1/bookings`, `GET /api/v1/virtual-numbers`), like the orders (0011).
create index bookings_created on bookings (created_at, booking_id);
create index virtual_numbers_created on virtual_numbers (created_at, number);
