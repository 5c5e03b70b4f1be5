//! `/api/v1/virtual-numbers`: the pool bookings are allocated from.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::page;
use crate::admin::AdminAuth;
use crate::domain::clock::{now_ms, rfc3339};
use crate::domain::{CallOptions, CallOptionsChange, PROVIDERS, PhoneNumber, Strangers};
use crate::http::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::storage::call_options::{self, Owner};
use crate::storage::pool::{self, AddError, VirtualNumber};
use crate::storage::strangers;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/virtual-numbers", "GET, POST")
            .route(web::post().to(add))
            .route(web::get().to(list)),
    )
    .service(
        super::resource("/virtual-numbers/{number}", "GET, PATCH, DELETE")
            .route(web::get().to(get))
            .route(web::patch().to(change))
            .route(web::delete().to(drain)),
    );
}

/// The body of `POST /api/v1/virtual-numbers`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddNumber {
    /// The virtual number, in any form a phone number is written.
    pub number: String,
    /// `exotel`, `twilio`, `plivo`, `8x8` or `vonage`.
    #[schema(schema_with = super::openapi::provider)]
    pub provider: String,
    /// Reserved numbers are only given to bookings that name them. Default false.
    #[serde(default)]
    pub reserved: bool,
    /// Where in its country the number is, as the provider lists it (`KA`, `Karnataka`): at
    /// most 64 characters, shown only. The country itself comes from the number.
    #[schema(example = "KA")]
    pub region: Option<String>,
    /// The language its callers hear, a BCP 47 primary tag (`en`, `hi`); absent:
    /// `PINBRIDGE_DEFAULT_LANGUAGE`. The greetings page sets it too.
    #[schema(example = "hi")]
    pub language: Option<String>,
    /// Seconds the dialled party's phone rings on calls through this number, 5 to 120;
    /// absent: `PINBRIDGE_MAX_RINGING_DURATION`. An order's or booking's own value wins.
    #[schema(minimum = 5, maximum = 120)]
    pub ring_timeout_secs: Option<u32>,
    /// Seconds a bridged conversation may last, 60 to 14400 (Vonage cuts at 7200); absent:
    /// `PINBRIDGE_MAX_CONVERSATION_DURATION`.
    #[schema(minimum = 60, maximum = 14400)]
    pub max_conversation_secs: Option<u32>,
    /// Record bridged calls, after the recording consent; absent: `PINBRIDGE_RECORD_CALLS`.
    pub record: Option<bool>,
    /// Say the whisper to the dialled party; absent: `PINBRIDGE_WHISPER`.
    pub whisper: Option<bool>,
    /// The ExoPhone SID of an Exotel number (Exotel's `phone_number_sid`): Exotel's heartbeat
    /// names numbers by it, so only a number with one is marked by the heartbeat. At most 64
    /// characters; unique in the pool.
    pub exotel_sid: Option<String>,
}

/// The body of `PATCH /api/v1/virtual-numbers/{number}`: any of the fields; those absent stay
/// as they are, `null` clears one (the setting applies again). Unknown fields are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeNumber {
    /// The language its callers hear (BCP 47 primary tag); `null`:
    /// `PINBRIDGE_DEFAULT_LANGUAGE`.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
    /// Seconds the dialled party's phone rings, 5 to 120; `null`: the setting.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<u32>, minimum = 5, maximum = 120)]
    pub ring_timeout_secs: Option<Option<u32>>,
    /// Seconds a bridged conversation may last, 60 to 14400; `null`: the setting.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<u32>, minimum = 60, maximum = 14400)]
    pub max_conversation_secs: Option<Option<u32>>,
    /// Record bridged calls; `null`: the setting.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<bool>)]
    pub record: Option<Option<bool>>,
    /// Say the whisper; `null`: the setting.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<bool>)]
    pub whisper: Option<Option<bool>>,
    /// What a caller with no route on the number hears (no booking of theirs active on it,
    /// no callback): `pin` (asked for an order's or a party's PIN), `message` (told there is
    /// no one to dial, then hung up; no PIN is taken on the number), `desk`
    /// (`PINBRIDGE_FALLBACK_NUMBER`; without one, as `message`) or `webhook` (the business
    /// is asked at `PINBRIDGE_STRANGERS_WEBHOOK_URL` which stored party, order or the desk
    /// the caller reaches; `message` when it does not answer one in time).
    #[schema(example = "message")]
    pub strangers: Option<String>,
    /// `false` marks the number unhealthy: it is given to no booking, and its active bookings
    /// move to another number at once (`booking.virtual_number_changed`); `true` marks it
    /// healthy again (whoever marked it).
    pub healthy: Option<bool>,
    /// Why it is marked unhealthy, shown with the mark: at most 200 characters. Only with
    /// `healthy: false`.
    pub health_reason: Option<String>,
    /// The ExoPhone SID (at most 64 characters, unique in the pool); `null` clears it.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<String>)]
    pub exotel_sid: Option<Option<String>>,
}

