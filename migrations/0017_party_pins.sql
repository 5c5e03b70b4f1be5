-- Party PINs of bookings: a party who calls from another phone keys its PIN on the booking's
-- virtual number and is bridged to the other party (party A's PIN reaches party B).
--
-- A party PIN is a keyed PIN like an order's, so it is stored among the orders: the one
-- check-pin lookup finds it, and the PIN density, the caller's lockout and the number's
-- guessing budget count it without a second path. Its row is tied to its booking by
-- `booking_id` (the order id is `<booking_id>:a` or `<booking_id>:b`, its customer the other
-- party), lives and ends with the booking, and is not an order of the orders API.
--   orders.booking_id: the booking whose party PIN this row is; null for an order.
--   bookings.pin_mode: `unknown_callers` (a party's own phone needs no PIN) or `always`
--     (every caller keys a PIN, the parties' own phones too).
alter table orders add column booking_id text;
create index orders_by_booking on orders (booking_id) where booking_id is not null;
alter table bookings add column pin_mode text not null default 'unknown_callers';

-- What a caller with no route on a virtual number hears (no booking of theirs on it, no
-- callback, or a booking that has ended): `pin` (asked for a PIN: an order's or a party's),
-- `message` (told there is no one to dial, then hung up) or `desk`
-- (PINBRIDGE_FALLBACK_NUMBER). Plivo's number masking offers the same three for such callers.
alter table virtual_numbers add column strangers text not null default 'pin';
