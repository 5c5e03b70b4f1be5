//! Work pinbridge starts towards others: event webhooks to the business ([`events`]), the SMS
//! after an unanswered call ([`sms`]), and Exotel's REST API that sends it and places
//! click-to-calls ([`exotel_api`]).

pub mod events;
pub mod exotel_api;
pub mod sms;
