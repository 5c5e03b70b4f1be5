//! Domain types, parsed once at the edge and trusted everywhere after.
//!
//! Owns: the validated values every layer passes around (phone numbers, PINs, CallSids,
//! orders, outcomes). Must not touch: any other pinbridge module: it is the bottom layer.
//!
//! Nothing here knows about HTTP, SQL or a provider's wire format: a provider adapter turns its
//! lenient parameters into these types, and the flow engine and storage only ever see them.

mod booking;
mod call;
mod call_options;
mod call_sid;
pub mod clock;
mod log_safe;
mod mask;
mod order;
mod outcome;
mod phone_number;
mod pin;
mod token;
mod trusted_caller;

pub use booking::{
    BookingFieldError, BookingFields, BookingStatus, Callers, MAX_ALTERNATES, MAX_BOOKING_TTL_MS,
    NewBooking, PROVIDERS, PinMode, parse_alternates, parse_booking_expiry, parse_party_b,
};
pub use call::{CallState, Failure, Phase, Route, Strangers};
pub use call_options::{
    CallOptionError, CallOptions, CallOptionsChange, MAX_CONVERSATION_SECS, RING_TIMEOUT_SECS,
    parse_language,
};
pub use call_sid::{CallSid, CallSidError};
pub use log_safe::{LogSafe, MAX_LOGGED_LEN, is_loggable_as_sent, log_safe};
pub use mask::{MASKED_PIN, mask, number_for, pin_for};
pub use order::{
    NewOrder, OrderChange, OrderField, OrderFieldError, OrderRules, OrderStatus, PinChoice,
};
pub use outcome::{DialStatus, Outcome};
pub use phone_number::{PhoneNumber, PhoneNumberError, Region};
pub use pin::{Pin, PinError};
pub use token::{random_token, token_digest};
pub use trusted_caller::{
    MAX_LABEL_CHARS, NewTrustedCaller, TrustedCallerField, TrustedCallerFieldError,
};
