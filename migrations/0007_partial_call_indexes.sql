-- The call indexes that only bridged calls need hold only bridged calls.
--
-- A call gets its order id when its PIN is found and its destination when it is bridged; until
-- then (and for good, for a call that reaches no one) both are NULL. Indexed in full, every new
-- call's record added an entry for its NULLs, and the bridge moved it: writes to two indexes
-- that no query reads, since each lookup names a value (`order_id = $1`; the callback's
-- `destination = $2`), which PostgreSQL and SQLite both take to imply `is not null`.
drop index calls_order_id;
create index calls_order_id on calls (order_id) where order_id is not null;

drop index calls_callback;
create index calls_callback on calls (virtual_number, destination, bridged_at)
    where destination is not null;
