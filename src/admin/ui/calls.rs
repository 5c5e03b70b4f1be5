//! Admin UI: the call log with filters, and one call with its steps.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::AdminSession;
use super::local_time::{self, Shown};
use super::orders::{html, unavailable};
use crate::domain::clock::{now_ms, parse_rfc3339};
use crate::domain::{PROVIDERS, PhoneNumber};
use crate::state::AppState;
use crate::storage::calls::{self, CallRecord, LogFilter};
use crate::storage::steps;

/// Calls per page.
const PAGE_SIZE: i64 = 50;
/// The outcomes a call can have, for the filter.
pub(super) const OUTCOMES: [&str; 9] = [
    "connected",
    "no_answer",
    "busy",
    "canceled",
    "failed",
    "pin_failed",
    "abandoned",
    "in_progress",
    "unknown",
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/calls", web::get().to(log))
        .route("/calls/{provider}/{call_sid}", web::get().to(call));
}

/// The call log's filters, as GET parameters.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct LogQuery {
    /// `YYYY-MM-DD` (a day in the UI's time zone) or RFC 3339: calls started on or after.
    from: String,
    /// `YYYY-MM-DD` (a day in the UI's time zone, the whole day included) or RFC 3339: calls
    /// started before.
    until: String,
    number: String,
    order_id: String,
    outcome: String,
    provider: String,
    page: i64,
}

struct CallRow {
    href: String,
    call_sid: String,
    provider: String,
    started: Shown,
    caller: String,
    virtual_number: String,
    order_id: String,
    route: String,
    outcome: String,
    talk_secs: String,
}

fn href(c: &CallRecord) -> String {
    format!(
        "/admin/calls/{}/{}",
        super::orders::query_value(&c.provider),
        super::orders::query_value(&c.call_sid)
    )
}

#[derive(Template)]
#[template(path = "admin/calls.html")]
struct CallsPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    q: LogQuery,
    outcomes: &'static [&'static str],
    providers: &'static [&'static str],
    rows: Vec<CallRow>,
    /// Whether the log may be filtered by phone number.
    pii: bool,
    /// The time zone the times are in: `IST (Asia/Kolkata)`.
    zone: String,
    error: String,
    page: i64,
    prev: Option<String>,
    next: Option<String>,
}

/// RFC 3339 as unix milliseconds; `YYYY-MM-DD` as the start of that day in `tz`, or with
/// `whole_day`, of the day after (so that an "until" day is included).
fn parse_day(tz: &TimeZone, text: &str, whole_day: bool) -> Option<i64> {
    let text = text.trim();
    if let Some(ms) = parse_rfc3339(text) {
        return Some(ms);
    }
    let day = local_time::parse_date(text)?;
    let day = if whole_day { day.tomorrow().ok()? } else { day };
    local_time::day_start(tz, day)
}

