//! Provider adapters: each turns its provider's webhooks into flow events and renders the
//! flow's decisions in its own wire format. One module per provider, the same inner shape in
//! each: `params` (what the provider sends, every field optional), `response` (render a
//! decision), `auth` (signature or secret check).

pub mod eight_by_eight;
pub mod exotel;
pub mod form;
pub mod plivo;
pub mod twilio;
pub mod vonage;
