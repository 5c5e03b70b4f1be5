//! `/api/v1/bookings`: caller-based masking. Two parties reach each other through one virtual
//! number, allocated from the pool.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::page;
use crate::admin::AdminAuth;
use crate::domain::clock::{now_ms, rfc3339};
use crate::domain::random_token;
use crate::domain::{BookingFields, BookingStatus, NewBooking, parse_booking_expiry};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::storage::bookings::{self, Booking, Changed, CreateError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/bookings", "GET, POST")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        super::resource("/bookings/{booking_id}", "GET, PATCH, DELETE")
            .route(web::get().to(get))
            .route(web::patch().to(change))
            .route(web::delete().to(close)),
    );
}

/// The body of `POST /api/v1/bookings`. Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBooking {
    pub party_a: String,
    pub party_b: String,
    pub reference: Option<String>,
    /// Lifetime in seconds; or give `expires_at`.
    pub ttl_seconds: Option<i64>,
    /// RFC 3339; or give `ttl_seconds`.
    pub expires_at: Option<String>,
    /// A number of the pool to use instead of allocating one (the only way to use a reserved
    /// number).
    pub virtual_number: Option<String>,
    /// Allocate among this provider's numbers only.
    pub provider: Option<String>,
}

/// A booking as the API shows it.
#[derive(Debug, Serialize)]
pub struct BookingView {
    pub booking_id: String,
    pub reference: Option<String>,
    pub party_a: String,
    pub party_b: String,
    pub virtual_number: String,
    /// `active`, `expired` or `closed`.
    pub status: &'static str,
    pub created_at: String,
    pub expires_at: String,
    pub closed_at: Option<String>,
}

impl BookingView {
    /// The booking as `who` may see it: parties masked unless the token may see personal data.
    fn of(b: Booking, now: i64, who: &AdminAuth) -> Self {
        Self {
            status: b.status(now).as_str(),
            created_at: rfc3339(b.created_at),
            expires_at: rfc3339(b.expires_at),
            closed_at: b.closed_at.map(rfc3339),
            booking_id: b.booking_id,
            reference: b.reference,
            party_a: who.show(b.party_a.into()),
            party_b: who.show(b.party_b.into()),
            virtual_number: b.virtual_number.into(),
        }
    }
}

/// `POST /api/v1/bookings`: 201 with the booking and its virtual number. 409 `pool_exhausted`
/// when no number is free for both parties, `participant_conflict` when a named number is
/// held by a party already, `virtual_number_drained`; 400 for invalid fields and
/// `unknown_virtual_number`.
async fn create(
    who: AdminAuth,
    state: web::Data<AppState>,
    body: super::ApiJson<CreateBooking>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let b = body.into_inner();
    let fields = BookingFields {
        party_a: &b.party_a,
        party_b: &b.party_b,
        reference: b.reference.as_deref(),
        ttl_seconds: b.ttl_seconds,
        expires_at: b.expires_at.as_deref(),
        virtual_number: b.virtual_number.as_deref(),
        provider: b.provider.as_deref(),
    };
    let default_ttl =
        i64::try_from(state.settings.retention.booking_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    let new =
        NewBooking::parse(&fields, &state.settings.orders, default_ttl, now).map_err(|e| {
            let code = match e.field {
                "party_a" | "party_b" => "invalid_party",
                "virtual_number" => "invalid_virtual_number",
                "provider" => "invalid_provider",
                "reference" => "invalid_reference",
                _ => "invalid_expiry",
            };
            ApiError::bad_request(code, e.to_string())
        })?;
    let booking_id = format!("bk_{}", random_token(22));
    let booking = bookings::create(&state.db, &new, &booking_id, now)
        .await
        .map_err(|e| match e {
            CreateError::PoolExhausted => ApiError::conflict("pool_exhausted", e.to_string()),
            CreateError::ParticipantConflict => {
                ApiError::conflict("participant_conflict", e.to_string())
            }
            CreateError::NumberDrained => {
                ApiError::conflict("virtual_number_drained", e.to_string())
            }
            CreateError::UnknownNumber => {
                ApiError::bad_request("unknown_virtual_number", e.to_string())
            }
            CreateError::Database(e) => e.into(),
        })?;
    tracing::info!(booking.id = %booking.booking_id, "booking created");
    Ok(HttpResponse::Created().json(BookingView::of(booking, now, &who)))
}

/// `GET /api/v1/bookings/{booking_id}`: 200 with the booking, 404 when there is none.
async fn get(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let booking = bookings::get(&state.db, &path)
        .await?
        .ok_or_else(|| ApiError::not_found("no booking with this booking_id"))?;
    Ok(HttpResponse::Ok().json(BookingView::of(booking, now_ms(), &who)))
}

/// The query of `GET /api/v1/bookings`. Unknown parameters are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListBookings {
    /// `active`, `expired` or `closed`; absent: all.
    pub status: Option<String>,
    /// Only bookings on this virtual number (any form a number may be written in).
    pub virtual_number: Option<String>,
    /// Only bookings with this number as either party; for tokens that may see personal data.
    pub party_number: Option<String>,
    /// The `next` of the page before.
    pub cursor: Option<String>,
    /// Bookings a page, 1 to 500; default 100.
    pub limit: Option<i64>,
}

