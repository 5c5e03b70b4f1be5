//! Exotel applet URLs under `/exotel/{secret}/` (`reference/exotel.md` §1).
//!
//! Each answers GET, HEAD (Exotel checks Greeting URLs with HEAD) and POST. A wrong secret gets
//! 404. Whatever goes wrong inside (no `CallSid`, a database error, the time budget spent), the
//! answer keeps the call sensible: speak the greeting, ask for the PIN, or dial no one.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::call::flow::{self, CallEvent, Decision, Prompt};
use crate::call::session::Inbound;
use crate::config::ExotelNumberFormat;
use crate::domain::clock::now_ms;
use crate::domain::{CallSid, Region, log_safe};
use crate::outbound::exotel_api::MAX_CUSTOM_FIELD_LEN;
use crate::providers::exotel::{
    PROVIDER, auth, params::ExotelParams, response, status::StatusReport,
};
use crate::providers::lenient::parse_seconds;
use crate::providers::webhook;
use crate::state::AppState;
use crate::storage::calls::CallEnd;
use crate::storage::outbound;

/// Registers `/exotel/{secret}/{applet}`: the scope is the static prefix `/exotel`, and
/// [`applet`] splits the rest. The secret is checked by each applet ([`read`]), in constant
/// time.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/exotel").default_service(web::to(applet)));
}

/// Routes `/{secret}/{applet}` (what follows `/exotel`) to its applet. GET, HEAD (Exotel
/// checks Greeting URLs with HEAD) and POST; another method gets 405, an unknown applet or a
/// deeper path the JSON 404 of every unknown path.
async fn applet(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some((secret, name)) = req
        .match_info()
        .unprocessed()
        .strip_prefix('/')
        .and_then(|rest| rest.split_once('/'))
    else {
        return crate::http::not_found().await;
    };
    if ![Method::GET, Method::HEAD, Method::POST].contains(req.method()) {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD, POST"))
            .finish();
    }
    match name {
        "greeting" => greeting(state, secret, &req, body).await,
        "gather" => gather(state, secret, &req, body).await,
        "check-pin" => check_pin(state, secret, &req, body).await,
        "connect" => connect(state, secret, &req, body).await,
        "connect.json" => connect_json(state, secret, &req, body).await,
        "goodbye" => goodbye(state, secret, &req, body).await,
        "call-end" => call_end(state, secret, &req, body).await,
        "status" => status(state, secret, &req, body).await,
        "heartbeat" => heartbeat(state, secret, &req, body).await,
        _ => crate::http::not_found().await,
    }
}

/// One Exotel request, read and identified.
struct ExotelRequest {
    params: ExotelParams,
    call: Option<Inbound>,
    head: bool,
}

/// The refusal of a request to an Exotel URL, if any: a wrong secret (404, as if the URL did
/// not exist), a source outside `PINBRIDGE_ALLOWED_SOURCE_NETWORKS` (403).
fn refusal(state: &AppState, secret: &str, req: &HttpRequest) -> Option<HttpResponse> {
    if !auth::secret_matches(secret, &state.exotel_secret) {
        return Some(not_found());
    }
    webhook::source_refusal(state, req)
}