/// A number of the pool as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = VirtualNumber)]
pub struct NumberView {
    /// E.164.
    pub number: String,
    /// `exotel`, `twilio`, `plivo`, `8x8` or `vonage`.
    #[schema(schema_with = super::openapi::provider)]
    pub provider: String,
    /// Given only to bookings that name it.
    pub reserved: bool,
    /// ISO 3166-1 alpha-2, from the number (`IN` for `+91...`); bookings of parties of this
    /// country are given it. `null` for a number of no country.
    #[schema(example = "IN")]
    pub country: Option<String>,
    /// Where in its country, as given when it was added.
    pub region: Option<String>,
    /// `active`, or `drained` (no new bookings; existing ones go on).
    #[schema(schema_with = super::openapi::number_status)]
    pub status: &'static str,
    /// Bookings active on it now.
    pub active_bookings: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub drained_at: Option<String>,
    /// The language its callers hear (set here or on the greetings page); `null`:
    /// `PINBRIDGE_DEFAULT_LANGUAGE`.
    pub language: Option<String>,
    /// Seconds the dialled party's phone rings; `null`: `PINBRIDGE_MAX_RINGING_DURATION`.
    pub ring_timeout_secs: Option<u32>,
    /// Seconds a bridged conversation may last; `null`:
    /// `PINBRIDGE_MAX_CONVERSATION_DURATION`.
    pub max_conversation_secs: Option<u32>,
    /// Record bridged calls; `null`: `PINBRIDGE_RECORD_CALLS`.
    pub record: Option<bool>,
    /// Say the whisper to the dialled party; `null`: `PINBRIDGE_WHISPER`.
    pub whisper: Option<bool>,
    /// What a caller with no route on it hears: `pin`, `message` or `desk`.
    pub strangers: &'static str,
    /// `false` once marked unhealthy (by an operator or by Exotel's heartbeat): it is given
    /// to no booking, and its bookings were moved to other numbers.
    pub healthy: bool,
    /// When it was marked unhealthy; `null` while healthy.
    #[schema(format = DateTime)]
    pub unhealthy_since: Option<String>,
    /// Why, as the operator or the heartbeat gave it.
    pub unhealthy_reason: Option<String>,
    /// `operator` or `heartbeat`; `null` while healthy. Only an operator clears an operator's
    /// mark; a heartbeat that reports the number well clears its own.
    pub unhealthy_by: Option<&'static str>,
    /// The ExoPhone SID that names it in Exotel's heartbeat.
    pub exotel_sid: Option<String>,
}

impl NumberView {
    /// The same, answering strangers with `answer`.
    fn answering(mut self, answer: Strangers) -> Self {
        self.strangers = answer.as_str();
        self
    }
}

