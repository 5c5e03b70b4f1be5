//! Twilio webhooks under `/twilio/`: `voice` (a call comes in), `pin` (the `<Gather>` action),
//! `status` (the `<Dial>` action and the call's status callback), `whisper` (the `<Number url>`
//! run on the dialled party's leg when they answer) and `recording` (the `<Dial>`'s
//! `recordingStatusCallback`). GET or POST.
//!
//! The routes exist only while Twilio is on (`PINBRIDGE_TWILIO_AUTH_TOKEN` set). Every request
//! must carry a valid `X-Twilio-Signature` over the public URL (`PINBRIDGE_PUBLIC_URL` + path +
//! query, never the Host header); otherwise it gets 403 and nothing is stored. Only
//! `PINBRIDGE_UNSIGNED_PROVIDERS=twilio`, meant for local testing, lets requests in unchecked.

use actix_web::http::Method;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, guard, web};

use crate::call::flow::{CallEvent, DialStatus};
use crate::call::session::Inbound;
use crate::config::ProviderAuth;
use crate::providers::lenient;
use crate::providers::twilio::params::TwilioParams;
use crate::providers::twilio::{PROVIDER, auth, response};
use crate::state::AppState;
use crate::storage::calls::CallEnd;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let get_or_post = || web::route().guard(guard::Any(guard::Get()).or(guard::Post()));
    cfg.service(
        web::scope("/twilio")
            .route("/voice", get_or_post().to(voice))
            .route("/pin", get_or_post().to(pin))
            .route("/status", get_or_post().to(status))
            .route("/whisper", get_or_post().to(whisper))
            .route("/recording", get_or_post().to(recording)),
    );
}

/// A Twilio request whose signature (if required) checked out.
struct TwilioRequest {
    params: TwilioParams,
    call: Option<Inbound>,
}

/// Reads the request; `None` when a signature is required and missing or wrong.
fn read(state: &AppState, req: &HttpRequest, body: &web::Bytes) -> Option<TwilioRequest> {
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let form = (req.method() == Method::POST && is_form).then_some(&body[..]);
    let params: TwilioParams = lenient::form(&lenient::query_and_body(req.query_string(), form));
    if state.settings.providers.twilio.auth() == ProviderAuth::Unsigned {
        crate::metrics::unsigned_request(PROVIDER);
    } else {
        let token = state
            .settings
            .providers
            .twilio
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
        let header = req
            .headers()
            .get("X-Twilio-Signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // Signed over the body's pairs exactly as sent, repeated keys and all.
        let signed = form.map(lenient::pairs).unwrap_or_default();
        if !auth::is_valid(token, &url, &signed, header) {
            tracing::warn!(
                provider = PROVIDER,
                "refused a request with a missing or wrong X-Twilio-Signature"
            );
            return None;
        }
    }
    let call = state.sessions.identify(
        PROVIDER,
        params.call_sid.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
    );
    Some(TwilioRequest { params, call })
}

fn forbidden() -> HttpResponse {
    HttpResponse::Forbidden()
        .content_type("text/plain")
        .body("invalid signature")
}

async fn answer(
    state: &AppState,
    request: &TwilioRequest,
    decision: &crate::call::flow::Decision,
) -> HttpResponse {
    let pin = format!("{}/twilio/pin", state.public_url);
    let status = format!("{}/twilio/status", state.public_url);
    let recording = format!("{}/twilio/recording", state.public_url);
    let whisper = format!("{}/twilio/whisper", state.public_url);
    let voice = state.voice_for(request.params.to.as_deref()).await;
    response::twiml(
        decision,
        &voice,
        &state.settings.voices,
        response::Urls {
            pin: &pin,
            status: &status,
            recording: &recording,
            whisper: &whisper,
        },
        request.params.to.as_deref(),
        &state.settings.calls.connect,
    )
}

/// `voice`: a call comes in. Routed by its caller (booking, callback), else the PIN flow.
async fn voice(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(request) = read(&state, &req, &body) else {
        return forbidden();
    };
    let decision = state
        .sessions
        .answer(
            "voice",
            request.call.as_ref(),
            CallEvent::Incoming,
            state.sessions.unavailable(request.call.as_ref()),
        )
        .await;
    answer(&state, &request, &decision).await
}

/// `pin`: the `<Gather>` action, with `Digits` (empty or absent when nothing was keyed).
async fn pin(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(request) = read(&state, &req, &body) else {
        return forbidden();
    };
    let event = state
        .sessions
        .digits_event(request.params.digits.as_deref().unwrap_or(""));
    let decision = state
        .sessions
        .answer(
            "pin",
            request.call.as_ref(),
            event,
            state.sessions.unavailable(request.call.as_ref()),
        )
        .await;
    answer(&state, &request, &decision).await
}

/// `status`: the `<Dial>` action (`DialCallStatus`, `DialCallDuration`) or the call's status
/// callback (`CallStatus`); records the outcome and ends the call.
async fn status(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(request) = read(&state, &req, &body) else {
        return forbidden();
    };
    let p = &request.params;
    let dial_status = p.dial_call_status.as_deref().and_then(DialStatus::parse);
    let dial_secs = p.dial_call_duration;
    let end = CallEnd {
        dial_status,
        dial_call_status: p.dial_call_status.clone(),
        call_type: p.call_status.clone(),
        dial_secs,
        talk_secs: dial_secs.filter(|_| dial_status == Some(DialStatus::Completed)),
        recording_url: p.recording_url.clone(),
        ..CallEnd::default()
    };
    state
        .sessions
        .record_end("status", request.call.as_ref(), &end)
        .await;
    answer(&state, &request, &crate::call::flow::Decision::Recorded).await
}

/// `whisper`: the `<Number url>`, requested on the dialled party's leg when they answer. The
/// call is found by its `ParentCallSid`; the answer says the recording consent (when
/// recorded) and the whisper (when on), in the order's or booking's language, then the
/// parties are connected. A call that can not be found (or storage failing) says nothing:
/// the parties are connected at once rather than the answered party left waiting.
async fn whisper(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(request) = read(&state, &req, &body) else {
        return forbidden();
    };
    let said = crate::providers::callee_speech(
        &state,
        PROVIDER,
        request.params.parent_call_sid.as_deref(),
    )
    .await;
    response::whisper(said, &state.settings.voices)
}

/// `recording`: the `<Dial>`'s `recordingStatusCallback`. Its `RecordingUrl` goes to the call
/// log of the call (`CallSid`, the call that dialled); a report without one changes nothing.
async fn recording(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(request) = read(&state, &req, &body) else {
        return forbidden();
    };
    if let Some(url) = request.params.recording_url.as_deref() {
        state
            .sessions
            .record_recording("recording", request.call.as_ref(), url)
            .await;
    }
    HttpResponse::NoContent().finish()
}
