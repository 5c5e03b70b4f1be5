//! Admin UI: the virtual-number pool (add, drain, mark unhealthy or healthy) and bookings
//! (create with party PINs, one way or waiting for party B; add party B; list; close). Drain
//! and close ask first; every bad field of a form is shown at once.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AdminSession;
use super::confirm::ConfirmPage;
use super::form::FormErrors;
use super::orders::{CsrfForm, html, path_segment, query_value, see_other, unavailable};
use crate::domain::clock::now_ms;
use crate::domain::random_token;
use crate::domain::{
    BookingFields, BookingStatus, CallOptions, CallOptionsChange, Callers, MAX_BOOKING_TTL_MS,
    MAX_CONVERSATION_SECS, NewBooking, PROVIDERS, PhoneNumber, PinChoice, PinMode,
    RING_TIMEOUT_SECS, log_safe, parse_party_b,
};
use crate::state::AppState;
use crate::storage::bookings::{self, AddPartyError, Booking, CreateError};
use crate::storage::call_options::{self, Owner};
use crate::storage::pool::{self, AddError};
use crate::storage::strangers;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/bookings", web::get().to(page))
        .route("/bookings", web::post().to(create_booking))
        .route("/bookings/party-b", web::post().to(add_party_b))
        .route("/bookings/{booking_id}/close", web::get().to(confirm_close))
        .route("/bookings/{booking_id}/close", web::post().to(close))
        .route("/numbers", web::post().to(add_number))
        .route("/numbers/options", web::post().to(number_options))
        .route("/numbers/strangers", web::post().to(number_strangers))
        .route("/numbers/{number}/drain", web::get().to(confirm_drain))
        .route("/numbers/{number}/drain", web::post().to(drain))
        .route("/numbers/{number}/health", web::post().to(health));
}

struct NumberRow {
    number: String,
    provider: String,
    /// `IN`, then the region where one was given (`IN, KA`); `—` for a number of no country.
    country: String,
    reserved: bool,
    drained: bool,
    /// `unhealthy (operator)` or `unhealthy (heartbeat)`, with the reason when one was
    /// given; empty while healthy.
    unhealthy: String,
    active_bookings: i64,
    /// Its call options, in a few words.
    call_options: String,
    /// What a caller with no route hears: `pin`, `message`, `desk` or `webhook`.
    strangers: &'static str,
}

struct BookingRow {
    booking_id: String,
    reference: String,
    party_a: String,
    /// `Pending` while it has none.
    party_b: String,
    virtual_number: String,
    expires_at: String,
    /// Its own call options, in a few words.
    call_options: String,
    /// Who calls, who keys a PIN, and the party PINs (masked without personal data), in a
    /// few words.
    calling: String,
}

/// A booking waiting for its party B, as the form adding it offers it.
struct PendingRow {
    booking_id: String,
    /// The booking id, with its reference when it has one.
    label: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NumberForm {
    csrf: String,
    vn_number: String,
    vn_provider: String,
    vn_reserved: Option<String>,
}

/// The form setting a number's call options: every field is sent; an empty one gives the
/// option back to the setting.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NumberOptionsForm {
    csrf: String,
    opt_number: String,
    opt_ring_timeout_secs: String,
    opt_max_conversation_secs: String,
    /// `on`, `off`, or empty (the setting).
    opt_record: String,
    /// `on`, `off`, or empty (the setting).
    opt_whisper: String,
}

/// The form setting what a number answers a caller with no route.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NumberStrangersForm {
    csrf: String,
    str_number: String,
    /// `pin`, `message`, `desk` or `webhook`.
    str_answer: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BookingForm {
    csrf: String,
    party_a: String,
    /// Empty: the booking waits for its party B.
    party_b: String,
    reference: String,
    ttl_seconds: String,
    /// `both` (also when empty), `party_a` or `party_b`.
    callers: String,
    /// Set: the parties who may call get a generated PIN.
    party_pins: Option<String>,
    /// `unknown_callers` (also when empty) or `always`.
    pin_mode: String,
}