impl From<VirtualNumber> for NumberView {
    fn from(v: VirtualNumber) -> Self {
        Self {
            status: if v.drained_at.is_some() {
                "drained"
            } else {
                "active"
            },
            created_at: rfc3339(v.created_at),
            drained_at: v.drained_at.map(rfc3339),
            number: v.number,
            provider: v.provider,
            reserved: v.reserved,
            country: v.country,
            region: v.region,
            active_bookings: v.active_bookings,
            language: v.options.language,
            ring_timeout_secs: v.options.ring_timeout_secs,
            max_conversation_secs: v.options.max_conversation_secs,
            record: v.options.record,
            whisper: v.options.whisper,
            strangers: Strangers::default().as_str(),
            healthy: v.unhealthy.is_none(),
            unhealthy_since: v.unhealthy.as_ref().map(|u| rfc3339(u.since)),
            unhealthy_reason: v.unhealthy.as_ref().and_then(|u| u.reason.clone()),
            unhealthy_by: v.unhealthy.as_ref().map(|u| u.by.as_str()),
            exotel_sid: v.exotel_sid,
        }
    }
}

/// Has this instance's calls take a number's new language and options at once: the greetings'
/// book keeps them in memory (other instances reload when the change is announced,
/// [`crate::storage::changes`]). A failed reload is
/// logged; the change is stored either way.
async fn reload_greetings(state: &AppState) {
    if let Err(e) = state.greetings.reload().await {
        tracing::error!(error = %e, "reloading the greetings after a language change failed");
    }
}

/// An ExoPhone SID as given: trimmed, at most 64 characters, no control characters; `None`
/// when empty.
fn checked_sid(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        Some(s)
            if s.chars().count() > 64 || s.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            Err(ApiError::bad_request(
                "invalid_exotel_sid",
                "exotel_sid: at most 64 characters, no spaces or control characters",
            ))
        }
        Some("") | None => Ok(None),
        Some(s) => Ok(Some(s.to_owned())),
    }
}

/// Sets `number`'s ExoPhone SID. Errors: 409 `exotel_sid_taken`, 404 when not in the pool.
async fn set_sid(state: &AppState, number: &str, sid: Option<&str>) -> Result<(), ApiError> {
    match pool::set_exotel_sid(&state.db, number, sid).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::not_found(
            "this virtual number is not in the pool",
        )),
        Err(e @ pool::SidError::Taken) => {
            Err(ApiError::conflict("exotel_sid_taken", e.to_string()))
        }
        Err(pool::SidError::Database(e)) => Err(e.into()),
    }
}

/// The health marks' view of the state.
fn health(state: &AppState) -> crate::call::health::Health<'_> {
    crate::call::health::Health {
        db: &state.db,
        events: &state.events,
        sessions: &state.sessions,
        settings: &state.settings.allocation,
    }
}

/// Marks `number` healthy or not, as an operator, for `reason`. Errors: 404 when not in
/// the pool.
async fn set_health(
    state: &AppState,
    number: &PhoneNumber,
    healthy: bool,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    use crate::call::health;
    use crate::storage::pool::MarkedBy;
    let h = health(state);
    let found = if healthy {
        health::mark_healthy(&h, number.as_ref(), MarkedBy::Operator)
            .await?
            .map(|_| ())
    } else {
        health::mark_unhealthy(&h, number.as_ref(), MarkedBy::Operator, reason, now_ms())
            .await?
            .map(|moved| {
                tracing::info!(
                    virtual_number = %number.masked(),
                    bookings.moved = moved.iter().filter(|m| m.new.is_some()).count(),
                    bookings.stranded = moved.iter().filter(|m| m.new.is_none()).count(),
                    "virtual number marked unhealthy"
                );
            })
    };
    found.ok_or_else(|| ApiError::not_found("this virtual number is not in the pool"))
}

/// The reason of a health mark as given: at most 200 characters, no control characters;
/// `None` when empty.
fn checked_reason(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.map(str::trim) {
        Some(r) if r.chars().count() > 200 || r.chars().any(char::is_control) => {
            Err(ApiError::bad_request(
                "invalid_health_reason",
                "health_reason: at most 200 characters, no control characters",
            ))
        }
        Some("") | None => Ok(None),
        Some(r) => Ok(Some(r.to_owned())),
    }
}

fn parse_number(state: &AppState, raw: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw, state.settings.orders.region)
        .map_err(|e| ApiError::bad_request("invalid_virtual_number", format!("number: {e}")))
}