/// A page of bookings: `bookings` newest first, and `next`, the `cursor` of the following
/// page (`null` on the last).
#[derive(Debug, Serialize)]
pub struct BookingPage {
    pub bookings: Vec<BookingView>,
    pub next: Option<String>,
}

/// `GET /api/v1/bookings`: a page of bookings, newest first, filtered by status, virtual
/// number and (for `:pii` tokens) party; 400 for a bad parameter or cursor, 403
/// `pii_required` for a party filter without `:pii`.
async fn list(
    who: AdminAuth,
    state: web::Data<AppState>,
    query: web::Query<ListBookings>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let now = now_ms();
    let status = page::one_of(
        "status",
        "invalid_status",
        q.status.as_deref(),
        &[
            ("active", BookingStatus::Active),
            ("expired", BookingStatus::Expired),
            ("closed", BookingStatus::Closed),
        ],
    )?;
    let region = state.settings.orders.region;
    let party = page::number("party_number", q.party_number.as_deref(), region)?;
    if party.is_some() && !who.pii {
        return Err(ApiError::pii_required("filter bookings by party_number"));
    }
    let paging = page::Paging::parse(q.limit, q.cursor)?;
    let filter = bookings::BookingFilter {
        status,
        virtual_number: page::number("virtual_number", q.virtual_number.as_deref(), region)?,
        party,
        before: paging.before.clone(),
        limit: paging.fetch(),
        now,
    };
    let mut found = bookings::list(&state.db, &filter).await?;
    let next = paging.cut(&mut found, |b| (b.created_at, &b.booking_id));
    let bookings = found
        .into_iter()
        .map(|b| BookingView::of(b, now, &who))
        .collect();
    Ok(HttpResponse::Ok().json(BookingPage { bookings, next }))
}

/// The body of `PATCH /api/v1/bookings/{booking_id}`. Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeBooking {
    /// RFC 3339: in the future, at most 365 days ahead.
    pub expires_at: String,
}

/// `PATCH /api/v1/bookings/{booking_id}`: moves the expiry of an active booking, checked as
/// when it was created; 200 with the booking. 400 `invalid_expiry` or `invalid_body`, 404
/// when there is none, 409 `booking_not_active` when it is expired or closed.
async fn change(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: super::ApiJson<ChangeBooking>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let expires_at = parse_booking_expiry(&body.expires_at, now)
        .map_err(|e| ApiError::bad_request("invalid_expiry", e.to_string()))?;
    let booking = match bookings::change_expiry(&state.db, &path, expires_at, now).await? {
        Changed::Changed(booking) => booking,
        Changed::NotActive(booking) => {
            return Err(ApiError::conflict(
                "booking_not_active",
                format!(
                    "this booking is {}: only an active booking can be changed",
                    booking.status(now).as_str()
                ),
            ));
        }
        Changed::Missing => return Err(ApiError::not_found("no booking with this booking_id")),
    };
    tracing::info!(booking.id = %booking.booking_id, "booking changed");
    Ok(HttpResponse::Ok().json(BookingView::of(booking, now, &who)))
}

/// `DELETE /api/v1/bookings/{booking_id}`: closes the booking. Its parties stop reaching each
/// other at once, callbacks included. 200 with the booking, 404 when there is none.
async fn close(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let booking = bookings::close(&state.db, &path, now)
        .await?
        .ok_or_else(|| ApiError::not_found("no booking with this booking_id"))?;
    tracing::info!(booking.id = %booking.booking_id, "booking closed");
    Ok(HttpResponse::Ok().json(BookingView::of(booking, now, &who)))
}
