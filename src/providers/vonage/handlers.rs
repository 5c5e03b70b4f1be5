//! Vonage webhooks under `/vonage/` (`reference/providers.md` §4;
//! https://developer.vonage.com/voice/voice-api/webhook-reference):
//! - `answer`: the application's answer URL, GET by default (query parameters) or POST with
//!   `answer_method=POST` (JSON body); answered with an NCCO.
//! - `pin`: POST, the `input` action's `eventUrl`; answered with the NCCO that replaces the
//!   current one.
//! - `event`: the application's event URL and the `connect` action's `eventUrl`, POST (GET
//!   accepted for an application whose `event_method` is GET); records how each leg ended and
//!   answers an empty 200.
//! - `whisper`: a phone endpoint's `onAnswer.url`, fetched when the dialled party answers;
//!   answered with the NCCO they hear (the consent, the whisper).
//!
//! The call id is the `conversation_uuid`, shared by the caller's leg and the leg pinbridge
//! dials. A POST is read from its JSON body only (the query string is not covered by the
//! signature), a GET from its query string only. A malformed request gets an NCCO that says
//! sorry, never a 500.
//!
//! With `PINBRIDGE_VONAGE_SIGNATURE_SECRET` set, every request must carry a valid signed-webhook
//! JWT (and a POST a matching `payload_hash`, see [`auth`]); otherwise it gets 403 and nothing
//! is stored.

use actix_web::http::Method;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, guard, web};

use crate::call::flow::{CallEvent, Decision, DialStatus};
use crate::call::session::Inbound;
use crate::config::ProviderAuth;
use crate::providers::vonage::params::{self, Direction, VonageParams};
use crate::providers::vonage::{PROVIDER, auth, response};
use crate::providers::webhook;
use crate::state::AppState;
use crate::storage::calls::CallEnd;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let get_or_post = || web::route().guard(guard::Any(guard::Get()).or(guard::Post()));
    cfg.service(
        web::scope("/vonage")
            .route("/answer", get_or_post().to(answer))
            .route("/pin", web::post().to(pin))
            .route("/event", get_or_post().to(event))
            .route("/whisper", get_or_post().to(whisper)),
    );
}

/// A request let in: its parameters, and whether a flow step may run on it.
struct Checked {
    params: VonageParams,
    /// Its token's `jti` could not be recorded as used (storage failing): no step may run,
    /// since a replay could not be told apart.
    unrecorded: bool,
}

/// Reads the request; `None` (answered 403) when its signed-webhook JWT is missing, wrong,
/// stale or used before.
///
/// A GET carries its parameters in the query string and is checked by the JWT's signature
/// alone: how Vonage computes `payload_hash` for a GET is not reliably documented (see
/// [`auth::Payload::Query`]). A POST carries them in its body, whose SHA-256 must be the JWT's
/// `payload_hash`. Either way the token must be fresh and its `jti` new ([`auth::fresh`]), so
/// a captured token can not be sent again, with the same parameters or with others.
async fn read(state: &AppState, req: &HttpRequest, body: &web::Bytes) -> Option<Checked> {
    let is_get = req.method() == Method::GET;
    let mut unrecorded = false;
    if state.settings.providers.vonage.auth() == ProviderAuth::Unsigned {
        crate::metrics::unsigned_request(PROVIDER);
    } else {
        let secret = state
            .settings
            .providers
            .vonage
            .credential()
            .unwrap_or_default();
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let payload = if is_get {
            auth::Payload::Query
        } else {
            auth::Payload::Body(body)
        };
        let now_secs = crate::domain::clock::now_ms() / 1000;
        let checked = auth::verify(secret, header, payload).and_then(|claims| {
            auth::fresh(&claims, now_secs).map(|jti| (jti.to_owned(), claims.iat))
        });
        let (jti, iat) = match checked {
            Ok(found) => found,
            Err(why) => {
                tracing::warn!(
                    provider = PROVIDER,
                    http.route = %req.match_pattern().unwrap_or_default(),
                    reason = %why,
                    "refused a request without a valid signed-webhook JWT"
                );
                return None;
            }
        };
        // Kept until a token issued at `iat` is too old to be accepted anyway.
        let until = iat
            .unwrap_or(now_secs)
            .saturating_add(
                (auth::MAX_TOKEN_AGE + auth::CLOCK_SKEW)
                    .as_secs()
                    .cast_signed(),
            )
            .saturating_mul(1000);
        match webhook::token_use(state, PROVIDER, &jti, until).await {
            webhook::TokenUse::First => {}
            webhook::TokenUse::Replayed => return None,
            webhook::TokenUse::Unrecorded => unrecorded = true,
        }
    }
    let params = if is_get {
        VonageParams::from_query(req.query_string())
    } else {
        VonageParams::from_json(body)
    };
    Some(Checked { params, unrecorded })
}

fn forbidden() -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type("text/plain")
        .body("invalid signature")
}

/// The caller's leg: `from` is the caller, `to` the virtual number (E.164 without `+`).
fn caller_leg(state: &AppState, p: &VonageParams) -> Option<Inbound> {
    let caller = p.from.as_deref().map(params::e164_form);
    let dialled = p.to.as_deref().map(params::e164_form);
    state.sessions.identify(
        PROVIDER,
        p.conversation_uuid.as_deref(),
        caller.as_deref(),
        dialled.as_deref(),
    )
}