/// Add a virtual number to the pool.
///
/// Answers 201 with the number; bookings may be given it from now on.
#[utoipa::path(
    operation_id = "add_virtual_number",
    post,
    path = "/api/v1/virtual-numbers",
    tag = "virtual numbers",
    request_body = AddNumber,
    responses(
        (status = 201, description = "The number, added to the pool.", body = NumberView),
        (status = 400, description = "`invalid_virtual_number`, `invalid_provider`, `invalid_region`, `invalid_language`, `invalid_ring_timeout_secs`, `invalid_max_conversation_secs`, `invalid_exotel_sid`, `invalid_body` or `invalid_text`, naming the field.", body = ErrorBody),
        (status = 409, description = "`virtual_number_exists`: the number is in the pool already; `exotel_sid_taken`: another number has this ExoPhone SID.", body = ErrorBody),
    )
)]
async fn add(
    _: AdminAuth,
    state: web::Data<AppState>,
    body: super::ApiJson<AddNumber>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let number = parse_number(&state, &body.number)?;
    if !PROVIDERS.contains(&body.provider.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_provider",
            format!("provider is one of {}", PROVIDERS.join(", ")),
        ));
    }
    let region = match body.region.as_deref().map(str::trim) {
        Some(r) if r.chars().count() > 64 || r.chars().any(char::is_control) => {
            return Err(ApiError::bad_request(
                "invalid_region",
                "region: at most 64 characters, no control characters",
            ));
        }
        Some("") | None => None,
        Some(r) => Some(r.to_owned()),
    };
    let options = super::call_options::checked(CallOptions {
        language: body.language,
        ring_timeout_secs: body.ring_timeout_secs,
        max_conversation_secs: body.max_conversation_secs,
        record: body.record,
        whisper: body.whisper,
    })?;
    let sid = checked_sid(body.exotel_sid.as_deref())?;
    if let Some(sid) = &sid
        && pool::exophones(&state.db)
            .await?
            .iter()
            .any(|p| &p.sid == sid)
    {
        return Err(ApiError::conflict(
            "exotel_sid_taken",
            "another virtual number has this exotel_sid",
        ));
    }
    let mut added = pool::add(
        &state.db,
        number.as_ref(),
        &body.provider,
        body.reserved,
        region.as_deref(),
        now_ms(),
    )
    .await
    .map_err(|e| match e {
        AddError::Exists => ApiError::conflict("virtual_number_exists", e.to_string()),
        AddError::Database(e) => e.into(),
    })?;
    if let Some(set) = call_options::change(
        &state.db,
        Owner::VirtualNumber,
        number.as_ref(),
        &CallOptionsChange::setting(&options),
    )
    .await?
    {
        added.options = set;
    }
    if let Some(sid) = sid {
        set_sid(&state, number.as_ref(), Some(&sid)).await?;
        added.exotel_sid = Some(sid);
    }
    if added.options != CallOptions::default() {
        reload_greetings(&state).await;
    }
    Ok(HttpResponse::Created().json(NumberView::from(added)))
}

/// The query of `GET /api/v1/virtual-numbers`. Unknown parameters are refused.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListNumbers {
    /// `active` or `drained`; absent: all.
    #[param(schema_with = super::openapi::number_status)]
    pub status: Option<String>,
    /// `exotel`, `twilio`, `plivo`, `8x8` or `vonage`; absent: all.
    #[param(schema_with = super::openapi::provider)]
    pub provider: Option<String>,
    /// The `next` of the page before.
    pub cursor: Option<String>,
    /// Numbers a page, 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A page of the pool as `GET /api/v1/virtual-numbers` answers it: newest first, and `next`,
/// the `cursor` of the following page (`null` on the last).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Pool)]
pub struct PoolView {
    /// Newest first.
    pub virtual_numbers: Vec<NumberView>,
    /// The `cursor` of the next page; `null` on the last page.
    pub next: Option<String>,
}

