-- One-way bookings, and bookings waiting for their party B.
--
-- callers: which parties may call the other through the virtual number: `both`, `party_a`
--   (only party A calls party B) or `party_b`. A party who may not call is answered as a
--   stranger on the number (its `strangers` answer), callbacks included.
-- party_b: the empty string while the booking waits for its party B (status `pending`):
--   `PATCH /api/v1/bookings/{id}` sets it once. The column stays `not null` (SQLite can not
--   drop the constraint in place), and the empty string matches no caller, so the party
--   indexes of migration 0009 and the allocation's queries need no change.
alter table bookings add column callers text not null default 'both';
