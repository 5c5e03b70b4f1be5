-- Allocation by geography, memory and cool-off, and the pool in view.
--
-- country: the number's ISO 3166-1 alpha-2 country (`IN`, `US`), derived from its E.164 form
--   when it is added (numbers added before this migration get theirs when the migrations run,
--   `pool::fill_countries`); a booking is given a number of its parties' country.
-- region: where in the country, when the provider or the operator gives it (`KA`, `CA-94`):
--   shown, not matched.
alter table virtual_numbers add column country text;
alter table virtual_numbers add column region text;

-- A party keeps the number it already knows (sticky) and the same two parties wait out the
-- cool-off before sharing a number again: both read the party's bookings of any status on a
-- number. Those not closed are in the partial indexes of migration 0009; these hold the
-- closed ones. Partial on the other side, so that the search for the numbers a party holds
-- now keeps to the small indexes of bookings not closed (full indexes drew SQLite's planner
-- to them, and to every booking the party ever had).
create index bookings_closed_a on bookings (party_a, virtual_number) where closed_at is not null;
create index bookings_closed_b on bookings (party_b, virtual_number) where closed_at is not null;

-- Allocations refused for want of a number, by the country and provider asked for: the
-- dashboard shows those of the last day across every instance (rows older than a day are
-- deleted as new ones come).
create table allocation_refusals (
    country text not null,
    provider text not null,
    refused_at bigint not null
);
create index allocation_refusals_by_time on allocation_refusals (refused_at);