/// The form adding party B to a pending booking.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PartyBForm {
    csrf: String,
    add_booking_id: String,
    add_party_b: String,
}

#[derive(Template)]
#[template(path = "admin/bookings.html")]
struct BookingsPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    providers: &'static [&'static str],
    numbers: Vec<NumberRow>,
    bookings: Vec<BookingRow>,
    pending: Vec<PendingRow>,
    number_form: NumberForm,
    number_errors: FormErrors,
    options_form: NumberOptionsForm,
    options_errors: FormErrors,
    strangers_form: NumberStrangersForm,
    strangers_errors: FormErrors,
    /// Whether `PINBRIDGE_STRANGERS_WEBHOOK_URL` is set (`webhook` can be chosen).
    can_ask_business: bool,
    booking_form: BookingForm,
    booking_errors: FormErrors,
    party_b_form: PartyBForm,
    party_b_errors: FormErrors,
    /// What was just done (post/redirect/get).
    notice: String,
}

impl BookingsPage {
    async fn load(state: &AppState, session: &AdminSession) -> actix_web::Result<Self> {
        let now = now_ms();
        let numbers = pool::list(&state.db, now).await.map_err(unavailable)?;
        let answers = strangers::all(&state.db).await.map_err(unavailable)?;
        let active = bookings::active(&state.db, now)
            .await
            .map_err(unavailable)?;
        let ids: Vec<&str> = active.iter().map(|b| b.booking_id.as_str()).collect();
        let mut options = call_options::many(&state.db, Owner::Booking, &ids)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            signed_in: true,
            section: "bookings",
            csrf: session.csrf.clone(),
            providers: &PROVIDERS,
            numbers: numbers
                .into_iter()
                .map(|v| NumberRow {
                    strangers: answers.get(&v.number).copied().unwrap_or_default().as_str(),
                    drained: v.drained_at.is_some(),
                    unhealthy: v
                        .unhealthy
                        .as_ref()
                        .map_or_else(String::new, |u| match &u.reason {
                            Some(r) => format!("unhealthy ({}: {r})", u.by.as_str()),
                            None => format!("unhealthy ({})", u.by.as_str()),
                        }),
                    call_options: super::call_options::summary(&CallOptions {
                        // The number's language is its greetings', shown on that page.
                        language: None,
                        ..v.options
                    }),
                    country: match (v.country, v.region) {
                        (Some(c), Some(r)) => format!("{c}, {r}"),
                        (Some(c), None) => c,
                        (None, Some(r)) => r,
                        (None, None) => "—".into(),
                    },
                    number: v.number,
                    provider: v.provider,
                    reserved: v.reserved,
                    active_bookings: v.active_bookings,
                })
                .collect(),
            pending: active
                .iter()
                .rev()
                .filter(|b| b.status(now) == BookingStatus::Pending)
                .map(|b| PendingRow {
                    booking_id: b.booking_id.clone(),
                    label: match &b.reference {
                        Some(r) => format!("{} ({r})", b.booking_id),
                        None => b.booking_id.clone(),
                    },
                })
                .collect(),
            bookings: active
                .into_iter()
                .rev()
                .map(|b| BookingRow {
                    calling: calling(&b, session),
                    call_options: super::call_options::summary(
                        &options
                            .remove(&(b.booking_id.clone(), b.created_at))
                            .unwrap_or_default(),
                    ),
                    expires_at: super::local_time::show(
                        &state.settings.admin_ui.time_zone,
                        b.expires_at,
                    ),
                    booking_id: b.booking_id,
                    reference: b.reference.unwrap_or_default(),
                    party_a: session.show(b.party_a.into()),
                    party_b: b
                        .party_b
                        .map_or_else(|| "Pending".into(), |p| session.show(p.into())),
                    virtual_number: b.virtual_number.into(),
                })
                .collect(),
            number_form: NumberForm {
                vn_provider: "exotel".into(),
                ..NumberForm::default()
            },
            number_errors: FormErrors::default(),
            options_form: NumberOptionsForm::default(),
            options_errors: FormErrors::default(),
            strangers_form: NumberStrangersForm::default(),
            strangers_errors: FormErrors::default(),
            can_ask_business: state.settings.outbound.strangers_webhook.url.is_some(),
            booking_form: BookingForm::default(),
            booking_errors: FormErrors::default(),
            party_b_form: PartyBForm::default(),
            party_b_errors: FormErrors::default(),
            notice: String::new(),
        })
    }
}

