//! Twilio webhooks under `/twilio/`: `voice` (a call comes in), `pin` (the `<Gather>` action),
//! `status` (the `<Dial>` action and the call's status callback). GET or POST.
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
use crate::providers::form::FormParams;
use crate::providers::twilio::{PROVIDER, auth, response};
use crate::providers::webhook;
use crate::state::AppState;
use crate::storage::calls::CallEnd;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let get_or_post = || web::route().guard(guard::Any(guard::Get()).or(guard::Post()));
    cfg.service(
        web::scope("/twilio")
            .route("/voice", get_or_post().to(voice))
            .route("/pin", get_or_post().to(pin))
            .route("/status", get_or_post().to(status)),
    );
}

/// A Twilio request whose signature (if required) checked out.
struct TwilioRequest {
    params: FormParams,
    call: Option<Inbound>,
}

/// Reads the request; `None` when a signature is required and missing or wrong.
fn read(state: &AppState, req: &HttpRequest, body: &web::Bytes) -> Option<TwilioRequest> {
    let is_form = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let form = (req.method() == Method::POST && is_form)
        .then(|| String::from_utf8_lossy(body).into_owned());
    let params = FormParams::parse(req.query_string(), form.as_deref());
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
        if !auth::is_valid(token, &url, params.body_pairs(), header) {
            tracing::warn!(
                provider = PROVIDER,
                "refused a request with a missing or wrong X-Twilio-Signature"
            );
            return None;
        }
    }
    let call = webhook::inbound(
        state,
        PROVIDER,
        params.get("CallSid"),
        params.get("From"),
        params.get("To"),
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
    let voice = state.voice_for(request.params.get("To")).await;
    response::twiml(
        decision,
        &voice,
        response::Urls {
            pin: &pin,
            status: &status,
        },
        request.params.get("To"),
        &state.settings.calls.connect,
    )
}

/// `voice`: a call comes in. Routed by its caller (booking, callback), else the PIN flow.
async fn voice(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(request) = read(&state, &req, &body) else {
        return forbidden();
    };
    let decision = webhook::run(
        &state,
        PROVIDER,
        "voice",
        request.call.as_ref(),
        CallEvent::Incoming,
        webhook::unavailable(&state, request.call.as_ref()),
    )
    .await;
    answer(&state, &request, &decision).await
}

/// `pin`: the `<Gather>` action, with `Digits` (empty or absent when nothing was keyed).
async fn pin(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(request) = read(&state, &req, &body) else {
        return forbidden();
    };
    let event = webhook::digits_event(&state, request.params.get("Digits").unwrap_or(""));
    let decision = webhook::run(
        &state,
        PROVIDER,
        "pin",
        request.call.as_ref(),
        event,
        webhook::unavailable(&state, request.call.as_ref()),
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
    let dial_status = p.get("DialCallStatus").and_then(DialStatus::parse);
    let dial_secs = p.get("DialCallDuration").and_then(|s| s.parse().ok());
    let end = CallEnd {
        dial_status,
        dial_call_status: p.get("DialCallStatus").map(str::to_owned),
        call_type: p.get("CallStatus").map(str::to_owned),
        dial_secs,
        talk_secs: dial_secs.filter(|_| dial_status == Some(DialStatus::Completed)),
        recording_url: p.get("RecordingUrl").map(str::to_owned),
        ..CallEnd::default()
    };
    webhook::end(&state, "status", request.call.as_ref(), &end).await;
    answer(&state, &request, &crate::call::flow::Decision::Recorded).await
}
