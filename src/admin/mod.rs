//! The admin surfaces, behind admin tokens: the JSON API under `/api/v1` ([`api`]) and the
//! web UI under `/admin` ([`ui`]), and how both authenticate ([`auth`]).
//!
//! Owns: the operators' edges and their authentication (admin tokens, UI sessions, CSRF).
//! Must not touch: provider webhooks or the call path's caches except through
//! [`crate::call::session::Sessions`]; SQL (storage does it).

pub mod allocation;
pub mod api;
pub mod auth;
pub mod ui;

pub use auth::AdminAuth;
