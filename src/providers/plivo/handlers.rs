//! Plivo webhooks under `/plivo/`: `answer` (the application's Answer URL), `pin` (the
//! `<GetInput>` action), `hangup` (the `<Dial>` action, the `<Record>` action and the
//! application's Hangup URL), `whisper` (the `<Dial confirmSound>`). GET or POST, form-encoded
//! (https://www.plivo.com/docs/voice/xml/request/).
//!
//! With `PINBRIDGE_PLIVO_AUTH_TOKEN` set, every request must carry a valid signature V3
//! (`X-Plivo-Signature-V3` or `X-Plivo-Signature-Ma-V3`, with `X-Plivo-Signature-V3-Nonce`;
//! https://docs.plivo.com/docs/voice/xml/request/validation) over the public URL
//! (`PINBRIDGE_PUBLIC_URL` + path + query, never the Host header); otherwise it gets 403 and
//! nothing is stored.

use actix_web::http::Method;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, guard, web};

use crate::call::flow::{CallEvent, Decision, DialStatus};
use crate::call::session::Inbound;
use crate::config::ProviderAuth;
use crate::providers::lenient;
use crate::providers::plivo::params::PlivoParams;
use crate::providers::plivo::{PROVIDER, auth, response};
use crate::providers::webhook;
use crate::state::AppState;
use crate::storage::calls::CallEnd;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let get_or_post = || web::route().guard(guard::Any(guard::Get()).or(guard::Post()));
    cfg.service(
        web::scope("/plivo")
            .route("/answer", get_or_post().to(answer))
            .route("/pin", get_or_post().to(pin))
            .route("/hangup", get_or_post().to(hangup))
            .route("/whisper", get_or_post().to(whisper)),
    );
}

/// A Plivo request whose signature checked out and whose nonce was new.
struct PlivoRequest {
    params: PlivoParams,
    call: Option<Inbound>,
    /// Its nonce could not be recorded as used (storage failing): no flow step may run on it,
    /// since a replay could not be told apart.
    unrecorded: bool,
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Reads the request; `None` when a signature is required and missing or wrong.
///
/// Plivo sends `CallUUID`, `From` and `To` with every request
/// (https://www.plivo.com/docs/voice/xml/request/); numbers come without `+`
/// (`919812345678`), which [`crate::domain::PhoneNumber::parse`] reads.
async fn read(state: &AppState, req: &HttpRequest, body: &web::Bytes) -> Option<PlivoRequest> {
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let is_post = req.method() == Method::POST;
    let form = (is_post && is_form).then_some(&body[..]);
    let params: PlivoParams = lenient::form(&lenient::query_and_body(req.query_string(), form));
    let mut unrecorded = false;
    if state.settings.providers.plivo.auth() == ProviderAuth::Unsigned {
        crate::metrics::unsigned_request(PROVIDER);
    } else {
        let token = state
            .settings
            .providers
            .plivo
            .credential()
            .unwrap_or_default();
        let query = req.query_string();
        let url = format!(
            "{}{}{}{}",
            state.public_url,
            req.uri().path(),
            if query.is_empty() { "" } else { "?" },
            query
        );
        let method = if is_post {
            auth::Method::Post
        } else {
            auth::Method::Get
        };
        let nonce = header(req, "X-Plivo-Signature-V3-Nonce");
        // Signed over the body's pairs exactly as sent, repeated keys and all.
        let signed = form.map(lenient::pairs).unwrap_or_default();
        let valid = ["X-Plivo-Signature-V3", "X-Plivo-Signature-Ma-V3"]
            .iter()
            .map(|name| header(req, name))
            .filter(|h| !h.is_empty())
            .any(|h| auth::is_valid(token, method, &url, &signed, nonce, h));
        if !valid || nonce.len() > auth::MAX_NONCE_LEN {
            tracing::warn!(
                provider = PROVIDER,
                "refused a request with a missing or wrong X-Plivo-Signature-V3"
            );
            return None;
        }
        let until = crate::domain::clock::now_ms()
            .saturating_add(auth::NONCE_KEPT.as_millis().try_into().unwrap_or(i64::MAX));
        match webhook::token_use(state, PROVIDER, nonce, until).await {
            webhook::TokenUse::First => {}
            webhook::TokenUse::Replayed => return None,
            webhook::TokenUse::Unrecorded => unrecorded = true,
        }
    }
    let call = state.sessions.identify(
        PROVIDER,
        params.call_uuid.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
    );
    Some(PlivoRequest {
        params,
        call,
        unrecorded,
    })
}

fn forbidden() -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type("text/plain")
        .body("invalid signature")
}

async fn reply(state: &AppState, request: &PlivoRequest, decision: &Decision) -> HttpResponse {
    let pin = format!("{}/plivo/pin", state.public_url);
    let hangup = format!("{}/plivo/hangup", state.public_url);
    let whisper = format!("{}/plivo/whisper", state.public_url);
    let voice = state.voice_for(request.params.to.as_deref()).await;
    response::xml(
        decision,
        &voice,
        &state.settings.voices,
        response::Urls {
            pin: &pin,
            hangup: &hangup,
            whisper: &whisper,
        },
        request.params.to.as_deref(),
        request.params.call_uuid.as_deref(),
        &state.settings.calls.connect,
    )
}