/// Who calls through `b`, who keys a PIN, and its party PINs as `session` may see them:
/// `Both call · PIN: unknown callers · A's PIN ****`.
fn calling(b: &Booking, session: &AdminSession) -> String {
    let mut parts = vec![
        match b.callers {
            Callers::Both => "Both call",
            Callers::PartyA => "Only A calls",
            Callers::PartyB => "Only B calls",
        }
        .to_owned(),
    ];
    if b.pin_mode == PinMode::Always {
        parts.push("PIN: always".into());
    }
    for (who, pin) in [("A", &b.party_a_pin), ("B", &b.party_b_pin)] {
        if let Some(pin) = pin {
            parts.push(format!("{who}'s PIN {}", session.show_pin(pin.clone())));
        }
    }
    parts.join(" · ")
}

/// What the page was reached with: what was just done (`number-added`, `drained`,
/// `booking-created`, `closed`) and to what.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DoneQuery {
    done: String,
    what: String,
}

/// `GET /admin/bookings`.
async fn page(
    session: AdminSession,
    state: web::Data<AppState>,
    query: web::Query<DoneQuery>,
) -> actix_web::Result<HttpResponse> {
    let mut page = BookingsPage::load(&state, &session).await?;
    let what = query.what.as_str();
    page.notice = match query.done.as_str() {
        "number-added" => format!("Number {what} added to the pool."),
        "number-options" => format!("Call options of number {what} saved."),
        "number-strangers" => format!("Callers with no route on number {what}: saved."),
        "drained" => {
            format!(
                "Number {what} drained: it takes no new bookings; those on it go on until they end."
            )
        }
        "unhealthy" => format!(
            "Number {what} marked unhealthy: it takes no new bookings, and its active bookings were moved to other numbers where one was free."
        ),
        "healthy" => format!("Number {what} marked healthy: it takes new bookings again."),
        "booking-created" => format!("Booking {what} created."),
        "party-b-added" => format!("Party B added to booking {what}."),
        "party-b-moved" => format!(
            "Party B added to booking {what}; party B held its number already, so the booking moved to another virtual number: tell party A."
        ),
        "closed" => {
            format!("Booking {what} closed: its parties can no longer reach each other through it.")
        }
        _ => String::new(),
    };
    html(StatusCode::OK, &page)
}

/// To the page, saying what was done.
fn done(what_happened: &str, what: &str) -> HttpResponse {
    see_other(&format!(
        "/admin/bookings?done={what_happened}&what={}",
        query_value(what)
    ))
}

/// `POST /admin/numbers`: adds a number to the pool.
async fn add_number(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<NumberForm>,
) -> actix_web::Result<HttpResponse> {
    let mut form = form.into_inner();
    let mut errors = FormErrors::default();
    let status = if !session.form_is_fresh(&form.csrf) {
        errors = FormErrors::expired("vn_number");
        StatusCode::FORBIDDEN
    } else {
        let number = PhoneNumber::parse(&form.vn_number, state.settings.orders.region);
        if let Err(e) = &number {
            errors.add("vn_number", "Number", e.to_string());
        }
        if !PROVIDERS.contains(&form.vn_provider.as_str()) {
            errors.add(
                "vn_provider",
                "Provider",
                format!("choose one of {}", PROVIDERS.join(", ")),
            );
        }
        match number {
            Ok(number) if errors.is_empty() => {
                match pool::add(
                    &state.db,
                    number.as_ref(),
                    &form.vn_provider,
                    form.vn_reserved.is_some(),
                    None,
                    now_ms(),
                )
                .await
                {
                    Ok(_) => return Ok(done("number-added", number.as_ref())),
                    Err(AddError::Exists) => {
                        errors.add("vn_number", "Number", "this number is in the pool already");
                        StatusCode::CONFLICT
                    }
                    Err(AddError::Database(e)) => return Err(unavailable(e)),
                }
            }
            _ => StatusCode::BAD_REQUEST,
        }
    };
    let mut page = BookingsPage::load(&state, &session).await?;
    page.number_errors = errors;
    form.csrf = String::new();
    page.number_form = form;
    html(status, &page)
}

