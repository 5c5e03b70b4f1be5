-- The admin UI finds orders by the start of their id ("OD-12") and by the last digits of the
-- customer's number ("5678") among hundreds of thousands: both become a prefix, read as a
-- range of an index, on keys that storage writes with every order.
--   order_id_hex: the order id's UTF-8 bytes in lower-case hex;
--   customer_digits_reversed: the customer number's digits, last first.
-- Both hold only 0-9 and a-f, whose order is the same under every collation, so the range is
-- exact on PostgreSQL whatever the database's locale (a range over order_id itself is not).
-- Orders stored before this migration get their keys when the server starts
-- (storage::orders::fill_search_keys).
alter table orders add column order_id_hex text;
alter table orders add column customer_digits_reversed text;
create index orders_id_hex on orders (order_id_hex);
create index orders_customer_reversed on orders (customer_digits_reversed);
