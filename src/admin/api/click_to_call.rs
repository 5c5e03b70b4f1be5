//! Click-to-call: `POST /api/v1/calls/connect` asks Exotel's `Calls/connect` to ring the
//! courier (or a booking's party A) and bridge them to the customer (party B), both seeing the
//! virtual number (seed 003, "Click to Call API"); and the status callback that completes the
//! call's record (`/exotel/{secret}/status`, handled in `routes::exotel`).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::admin::AdminAuth;
use crate::domain::clock::now_ms;
use crate::domain::random_token;
use crate::domain::{BookingStatus, PhoneNumber, log_safe};
use crate::http::error::{ApiError, ErrorBody};
use crate::outbound::exotel_api::{ConnectCall, ExotelError, MAX_CUSTOM_FIELD_LEN, redact_digits};
use crate::state::AppState;
use crate::storage::outbound::{self, NewOutboundCall};
use crate::storage::{bookings, orders};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/calls/connect", "POST").route(web::post().to(connect)));
}

/// The body of `POST /api/v1/calls/connect`: exactly one of `order_id` and `booking_id`.
/// Unknown fields are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    /// Call about this order: the courier first, then the order's customer.
    pub order_id: Option<String>,
    /// Call about this booking: party A first, then party B.
    pub booking_id: Option<String>,
    /// The number called first, in any form a phone number is written. For an order: the
    /// courier (required unless the order lists exactly one allowed caller, and then one of
    /// those listed); for a booking: one of its parties (default party A).
    pub from: Option<String>,
}

/// The answer of an accepted click-to-call (202).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectAnswer {
    /// pinbridge's id of the call: its `call_sid` in the call log (provider `exotel`, route
    /// `click_to_call`).
    pub call_id: String,
    /// Exotel's Call Sid.
    pub sid: String,
}

/// What a click-to-call is about.
enum Subject {
    Order(String),
    Booking(String),
}

/// Who is called, and what the call is about.
struct Plan {
    from: PhoneNumber,
    to: PhoneNumber,
    caller_id: PhoneNumber,
    order_id: Option<String>,
    booking_id: Option<String>,
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Place a click-to-call.
///
/// Exotel rings the courier (or a booking's party A) and bridges them to the customer (party
/// B), both seeing the virtual number. Answers 202 `{"call_id", "sid"}` once Exotel accepted
/// the call; the call then shows in the call log under `call_id`. Exotel's message in a 502
/// has its runs of 6 or more digits masked (it may quote numbers, and error answers are
/// logged). The call record ends as `failed` when Exotel refused, or stays open when Exotel's
/// answer is unknown.
#[utoipa::path(
    operation_id = "connect_call",
    post,
    path = "/api/v1/calls/connect",
    tag = "calls",
    request_body = ConnectRequest,
    responses(
        (status = 202, description = "Exotel accepted the call.", body = ConnectAnswer),
        (status = 400, description = "`invalid_body` (neither or both ids), `missing_from` (an order without a single stored courier, and no `from`), `invalid_from` (not a phone number, a country not allowed, not a courier or party of the order or booking) or `invalid_text`.", body = ErrorBody),
        (status = 404, description = "`not_found`: no active order or booking with this id.", body = ErrorBody),
        (status = 409, description = "`no_virtual_number`: the order names no virtual number and `PINBRIDGE_EXOTEL_CALLER_ID` is not set.", body = ErrorBody),
        (status = 502, description = "`exotel_error`: Exotel refused the call or did not answer, with its message.", body = ErrorBody),
        (status = 503, description = "`exotel_not_configured` (naming the settings to set) or `database_unavailable`.", body = ErrorBody),
    )
)]
async fn connect(
    who: AdminAuth,
    state: web::Data<AppState>,
    body: super::ApiJson<ConnectRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let from = nonempty(body.from)
        .map(|raw| {
            PhoneNumber::parse(&raw, state.settings.orders.region)
                .ok()
                .filter(|n| {
                    n.country_code()
                        .is_some_and(|c| state.settings.orders.allowed_country_codes.contains(&c))
                })
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_from",
                        "`from` is not a phone number of an allowed country (PINBRIDGE_ALLOWED_COUNTRY_CODES)",
                    )
                })
        })
        .transpose()?;
    let subject = match (nonempty(body.order_id), nonempty(body.booking_id)) {
        (Some(order_id), None) => Subject::Order(order_id),
        (None, Some(booking_id)) => Subject::Booking(booking_id),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "send exactly one of `order_id` and `booking_id`",
            ));
        }
    };
    let Some(api) = state.exotel_api.clone() else {
        return Err(ApiError::client(
            StatusCode::SERVICE_UNAVAILABLE,
            "exotel_not_configured",
            format!(
                "click-to-call needs Exotel's API credentials; set {}",
                state.settings.outbound.exotel_api.missing().join(", ")
            ),
        ));
    };
    let now = now_ms();
    let plan = match subject {
        Subject::Order(order_id) => order_plan(&state, &order_id, from, now).await?,
        Subject::Booking(booking_id) => booking_plan(&state, &booking_id, from, now).await?,
    };
    let call_id = format!("ctc_{}", random_token(24));
    debug_assert!(call_id.len() <= MAX_CUSTOM_FIELD_LEN);
    outbound::create_call(
        &state.db,
        &NewOutboundCall {
            call_id: &call_id,
            order_id: plan.order_id.as_deref(),
            booking_id: plan.booking_id.as_deref(),
            from: plan.from.as_ref(),
            to: plan.to.as_ref(),
            caller_id: plan.caller_id.as_ref(),
        },
        now,
    )
    .await?;
    let request = ConnectCall {
        from: plan.from,
        to: plan.to,
        caller_id: plan.caller_id,
        status_callback: format!("{}/exotel/{}/status", state.public_url, state.exotel_secret),
        custom_field: call_id.clone(),
        record: state.settings.outbound.exotel_api.call_recording,
        time_limit_secs: Some(state.settings.calls.connect.max_conversation_secs),
        ring_timeout_secs: Some(state.settings.calls.connect.max_ringing_secs),
    };
    match api.connect_call(&request).await {
        Ok(placed) => {
            crate::metrics::click_to_call("placed");
            // The status callback finds the record by our id (CustomField) even if this fails.
            if let Err(e) = outbound::accepted(&state.db, &call_id, &placed.sid, now_ms()).await {
                tracing::error!(call.id = %call_id, error = %e, "storing Exotel's Call Sid failed");
            }
            tracing::info!(
                call.id = %call_id,
                call.sid = %log_safe(&placed.sid),
                order.id = %log_safe(plan.order_id.as_deref().unwrap_or("")),
                booking.id = %log_safe(plan.booking_id.as_deref().unwrap_or("")),
                admin.token = %who.name,
                "click-to-call placed"
            );
            Ok(HttpResponse::Accepted().json(ConnectAnswer {
                call_id,
                sid: placed.sid,
            }))
        }
        Err(e) => {
            let certain = !matches!(e, ExotelError::Uncertain { .. });
            crate::metrics::click_to_call(if certain { "refused" } else { "uncertain" });
            if let Err(db) =
                outbound::not_accepted(&state.db, &call_id, certain, e.status(), now_ms()).await
            {
                tracing::error!(call.id = %call_id, error = %db, "recording Exotel's refusal failed");
            }
            tracing::warn!(call.id = %call_id, http.status = e.status(), placed = if certain { "no" } else { "unknown" }, "click-to-call not accepted by Exotel");
            Err(ApiError::client(
                StatusCode::BAD_GATEWAY,
                "exotel_error",
                redact_digits(e.message()),
            ))
        }
    }
}

