-- The admin API lists orders newest first, a page at a time (`GET /api/v1/orders`): the page
-- after a cursor is read from this index instead of sorting every order.
create index orders_created on orders (created_at, order_id);