/// A whole number of seconds within `range`, or empty (the setting).
fn seconds(raw: &str, range: &std::ops::RangeInclusive<u32>) -> Result<Option<u32>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<u32>() {
        Ok(s) if range.contains(&s) => Ok(Some(s)),
        _ => Err(format!(
            "a whole number of seconds from {} to {}, or empty for the setting",
            range.start(),
            range.end()
        )),
    }
}

/// `POST /admin/numbers/strangers`: sets what a number answers a caller with no route
/// (`pin`, `message`, `desk`, or `webhook` when `PINBRIDGE_STRANGERS_WEBHOOK_URL` is set).
async fn number_strangers(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<NumberStrangersForm>,
) -> actix_web::Result<HttpResponse> {
    let mut form = form.into_inner();
    let mut errors = FormErrors::default();
    let status = if session.form_is_fresh(&form.csrf) {
        let number = PhoneNumber::parse(&form.str_number, state.settings.orders.region);
        if number.is_err() {
            errors.add("str_number", "Number", "choose a number of the pool");
        }
        let answer = strangers_answer(&state, &form.str_answer);
        if let Err(e) = &answer {
            errors.add("str_answer", "Callers with no route", e);
        }
        match (number, answer) {
            (Ok(number), Ok(answer)) => {
                if strangers::set(&state.db, number.as_ref(), answer)
                    .await
                    .map_err(unavailable)?
                {
                    tracing::info!(virtual_number = %number.masked(), strangers = answer.as_str(), admin.token = %session.token_name, "virtual number's answer to strangers changed in the admin UI");
                    return Ok(done("number-strangers", number.as_ref()));
                }
                errors.add("str_number", "Number", "this number is not in the pool");
                StatusCode::NOT_FOUND
            }
            _ => StatusCode::BAD_REQUEST,
        }
    } else {
        errors = FormErrors::expired("str_number");
        StatusCode::FORBIDDEN
    };
    let mut page = BookingsPage::load(&state, &session).await?;
    page.strangers_errors = errors;
    form.csrf = String::new();
    page.strangers_form = form;
    html(status, &page)
}

/// The answer chosen in the form; `webhook` only with `PINBRIDGE_STRANGERS_WEBHOOK_URL`.
fn strangers_answer(state: &AppState, raw: &str) -> Result<crate::domain::Strangers, String> {
    use crate::domain::Strangers;
    match Strangers::parse(raw.trim()) {
        Some(Strangers::Webhook) if state.settings.outbound.strangers_webhook.url.is_none() => {
            Err("asking the business needs PINBRIDGE_STRANGERS_WEBHOOK_URL".into())
        }
        Some(answer) => Ok(answer),
        None => Err("choose PIN, message, desk or ask the business".into()),
    }
}

/// `on`, `off`, or empty (the setting).
fn switch(raw: &str) -> Result<Option<bool>, String> {
    match raw.trim() {
        "" => Ok(None),
        "on" => Ok(Some(true)),
        "off" => Ok(Some(false)),
        _ => Err("choose on, off or the setting".into()),
    }
}

