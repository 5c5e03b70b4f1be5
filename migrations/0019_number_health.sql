-- The health of virtual numbers, and bookings moved off a number that lost it.
--
-- virtual_numbers.unhealthy_at: unix ms when the number was marked unhealthy; null: healthy.
--   An unhealthy number is given to no booking, and the bookings on it are moved to another.
-- virtual_numbers.unhealthy_reason: why, as the operator or the heartbeat gave it (shown).
-- virtual_numbers.unhealthy_by: `operator` or `heartbeat` (Exotel's heartbeat webhook). A
--   heartbeat that reports the number well again clears only its own mark.
-- virtual_numbers.exotel_sid: the ExoPhone's SID (Exotel's phone_number_sid), which names the
--   number in the heartbeat; null: not known, and the heartbeat can not mark the number.
alter table virtual_numbers add column unhealthy_at bigint;
alter table virtual_numbers add column unhealthy_reason text;
alter table virtual_numbers add column unhealthy_by text;
alter table virtual_numbers add column exotel_sid text;
create unique index virtual_numbers_exotel_sid on virtual_numbers (exotel_sid)
    where exotel_sid is not null;

-- bookings.previous_number: the number a booking was moved off (E.164); a party calling it
--   still reaches the other party until previous_until (unix ms, PINBRIDGE_HEALTH_GRACE).
alter table bookings add column previous_number text;
alter table bookings add column previous_until bigint;
create index bookings_previous_a on bookings (party_a, previous_number, previous_until)
    where previous_number is not null;
create index bookings_previous_b on bookings (party_b, previous_number, previous_until)
    where previous_number is not null;
