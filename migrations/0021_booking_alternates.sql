-- Alternate numbers of a booking's parties: a party who also calls from another phone of
-- theirs (Exotel's number masking takes several numbers a side) is bridged from it as from
-- its own. One row an alternate; `party` is `a` or `b`.
--
-- A caller's booking is still found in one read (`bookings::find_peer`): a third branch
-- looks the caller up here by number and reads the booking it names, whose number, expiry
-- and closing are the booking's own (nothing here to keep in step with them). The allocation
-- rule counts an alternate as its party's number, so (caller, virtual number) still names one
-- active booking.
create table booking_alternates (
    booking_id text not null,
    party text not null,
    number text not null,
    primary key (booking_id, number)
);
create index booking_alternates_by_number on booking_alternates (number);
