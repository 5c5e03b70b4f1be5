//! Plivo Voice: webhooks answered with Plivo XML (`reference/providers.md` §2;
//! https://www.plivo.com/docs/voice/xml/request/).
//!
//! pinbridge drives the whole call: `/plivo/answer` (the application's Answer URL) routes the
//! caller or asks for the PIN with `<GetInput>`, `/plivo/pin` (its action) checks the digits,
//! and `/plivo/hangup` (the `<Dial>` action and the application's Hangup URL) records the
//! outcome. Requests are signed with signature V3 ([`auth`]).

pub mod auth;
pub mod handlers;
pub mod params;
pub mod response;

/// The provider's name in call records and logs.
pub const PROVIDER: &str = "plivo";
