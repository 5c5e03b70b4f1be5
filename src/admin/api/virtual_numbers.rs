//! `/api/v1/virtual-numbers`: the pool bookings are allocated from.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::page;
use crate::admin::AdminAuth;
use crate::domain::clock::{now_ms, rfc3339};
use crate::domain::{PROVIDERS, PhoneNumber};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::storage::pool::{self, AddError, VirtualNumber};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/virtual-numbers", "GET, POST")
            .route(web::post().to(add))
            .route(web::get().to(list)),
    )
    .service(
        super::resource("/virtual-numbers/{number}", "GET, DELETE")
            .route(web::get().to(get))
            .route(web::delete().to(drain)),
    );
}

/// The body of `POST /api/v1/virtual-numbers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddNumber {
    pub number: String,
    /// `exotel`, `twilio`, `plivo`, `8x8` or `vonage`.
    pub provider: String,
    /// Reserved numbers are only given to bookings that name them. Default false.
    #[serde(default)]
    pub reserved: bool,
}

/// A number of the pool as the API shows it.
#[derive(Debug, Serialize)]
pub struct NumberView {
    pub number: String,
    pub provider: String,
    pub reserved: bool,
    /// `active`, or `drained` (no new bookings; existing ones go on).
    pub status: &'static str,
    /// Bookings active on it now.
    pub active_bookings: i64,
    pub created_at: String,
    pub drained_at: Option<String>,
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
            active_bookings: v.active_bookings,
        }
    }
}

fn parse_number(state: &AppState, raw: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw, state.settings.orders.region)
        .map_err(|e| ApiError::bad_request("invalid_virtual_number", format!("number: {e}")))
}

/// `POST /api/v1/virtual-numbers`: 201 with the number; 409 `virtual_number_exists`; 400
/// `invalid_virtual_number`, `invalid_provider`, `invalid_body`.
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
    let added = pool::add(
        &state.db,
        number.as_ref(),
        &body.provider,
        body.reserved,
        now_ms(),
    )
    .await
    .map_err(|e| match e {
        AddError::Exists => ApiError::conflict("virtual_number_exists", e.to_string()),
        AddError::Database(e) => e.into(),
    })?;
    Ok(HttpResponse::Created().json(NumberView::from(added)))
}

/// The query of `GET /api/v1/virtual-numbers`. Unknown parameters are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListNumbers {
    /// `active` or `drained`; absent: all.
    pub status: Option<String>,
    /// `exotel`, `twilio`, `plivo`, `8x8` or `vonage`; absent: all.
    pub provider: Option<String>,
    /// The `next` of the page before.
    pub cursor: Option<String>,
    /// Numbers a page, 1 to 500; default 100.
    pub limit: Option<i64>,
}

/// A page of the pool as `GET /api/v1/virtual-numbers` answers it: newest first, and `next`,
/// the `cursor` of the following page (`null` on the last).
#[derive(Debug, Serialize)]
pub struct PoolView {
    pub virtual_numbers: Vec<NumberView>,
    pub next: Option<String>,
}

/// `GET /api/v1/virtual-numbers`: a page of the pool, newest first, each number with its
/// count of active bookings, filtered by status and provider; 400 for a bad parameter or
/// cursor.
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
    Ok(HttpResponse::Ok().json(PoolView {
        virtual_numbers: found.into_iter().map(NumberView::from).collect(),
        next,
    }))
}

/// `GET /api/v1/virtual-numbers/{number}` (any written form; `+` as `%2B`): 200 or 404.
async fn get(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = parse_number(&state, &path)?;
    let found = pool::get(&state.db, number.as_ref(), now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("this virtual number is not in the pool"))?;
    Ok(HttpResponse::Ok().json(NumberView::from(found)))
}

/// `DELETE /api/v1/virtual-numbers/{number}`: drains the number. No new bookings get it;
/// bookings on it go on until they end. 200 with the number, 404 when it is not in the pool.
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
