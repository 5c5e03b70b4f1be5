//! pinbridge: the webhook server behind a phone-number-masking service.
//!
//! A courier dials a shared virtual number, hears a greeting, keys in an order's PIN, and is
//! bridged to that order's customer; neither learns the other's number. The telephony provider
//! calls pinbridge at each step of the call and does what it answers.
//!
//! The path of one provider request, one way down: [`providers`] (each provider's handlers
//! read its parameters, check its signature, and render the decision in its wire format) →
//! [`call`] (the session reads the call's state and the facts it needs, runs the pure flow
//! engine, writes the result) → [`storage`] (the only SQL, with its writer) → [`domain`].
//! [`app`] wires it together from [`config`]; [`admin`] and [`ops`] are the operators' edges;
//! [`outbound`] holds what pinbridge sends (event webhooks, SMS, Exotel's REST API).
//! `docs/architecture.md` draws it.

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

#[cfg(test)]
mod layers;