/// The query of `whisper`: the `CallUUID` of the call that dialled, which pinbridge put in
/// the `confirmSound` URL (covered by the signature, like the rest of the URL).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct WhisperQuery {
    call: Option<String>,
}

/// `whisper`: the `<Dial confirmSound>`, fetched when the dialled party answers. Says the
/// recording consent (when recorded) and the whisper (when on) of the call named by `call`,
/// in the order's or booking's language; then the parties are connected.
async fn whisper(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    if read(&state, &req, &body).await.is_none() {
        return forbidden();
    }
    let query: WhisperQuery = lenient::form(req.query_string().as_bytes());
    let said = crate::providers::callee_speech(&state, PROVIDER, query.call.as_deref()).await;
    response::whisper(said, &state.settings.voices)
}

/// `answer`: a call comes in. Routed by its caller (booking, callback), else the PIN flow.
async fn answer(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(request) = read(&state, &req, &body).await else {
        return forbidden();
    };
    let fallback = state.sessions.unavailable(request.call.as_ref());
    let decision = if request.unrecorded {
        fallback
    } else {
        let call = request.call.as_ref();
        state
            .sessions
            .answer("answer", call, CallEvent::Incoming, fallback)
            .await
    };
    reply(&state, &request, &decision).await
}

/// `pin`: the `<GetInput>` action with `Digits` ("excluding the finishOnKey";
/// https://www.plivo.com/docs/voice/xml/getinput), or the `<Redirect>` after it, without
/// `Digits`, when nothing was keyed.
async fn pin(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(request) = read(&state, &req, &body).await else {
        return forbidden();
    };
    let event = state
        .sessions
        .digits_event(request.params.digits.as_deref().unwrap_or(""));
    let fallback = state.sessions.unavailable(request.call.as_ref());
    let decision = if request.unrecorded {
        fallback
    } else {
        state
            .sessions
            .answer("pin", request.call.as_ref(), event, fallback)
            .await
    };
    reply(&state, &request, &decision).await
}

/// Plivo's `DialStatus` (`completed|busy|failed|timeout|no-answer`;
/// https://docs.plivo.com/docs/voice/use-cases/dial-status-reporting): `timeout` is no
/// answer, and `cancel` (a `CallStatus` value on the same page) is a caller who gave up.
fn dial_status(raw: &str) -> Option<DialStatus> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "timeout" => Some(DialStatus::NoAnswer),
        "cancel" => Some(DialStatus::Canceled),
        other => DialStatus::parse(other),
    }
}

/// `hangup`: one of
/// - the `<Dial>` action: `DialStatus`, `DialHangupCause`, `DialRingStatus`, `DialALegUUID`,
///   `DialBLegUUID` (https://www.plivo.com/docs/voice/xml/dial, "Parameters sent to action
///   URL"), and `DialBLegDuration`, the dialled leg's seconds, recorded as the talk time;
/// - the application's Hangup URL: `CallStatus`, `Duration`, `BillDuration`, `HangupCause`
///   (https://www.plivo.com/docs/voice/xml/request/); `Duration` is the whole inbound call,
///   IVR included, so only `CallStatus` is kept; a report without `DialStatus` never
///   overwrites one with it;
/// - the `<Record>` action when calls are recorded: `RecordUrl`.
///
/// Records what it carries and answers `<Hangup/>`.
///
/// Where `DialBLegDuration` comes from: the parts of Plivo's Dial documentation that could be
/// read while writing this (the "Parameters sent to action URL" table and
/// https://docs.plivo.com/docs/voice/use-cases/dial-status-reporting) name only the five
/// parameters above; `DialBLegDuration`, the dialled (B) leg's duration in seconds, is what
/// integrations in the field read from the Dial action (and from the Dial `callbackUrl`'s
/// hangup event). Not confirmed in Plivo's own table: when it is absent the talk time stays
/// empty and the outcome is still recorded from `DialStatus`.
async fn hangup(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(request) = read(&state, &req, &body).await else {
        return forbidden();
    };
    let p = &request.params;
    let dial = p.dial_status.as_deref().and_then(dial_status);
    let end = CallEnd {
        dial_status: dial,
        dial_call_status: p.dial_status.clone(),
        call_type: p.call_status.clone(),
        talk_secs: p
            .dial_b_leg_duration
            .filter(|_| dial == Some(DialStatus::Completed)),
        recording_url: p.record_url.clone(),
        ..CallEnd::default()
    };
    state
        .sessions
        .record_end("hangup", request.call.as_ref(), &end)
        .await;
    reply(&state, &request, &Decision::Recorded).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plivo_dial_statuses_map_to_dial_statuses() {
        for (raw, want) in [
            ("completed", Some(DialStatus::Completed)),
            ("busy", Some(DialStatus::Busy)),
            ("failed", Some(DialStatus::Failed)),
            ("timeout", Some(DialStatus::NoAnswer)),
            ("no-answer", Some(DialStatus::NoAnswer)),
            ("cancel", Some(DialStatus::Canceled)),
            ("", None),
            ("ringing", None),
        ] {
            assert_eq!(dial_status(raw), want, "{raw}");
        }
    }
}