/// List the pool.
///
/// A page of the pool, newest first, each number with its count of active bookings, filtered
/// by status and provider. Pass the `next` of a page as `cursor` for the following one.
#[utoipa::path(
    operation_id = "list_virtual_numbers",
    get,
    path = "/api/v1/virtual-numbers",
    tag = "virtual numbers",
    params(ListNumbers),
    responses(
        (status = 200, description = "A page of the pool.", body = PoolView),
        (status = 400, description = "`invalid_status`, `invalid_provider`, `invalid_limit`, `invalid_cursor` or `invalid_query` (an unknown parameter).", body = ErrorBody),
    )
)]
async fn list(
    _: AdminAuth,
    state: web::Data<AppState>,
    query: web::Query<ListNumbers>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let drained = page::one_of(
        "status",
        "invalid_status",
        q.status.as_deref(),
        &[("active", false), ("drained", true)],
    )?;
    let providers = PROVIDERS.map(|p| (p, p));
    let provider = page::one_of(
        "provider",
        "invalid_provider",
        q.provider.as_deref(),
        &providers,
    )?;
    let paging = page::Paging::parse(q.limit, q.cursor)?;
    let filter = pool::NumberFilter {
        drained,
        provider: provider.map(str::to_owned),
        before: paging.before.clone(),
        limit: paging.fetch(),
        now: now_ms(),
    };
    let mut found = pool::page(&state.db, &filter).await?;
    let next = paging.cut(&mut found, |v| (v.created_at, &v.number));
    let answers = strangers::all(&state.db).await?;
    Ok(HttpResponse::Ok().json(PoolView {
        virtual_numbers: found
            .into_iter()
            .map(|v| {
                let answer = answers.get(&v.number).copied().unwrap_or_default();
                NumberView::from(v).answering(answer)
            })
            .collect(),
        next,
    }))
}

/// Read a virtual number.
#[utoipa::path(
    operation_id = "get_virtual_number",
    get,
    path = "/api/v1/virtual-numbers/{number}",
    tag = "virtual numbers",
    params(("number" = String, Path, description = "The virtual number, in any form a phone number is written (`+` as `%2B`).")),
    responses(
        (status = 200, description = "The number.", body = NumberView),
        (status = 400, description = "`invalid_virtual_number`.", body = ErrorBody),
        (status = 404, description = "`not_found`: the number is not in the pool.", body = ErrorBody),
    )
)]
async fn get(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = parse_number(&state, &path)?;
    let found = pool::get(&state.db, number.as_ref(), now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("this virtual number is not in the pool"))?;
    let answer = strangers::of(&state.db, number.as_ref()).await?;
    Ok(HttpResponse::Ok().json(NumberView::from(found).answering(answer)))
}

