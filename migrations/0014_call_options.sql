-- How a bridge is dialled, per virtual number, order and booking. Every column is nullable:
-- NULL inherits (an order's or booking's value, else its virtual number's, else the setting:
-- PINBRIDGE_MAX_RINGING_DURATION, PINBRIDGE_MAX_CONVERSATION_DURATION, PINBRIDGE_RECORD_CALLS,
-- PINBRIDGE_WHISPER). Seconds as BIGINT, booleans as 0/1, a language as its BCP 47 primary tag
-- (virtual_numbers.language exists since the greetings: the language callers of the number hear).
alter table virtual_numbers add column ring_timeout_secs bigint;
alter table virtual_numbers add column max_conversation_secs bigint;
alter table virtual_numbers add column record bigint;
alter table virtual_numbers add column whisper bigint;

alter table orders add column language text;
alter table orders add column ring_timeout_secs bigint;
alter table orders add column max_conversation_secs bigint;
alter table orders add column record bigint;
alter table orders add column whisper bigint;

alter table bookings add column language text;
alter table bookings add column ring_timeout_secs bigint;
alter table bookings add column max_conversation_secs bigint;
alter table bookings add column record bigint;
alter table bookings add column whisper bigint;
