//! The admin surfaces, behind admin tokens: the JSON API under `/api/v1` ([`api`]) and the
//! web UI under `/admin` ([`ui`]), and how both authenticate ([`auth`]).

pub mod api;
pub mod auth;
pub mod ui;

pub use auth::AdminAuth;
