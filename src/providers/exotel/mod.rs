//! Exotel: App Bazaar / Flow Builder applets calling pinbridge's URLs
//! (`reference/exotel.md` §1; seed "Number Masking using Flow Builder and Call API's").
//!
//! Exotel signs nothing; its URLs carry a secret path segment (`/exotel/{secret}/...`).

pub mod auth;
pub mod handlers;
pub mod heartbeat;
pub mod params;
pub mod response;
pub mod status;

/// The provider's name in call records and logs.
pub const PROVIDER: &str = "exotel";
