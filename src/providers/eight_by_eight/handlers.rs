//! 8x8 webhooks under `/8x8/{secret}/` (`reference/providers.md` §3): `voice` (Voice Call
//! Action, VCA: answered with a callflow), `status` (Voice Call Status, VCS: acknowledged),
//! `session` (Voice Session Summary, VSS: records the end) and `recording` (Voice Recording
//! Uploaded, VRU: stores where the recording is). JSON POSTs.
//!
//! A wrong secret gets 404. With `PINBRIDGE_8X8_AUTH_HEADER` set (the webhook's
//! `httpAuthHeader`), a request without exactly that `Authorization` header gets 403 and
//! nothing is stored. A body that is not JSON still gets a playable answer on `voice` (say
//! sorry, hang up) and a 200 elsewhere: never a 500.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;

use crate::call::flow::{CallEvent, Decision};
use crate::domain::log_safe;
use crate::providers::eight_by_eight::params::{
    CallAction, CallActionKind, CallStatus, RecordingStatus, SessionSummary, Webhook,
};
use crate::providers::eight_by_eight::{PROVIDER, auth, response};
use crate::providers::webhook;
use crate::state::AppState;
use crate::storage::calls::CallEnd;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/8x8/{secret}")
            .route("/voice", web::post().to(voice))
            .route("/status", web::post().to(status))
            .route("/session", web::post().to(session))
            .route("/recording", web::post().to(recording)),
    );
}

/// Checks the path secret (404) and the configured `Authorization` header (403): the answer
/// to a refused request, `None` when it may pass.
/// An 8x8 event webhook (`session`, `recording`) of `event_type`: refused as [`refusal`]
/// says; a body that is not JSON, or another event type, is acknowledged, logged, and
/// changes nothing (`Err` holds that answer).
fn event<P: serde::de::DeserializeOwned + Default>(
    state: &AppState,
    secret: &str,
    req: &HttpRequest,
    body: &[u8],
    event_type: &'static str,
) -> Result<Webhook<P>, Box<HttpResponse>> {
    if let Some(refused) = refusal(state, secret, req) {
        return Err(Box::new(refused));
    }
    let Some(request) = Webhook::<P>::parse(body) else {
        tracing::warn!(provider = PROVIDER, event_type, "an event that is not JSON");
        return Err(Box::new(response::acknowledged()));
    };
    if !request.is_event(event_type) {
        tracing::warn!(
            provider = PROVIDER,
            event_type,
            "another event type; not recorded"
        );
        return Err(Box::new(response::acknowledged()));
    }
    Ok(request)
}

fn refusal(state: &AppState, secret: &str, req: &HttpRequest) -> Option<HttpResponse> {
    if !auth::secret_matches(
        secret,
        state
            .settings
            .providers
            .eight_by_eight_secret
            .as_ref()
            .map_or("", ExposeSecret::expose_secret),
    ) {
        return Some(
            HttpResponse::NotFound()
                .content_type("text/plain")
                .body("not found"),
        );
    }
    if let Some(refused) = webhook::source_refusal(state, req) {
        return Some(refused);
    }
    let header = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    if !auth::authorization_matches(
        state
            .settings
            .providers
            .eight_by_eight_auth_header
            .as_ref()
            .map(ExposeSecret::expose_secret),
        header,
    ) {
        tracing::warn!(
            provider = PROVIDER,
            "refused a request with a missing or wrong Authorization header"
        );
        return Some(
            HttpResponse::Forbidden()
                .content_type("text/plain")
                .body("invalid authorization"),
        );
    }
    None
}

async fn answer(state: &AppState, decision: &Decision, dialled: Option<&str>) -> HttpResponse {
    let voice = state.voice_for(dialled).await;
    let options = response::Options {
        voice: &voice,
        voices: &state.settings.voices,
        pin_min_length: state.settings.orders.pin_min,
        connect: &state.settings.calls.connect,
    };
    response::json(&response::callflow(decision, dialled, options))
}

