//! The call: the pure flow engine ([`flow`]), the session that feeds it what storage knows and
//! keeps the call's state ([`session`]), what callers hear ([`greetings`], [`prompts`]), and
//! the reconciler that closes calls whose end report never came ([`reconcile`]).
//! No HTTP and no SQL here: providers call in, storage is called.
//!
//! Owns: the rules of a call and everything a step keeps in memory. Must not touch: HTTP,
//! provider wire formats, SQL.

pub mod flow;
pub mod greetings;
pub mod health;
pub mod prompts;
pub mod reconcile;
pub mod session;

/// How a bridge is dialled, on every provider: the typed bridge settings, read once at load.
pub use crate::config::ConnectOptions;
