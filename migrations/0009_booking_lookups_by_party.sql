-- Booking lookups go by party, and the indexes hold active bookings only.
--
-- A caller-based call looks up the caller's active booking on the dialled number. With the
-- index on (virtual_number, expires_at), SQLite's planner took that one (an equality and a
-- range beat a single equality on a party), and read every active booking of the number to
-- find the caller's: at 500 bookings a number, half a millisecond a call. Allocating a number
-- for a new booking counted each number's bookings and checked each one's parties, reading
-- every active booking's row inside the write transaction: 105 ms with 50,000 active bookings
-- on 100 numbers, during which no call's write could commit.
--
-- Keyed by party, then number, then expiry, a lookup names its whole key and reads one entry
-- (`bookings::find_peer`, `party_holds`), and the numbers a party holds come from that
-- party's own entries (`allocate`). Each number's load is counted in the number's index
-- alone, without its rows, since every query of bookings by number asks for those not
-- closed: the partial indexes hold exactly those (a closed booking never routes again).
drop index bookings_party_a;
drop index bookings_party_b;
create index bookings_party_a on bookings (party_a, virtual_number, expires_at)
    where closed_at is null;
create index bookings_party_b on bookings (party_b, virtual_number, expires_at)
    where closed_at is null;

drop index bookings_virtual_number;
create index bookings_virtual_number on bookings (virtual_number, expires_at)
    where closed_at is null;