/// `POST /admin/numbers/options`: sets a number's ring time, longest conversation, recording
/// and whisper (an empty field gives it back to the setting).
async fn number_options(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<NumberOptionsForm>,
) -> actix_web::Result<HttpResponse> {
    let mut form = form.into_inner();
    let mut errors = FormErrors::default();
    let status = if session.form_is_fresh(&form.csrf) {
        let number = PhoneNumber::parse(&form.opt_number, state.settings.orders.region);
        if number.is_err() {
            errors.add("opt_number", "Number", "choose a number of the pool");
        }
        let ring = seconds(&form.opt_ring_timeout_secs, &RING_TIMEOUT_SECS);
        if let Err(e) = &ring {
            errors.add("opt_ring_timeout_secs", "Ring time in seconds", e);
        }
        let longest = seconds(&form.opt_max_conversation_secs, &MAX_CONVERSATION_SECS);
        if let Err(e) = &longest {
            errors.add(
                "opt_max_conversation_secs",
                "Longest conversation in seconds",
                e,
            );
        }
        let record = switch(&form.opt_record);
        if let Err(e) = &record {
            errors.add("opt_record", "Record calls", e);
        }
        let whisper = switch(&form.opt_whisper);
        if let Err(e) = &whisper {
            errors.add("opt_whisper", "Whisper", e);
        }
        match (number, ring, longest, record, whisper) {
            (Ok(number), Ok(ring), Ok(longest), Ok(record), Ok(whisper)) => {
                let change = CallOptionsChange {
                    language: None,
                    ring_timeout_secs: Some(ring),
                    max_conversation_secs: Some(longest),
                    record: Some(record),
                    whisper: Some(whisper),
                };
                match call_options::change(
                    &state.db,
                    Owner::VirtualNumber,
                    number.as_ref(),
                    &change,
                )
                .await
                .map_err(unavailable)?
                {
                    Some(_) => {
                        // The greetings' book keeps the numbers' options for the calls.
                        if let Err(e) = state.greetings.reload().await {
                            tracing::error!(error = %e, "reloading the greetings after a number's options changed failed");
                        }
                        tracing::info!(virtual_number = %number.masked(), admin.token = %session.token_name, "virtual number's call options changed in the admin UI");
                        return Ok(done("number-options", number.as_ref()));
                    }
                    None => {
                        errors.add("opt_number", "Number", "this number is not in the pool");
                        StatusCode::NOT_FOUND
                    }
                }
            }
            _ => StatusCode::BAD_REQUEST,
        }
    } else {
        errors = FormErrors::expired("opt_number");
        StatusCode::FORBIDDEN
    };
    let mut page = BookingsPage::load(&state, &session).await?;
    page.options_errors = errors;
    form.csrf = String::new();
    page.options_form = form;
    html(status, &page)
}

/// `GET /admin/numbers/{number}/drain`: asks before draining. 404 when the number is not in
/// the pool.
async fn confirm_drain(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    let not_in_pool = || actix_web::error::ErrorNotFound("This virtual number is not in the pool.");
    let number =
        PhoneNumber::parse(&path, state.settings.orders.region).map_err(|_| not_in_pool())?;
    let found = pool::get(&state.db, number.as_ref(), now_ms())
        .await
        .map_err(unavailable)?
        .ok_or_else(not_in_pool)?;
    let page = ConfirmPage {
        signed_in: true,
        section: "bookings",
        csrf: session.csrf.clone(),
        title: format!("Drain {}?", found.number),
        consequence: format!(
            "No new booking gets this number. The {} active booking(s) on it go on until they end. A drained number can not be put back into use from this page.",
            found.active_bookings
        ),
        action: format!("/admin/numbers/{}/drain", path_segment(&found.number)),
        button: "Drain the number".into(),
        back: "/admin/bookings".into(),
    };
    html(StatusCode::OK, &page)
}

/// `POST /admin/numbers/{number}/drain`.
async fn drain(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> actix_web::Result<HttpResponse> {
    session.check_csrf(&form.csrf)?;
    let number = PhoneNumber::parse(&path, state.settings.orders.region)
        .map_err(|_| actix_web::error::ErrorNotFound("This virtual number is not in the pool."))?;
    let drained = pool::drain(&state.db, number.as_ref(), now_ms())
        .await
        .map_err(unavailable)?;
    if drained.is_none() {
        return Err(actix_web::error::ErrorNotFound(
            "This virtual number is not in the pool.",
        ));
    }
    tracing::info!(virtual_number = %number.masked(), admin.token = %session.token_name, "virtual number drained in the admin UI");
    Ok(done("drained", number.as_ref()))
}

/// The form of the health button: the CSRF token, and `healthy` `true` or `false`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct HealthForm {
    csrf: String,
    healthy: String,
}

