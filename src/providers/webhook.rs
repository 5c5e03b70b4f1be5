//! What every provider's webhook handlers share: identifying the call, running a flow step
//! within the time budget, and falling back to a safe answer when that fails.

use std::future::Future;

use crate::call::flow::{self, CallEvent, Decision, Outcome};
use crate::call::session::Inbound;
use crate::domain::{CallSid, PhoneNumber, Pin};
use crate::state::AppState;
use crate::storage::calls::CallEnd;
use crate::storage::steps::StepLog;
use crate::telemetry::StepLine;

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
    let parse =
        |n: Option<&str>| n.and_then(|n| PhoneNumber::parse(n, state.settings.orders.region).ok());
    Some(Inbound {
        provider,
        call_sid,
        caller: parse(caller),
        // PostgreSQL can not store a NUL character; nothing that dials or reads needs one.
        caller_raw: caller.map(|c| c.replace('\0', "")),
        virtual_number: parse(dialled),
        virtual_number_raw: dialled.map(|d| d.replace('\0', "")),
    })
}

/// Runs `work` within the webhook time budget. On a storage error or a spent budget, logs why
/// (with the call id only) and returns `None`, so the handler answers its safe fallback.
pub async fn within_budget<T>(
    state: &AppState,
    applet: &'static str,
    call: &Inbound,
    work: impl Future<Output = Result<T, crate::storage::Error>>,
) -> Option<T> {
    match tokio::time::timeout(state.settings.calls.webhook_timeout, work).await {
        Ok(Ok(value)) => Some(value),
        Ok(Err(e)) => {
            crate::metrics::database_error(e.is_unavailable());
            crate::metrics::step_fallback(call.provider, applet, "storage");
            tracing::error!(provider = call.provider, applet, call.sid = %call.call_sid.for_log(), error = %e, "storage failed; answering the safe fallback");
            None
        }
        Err(_) => {
            crate::metrics::step_fallback(call.provider, applet, "budget");
            tracing::error!(provider = call.provider, applet, call.sid = %call.call_sid.for_log(), "time budget spent; answering the safe fallback");
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
    let started = std::time::Instant::now();
    let at = crate::domain::clock::now_ms();
    let event_name = event_name(&event);
    let stepped = within_budget(state, applet, call, state.sessions.step(call, event)).await;
    let fell_back = stepped.is_none();
    let decision = stepped.unwrap_or(fallback);
    remember_fallback(state, call, &decision).await;
    let elapsed = started.elapsed();
    crate::metrics::step(provider, applet, flow::decision_name(&decision), elapsed);
    let elapsed_us = i64::try_from(elapsed.as_micros()).unwrap_or(i64::MAX);
    // Written in the background, in batches: the answer does not wait for it.
    state.writer.record(StepLog {
        provider: call.provider,
        call_sid: call.call_sid.as_ref().to_owned(),
        at,
        applet,
        event: event_name,
        decision: flow::decision_name(&decision),
        detail: step_detail(&decision, fell_back),
        elapsed_us,
    });
    crate::telemetry::log_step(StepLine::Step {
        provider,
        applet,
        call_sid: call.call_sid.as_ref().to_owned(),
        decision: flow::decision_name(&decision),
    });
    decision
}

/// The name of a flow event in `call_steps`.
fn event_name(event: &CallEvent) -> &'static str {
    match event {
        CallEvent::Started => "started",
        CallEvent::Incoming => "incoming",
        CallEvent::PromptNeeded => "prompt_needed",
        CallEvent::Digits { pin: Some(_) } => "digits",
        CallEvent::Digits { pin: None } => "digits_malformed",
        CallEvent::NoInput => "no_input",
        CallEvent::DialNeeded => "dial_needed",
        CallEvent::Ended => "ended",
    }
}

/// The name of a prompt in `call_steps` (never its values).
fn prompt_name(prompt: &flow::Prompt) -> &'static str {
    match prompt {
        flow::Prompt::Welcome => "welcome",
        flow::Prompt::EnterPin => "enter_pin",
        flow::Prompt::WrongPin { .. } => "wrong_pin",
        flow::Prompt::NoInput { .. } => "no_input",
        flow::Prompt::AttemptsUsedUp => "attempts_used_up",
        flow::Prompt::NoOneToDial => "no_one_to_dial",
        flow::Prompt::TryLater => "try_later",
    }
}

/// What a step decided, for `call_steps.detail`: the prompt or the route, never a number
/// or digits.
fn step_detail(decision: &Decision, fell_back: bool) -> Option<String> {
    let detail = match decision {
        Decision::Greet { prompt }
        | Decision::AskForPin { prompt, .. }
        | Decision::Goodbye { prompt } => Some(format!("prompt: {}", prompt_name(prompt))),
        Decision::Bridge { route, .. } => Some(format!("route: {}", route.as_str())),
        Decision::Recorded => None,
    };
    if fell_back {
        Some(format!(
            "{} (fallback)",
            detail.as_deref().unwrap_or("no detail")
        ))
    } else {
        detail
    }
}