/// Reads an Exotel request, refused as [`refusal`] says.
fn read(
    state: &AppState,
    secret: &str,
    req: &HttpRequest,
    body: &web::Bytes,
) -> Result<ExotelRequest, Box<HttpResponse>> {
    if let Some(refused) = refusal(state, secret, req) {
        return Err(Box::new(refused));
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let form = (req.method() == Method::POST && is_form).then_some(&body[..]);
    let params = ExotelParams::parse(req.query_string(), form);
    let call = state.sessions.identify(
        PROVIDER,
        params.call_sid.as_deref(),
        params.caller(),
        params.virtual_number(),
    );
    Ok(ExotelRequest {
        params,
        call,
        head: req.method() == Method::HEAD,
    })
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain")
        .body("not found")
}

/// Runs one flow event of an Exotel request ([`crate::call::session::Sessions::answer`]).
async fn run(
    state: &AppState,
    applet: &'static str,
    request: &ExotelRequest,
    event: CallEvent,
    fallback: Decision,
) -> Decision {
    state
        .sessions
        .answer(applet, request.call.as_ref(), event, fallback)
        .await
}

/// `greeting`: the welcome, `text/plain`, from `templates/prompts/welcome.txt`.
async fn greeting(
    state: web::Data<AppState>,
    secret: &str,
    req: &HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let request = match read(&state, secret, req, &body) {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    let welcome = Decision::Greet {
        prompt: Prompt::Welcome,
    };
    // HEAD is Exotel checking the URL: same headers, no call step.
    let decision = if request.head {
        welcome
    } else {
        run(
            &state,
            "greeting",
            &request,
            CallEvent::Started,
            welcome.clone(),
        )
        .await
    };
    let voice = state.voice_for(request.params.virtual_number()).await;
    response::greeting(&decision, &voice)
}

/// `gather`: Programmable Gather JSON asking for the PIN; after a wrong PIN, a prompt that
/// says so.
async fn gather(
    state: web::Data<AppState>,
    secret: &str,
    req: &HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let request = match read(&state, secret, req, &body) {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    let policy = *state.sessions.policy();
    let fallback = Decision::AskForPin {
        welcome: false,
        prompt: Prompt::EnterPin,
        max_digits: policy.pin_max_len,
        finish_on_key: '#',
        timeout_secs: policy.input_timeout_secs,
    };
    let decision = run(
        &state,
        "gather",
        &request,
        CallEvent::PromptNeeded,
        fallback,
    )
    .await;
    let voice = state.voice_for(request.params.virtual_number()).await;
    response::gather(&decision, &voice, policy.max_attempts)
}

/// `check-pin` (sync Passthru after Gather): 200 goes on to Connect (PIN valid, or attempts
/// used up), 302 asks again.
async fn check_pin(
    state: web::Data<AppState>,
    secret: &str,
    req: &HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let request = match read(&state, secret, req, &body) {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    let digits = request.params.digits.as_deref().unwrap_or_default();
    let event = state.sessions.digits_event(digits);
    // On failure go on to Connect, which then dials no one: never loop a caller forever.
    let fallback = Decision::Goodbye {
        prompt: Prompt::NoOneToDial,
    };
    let decision = run(&state, "check-pin", &request, event, fallback).await;
    response::check_pin(&decision)
}

/// The form Connect's numbers are answered in, and the region it is read for.
fn number_format(state: &AppState) -> (ExotelNumberFormat, Region) {
    (
        state.settings.providers.exotel_number_format,
        state.settings.orders.region,
    )
}

/// `connect` (Connect applet, "Dial whom" URL): the customer's number as `text/plain`, or an
/// empty body when there is no one to dial.
async fn connect(
    state: web::Data<AppState>,
    secret: &str,
    req: &HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let request = match read(&state, secret, req, &body) {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    let digits = request.params.digits.as_deref();
    let exotel_format = number_format(&state);
    let decision = state
        .sessions
        .dial("connect", request.call.as_ref(), digits)
        .await;
    response::connect_text(&decision, exotel_format.0, exotel_format.1)
}

/// `connect.json` (Connect applet, Programmable Connect): JSON with `destination.numbers`
/// and the virtual number as `outgoing_phone_number`.
async fn connect_json(
    state: web::Data<AppState>,
    secret: &str,
    req: &HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let request = match read(&state, secret, req, &body) {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    let digits = request.params.digits.as_deref();
    let exotel_format = number_format(&state);
    let decision = state
        .sessions
        .dial("connect.json", request.call.as_ref(), digits)
        .await;
    let voice = state.voice_for(request.params.virtual_number()).await;
    response::connect_json(
        &decision,
        request.params.virtual_number(),
        &voice,
        &state.settings.calls.connect,
        exotel_format,
    )
}

/// `goodbye` (a Greeting on Connect's "We didn't dial anyone" branch): why no one was dialled,
/// `text/plain`.
async fn goodbye(
    state: web::Data<AppState>,
    secret: &str,
    req: &HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let request = match read(&state, secret, req, &body) {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    // HEAD is Exotel checking the URL: no call to read.
    let call = request.call.as_ref().filter(|_| !request.head);
    let prompt = state.sessions.farewell("goodbye", call).await;
    let voice = state.voice_for(request.params.virtual_number()).await;
    response::greeting(&Decision::Goodbye { prompt }, &voice)
}

/// `call-end` (Passthru after Connect): records the outcome, answers 200. A repeated delivery
/// leaves one record; malformed values are kept as received.
async fn call_end(
    state: web::Data<AppState>,
    secret: &str,
    req: &HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let request = match read(&state, secret, req, &body) {
        Ok(request) => request,
        Err(refused) => return *refused,
    };
    if request.head {
        return response::recorded();
    }
    let p = &request.params;
    let dial_status = p
        .dial_call_status
        .as_deref()
        .and_then(flow::DialStatus::parse)
        .or_else(|| {
            (p.call_type.as_deref() == Some("completed")).then_some(flow::DialStatus::Completed)
        });
    let legs = &p.legs;
    let end = CallEnd {
        dial_status,
        dial_call_status: p.dial_call_status.clone(),
        call_type: p.call_type.clone(),
        dial_secs: p.dial_call_duration,
        talk_secs: legs
            .first()
            .and_then(|l| l.on_call_duration.as_deref())
            .and_then(parse_seconds),
        recording_url: p.recording_url.clone(),
        legs_json: (!legs.is_empty())
            .then(|| serde_json::to_string(legs).ok())
            .flatten(),
        provider_start_time: p.start_time.clone(),
        dialled: p.dial_whom_number.clone(),
        fallback_to: None,
        outcome: None,
    };
    state
        .sessions
        .record_end("call-end", request.call.as_ref(), &end)
        .await;
    response::recorded()
}

/// `status`: the `StatusCallback` of a click-to-call (`Calls/connect`; `reference/exotel.md`
/// §4.1): JSON (what pinbridge asks for), form-encoded or query values. Completes the call's
/// record and may send the SMS to an unanswered `To` party; answers 200 whatever happens,
/// quickly (Exotel retries a non-2xx, and a repeated delivery changes nothing).
async fn status(
    state: web::Data<AppState>,
    secret: &str,
    req: &HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(refused) = refusal(&state, secret, req) {
        return refused;
    }
    if req.method() == Method::HEAD {
        return response::recorded();
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let report = StatusReport::parse(req.query_string(), content_type, &body);
    record_status(&state, &report).await;
    response::recorded()
}

/// Completes the record of a click-to-call from Exotel's status callback: outcome from
/// `Status`, talk time from `ConversationDuration`, the legs as received, the recording. A
/// report for a call pinbridge did not place is logged and ignored. A repeated delivery
/// rewrites the same values (see [`crate::call::session::Sessions::record_end`]); the SMS to the `To` party, when its leg
/// (`Legs[1]`) was not answered or busy, is decided once per call
/// ([`crate::outbound::sms::UnansweredSms`]).
///
/// A `CallSid` that is not a call id ([`CallSid::parse`]) or a `CustomField` longer than
/// Exotel allows is refused at once: neither is looked up, stored or logged.
async fn record_status(state: &AppState, report: &StatusReport) {
    let Ok(sid) = report.call_sid.as_deref().map(CallSid::parse).transpose() else {
        tracing::warn!("status callback with a malformed CallSid; ignored");
        return;
    };
    let custom = report.custom_field.as_deref();
    if custom.is_some_and(|c| c.len() > MAX_CUSTOM_FIELD_LEN) {
        tracing::warn!("status callback with a CustomField longer than Exotel allows; ignored");
        return;
    }
    let sid = sid.as_ref().map(CallSid::as_ref);
    let logged_sid = log_safe(sid.unwrap_or(""));
    let lookup = outbound::find_for_status(&state.db, sid, custom, now_ms());
    let found = match tokio::time::timeout(state.settings.calls.webhook_timeout, lookup).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::error!(call.sid = %logged_sid, error = %e, "status callback: looking up the call failed");
            return;
        }
        Err(_) => {
            tracing::error!(
                call.sid = %logged_sid,
                "status callback: looking up the call took too long"
            );
            return;
        }
    };
    let Some(call) = found else {
        tracing::warn!(
            call.sid = %logged_sid,
            "status callback for a call pinbridge did not place; ignored"
        );
        return;
    };
    let Some(inbound) =
        state
            .sessions
            .identify(outbound::PROVIDER, Some(&call.call_id), None, None)
    else {
        tracing::error!(call.id = %call.call_id, "a stored click-to-call id is not a call id");
        return;
    };
    let end = CallEnd {
        dial_status: report.dial_status(),
        dial_call_status: report.status.clone(),
        talk_secs: report.conversation_duration,
        recording_url: report.recording_url.clone(),
        legs_json: report.legs_json(),
        provider_start_time: report.start_time.clone(),
        ..CallEnd::default()
    };
    state
        .sessions
        .record_end("status", Some(&inbound), &end)
        .await;
    let to_unanswered = matches!(
        report.leg_status(1),
        Some(flow::DialStatus::NoAnswer | flow::DialStatus::Busy)
    );
    if to_unanswered && let Some(sms) = &state.sms {
        sms.spawn(
            outbound::PROVIDER,
            call.call_id,
            crate::outbound::sms::Trigger::ClickToCall,
        );
    }
}

/// `heartbeat`: Exotel's heartbeat webhook (POST, JSON; [`super::heartbeat`]). Numbers whose
/// ExoPhone SID has its incoming calls affected are marked unhealthy, and their bookings moved
/// ([`crate::call::health::apply_heartbeat`]); numbers it had marked and that it no longer
/// lists are healthy again. Answers 200 `{"ok":true}` once applied; a body that is not a
/// heartbeat gets 400 with a JSON error, another method than POST 405, a wrong secret 404.
/// SIDs of no number are counted in the log, never named.
async fn heartbeat(
    state: web::Data<AppState>,
    secret: &str,
    req: &HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if let Some(refused) = refusal(&state, secret, req) {
        return refused;
    }
    if req.method() != Method::POST {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "POST"))
            .finish();
    }
    let beat: super::heartbeat::Heartbeat = match serde_json::from_slice(&body) {
        Ok(beat) => beat,
        Err(e) => {
            return actix_web::ResponseError::error_response(
                &crate::http::error::ApiError::bad_request(
                    "invalid_body",
                    format!("the heartbeat is not Exotel's heartbeat JSON: {e}"),
                ),
            );
        }
    };
    let h = crate::call::health::Health {
        db: &state.db,
        events: &state.events,
        sessions: &state.sessions,
        settings: &state.settings.allocation,
    };
    let affected = beat.incoming_affected();
    match crate::call::health::apply_heartbeat(&h, &affected, beat.is_complete(), now_ms()).await {
        Ok(outcome) => {
            tracing::info!(
                status_type = %beat.status_type,
                heartbeat.marked = outcome.marked,
                heartbeat.restored = outcome.restored,
                heartbeat.unknown_sids = outcome.unknown_sids,
                "Exotel heartbeat applied"
            );
            HttpResponse::Ok().json(serde_json::json!({ "ok": true }))
        }
        Err(e) => actix_web::ResponseError::error_response(&crate::http::error::ApiError::from(e)),
    }
}