/// `POST /admin/numbers/{number}/health`: marks the number unhealthy (`healthy=false`; its
/// active bookings move to other numbers, as through the API) or healthy again
/// (`healthy=true`), as an operator. 400 for another value, 404 when the number is not in the
/// pool.
async fn health(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<HealthForm>,
) -> actix_web::Result<HttpResponse> {
    use crate::call::health as marks;
    use crate::storage::pool::MarkedBy;
    session.check_csrf(&form.csrf)?;
    let not_in_pool = || actix_web::error::ErrorNotFound("This virtual number is not in the pool.");
    let number =
        PhoneNumber::parse(&path, state.settings.orders.region).map_err(|_| not_in_pool())?;
    let h = marks::Health {
        db: &state.db,
        events: &state.events,
        sessions: &state.sessions,
        settings: &state.settings.allocation,
    };
    let (found, done_as) = match form.healthy.as_str() {
        "true" => (
            marks::mark_healthy(&h, number.as_ref(), MarkedBy::Operator)
                .await
                .map_err(unavailable)?
                .is_some(),
            "healthy",
        ),
        "false" => (
            marks::mark_unhealthy(
                &h,
                number.as_ref(),
                MarkedBy::Operator,
                Some("marked in the admin UI"),
                now_ms(),
            )
            .await
            .map_err(unavailable)?
            .is_some(),
            "unhealthy",
        ),
        _ => {
            return Err(actix_web::error::ErrorBadRequest(
                "healthy: give true or false",
            ));
        }
    };
    if !found {
        return Err(not_in_pool());
    }
    tracing::info!(virtual_number = %number.masked(), admin.token = %session.token_name, health = done_as, "virtual number's health set in the admin UI");
    Ok(done(done_as, number.as_ref()))
}

/// The booking form's fields, checked one by one so that every bad one is reported: the two
/// numbers, the reference and the lifetime. What only the whole booking can tell (the two
/// parties are the same number) is [`NewBooking::parse`]'s, once these pass.
fn check_booking_fields(state: &AppState, form: &BookingForm, errors: &mut FormErrors) {
    let rules = &state.settings.orders;
    for (id, label, raw) in [
        ("party_a", "Party A number", &form.party_a),
        ("party_b", "Party B number", &form.party_b),
    ] {
        if id == "party_b" && raw.trim().is_empty() {
            continue;
        }
        let checked = PhoneNumber::parse(raw, rules.region)
            .map_err(|e| e.to_string())
            .and_then(|n| rules.check_destination(&n));
        if let Err(e) = checked {
            errors.add(id, label, e);
        }
    }
    let reference = form.reference.trim();
    if reference.chars().count() > 128 || reference.chars().any(char::is_control) {
        errors.add(
            "reference",
            "Reference",
            "a reference has at most 128 characters, on one line",
        );
    }
    if !form.callers.is_empty() && Callers::parse(&form.callers).is_none() {
        errors.add(
            "callers",
            "Who calls",
            "choose both, only party A or only party B",
        );
    }
    if !form.pin_mode.is_empty() && PinMode::parse(&form.pin_mode).is_none() {
        errors.add(
            "pin_mode",
            "Who keys a PIN",
            "choose unknown callers or always",
        );
    }
    let pins = form.party_pins.is_some();
    if pins && form.party_b.trim().is_empty() {
        errors.add(
            "party_pins",
            "Party PINs",
            "a booking without party B takes no party PINs: add them with party B",
        );
    }
    if form.pin_mode == "always" && !pins {
        errors.add(
            "pin_mode",
            "Who keys a PIN",
            "always needs party PINs, else no one could call",
        );
    }
    let ttl = form.ttl_seconds.trim();
    if !ttl.is_empty() {
        let max = MAX_BOOKING_TTL_MS / 1000;
        match ttl.parse::<i64>() {
            Ok(secs) if (1..=max).contains(&secs) => {}
            _ => errors.add(
                "ttl_seconds",
                "Lifetime in seconds",
                format!("a whole number of seconds from 1 to {max} (365 days)"),
            ),
        }
    }
}

