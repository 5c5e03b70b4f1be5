//! `/api/v1/calls`: the call log.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::page;
use crate::admin::AdminAuth;
use crate::domain::clock::{parse_rfc3339, rfc3339};
use crate::domain::{Outcome, PROVIDERS, PhoneNumber};
use crate::http::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::storage::calls::{self, CallFilter, CallRecord};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/calls", "GET").route(web::get().to(list)));
}

/// Query of `GET /api/v1/calls`; every filter optional. Unknown parameters are refused.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallQuery {
    /// Only the call with this provider's call id (CallSid, CallUUID).
    pub call_sid: Option<String>,
    /// Only calls about this order.
    pub order_id: Option<String>,
    /// Only calls about this booking.
    pub booking_id: Option<String>,
    /// Calls this number made or was dialled in (the caller or the destination), in any form
    /// a phone number is written. Only for a token with `:pii` (403 `pii_required`
    /// otherwise).
    pub number: Option<String>,
    /// `exotel`, `twilio`, `plivo`, `8x8` or `vonage`.
    #[param(schema_with = super::openapi::provider)]
    pub provider: Option<String>,
    /// `connected`, `no_answer`, `busy`, `canceled`, `failed`, `pin_failed`, `abandoned`,
    /// `in_progress` or `unknown`.
    #[param(schema_with = super::openapi::outcome)]
    pub outcome: Option<String>,
    /// RFC 3339; calls started at or after.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339; calls started before.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// The earlier name of `from`.
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// The earlier name of `to`.
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Calls to skip, for the next page; default 0.
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<i64>,
}

/// One call in the call log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Call)]
pub struct CallView {
    /// The provider's id of the call (CallSid, CallUUID); `ctc_...` for a click-to-call.
    pub call_sid: String,
    /// `exotel`, `twilio`, `plivo`, `8x8` or `vonage`.
    pub provider: String,
    /// The number that called, as the provider gave it; masked (`+91******5678`) for a token
    /// without `:pii`.
    pub caller: Option<String>,
    pub virtual_number: Option<String>,
    pub order_id: Option<String>,
    pub booking_id: Option<String>,
    /// How the call was bridged: `pin`, `booking`, `callback` or `click_to_call`; `null` until
    /// bridged.
    pub route: Option<String>,
    /// The number the call was bridged to; masked for a token without `:pii`.
    pub destination: Option<String>,
    /// PINs keyed in during the call.
    pub pin_attempts: i64,
    /// `connected`, `no_answer`, `busy`, `canceled`, `failed`, `pin_failed`, `abandoned`,
    /// `in_progress`; `unknown` for a call whose end report never came and whose provider
    /// could not tell how it ended (closed by the reconciler).
    #[schema(schema_with = super::openapi::outcome)]
    pub outcome: String,
    /// Seconds from dialling the customer to the end of that leg, ring time included.
    pub dial_seconds: Option<i64>,
    /// Seconds of conversation.
    pub talk_seconds: Option<i64>,
    /// The provider's recording of the call, when it recorded one.
    pub recording_url: Option<String>,
    /// The provider's own word for how the dial ended (Exotel's `DialCallStatus`).
    pub dial_call_status: Option<String>,
    /// The legs of the call as the provider reported them (Exotel's `Legs`); their numbers
    /// masked for a token without `:pii`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub legs: Option<serde_json::Value>,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub ended_at: Option<String>,
}

/// Masks the phone numbers a leg report may hold (Exotel's `Legs[n][Number]`).
fn mask_legs(legs: &mut serde_json::Value) {
    if let Some(items) = legs.as_array_mut() {
        for leg in items {
            if let Some(obj) = leg.as_object_mut() {
                for (key, value) in obj.iter_mut() {
                    let is_number = ["number", "source", "destination", "from", "to"]
                        .contains(&key.to_ascii_lowercase().as_str());
                    if let (true, Some(text)) = (is_number, value.as_str()) {
                        *value = serde_json::Value::String(crate::domain::mask(text));
                    }
                }
            }
        }
    }
}

