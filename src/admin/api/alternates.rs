//! The alternate numbers of a booking's parties in the admin API (`party_a_alternates`,
//! `party_b_alternates` of `POST` and `PATCH /api/v1/bookings`): read, checked, shown.

use crate::admin::AdminAuth;
use crate::domain::{BookingFieldError, PhoneNumber, parse_alternates};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::storage::alternates::{self, ReplaceError};
use crate::storage::bookings;

/// The 400 of a bad alternate: `invalid_party_alternates`, naming the field.
fn invalid(e: BookingFieldError) -> ApiError {
    ApiError::bad_request("invalid_party_alternates", e.message)
}

/// Reads the alternates of a new booking of parties `a` and `b`.
///
/// Errors: 400 `invalid_party_alternates`, naming the field.
pub(super) fn parse_new(
    state: &AppState,
    raw_a: Option<&[String]>,
    raw_b: Option<&[String]>,
    parties: (&PhoneNumber, Option<&PhoneNumber>),
) -> Result<(Vec<PhoneNumber>, Vec<PhoneNumber>), ApiError> {
    parse_alternates(
        raw_a.unwrap_or_default(),
        raw_b.unwrap_or_default(),
        parties,
        &state.settings.orders,
    )
    .map_err(invalid)
}

/// Replaces the alternates of the active booking `booking_id`, the sides given, checked
/// against the booking's numbers and the allocation rule.
///
/// Errors: 400 `invalid_party_alternates`; 404 `not_found`; 409 `booking_not_active` or
/// `participant_conflict` (an alternate holds the booking's number in another active
/// booking).
pub(super) async fn change(
    state: &AppState,
    booking_id: &str,
    raw_a: Option<&[String]>,
    raw_b: Option<&[String]>,
    now: i64,
) -> Result<(), ApiError> {
    let booking = bookings::get(&state.db, booking_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no booking with this booking_id"))?;
    // The side not given keeps its alternates, which the other side's must not repeat.
    let (kept_a, kept_b) = alternates::of(&state.db, booking_id).await?;
    let text = |numbers: Vec<PhoneNumber>| -> Vec<String> {
        numbers.into_iter().map(String::from).collect()
    };
    let (kept_a, kept_b) = (text(kept_a), text(kept_b));
    let (a, b) = parse_alternates(
        raw_a.unwrap_or(&kept_a),
        raw_b.unwrap_or(&kept_b),
        (&booking.party_a, booking.party_b.as_ref()),
        &state.settings.orders,
    )
    .map_err(invalid)?;
    let given_a = raw_a.map(|_| a.as_slice());
    let given_b = raw_b.map(|_| b.as_slice());
    alternates::replace(&state.db, booking_id, given_a, given_b, now)
        .await
        .map_err(|e| match e {
            ReplaceError::Missing => ApiError::not_found("no booking with this booking_id"),
            ReplaceError::NotActive => ApiError::conflict(
                "booking_not_active",
                "this booking is not active: only an active booking can be changed",
            ),
            ReplaceError::Conflict => ApiError::conflict("participant_conflict", e.to_string()),
            ReplaceError::Database(e) => e.into(),
        })
}

/// The alternates of party A, then of party B, as `who` may see them (masked without
/// `:pii`).
///
/// Errors: the database's (503).
pub(super) async fn shown(
    state: &AppState,
    booking_id: &str,
    who: &AdminAuth,
) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let (a, b) = alternates::of(&state.db, booking_id).await?;
    let show = |numbers: Vec<PhoneNumber>| -> Vec<String> {
        numbers.into_iter().map(|n| who.show(n.into())).collect()
    };
    Ok((show(a), show(b)))
}