/// `POST /admin/bookings`: creates a booking with a number allocated from the pool.
async fn create_booking(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<BookingForm>,
) -> actix_web::Result<HttpResponse> {
    let mut form = form.into_inner();
    let mut errors = FormErrors::default();
    let status = if !session.form_is_fresh(&form.csrf) {
        errors = FormErrors::expired("party_a");
        StatusCode::FORBIDDEN
    } else {
        check_booking_fields(&state, &form, &mut errors);
        if errors.is_empty() {
            let now = now_ms();
            let reference = form.reference.trim();
            let ttl = form.ttl_seconds.trim();
            let fields = BookingFields {
                party_a: &form.party_a,
                party_b: Some(form.party_b.trim()).filter(|b| !b.is_empty()),
                reference: (!reference.is_empty()).then_some(reference),
                ttl_seconds: ttl.parse().ok(),
                expires_at: None,
                virtual_number: None,
                provider: None,
                country: None,
                callers: Some(form.callers.as_str()).filter(|c| !c.is_empty()),
            };
            let default_ttl = i64::try_from(state.settings.retention.booking_ttl.as_millis())
                .unwrap_or(i64::MAX / 2);
            match NewBooking::parse(&fields, &state.settings.orders, default_ttl, now) {
                Err(e) => {
                    let (id, label) = match e.field {
                        "party_a" => ("party_a", "Party A number"),
                        "reference" => ("reference", "Reference"),
                        "ttl_seconds" | "expires_at" => ("ttl_seconds", "Lifetime in seconds"),
                        _ => ("party_b", "Party B number"),
                    };
                    errors.add(id, label, &e.message);
                    StatusCode::BAD_REQUEST
                }
                Ok(new) => {
                    let new = NewBooking {
                        pin_mode: PinMode::parse(&form.pin_mode).unwrap_or_default(),
                        ..new
                    };
                    let booking_id = format!("bk_{}", random_token(22));
                    let created =
                        crate::admin::allocation::create_booking(&state, &new, &booking_id, now)
                            .await;
                    let created = match created {
                        Ok(b) if form.party_pins.is_some() => {
                            with_party_pins(&state, b, &new, now).await
                        }
                        other => other.map_err(BookingRefusal::Create),
                    };
                    match created {
                        Ok(b) => {
                            tracing::info!(booking.id = %b.booking_id, admin.token = %session.token_name, "booking created in the admin UI");
                            return Ok(done("booking-created", &b.booking_id));
                        }
                        Err(BookingRefusal::Create(CreateError::Database(e))) => {
                            return Err(unavailable(e));
                        }
                        Err(BookingRefusal::Pins(
                            crate::import::admission::CreateError::Database(e),
                        )) => return Err(unavailable(e)),
                        Err(BookingRefusal::Create(e)) => {
                            errors.add("party_a", "Party A number", e.to_string());
                            StatusCode::CONFLICT
                        }
                        Err(BookingRefusal::Pins(e)) => {
                            errors.add("party_pins", "Party PINs", format!("{e}; try again"));
                            StatusCode::CONFLICT
                        }
                    }
                }
            }
        } else {
            StatusCode::BAD_REQUEST
        }
    };
    let mut page = BookingsPage::load(&state, &session).await?;
    page.booking_errors = errors;
    form.csrf = String::new();
    page.booking_form = form;
    html(status, &page)
}

/// Why the booking form created nothing.
enum BookingRefusal {
    Create(CreateError),
    Pins(crate::import::admission::CreateError),
}

