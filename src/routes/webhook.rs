//! What every provider's webhook handlers share: identifying the call, running a flow step
//! within the time budget, and falling back to a safe answer when that fails.

use std::future::Future;

use crate::domain::{CallSid, PhoneNumber, Pin};
use crate::flow::{self, CallEvent, Decision, Outcome};
use crate::sessions::Inbound;
use crate::startup::AppState;
use crate::storage::calls::CallEnd;

/// Identifies a call from what a provider sent: its call id (refused when malformed), the
/// caller and the dialled number (kept as received when they do not parse).
pub fn inbound(
    state: &AppState,
    provider: &'static str,
    call_sid: Option<&str>,
    caller: Option<&str>,
    dialled: Option<&str>,
) -> Option<Inbound> {
    let call_sid = CallSid::parse(call_sid?).ok()?;
    let parse = |n: Option<&str>| n.and_then(|n| PhoneNumber::parse(n, state.region).ok());
    Some(Inbound {
        provider,
        call_sid,
        caller: parse(caller),
        caller_raw: caller.map(str::to_owned),
        virtual_number: parse(dialled),
        virtual_number_raw: dialled.map(str::to_owned),
    })
}

/// Runs `work` within the webhook time budget. On a storage error or a spent budget, logs why
/// (with the call id only) and returns `None`, so the handler answers its safe fallback.
pub async fn within_budget<T>(
    state: &AppState,
    applet: &'static str,
    call: &Inbound,
    work: impl Future<Output = Result<T, sqlx::Error>>,
) -> Option<T> {
    match tokio::time::timeout(state.settings.webhook_timeout, work).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            tracing::error!(provider = call.provider, applet, call.sid = %call.call_sid, error = %e, "storage failed; answering the safe fallback");
            None
        }
        Err(_) => {
            tracing::error!(provider = call.provider, applet, call.sid = %call.call_sid, "time budget spent; answering the safe fallback");
            None
        }
    }
}

/// Runs one flow event, or yields `fallback` when the request has no usable call id or the
/// step fails.
pub async fn run(
    state: &AppState,
    provider: &'static str,
    applet: &'static str,
    call: Option<&Inbound>,
    event: CallEvent,
    fallback: Decision,
) -> Decision {
    let Some(call) = call else {
        tracing::warn!(provider, applet, "request without a usable call id");
        return fallback;
    };
    let decision = within_budget(state, applet, call, state.sessions.step(call, event))
        .await
        .unwrap_or(fallback);
    tracing::info!(
        provider,
        applet,
        call.sid = %call.call_sid,
        decision = flow::decision_name(&decision),
        "call step"
    );
    decision
}

/// Records the end of a call (or of its dialled leg); failures are logged, never answered.
pub async fn end(state: &AppState, applet: &'static str, call: Option<&Inbound>, end: &CallEnd) {
    let Some(call) = call else {
        tracing::warn!(applet, "status report without a usable call id");
        return;
    };
    if let Some(outcome) = within_budget(state, applet, call, state.sessions.end(call, end)).await {
        tracing::info!(provider = call.provider, applet, call.sid = %call.call_sid, outcome = Outcome::as_str(outcome), "call ended");
    }
}

/// The flow event for keyed digits: nothing keyed is a timeout; anything else is an entry,
/// which may not even be a well-formed PIN (and then costs an attempt like a wrong one).
pub fn digits_event(state: &AppState, digits: &str) -> CallEvent {
    if digits.is_empty() {
        CallEvent::NoInput
    } else {
        CallEvent::Digits {
            pin: Pin::parse(
                digits,
                state.settings.pin_min_length,
                state.settings.pin_max_length,
            )
            .ok(),
        }
    }
}

/// 403 when `PINBRIDGE_ALLOWED_SOURCE_NETWORKS` is set and the request's client (the peer,
/// or `X-Forwarded-For` behind a trusted proxy) is outside it. Used by the providers that sign
/// nothing (Exotel, 8x8; `reference/exotel.md` §5).
pub fn source_refusal(
    state: &AppState,
    req: &actix_web::HttpRequest,
) -> Option<actix_web::HttpResponse> {
    if super::source::source_allowed(
        req,
        state.allowed_source_networks.as_deref(),
        &state.trusted_proxies,
    ) {
        return None;
    }
    tracing::warn!("refused a webhook from outside PINBRIDGE_ALLOWED_SOURCE_NETWORKS");
    Some(
        actix_web::HttpResponse::Forbidden()
            .content_type("text/plain")
            .body("source not allowed"),
    )
}

/// The answer when a provider-driven call can not be served: say sorry, dial no one.
pub fn sorry() -> Decision {
    Decision::Goodbye {
        prompt: flow::Prompt::NoOneToDial,
    }
}
