//! `/api/v1/calls`: the call log.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::page;
use crate::admin::AdminAuth;
use crate::domain::clock::{parse_rfc3339, rfc3339};
use crate::domain::{Outcome, PROVIDERS, PhoneNumber};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::storage::calls::{self, CallFilter, CallRecord};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/calls", "GET").route(web::get().to(list)));
}

/// Query of `GET /api/v1/calls`; every filter optional. Unknown parameters are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallQuery {
    pub call_sid: Option<String>,
    pub order_id: Option<String>,
    pub booking_id: Option<String>,
    /// Calls this number made or was dialled in (the caller or the destination), in any form
    /// a phone number is written. Only for a token with `:pii` (403 `pii_required`
    /// otherwise).
    pub number: Option<String>,
    /// `exotel`, `twilio`, `plivo`, `8x8` or `vonage`.
    pub provider: Option<String>,
    /// `connected`, `no_answer`, `busy`, `canceled`, `failed`, `pin_failed`, `abandoned` or
    /// `in_progress`.
    pub outcome: Option<String>,
    /// RFC 3339; calls started at or after.
    pub from: Option<String>,
    /// RFC 3339; calls started before.
    pub to: Option<String>,
    /// The earlier name of `from`.
    pub since: Option<String>,
    /// The earlier name of `to`.
    pub until: Option<String>,
    /// 1 to 500, default 50.
    pub limit: Option<i64>,
    /// Calls to skip, for the next page; default 0.
    pub offset: Option<i64>,
}

/// One call in the call log.
#[derive(Debug, Serialize)]
pub struct CallView {
    pub call_sid: String,
    pub provider: String,
    pub caller: Option<String>,
    pub virtual_number: Option<String>,
    pub order_id: Option<String>,
    pub booking_id: Option<String>,
    /// How the call was bridged: `pin`, `booking`, `callback` or `click_to_call`; `null` until
    /// bridged.
    pub route: Option<String>,
    pub destination: Option<String>,
    pub pin_attempts: i64,
    /// `connected`, `no_answer`, `busy`, `canceled`, `failed`, `pin_failed`, `abandoned`,
    /// `in_progress`.
    pub outcome: String,
    /// Seconds from dialling the customer to the end of that leg, ring time included.
    pub dial_seconds: Option<i64>,
    /// Seconds of conversation.
    pub talk_seconds: Option<i64>,
    pub recording_url: Option<String>,
    pub dial_call_status: Option<String>,
    pub legs: Option<serde_json::Value>,
    pub started_at: String,
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
#[derive(Debug, Serialize)]
pub struct CallPage {
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

/// `GET /api/v1/calls`: calls newest first, filtered, one page at a time. 400
/// `invalid_query`, `invalid_provider`, `invalid_outcome`; 403
/// `pii_required` for `number` with a token without `:pii`, since the answer would tell
/// whether a guessed number called or was called.
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
    let offset = q.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "offset must not be negative",
        ));
    }
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