/// `voice` (VCA): a call reached the virtual number (`CALL_RECEIVED`: routed by its caller,
/// else the PIN flow), or the PIN prompt completed (`ACTION_COMPLETED` echoing the prompt's
/// `clientActionId`, digits in `eventData.dtmf`). Another completed action (a bridged leg
/// that ended) is answered with `hangup`: the session is over.
async fn voice(
    state: web::Data<AppState>,
    secret: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(refused) = refusal(&state, &secret, &req) {
        return refused;
    }
    let Some(request) = Webhook::<CallAction>::parse(&body) else {
        tracing::warn!(
            provider = PROVIDER,
            applet = "voice",
            "a call action request that is not JSON; answering sorry"
        );
        return answer(&state, &crate::call::session::sorry(), None).await;
    };
    let action = &request.payload;
    let call = state.sessions.identify(
        PROVIDER,
        action.session_id(),
        action.caller(),
        action.virtual_number(),
    );
    let event = match action.kind() {
        CallActionKind::CallReceived => CallEvent::Incoming,
        CallActionKind::PinCaptured { digits } => state.sessions.digits_event(&digits),
        CallActionKind::ActionCompleted => {
            if let Some(call) = &call {
                tracing::info!(provider = PROVIDER, applet = "voice", call.sid = %call.call_sid.for_log(), "an earlier action completed; hanging up");
            }
            return answer(&state, &Decision::Recorded, None).await;
        }
    };
    let decision = state
        .sessions
        .answer(
            "voice",
            call.as_ref(),
            event,
            state.sessions.unavailable(call.as_ref()),
        )
        .await;
    answer(&state, &decision, action.virtual_number()).await
}

/// `status` (VCS): acknowledged, never recorded. VCS is per-leg telemetry
/// (`CALL_INITIATED`, `CALL_CONNECTED`, `CALL_DISCONNECTED`, ...) whose deliveries can arrive
/// in any order and say nothing of the session as a whole; the session summary (VSS) is 8x8's
/// own account of how the session ended ("This can be used alongside or instead of the Call
/// Status", `session-summary-number-masking.md`), so only it sets the outcome.
async fn status(
    state: web::Data<AppState>,
    secret: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(refused) = refusal(&state, &secret, &req) {
        return refused;
    }
    match Webhook::<CallStatus>::parse(&body) {
        Some(request) => {
            if let Some(call) =
                state
                    .sessions
                    .identify(PROVIDER, request.payload.session_id(), None, None)
            {
                tracing::debug!(
                    provider = PROVIDER,
                    applet = "status",
                    call.sid = %call.call_sid.for_log(),
                    call.status = %log_safe(request.payload.call_status.as_deref().unwrap_or("")),
                    "call status"
                );
            }
        }
        None => tracing::warn!(
            provider = PROVIDER,
            applet = "status",
            "a call status that is not JSON"
        ),
    }
    response::acknowledged()
}

/// `session` (VSS, `eventType` `SESSION_SUMMARY`): records how the session ended. The
/// `sessionStatus` becomes the dial status only when the session dialled someone; talk
/// seconds are `callB.callDuration`. A repeated delivery leaves one record.
async fn session(
    state: web::Data<AppState>,
    secret: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let request = match event::<SessionSummary>(&state, &secret, &req, &body, "SESSION_SUMMARY") {
        Ok(request) => request,
        Err(answer) => return *answer,
    };
    let s = &request.payload;
    let call = state
        .sessions
        .identify(PROVIDER, s.session_id(), s.caller(), s.virtual_number());
    let dial_status = s.dial_status();
    let end = CallEnd {
        dial_status,
        dial_call_status: s
            .dialled()
            .then(|| s.session_status().map(str::to_owned))
            .flatten(),
        call_type: s.session_status().map(str::to_owned),
        dial_secs: s.dial_secs(),
        talk_secs: s.talk_secs(),
        recording_url: None,
        legs_json: s.legs_json(),
        provider_start_time: s.start_time.clone(),
        dialled: s.dialled_number().map(str::to_owned),
        fallback_to: None,
        outcome: None,
    };
    state
        .sessions
        .record_end("session", call.as_ref(), &end)
        .await;
    response::acknowledged()
}

/// `recording` (VRU, `eventType` `CALL_RECORDING_STATUS`): a session's recording was uploaded;
/// its `filePath` goes to the call log of the session (`sessionId`). Other statuses, and
/// bodies that are not JSON, are acknowledged and change nothing.
async fn recording(
    state: web::Data<AppState>,
    secret: web::Path<String>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let request =
        match event::<RecordingStatus>(&state, &secret, &req, &body, "CALL_RECORDING_STATUS") {
            Ok(request) => request,
            Err(answer) => return *answer,
        };
    let r = &request.payload;
    let Some(file) = r.uploaded_file() else {
        return response::acknowledged();
    };
    let call = state
        .sessions
        .identify(PROVIDER, r.session_id(), None, None);
    state
        .sessions
        .record_recording("recording", call.as_ref(), file)
        .await;
    response::acknowledged()
}