/// Records the end of a call (or of its dialled leg); failures are logged, never answered.
/// When the database is unreachable or too slow, the end is kept in memory and written when
/// it answers again ([`crate::call::pending`]).
pub async fn end(state: &AppState, applet: &'static str, call: Option<&Inbound>, end: &CallEnd) {
    let Some(call) = call else {
        tracing::warn!(applet, "status report without a usable call id");
        return;
    };
    let at = crate::domain::clock::now_ms();
    // Bridged to the fallback number: this instance answered so, or the provider reports
    // having dialled it (the steps may have run on another instance).
    let dialled_fallback = end
        .dialled
        .as_deref()
        .and_then(|d| PhoneNumber::parse(d, state.settings.orders.region).ok())
        .is_some_and(|d| state.settings.calls.fallback_number.as_ref() == Some(&d));
    let mut end = end.clone();
    if let Some(desk) = &state.settings.calls.fallback_number
        && (dialled_fallback || state.fallback_bridged.contains_key(&call.key()))
    {
        end.fallback_to = Some(desk.to_string());
    }
    let end = &end;
    let write = state.sessions.end(call, end, at);
    match tokio::time::timeout(state.settings.calls.webhook_timeout, write).await {
        Ok(Ok(outcome)) => {
            crate::telemetry::log_step(StepLine::Ended {
                provider: call.provider,
                applet,
                call_sid: call.call_sid.as_ref().to_owned(),
                outcome: Outcome::as_str(outcome),
            });
            crate::outbound::sms::text_if_unanswered(
                state.sms.as_ref(),
                call.provider,
                &call.call_sid,
                outcome,
            );
        }
        Ok(Err(e)) if !e.is_unavailable() => {
            tracing::error!(provider = call.provider, applet, call.sid = %call.call_sid.for_log(), error = %e, "call end not recorded");
        }
        // Unreachable or too slow: kept, and written when the database answers again
        // (writing an end twice is harmless).
        _ => state.pending_ends.push(call.clone(), end.clone(), at),
    }
}

/// What became of a signed request's one-time token (Plivo's V3 nonce, Vonage's `jti`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// No request carried it before: the request may go on.
    First,
    /// A request carried it before: refuse this one (403).
    Replayed,
    /// Storage could not record it: no flow step may run on it (a replay can not be told
    /// apart), so the request gets the answer of a storage failure ([`unavailable`]).
    Unrecorded,
}

/// Records `token`, a one-time token of `provider`'s signed request, as used until `until`
/// (unix ms): each is accepted once, by every instance ([`crate::storage::seen`]). Never logs
/// the token.
pub async fn token_use(
    state: &AppState,
    provider: &'static str,
    token: &str,
    until: i64,
) -> TokenUse {
    let now = crate::domain::clock::now_ms();
    let claim = state
        .writer
        .claim_token(provider, token.to_owned(), until, now);
    // A quarter of the step's budget: the step that follows has a budget of its own, and the
    // provider's answer must stay within both.
    match tokio::time::timeout(state.settings.calls.webhook_timeout / 4, claim).await {
        Ok(Ok(true)) => TokenUse::First,
        Ok(Ok(false)) => {
            crate::metrics::replay_refused(provider);
            tracing::warn!(
                provider,
                "refused a replayed request: its one-time token was used before"
            );
            TokenUse::Replayed
        }
        Ok(Err(e)) => {
            crate::metrics::database_error(e.is_unavailable());
            tracing::error!(provider, error = %e, "a request's one-time token could not be recorded; answering the safe fallback");
            TokenUse::Unrecorded
        }
        Err(_) => {
            tracing::error!(
                provider,
                "recording a request's one-time token took too long; answering the safe fallback"
            );
            TokenUse::Unrecorded
        }
    }
}

/// The flow event for keyed digits: nothing keyed is a timeout; anything else is an entry,
/// which may not even be a well-formed PIN (and then costs an attempt like a wrong one).
/// Surrounding spaces and the finishing `#`, which some providers pass on, are dropped here.
pub fn digits_event(state: &AppState, digits: &str) -> CallEvent {
    let digits = digits.trim().trim_end_matches('#').trim();
    if digits.is_empty() {
        CallEvent::NoInput
    } else {
        CallEvent::Digits {
            pin: Pin::parse(
                digits,
                state.settings.orders.pin_min,
                state.settings.orders.pin_max,
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
    if crate::http::source::source_allowed(
        req,
        state.settings.access.allowed_source_networks.as_deref(),
        &state.settings.access.trusted_proxies,
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

/// The answer when a call can not be served because storage failed (the database unreachable
/// or too slow): dial `PINBRIDGE_FALLBACK_NUMBER` with the virtual number as caller ID when it
/// is set, else [`sorry`]. Without a usable call (`None`), always [`sorry`].
pub fn unavailable(state: &AppState, call: Option<&Inbound>) -> Decision {
    match (&state.settings.calls.fallback_number, call) {
        (Some(desk), Some(call)) => Decision::Bridge {
            to: desk.clone(),
            caller_id: call.virtual_number.clone(),
            route: flow::Route::Fallback,
        },
        _ => sorry(),
    }
}

/// Notes that `call` was answered `decision`, when that is a bridge to the fallback number, so
/// that the call's end is recorded as such.
pub async fn remember_fallback(state: &AppState, call: &Inbound, decision: &Decision) {
    if let Decision::Bridge {
        route: flow::Route::Fallback,
        ..
    } = decision
    {
        state.fallback_bridged.insert(call.key(), ());
    }
}

/// The answer when a provider-driven call can not be served: say sorry, dial no one.
pub fn sorry() -> Decision {
    Decision::Goodbye {
        prompt: flow::Prompt::NoOneToDial,
    }
}