/// An active order: `from` (or its one allowed courier) first, then its customer, from its
/// virtual number or `PINBRIDGE_EXOTEL_CALLER_ID`.
async fn order_plan(
    state: &AppState,
    order_id: &str,
    from: Option<PhoneNumber>,
    now: i64,
) -> Result<Plan, ApiError> {
    let order = orders::find_active_by_id(&state.db, order_id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("no active order with this order_id"))?;
    let to = order.customer_number;
    let couriers = order.allowed_callers;
    let from = match (from, couriers.as_slice()) {
        (Some(f), []) => f,
        (Some(f), listed) if listed.contains(&f) => f,
        (Some(_), _) => {
            return Err(ApiError::bad_request(
                "invalid_from",
                "`from` is not one of the couriers this order allows",
            ));
        }
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(ApiError::bad_request(
                "missing_from",
                "`from` is required: the order stores no single courier number to call first",
            ));
        }
    };
    let caller_id = match order.virtual_number {
        Some(vn) => vn,
        None => state
            .settings
            .outbound
            .exotel_api
            .caller_id
            .clone()
            .ok_or_else(|| {
                ApiError::conflict(
                    "no_virtual_number",
                    "the order names no virtual number and PINBRIDGE_EXOTEL_CALLER_ID is not set",
                )
            })?,
    };
    Ok(Plan {
        from,
        to,
        caller_id,
        order_id: Some(order.order_id),
        booking_id: None,
    })
}

/// An active booking: party A first (or `from`, when it names party B), then the other party,
/// from the booking's virtual number.
async fn booking_plan(
    state: &AppState,
    booking_id: &str,
    from: Option<PhoneNumber>,
    now: i64,
) -> Result<Plan, ApiError> {
    let booking = bookings::get(&state.db, booking_id)
        .await?
        .filter(|b| b.status(now) == BookingStatus::Active)
        .ok_or_else(|| ApiError::not_found("no active booking with this booking_id"))?;
    // An active booking has its party B (a pending one is not active).
    let (a, Some(b)) = (booking.party_a, booking.party_b) else {
        return Err(ApiError::not_found(
            "no active booking with this booking_id",
        ));
    };
    let (from, to) = match from {
        None => (a, b),
        Some(f) if f == a => (a, b),
        Some(f) if f == b => (b, a),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_from",
                "`from` must be one of the booking's parties",
            ));
        }
    };
    Ok(Plan {
        from,
        to,
        caller_id: booking.virtual_number,
        order_id: None,
        booking_id: Some(booking.booking_id),
    })
}