impl CallView {
    /// The call as `who` may see it: caller and destination masked unless the token may see
    /// personal data.
    fn of(c: CallRecord, who: &AdminAuth) -> Self {
        let mut legs: Option<serde_json::Value> =
            c.legs.as_deref().and_then(|l| serde_json::from_str(l).ok());
        if !who.pii
            && let Some(legs) = legs.as_mut()
        {
            mask_legs(legs);
        }
        Self {
            legs,
            started_at: rfc3339(c.started_at),
            ended_at: c.ended_at.map(rfc3339),
            call_sid: c.call_sid,
            provider: c.provider,
            caller: c.caller.map(|n| who.show(n)),
            virtual_number: c.virtual_number,
            order_id: c.order_id,
            booking_id: c.booking_id,
            route: c.route,
            destination: c.destination.map(|n| who.show(n)),
            pin_attempts: c.pin_attempts,
            outcome: c.outcome.as_str().to_owned(),
            dial_seconds: c.dial_secs,
            talk_seconds: c.talk_secs,
            recording_url: c.recording_url,
            dial_call_status: c.dial_call_status,
        }
    }
}

/// A page of the call log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallPage {
    /// Newest first.
    pub calls: Vec<CallView>,
    /// The `offset` of the next page; `null` on the last page.
    pub next_offset: Option<i64>,
}

/// The time of the filter `name` (RFC 3339), as unix ms; `None` when absent or empty.
fn time_filter(name: &'static str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            parse_rfc3339(v).ok_or_else(|| {
                // `from` named the caller's number before it named a time.
                let digits = v.trim().trim_start_matches('+');
                let hint = if !digits.is_empty()
                    && digits.chars().all(|c| c.is_ascii_digit() || c == ' ')
                {
                    "; to find the calls of a phone number, use `number`"
                } else {
                    ""
                };
                ApiError::bad_request(
                    "invalid_query",
                    format!("{name} must be an RFC 3339 time such as 2026-12-01T10:00:00Z{hint}"),
                )
            })
        })
        .transpose()
}

/// One bound of the time range, given by its name or its earlier name (not both).
fn bound(
    name: &'static str,
    value: Option<&str>,
    earlier: &'static str,
    earlier_value: Option<&str>,
) -> Result<Option<i64>, ApiError> {
    match (value, earlier_value) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "invalid_query",
            format!("give {name} or {earlier}, not both"),
        )),
        (Some(v), None) => time_filter(name, Some(v)),
        (None, v) => time_filter(earlier, v),
    }
}

/// List calls.
///
/// The call log, newest first, filtered, one page at a time. Callers and destinations are
/// masked for a token without `:pii`; filtering by `number` needs one, since the answer would
/// tell whether a guessed number called or was called.
#[utoipa::path(
    operation_id = "list_calls",
    get,
    path = "/api/v1/calls",
    tag = "calls",
    params(CallQuery),
    responses(
        (status = 200, description = "A page of the call log.", body = CallPage),
        (status = 400, description = "`invalid_query` (a bad `limit`, `offset`, `from`, `to`, `since` or `until`, both `from` and `since` or both `to` and `until`, or an unknown parameter), `invalid_provider`, `invalid_outcome` or `invalid_text`.", body = ErrorBody),
        (status = 403, description = "`pii_required`: `number` with a token without `:pii`.", body = ErrorBody),
    )
)]
async fn list(
    who: AdminAuth,
    state: web::Data<AppState>,
    query: web::Query<CallQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 500",
        ));
    }
    let offset = page::offset(q.offset)?;
    let number = q.number.as_deref().filter(|s| !s.trim().is_empty());
    if number.is_some() {
        who.may_filter_by("phone number")?;
    }
    // A number that does not parse is looked up as written: the log keeps a withheld or
    // malformed caller ID as the provider sent it.
    let number = number.map(|raw| {
        PhoneNumber::parse(raw, state.settings.orders.region)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| raw.trim().to_owned())
    });
    let providers = PROVIDERS.map(|p| (p, p));
    let provider = page::one_of(
        "provider",
        "invalid_provider",
        q.provider.as_deref(),
        &providers,
    )?;
    let outcomes = Outcome::ALL.map(|o| (o.as_str(), o.as_str()));
    let outcome = page::one_of(
        "outcome",
        "invalid_outcome",
        q.outcome.as_deref(),
        &outcomes,
    )?;
    let filter = CallFilter {
        call_sid: q.call_sid,
        order_id: q.order_id,
        booking_id: q.booking_id,
        number,
        provider: provider.map(str::to_owned),
        outcome: outcome.map(str::to_owned),
        since_ms: bound("from", q.from.as_deref(), "since", q.since.as_deref())?,
        until_ms: bound("to", q.to.as_deref(), "until", q.until.as_deref())?,
        // One more than asked tells whether there is a next page.
        limit: limit + 1,
        offset,
    };
    let mut rows = calls::list(&state.db, &filter).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(HttpResponse::Ok().json(CallPage {
        calls: rows.into_iter().map(|c| CallView::of(c, &who)).collect(),
        next_offset: more.then_some(offset + limit),
    }))
}