fn page_link(q: &LogQuery, page: i64) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (k, v) in [
        ("from", &q.from),
        ("until", &q.until),
        ("number", &q.number),
        ("order_id", &q.order_id),
        ("outcome", &q.outcome),
        ("provider", &q.provider),
    ] {
        if !v.is_empty() {
            pairs.push((k, v.clone()));
        }
    }
    pairs.push(("page", page.to_string()));
    format!(
        "/admin/calls?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

/// `GET /admin/calls`: newest first, filtered, one page at a time. A bad date is a 400; a
/// phone number from a session without access to personal data is a 403 that says so, and
/// nothing is searched: the answer would tell whether a guessed number called.
async fn log(
    session: AdminSession,
    state: web::Data<AppState>,
    query: web::Query<LogQuery>,
) -> actix_web::Result<HttpResponse> {
    let mut q = query.into_inner();
    q.page = q.page.max(1);
    let mut errors = Vec::new();
    let tz = &state.settings.admin_ui.time_zone;
    let mut day = |name: &str, text: &str, whole_day: bool| -> Option<i64> {
        if text.trim().is_empty() {
            return None;
        }
        let parsed = parse_day(tz, text, whole_day);
        if parsed.is_none() {
            errors.push(format!(
                "{name} must be a date such as 2026-12-01 or an RFC 3339 time"
            ));
        }
        parsed
    };
    let since_ms = day("From", &q.from, false);
    let until_ms = day("Until", &q.until, true);
    let number = q.number.trim();
    let refused = !number.is_empty() && !session.pii;
    if refused {
        errors.push(
            super::session::PII_SEARCH_REFUSED
                .trim_end_matches('.')
                .to_owned(),
        );
    }
    let number = if number.is_empty() {
        String::new()
    } else {
        PhoneNumber::parse(number, state.settings.orders.region)
            .map(|n| n.to_string())
            .unwrap_or_else(|_| number.to_owned())
    };
    let outcome = if OUTCOMES.contains(&q.outcome.as_str()) {
        q.outcome.clone()
    } else {
        String::new()
    };
    let provider = if PROVIDERS.contains(&q.provider.as_str()) {
        q.provider.clone()
    } else {
        String::new()
    };
    let filter = LogFilter {
        provider,
        outcome,
        order_id: q.order_id.trim().to_owned(),
        number,
        since_ms,
        until_ms,
        limit: PAGE_SIZE + 1,
        offset: (q.page - 1).saturating_mul(PAGE_SIZE),
    };
    let mut rows = if errors.is_empty() {
        calls::log(&state.db, &filter).await.map_err(unavailable)?
    } else {
        Vec::new()
    };
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let rows = rows
        .into_iter()
        .map(|c| CallRow {
            href: href(&c),
            started: Shown::at(tz, c.started_at),
            caller: c.caller.map(|n| session.show(n)).unwrap_or_default(),
            virtual_number: c.virtual_number.unwrap_or_default(),
            order_id: c.order_id.or(c.booking_id).unwrap_or_default(),
            route: c.route.unwrap_or_default(),
            talk_secs: c.talk_secs.map(|s| s.to_string()).unwrap_or_default(),
            call_sid: c.call_sid,
            provider: c.provider,
            outcome: c.outcome.as_str().to_owned(),
        })
        .collect();
    let page = CallsPage {
        signed_in: true,
        section: "calls",
        csrf: session.csrf.clone(),
        outcomes: &OUTCOMES,
        providers: &PROVIDERS,
        rows,
        pii: session.pii,
        zone: local_time::zone_label(tz, now_ms()),
        error: errors.join(". "),
        page: q.page,
        prev: (q.page > 1).then(|| page_link(&q, q.page - 1)),
        next: more.then(|| page_link(&q, q.page + 1)),
        q,
    };
    let status = if refused {
        StatusCode::FORBIDDEN
    } else if page.error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    html(status, &page)
}

struct StepRow {
    at: String,
    applet: String,
    event: String,
    decision: String,
    detail: String,
    elapsed_ms: String,
}

#[derive(Template)]
#[template(path = "admin/call.html")]
struct CallPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    fields: Vec<(&'static str, String)>,
    call_sid: String,
    provider: String,
    recording_url: Option<String>,
    steps: Vec<StepRow>,
    /// The time zone the times are in: `IST (Asia/Kolkata)`.
    zone: String,
}

/// `GET /admin/calls/{provider}/{call_sid}`: the call's fields and its steps in time order.
async fn call(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> actix_web::Result<HttpResponse> {
    let (provider, call_sid) = path.into_inner();
    let found = calls::get(&state.db, &provider, &call_sid)
        .await
        .map_err(unavailable)?;
    let Some(c) = found else {
        return super::not_found::page(
            Some(&session),
            "calls",
            "No such call",
            "The call log has no call with this provider and call id. It may have been deleted \
             after the retention period (PINBRIDGE_RETENTION_DAYS).",
            ("/admin/calls", "Back to the call log"),
        );
    };
    state.writer.flush().await;
    let steps = steps::for_call(&state.db, &provider, &call_sid)
        .await
        .map_err(unavailable)?;
    let tz = &state.settings.admin_ui.time_zone;
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let num = |v: Option<i64>| v.map_or_else(|| "—".into(), |n| n.to_string());
    let fields = vec![
        ("Provider", c.provider.clone()),
        ("Call id", c.call_sid.clone()),
        ("Outcome", c.outcome.as_str().to_owned()),
        ("Caller", opt(c.caller.map(|n| session.show(n)))),
        ("Virtual number", opt(c.virtual_number)),
        ("Order id", opt(c.order_id)),
        ("Booking id", opt(c.booking_id)),
        ("Route", opt(c.route)),
        ("Destination", opt(c.destination.map(|n| session.show(n)))),
        ("PIN attempts", c.pin_attempts.to_string()),
        ("Dial status", opt(c.dial_call_status)),
        ("Dial seconds", num(c.dial_secs)),
        ("Talk seconds", num(c.talk_secs)),
        ("Started", local_time::show(tz, c.started_at)),
        ("Updated", local_time::show(tz, c.updated_at)),
        ("Ended", opt(c.ended_at.map(|ms| local_time::show(tz, ms)))),
    ];
    let page = CallPage {
        signed_in: true,
        section: "calls",
        csrf: session.csrf.clone(),
        fields,
        recording_url: c
            .recording_url
            .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        steps: steps
            .into_iter()
            .map(|s| StepRow {
                at: local_time::show(tz, s.at),
                applet: s.applet,
                event: s.event,
                decision: s.decision,
                detail: s.detail.unwrap_or_default(),
                elapsed_ms: format!("{:.3}", s.elapsed_us as f64 / 1000.0),
            })
            .collect(),
        call_sid: c.call_sid,
        provider: c.provider,
        zone: local_time::zone_label(tz, now_ms()),
    };
    html(StatusCode::OK, &page)
}
