//! Twilio Programmable Voice: webhooks answered with TwiML (`reference/providers.md` §1).
//!
//! pinbridge drives the whole call: `/twilio/voice` (the number's "A call comes in" URL)
//! routes the caller or asks for the PIN with `<Gather>`, `/twilio/pin` (its `action`) checks
//! the digits, and `/twilio/status` (the `<Dial>` action and the status callback) records the
//! outcome. Requests are signed with `X-Twilio-Signature`.

pub mod auth;
pub mod handlers;
pub mod params;
pub mod response;

/// The provider's name in call records and logs.
pub const PROVIDER: &str = "twilio";