/// Change a virtual number's call options.
///
/// The language its callers hear, and how bridges through the number are dialled: ring time,
/// longest conversation, recording, whisper. An order's or booking's own value wins over the
/// number's; `null` gives a field back to the setting. `strangers` sets what a caller with no
/// route on the number hears (`pin`, `message` or `desk`). `healthy: false` marks the number
/// unhealthy: it is given to no booking, and its active bookings move at once to another
/// number of its country and provider by the allocation rule (each sent as
/// `booking.virtual_number_changed`; one with no number free stays, and
/// `pool.allocation_refused` is sent); the old number still reaches the other party for
/// `PINBRIDGE_HEALTH_GRACE`. `healthy: true` marks it healthy again. `exotel_sid` names it in
/// Exotel's heartbeat. Answers 200 with the number.
#[utoipa::path(
    operation_id = "change_virtual_number",
    patch,
    path = "/api/v1/virtual-numbers/{number}",
    tag = "virtual numbers",
    params(("number" = String, Path, description = "The virtual number, in any form a phone number is written (`+` as `%2B`).")),
    request_body = ChangeNumber,
    responses(
        (status = 200, description = "The number.", body = NumberView),
        (status = 400, description = "`invalid_virtual_number`, `invalid_language`, `invalid_ring_timeout_secs`, `invalid_max_conversation_secs`, `invalid_strangers` (not one of the four answers, or `webhook` without `PINBRIDGE_STRANGERS_WEBHOOK_URL`), `invalid_health_reason`, `invalid_exotel_sid` or `invalid_body` (an unknown field, or none to change), naming the field.", body = ErrorBody),
        (status = 404, description = "`not_found`: the number is not in the pool.", body = ErrorBody),
        (status = 409, description = "`exotel_sid_taken`: another number has this ExoPhone SID.", body = ErrorBody),
    )
)]
async fn change(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: super::ApiJson<ChangeNumber>,
) -> Result<HttpResponse, ApiError> {
    let number = parse_number(&state, &path)?;
    let body = body.into_inner();
    let change = super::call_options::checked_change(CallOptionsChange {
        language: body.language,
        ring_timeout_secs: body.ring_timeout_secs,
        max_conversation_secs: body.max_conversation_secs,
        record: body.record,
        whisper: body.whisper,
    })?;
    let answer = body
        .strangers
        .as_deref()
        .map(|raw| {
            Strangers::parse(raw).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_strangers",
                    "strangers: give pin, message, desk or webhook",
                )
            })
        })
        .transpose()?;
    if answer == Some(Strangers::Webhook) && state.settings.outbound.strangers_webhook.url.is_none()
    {
        return Err(ApiError::bad_request(
            "invalid_strangers",
            "strangers: webhook needs PINBRIDGE_STRANGERS_WEBHOOK_URL, the business's address to ask",
        ));
    }
    let reason = checked_reason(body.health_reason.as_deref())?;
    if reason.is_some() && body.healthy != Some(false) {
        return Err(ApiError::bad_request(
            "invalid_health_reason",
            "health_reason: give it with healthy: false",
        ));
    }
    let sid = body
        .exotel_sid
        .as_ref()
        .map(|s| checked_sid(s.as_deref()))
        .transpose()?;
    if change.is_empty() && answer.is_none() && body.healthy.is_none() && sid.is_none() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "give at least one of language, ring_timeout_secs, max_conversation_secs, record, whisper, strangers, healthy, exotel_sid",
        ));
    }
    if let Some(sid) = &sid {
        set_sid(&state, number.as_ref(), sid.as_deref()).await?;
    }
    if let Some(healthy) = body.healthy {
        set_health(&state, &number, healthy, reason.as_deref()).await?;
    }
    if let Some(answer) = answer
        && !strangers::set(&state.db, number.as_ref(), answer).await?
    {
        return Err(ApiError::not_found(
            "this virtual number is not in the pool",
        ));
    }
    if !change.is_empty() {
        call_options::change(&state.db, Owner::VirtualNumber, number.as_ref(), &change)
            .await?
            .ok_or_else(|| ApiError::not_found("this virtual number is not in the pool"))?;
        reload_greetings(&state).await;
    }
    let found = pool::get(&state.db, number.as_ref(), now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("this virtual number is not in the pool"))?;
    let answer = strangers::of(&state.db, number.as_ref()).await?;
    tracing::info!(virtual_number = %number.masked(), admin.token = %who.name, "virtual number's call options changed");
    Ok(HttpResponse::Ok().json(NumberView::from(found).answering(answer)))
}

/// Drain a virtual number.
///
/// No new bookings get it; bookings on it go on until they end. Answers 200 with the number,
/// `drained`.
#[utoipa::path(
    operation_id = "drain_virtual_number",
    delete,
    path = "/api/v1/virtual-numbers/{number}",
    tag = "virtual numbers",
    params(("number" = String, Path, description = "The virtual number, in any form a phone number is written (`+` as `%2B`).")),
    responses(
        (status = 200, description = "The drained number.", body = NumberView),
        (status = 400, description = "`invalid_virtual_number`.", body = ErrorBody),
        (status = 404, description = "`not_found`: the number is not in the pool.", body = ErrorBody),
    )
)]
async fn drain(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = parse_number(&state, &path)?;
    let drained = pool::drain(&state.db, number.as_ref(), now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("this virtual number is not in the pool"))?;
    tracing::info!(virtual_number = %number.masked(), "virtual number drained");
    Ok(HttpResponse::Ok().json(NumberView::from(drained)))
}