/// `b`, just created, with generated PINs for the parties who may call (the API's
/// `party_pins: true`); the booking is removed again when they are refused.
async fn with_party_pins(
    state: &AppState,
    b: Booking,
    new: &NewBooking,
    now: i64,
) -> Result<Booking, BookingRefusal> {
    let len = state.settings.orders.generated_pin_len();
    let pin = |party_a: bool| {
        new.callers
            .may_call(party_a)
            .then_some(PinChoice::Generate { len })
    };
    crate::admin::allocation::store_party_pins(state, b, pin(true), pin(false), now)
        .await
        .map_err(BookingRefusal::Pins)
}

/// `POST /admin/bookings/party-b`: adds party B to a pending booking. The booking moves to
/// another virtual number when party B holds its own already (the page says so).
async fn add_party_b(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<PartyBForm>,
) -> actix_web::Result<HttpResponse> {
    let mut form = form.into_inner();
    let mut errors = FormErrors::default();
    let status = if !session.form_is_fresh(&form.csrf) {
        errors = FormErrors::expired("add_party_b");
        StatusCode::FORBIDDEN
    } else {
        let now = now_ms();
        let booking = bookings::get(&state.db, &form.add_booking_id)
            .await
            .map_err(unavailable)?;
        match booking {
            None => {
                errors.add("add_booking_id", "Booking", "choose a pending booking");
                StatusCode::BAD_REQUEST
            }
            Some(booking) => {
                match parse_party_b(&form.add_party_b, &booking.party_a, &state.settings.orders) {
                    Err(e) => {
                        errors.add("add_party_b", "Party B number", e.message);
                        StatusCode::BAD_REQUEST
                    }
                    Ok(party_b) => {
                        let added = crate::admin::allocation::add_party_b(
                            &state,
                            &booking.booking_id,
                            &party_b,
                            now,
                        )
                        .await;
                        match added {
                            Ok(b) => {
                                tracing::info!(booking.id = %b.booking_id, admin.token = %session.token_name, "party B added in the admin UI");
                                let what = if b.virtual_number == booking.virtual_number {
                                    "party-b-added"
                                } else {
                                    "party-b-moved"
                                };
                                return Ok(done(what, &b.booking_id));
                            }
                            Err(AddPartyError::Database(e)) => return Err(unavailable(e)),
                            Err(e @ AddPartyError::SameParty) => {
                                errors.add("add_party_b", "Party B number", e.to_string());
                                StatusCode::BAD_REQUEST
                            }
                            Err(e) => {
                                errors.add("add_party_b", "Party B number", e.to_string());
                                StatusCode::CONFLICT
                            }
                        }
                    }
                }
            }
        }
    };
    let mut page = BookingsPage::load(&state, &session).await?;
    page.party_b_errors = errors;
    form.csrf = String::new();
    page.party_b_form = form;
    html(status, &page)
}

/// `GET /admin/bookings/{booking_id}/close`: asks before closing. 404 when there is no such
/// booking.
async fn confirm_close(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    let booking = bookings::get(&state.db, &path)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| actix_web::error::ErrorNotFound("No booking with this id."))?;
    let reference = booking
        .reference
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let page = ConfirmPage {
        signed_in: true,
        section: "bookings",
        csrf: session.csrf.clone(),
        title: format!("Close booking {}{reference}?", booking.booking_id),
        consequence: "Its parties can no longer reach each other through its virtual number, by calling back either. This can not be undone.".into(),
        action: format!("/admin/bookings/{}/close", path_segment(&booking.booking_id)),
        button: "Close the booking".into(),
        back: "/admin/bookings".into(),
    };
    html(StatusCode::OK, &page)
}

/// `POST /admin/bookings/{booking_id}/close`.
async fn close(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> actix_web::Result<HttpResponse> {
    session.check_csrf(&form.csrf)?;
    let closed = bookings::close(&state.db, &path, now_ms())
        .await
        .map_err(unavailable)?;
    if closed.is_none() {
        return Err(actix_web::error::ErrorNotFound("No booking with this id."));
    }
    tracing::info!(booking.id = %log_safe(&path), admin.token = %session.token_name, "booking closed in the admin UI");
    Ok(done("closed", &path))
}
