//! Vonage Voice API: webhooks answered with NCCOs (`reference/providers.md` §4;
//! https://developer.vonage.com/voice/voice-api/webhook-reference and
//! https://developer.vonage.com/voice/voice-api/ncco-reference).
//!
//! pinbridge drives the whole call. The application's answer URL (`/vonage/answer`, GET by
//! default, POST with `answer_method=POST`) routes the caller or asks for the PIN with a `talk`
//! and an `input` action; the `input` action's `eventUrl` (`/vonage/pin`) checks the digits and
//! answers the next NCCO, which replaces the current one; the application's event URL and the
//! `connect` action's `eventUrl` (`/vonage/event`) report each leg's status, from which the
//! outcome is recorded.
//!
//! A call is keyed by its `conversation_uuid`: the caller's leg and the leg pinbridge dials
//! share it, while each leg has its own `uuid`. Vonage writes numbers in E.164 without the `+`
//! (`447700900000`).
//!
//! With signed webhooks on, every request carries `Authorization: Bearer <JWT>` (HS256 with the
//! account's signature secret) whose `payload_hash` claim is the SHA-256 of the body; see
//! [`auth`].

pub mod auth;
pub mod handlers;
pub mod params;
pub mod response;

/// The provider's name in call records and logs.
pub const PROVIDER: &str = "vonage";
