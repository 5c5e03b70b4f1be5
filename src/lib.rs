//! pinbridge: the webhook server behind a phone-number-masking service.
//!
//! A courier dials a shared virtual number, hears a greeting, keys in an order's PIN, and is
//! bridged to that order's customer; neither learns the other's number. The telephony provider
//! calls pinbridge at each step of the call and does what it answers.
//!
//! The path of one request: [`routes`] (thin actix handlers) → [`providers`] (the provider's
//! lenient parameters into domain types) → [`sessions`] → [`flow`] (the pure state machine) and
//! [`storage`] (all SQL) → [`providers`] again (the decision in the provider's wire format).

pub mod clock;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod expiring;
pub mod flow;
pub mod greetings;
pub mod import;
pub mod mailbox;
pub mod metrics;
pub mod pending;
pub mod prompts;
pub mod providers;
pub mod routes;
pub mod sandbox;
pub mod sessions;
pub mod sms;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod writer;
