//! pinbridge: the webhook server behind a phone-number-masking service.
//!
//! A courier dials a shared virtual number, hears a greeting, keys in an order's PIN, and is
//! bridged to that order's customer; neither learns the other's number. The telephony provider
//! calls pinbridge at each step of the call and does what it answers.
//!
//! The path of one request: [`routes`] (thin actix handlers) → [`providers`] (the provider's
//! lenient parameters into domain types) → [`sessions`] → [`flow`] (the pure state machine) and
//! [`storage`] (all SQL) → [`providers`] again (the decision in the provider's wire format).

pub mod admin;
pub mod app;
pub mod call;
pub mod config;
pub mod domain;
pub mod http;
pub mod import;
pub mod metrics;
pub mod ops;
pub mod outbound;
pub mod providers;
pub mod sandbox;
pub mod state;
pub mod storage;
pub mod telemetry;
