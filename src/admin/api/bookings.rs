//! `/api/v1/bookings`: caller-based masking. Two parties reach each other through one virtual
//! number, allocated from the pool.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::admin::AdminAuth;
use crate::domain::clock::{now_ms, rfc3339};
use crate::domain::random_token;
use crate::domain::{BookingFields, NewBooking};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::storage::bookings::{self, Booking, CreateError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/bookings", "POST").route(web::post().to(create)))
        .service(
            super::resource("/bookings/{booking_id}", "GET, DELETE")
                .route(web::get().to(get))
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
