//! Admin UI: a test call. Runs the real flow engine ([`crate::call::flow::step`]) on a sandboxed,
//! in-memory session for a virtual number, a caller and keyed digits, as Twilio would drive
//! the call: `Incoming`, then one `Digits` per entry. Facts are read from storage; nothing is
//! written (no call record, no step, no wrong-PIN row) and nothing is dialled.
//!
//! Each prompt shows the voice every provider would read it with ([`crate::config::Voices`]).
//!
//! A session without access to personal data runs it as an unknown caller keying nothing:
//! whether a keyed PIN or a caller's number leads to a bridge would confirm a guessed PIN or
//! number (of a customer, a courier, a booking's party), with no attempt limit and no trace.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AdminSession;
use crate::call::flow::{self, CallEvent, CallState, Decision};
use crate::call::prompts::Spoken;
use crate::call::session::Inbound;
use crate::domain::{CallSid, PhoneNumber};
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/test-call", web::get().to(form))
        .route("/test-call", web::post().to(run));
}

/// The most entries one test call simulates.
const MAX_ENTRIES: usize = 20;

/// One thing the caller would hear.
struct Heard {
    /// The words in quotes, or the audio URL.
    what: String,
    /// The language of the words.
    language: String,
    /// The voice each provider would read them with (`Twilio`, `hi-IN Polly.Aditi`);
    /// Exotel: `text` (it reads the text itself).
    voices: Vec<(&'static str, String)>,
}

/// One step of the simulated call.
struct Step {
    event: String,
    heard: Vec<Heard>,
    decision: &'static str,
}

/// The providers, as the voices setting names them and as people read them.
const PROVIDERS: [(&str, &str); 5] = [
    ("twilio", "Twilio"),
    ("plivo", "Plivo"),
    ("vonage", "Vonage"),
    ("8x8", "8x8"),
    ("exotel", "Exotel"),
];

#[derive(Template)]
#[template(path = "admin/test_call.html")]
struct Page {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    /// Whether a caller's number and keyed digits may be given.
    pii: bool,
    virtual_number: String,
    caller: String,
    digits: String,
    language: String,
    error: Option<String>,
    ran: bool,
    steps: Vec<Step>,
    dial: Option<String>,
}

fn html(status: StatusCode, page: &Page) -> actix_web::Result<HttpResponse> {
    let body = page
        .render()
        .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

fn page(session: &AdminSession) -> Page {
    Page {
        signed_in: true,
        section: "test-call",
        csrf: session.csrf.clone(),
        pii: session.pii,
        virtual_number: String::new(),
        caller: String::new(),
        digits: String::new(),
        language: String::new(),
        error: None,
        ran: false,
        steps: Vec::new(),
        dial: None,
    }
}

/// `GET /admin/test-call`.
async fn form(session: AdminSession) -> actix_web::Result<HttpResponse> {
    html(StatusCode::OK, &page(&session))
}

#[derive(Deserialize)]
struct RunForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    virtual_number: String,
    #[serde(default)]
    caller: String,
    #[serde(default)]
    digits: String,
}

fn event_label(event: &CallEvent, raw: &str, session: &AdminSession) -> String {
    match event {
        CallEvent::Incoming => "call comes in".to_owned(),
        CallEvent::NoInput => "nothing keyed".to_owned(),
        CallEvent::Digits { pin } => {
            let shown = if session.pii {
                raw.to_owned()
            } else {
                "•".repeat(raw.chars().count())
            };
            let form = if pin.is_some() { "" } else { " (not a PIN)" };
            format!("keys {shown}#{form}")
        }
        other => format!("{other:?}"),
    }
}

/// What a session without access to personal data is told when it gives a caller or digits.
const PII_TEST_CALL_REFUSED: &str = "This sign-in may not give a caller's number or key a PIN \
    in a test call: whether someone would be dialled tells if a guessed number or PIN is real. \
    Leave both empty to hear what an unknown caller hears, or sign in with an admin token that \
    may see personal data (marked :pii in PINBRIDGE_ADMIN_TOKENS).";

/// `POST /admin/test-call`: runs the flow and shows each step. 422 for a malformed field;
/// 403 for a caller or digits from a session without access to personal data.
async fn run(
    state: web::Data<AppState>,
    session: AdminSession,
    form: web::Form<RunForm>,
) -> actix_web::Result<HttpResponse> {
    session.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let mut out = page(&session);
    out.virtual_number = form.virtual_number.clone();
    out.caller = form.caller.clone();
    out.digits = form.digits.clone();
    let gives_pii = !form.caller.trim().is_empty() || !form.digits.trim().is_empty();
    if gives_pii && !session.pii {
        out.error = Some(PII_TEST_CALL_REFUSED.to_owned());
        return html(StatusCode::FORBIDDEN, &out);
    }
    let virtual_number =
        PhoneNumber::parse(form.virtual_number.trim(), state.settings.orders.region);
    // Without personal data, an unknown caller: no booking, callback or allowed-caller rule
    // can match one.
    let caller = if session.pii {
        PhoneNumber::parse(form.caller.trim(), state.settings.orders.region).map(Some)
    } else {
        Ok(None)
    };
    let entries: Vec<&str> = {
        let raw = form.digits.trim();
        let raw = raw.strip_suffix('#').unwrap_or(raw);
        if raw.is_empty() {
            Vec::new()
        } else {
            raw.split('#').map(str::trim).collect()
        }
    };
    let error = if virtual_number.is_err() {
        Some("The virtual number is not a phone number.")
    } else if caller.is_err() {
        Some("The caller is not a phone number.")
    } else if entries.len() > MAX_ENTRIES {
        Some("At most 20 entries.")
    } else if entries
        .iter()
        .any(|e| !e.bytes().all(|b| b.is_ascii_digit() || b == b'*'))
    {
        Some("Keys are digits and *, entries separated by #.")
    } else {
        None
    };
    if let Some(e) = error {
        out.error = Some(e.to_owned());
        return html(StatusCode::UNPROCESSABLE_ENTITY, &out);
    }
    let (Ok(virtual_number), Ok(caller)) = (virtual_number, caller) else {
        return html(StatusCode::UNPROCESSABLE_ENTITY, &out);
    };
    let call = Inbound {
        provider: "admin-test",
        call_sid: CallSid::parse("admin-test-call")
            .map_err(actix_web::error::ErrorInternalServerError)?,
        caller_raw: caller.as_ref().map(ToString::to_string),
        caller,
        virtual_number_raw: Some(virtual_number.to_string()),
        virtual_number: Some(virtual_number.clone()),
    };
    let voice = state.greetings.voice(Some(virtual_number.as_ref())).await;
    out.language = voice.language().to_owned();
    let mut events = vec![(CallEvent::Incoming, String::new())];
    for entry in &entries {
        events.push((state.sessions.digits_event(entry), (*entry).to_owned()));
    }
    let mut call_state = CallState::default();
    for (event, raw) in events {
        let label = event_label(&event, &raw, &session);
        let (next, decision) = state
            .sessions
            .dry_step(&call, &call_state, event)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "admin UI: test call storage failed");
                actix_web::error::ErrorServiceUnavailable("The database did not answer. Try again.")
            })?;
        call_state = next;
        let voices = &state.settings.voices;
        let heard = voice
            .spoken(&decision)
            .into_iter()
            .map(|s| {
                let language = s.language().to_owned();
                let what = match s {
                    Spoken::Text { words: t, .. } => format!("“{t}”"),
                    Spoken::Audio { url, .. } => format!("audio {url}"),
                };
                Heard {
                    what,
                    voices: PROVIDERS
                        .iter()
                        .map(|(key, shown)| (*shown, voices.describe(key, &language)))
                        .collect(),
                    language,
                }
            })
            .collect();
        out.steps.push(Step {
            event: label,
            heard,
            decision: flow::decision_name(&decision),
        });
        match decision {
            Decision::Bridge { to, .. } => {
                out.dial = Some(session.show(to.to_string()));
                break;
            }
            Decision::Goodbye { .. } | Decision::Recorded => break,
            Decision::Greet { .. } | Decision::AskForPin { .. } => {}
        }
    }
    out.ran = true;
    html(StatusCode::OK, &out)
}
