//! 8x8 Voice API (CPaaS) number masking and IVR: JSON webhooks answered with a JSON callflow
//! (`reference/providers.md` §3; 8x8Cloud/public-developer-docs, `docs/connect/docs/voice/`).
//!
//! pinbridge drives the whole session. 8x8 POSTs a Voice Call Action (VCA) to `/8x8/{secret}/voice`
//! when a call reaches a virtual number (`callStatus` `CALL_RECEIVED`) and again when an action
//! of the last answer completes (`ACTION_COMPLETED`, echoing its `clientActionId`, with the
//! keyed DTMF in `eventData.dtmf`); each answer is `{"clientActionId", "callflow": [...]}`.
//! Voice Call Status (VCS, `/status`) is per-leg telemetry and is only acknowledged; the Voice
//! Session Summary (VSS, `/session`) records how the session ended.
//!
//! Calls are keyed by `payload.sessionId`: it is stable across a session's VCA requests,
//! whereas `callId` names one leg. 8x8 signs nothing ("no HMAC or signature scheme is documented
//! for Voice webhooks", `webhooks-overview.md`): the URLs carry a secret path segment, and the
//! webhook's optional static `httpAuthHeader` is checked when configured.

pub mod auth;
pub mod handlers;
pub mod params;
pub mod response;

/// The provider's name in call records and logs.
pub const PROVIDER: &str = "8x8";

/// The `clientActionId` of the PIN prompt (`sayAndCapture`). 8x8 echoes the `clientActionId` of
/// the previous answer in the next VCA request (`voice-call-action-webhook-guide.md`), which
/// tells the request carrying the captured digits apart from a new call.
pub const PIN_PROMPT_ACTION_ID: &str = "pinbridge-pin";
