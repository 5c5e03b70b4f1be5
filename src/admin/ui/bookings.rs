//! Admin UI: the virtual-number pool (add, drain) and bookings (create, list, close).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AdminSession;
use super::orders::{CsrfForm, html, see_other, unavailable};
use crate::domain::clock::now_ms;
use crate::domain::random_token;
use crate::domain::{BookingFields, NewBooking, PROVIDERS, PhoneNumber, log_safe};
use crate::state::AppState;
use crate::storage::bookings::{self, CreateError};
use crate::storage::pool::{self, AddError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/bookings", web::get().to(page))
        .route("/bookings", web::post().to(create_booking))
        .route("/bookings/{booking_id}/close", web::post().to(close))
        .route("/numbers", web::post().to(add_number))
        .route("/numbers/{number}/drain", web::post().to(drain));
}

struct NumberRow {
    number: String,
    provider: String,
    reserved: bool,
    drained: bool,
    active_bookings: i64,
}

struct BookingRow {
    booking_id: String,
    reference: String,
    party_a: String,
    party_b: String,
    virtual_number: String,
    expires_at: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NumberForm {
    csrf: String,
    vn_number: String,
    vn_provider: String,
    vn_reserved: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct BookingForm {
    csrf: String,
    party_a: String,
    party_b: String,
    reference: String,
    ttl_seconds: String,
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
    number_form: NumberForm,
    number_error_field: &'static str,
    number_error: String,
    booking_form: BookingForm,
    booking_error_field: &'static str,
    booking_error: String,
}

impl BookingsPage {
    async fn load(state: &AppState, session: &AdminSession) -> actix_web::Result<Self> {
        let now = now_ms();
        let numbers = pool::list(&state.db, now).await.map_err(unavailable)?;
        let active = bookings::active(&state.db, now)
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
                    drained: v.drained_at.is_some(),
                    number: v.number,
                    provider: v.provider,
                    reserved: v.reserved,
                    active_bookings: v.active_bookings,
                })
                .collect(),
            bookings: active
                .into_iter()
                .rev()
                .map(|b| BookingRow {
                    expires_at: super::local_time::show(
                        &state.settings.admin_ui.time_zone,
                        b.expires_at,
                    ),
                    booking_id: b.booking_id,
                    reference: b.reference.unwrap_or_default(),
                    party_a: session.show(b.party_a.into()),
                    party_b: session.show(b.party_b.into()),
                    virtual_number: b.virtual_number.into(),
                })
                .collect(),
            number_form: NumberForm {
                vn_provider: "exotel".into(),
                ..NumberForm::default()
            },
            number_error_field: "",
            number_error: String::new(),
            booking_form: BookingForm::default(),
            booking_error_field: "",
            booking_error: String::new(),
        })
    }
}

/// `GET /admin/bookings`.
async fn page(
    session: AdminSession,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    html(StatusCode::OK, &BookingsPage::load(&state, &session).await?)
}

/// `POST /admin/numbers`: adds a number to the pool.
async fn add_number(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<NumberForm>,
) -> actix_web::Result<HttpResponse> {
    let form = form.into_inner();
    session.check_csrf(&form.csrf)?;
    let failure = match PhoneNumber::parse(&form.vn_number, state.settings.orders.region) {
        Err(e) => (StatusCode::BAD_REQUEST, "vn_number", format!("number: {e}")),
        Ok(_) if !PROVIDERS.contains(&form.vn_provider.as_str()) => (
            StatusCode::BAD_REQUEST,
            "vn_provider",
            format!("provider is one of {}", PROVIDERS.join(", ")),
        ),
        Ok(number) => {
            match pool::add(
                &state.db,
                number.as_ref(),
                &form.vn_provider,
                form.vn_reserved.is_some(),
                now_ms(),
            )
            .await
            {
                Ok(_) => return Ok(see_other("/admin/bookings")),
                Err(e @ AddError::Exists) => (StatusCode::CONFLICT, "vn_number", e.to_string()),
                Err(AddError::Database(e)) => return Err(unavailable(e)),
            }
        }
    };
    let mut page = BookingsPage::load(&state, &session).await?;
    (page.number_error_field, page.number_error) = (failure.1, failure.2);
    page.number_form = form;
    html(failure.0, &page)
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
    Ok(see_other("/admin/bookings"))
}

/// `POST /admin/bookings`: creates a booking with a number allocated from the pool.
async fn create_booking(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<BookingForm>,
) -> actix_web::Result<HttpResponse> {
    let form = form.into_inner();
    session.check_csrf(&form.csrf)?;
    let now = now_ms();
    let ttl = form.ttl_seconds.trim();
    let failure = match (!ttl.is_empty()).then(|| ttl.parse::<i64>()).transpose() {
        Err(_) => (
            StatusCode::BAD_REQUEST,
            "ttl_seconds",
            "ttl_seconds: a whole number of seconds".to_owned(),
        ),
        Ok(ttl_seconds) => {
            let reference = form.reference.trim();
            let fields = BookingFields {
                party_a: &form.party_a,
                party_b: &form.party_b,
                reference: (!reference.is_empty()).then_some(reference),
                ttl_seconds,
                expires_at: None,
                virtual_number: None,
                provider: None,
            };
            let default_ttl = i64::try_from(state.settings.retention.booking_ttl.as_millis())
                .unwrap_or(i64::MAX / 2);
            match NewBooking::parse(&fields, &state.settings.orders, default_ttl, now) {
                Err(e) => {
                    let field = match e.field {
                        "party_a" => "party_a",
                        "party_b" => "party_b",
                        "reference" => "reference",
                        "ttl_seconds" | "expires_at" => "ttl_seconds",
                        _ => "",
                    };
                    (StatusCode::BAD_REQUEST, field, e.to_string())
                }
                Ok(new) => {
                    let booking_id = format!("bk_{}", random_token(22));
                    match bookings::create(&state.db, &new, &booking_id, now).await {
                        Ok(b) => {
                            tracing::info!(booking.id = %b.booking_id, admin.token = %session.token_name, "booking created in the admin UI");
                            return Ok(see_other("/admin/bookings"));
                        }
                        Err(CreateError::Database(e)) => return Err(unavailable(e)),
                        Err(e) => (StatusCode::CONFLICT, "", e.to_string()),
                    }
                }
            }
        }
    };
    let mut page = BookingsPage::load(&state, &session).await?;
    (page.booking_error_field, page.booking_error) = (failure.1, failure.2);
    page.booking_form = form;
    html(failure.0, &page)
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
    Ok(see_other("/admin/bookings"))
}