/// The leg a `connect` dialled: its `from` is the caller ID it was given (the virtual number)
/// and its `to` the dialled party, who is not the caller.
fn dialled_leg(state: &AppState, p: &VonageParams) -> Option<Inbound> {
    let virtual_number = p.from.as_deref().map(params::e164_form);
    state.sessions.identify(
        PROVIDER,
        p.conversation_uuid.as_deref(),
        None,
        virtual_number.as_deref(),
    )
}

async fn ncco(state: &AppState, p: &VonageParams, decision: &Decision) -> HttpResponse {
    let pin = format!("{}/vonage/pin", state.public_url);
    let event = format!("{}/vonage/event", state.public_url);
    let call =
        serde_urlencoded::to_string([("call", p.conversation_uuid.as_deref().unwrap_or(""))])
            .unwrap_or_default();
    let whisper = format!("{}/vonage/whisper?{call}", state.public_url);
    let dialled = p.to.as_deref().map(params::e164_form);
    let voice = state.voice_for(dialled.as_deref()).await;
    response::answer(
        decision,
        &voice,
        &state.settings.voices,
        response::Urls {
            pin: &pin,
            event: &event,
            whisper: &whisper,
        },
        p.to.as_deref(),
        &state.settings.calls.connect,
    )
}

/// `answer`: a call comes in. Routed by its caller (booking, callback), else the PIN flow.
async fn answer(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(Checked {
        params: p,
        unrecorded,
    }) = read(&state, &req, &body).await
    else {
        return forbidden();
    };
    let call = caller_leg(&state, &p);
    let fallback = state.sessions.unavailable(call.as_ref());
    let decision = if unrecorded {
        fallback
    } else {
        state
            .sessions
            .answer("answer", call.as_ref(), CallEvent::Incoming, fallback)
            .await
    };
    ncco(&state, &p, &decision).await
}

/// `pin`: the `input` event, `{"dtmf":{"digits":"1234","timed_out":false},...}`. No digits
/// (a timeout with nothing keyed) is no input.
async fn pin(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(Checked {
        params: p,
        unrecorded,
    }) = read(&state, &req, &body).await
    else {
        return forbidden();
    };
    let call = caller_leg(&state, &p);
    let event = state.sessions.digits_event(p.digits());
    let fallback = state.sessions.unavailable(call.as_ref());
    let decision = if unrecorded {
        fallback
    } else {
        state
            .sessions
            .answer("pin", call.as_ref(), event, fallback)
            .await
    };
    ncco(&state, &p, &decision).await
}

/// `event`: a leg's status. A terminal status of the dialled leg (`direction` `outbound`)
/// records the dial status ([`params::leg_end`]) and, for `completed`, the talk time from
/// `duration`; the caller's own leg ending (`inbound`, or no direction) records the end of the
/// call without a dial status, which never overwrites the dialled leg's. A `record` event adds
/// its `recording_url`. `started`, `ringing`, `answered` and other events change nothing.
///
/// A report whose token could not be recorded as used is still recorded: an end written
/// twice is harmless, and it runs no flow step.
async fn event(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(Checked { params: p, .. }) = read(&state, &req, &body).await else {
        return forbidden();
    };
    if let Some(url) = p.recording_url.as_deref() {
        let end = CallEnd {
            recording_url: Some(url.to_owned()),
            ..CallEnd::default()
        };
        state
            .sessions
            .record_end("record", dialled_leg(&state, &p).as_ref(), &end)
            .await;
    }
    let Some(status) = p.status.as_deref() else {
        return HttpResponse::Ok().finish();
    };
    match (params::leg_end(status), p.direction) {
        (Some(dial_status), Direction::Outbound) => {
            let end = CallEnd {
                dial_status: Some(dial_status),
                dial_call_status: Some(status.to_owned()),
                talk_secs: p
                    .duration_secs
                    .filter(|_| dial_status == DialStatus::Completed),
                ..CallEnd::default()
            };
            state
                .sessions
                .record_end("event", dialled_leg(&state, &p).as_ref(), &end)
                .await;
        }
        (Some(_), Direction::Inbound | Direction::Unknown) => {
            let end = CallEnd {
                call_type: Some(status.to_owned()),
                ..CallEnd::default()
            };
            state
                .sessions
                .record_end("event", caller_leg(&state, &p).as_ref(), &end)
                .await;
        }
        (None, _) => {}
    }
    HttpResponse::Ok().finish()
}

/// The query of `whisper`: the `conversation_uuid` of the call, which pinbridge put in the
/// `onAnswer` URL.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct WhisperQuery {
    call: Option<String>,
}

/// `whisper`: a phone endpoint's `onAnswer.url`, fetched when the dialled party answers. The
/// NCCO says the recording consent (when recorded) and the whisper (when on) of the call named
/// by `call` (else the request's own `conversation_uuid`), in the order's or booking's
/// language; then the parties are connected.
async fn whisper(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(Checked { params: p, .. }) = read(&state, &req, &body).await else {
        return forbidden();
    };
    let query: WhisperQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let call = query.call.or(p.conversation_uuid);
    let said = crate::providers::callee_speech(&state, PROVIDER, call.as_deref()).await;
    response::whisper(said, &state.settings.voices)
}
