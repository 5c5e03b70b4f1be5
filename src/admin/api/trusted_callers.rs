//! `/api/v1/trusted-callers`: the callers an operator vouches for (the fleet's couriers), whom
//! a virtual number's spent guessing budget never stops.
//!
//! Whether a given number is trusted says who works for the fleet: every request that names a
//! number (register, look up, remove) needs a token that may see personal data, since its
//! answer tells whether that number is registered. Other tokens may list and count, with the
//! numbers masked.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::admin::AdminAuth;
use crate::domain::clock::{now_ms, rfc3339};
use crate::domain::{NewTrustedCaller, PhoneNumber, TrustedCallerField, TrustedCallerFieldError};
use crate::http::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::storage::trusted_callers::{self, Added, TrustedCaller};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/trusted-callers", "GET, POST")
            .route(web::post().to(add))
            .route(web::get().to(list)),
    )
    .service(
        super::resource("/trusted-callers/{number}", "GET, DELETE")
            .route(web::get().to(get))
            .route(web::delete().to(remove)),
    );
}

/// The body of `POST /api/v1/trusted-callers`. Unknown fields are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTrustedCaller {
    /// Any form a phone number is written in.
    pub number: String,
    /// At most 100 printable characters; absent, `null` or blank: no label.
    pub label: Option<String>,
}

/// A trusted caller as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TrustedCaller)]
pub struct TrustedCallerView {
    /// E.164, masked (`+91******5678`) for a token without `:pii`.
    pub number: String,
    pub label: Option<String>,
    /// RFC 3339: when the number was first registered.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl TrustedCallerView {
    fn of(c: TrustedCaller, who: &AdminAuth) -> Self {
        Self {
            number: who.show(c.number.into()),
            label: c.label,
            created_at: rfc3339(c.created_at),
        }
    }
}

/// Query of `GET /api/v1/trusted-callers`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Callers to skip, for the next page; default 0.
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<i64>,
}

/// A page of the trusted callers, in the order of their numbers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TrustedCallerPage {
    pub trusted_callers: Vec<TrustedCallerView>,
    /// How many numbers are registered in all.
    pub total: i64,
    /// The `offset` of the next page; `null` on the last page.
    pub next_offset: Option<i64>,
}

fn field_error(e: TrustedCallerFieldError) -> ApiError {
    let code = match e.field {
        TrustedCallerField::Number => "invalid_number",
        TrustedCallerField::Label => "invalid_label",
    };
    ApiError::bad_request(code, e.to_string())
}

/// 403 `pii_required` unless `who` may see personal data: the answer to a request naming a
/// number tells whether that number is a trusted caller.
fn require_pii(who: &AdminAuth) -> Result<(), ApiError> {
    who.may("registering, looking up or removing a trusted caller by number")
}

/// The `{number}` of a path, in any written form (`+` as `%2B`, or the national form).
fn path_number(state: &AppState, raw: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw, state.settings.orders.region)
        .map_err(|e| ApiError::bad_request("invalid_number", format!("number: {e}")))
}

/// Register a trusted caller.
///
/// Answers 201 with the record; for a number registered already, replaces its label (none
/// when `label` is left out) and answers 200. Needs a token with `:pii`.
#[utoipa::path(
    operation_id = "add_trusted_caller",
    post,
    path = "/api/v1/trusted-callers",
    tag = "trusted callers",
    request_body = AddTrustedCaller,
    responses(
        (status = 201, description = "The number is now trusted.", body = TrustedCallerView),
        (status = 200, description = "The number was trusted already; its label is replaced.", body = TrustedCallerView),
        (status = 400, description = "`invalid_number`, `invalid_label`, `invalid_body` or `invalid_text`.", body = ErrorBody),
        (status = 403, description = "`pii_required`: a token without `:pii`, since the answer would tell whether a number is a trusted caller.", body = ErrorBody),
    )
)]
async fn add(
    who: AdminAuth,
    state: web::Data<AppState>,
    body: super::ApiJson<AddTrustedCaller>,
) -> Result<HttpResponse, ApiError> {
    require_pii(&who)?;
    let body = body.into_inner();
    let new = NewTrustedCaller::parse(
        &body.number,
        body.label.as_deref(),
        state.settings.orders.region,
    )
    .map_err(field_error)?;
    let (record, added) = trusted_callers::add(&state.db, &new, now_ms()).await?;
    tracing::info!(
        caller.number = %new.number.masked(),
        admin.token = %who.name,
        new = added == Added::New,
        "trusted caller registered"
    );
    let status = match added {
        Added::New => StatusCode::CREATED,
        Added::Updated => StatusCode::OK,
    };
    Ok(HttpResponse::build(status).json(TrustedCallerView::of(record, &who)))
}

/// List trusted callers.
///
/// A page of the trusted callers in the order of their numbers, with the total. Numbers are
/// masked for a token without `:pii`.
#[utoipa::path(
    operation_id = "list_trusted_callers",
    get,
    path = "/api/v1/trusted-callers",
    tag = "trusted callers",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of the trusted callers.", body = TrustedCallerPage),
        (status = 400, description = "`invalid_query`: a bad `limit` or `offset`, or an unknown parameter.", body = ErrorBody),
    )
)]
async fn list(
    who: AdminAuth,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "limit must be between 1 and 500",
        ));
    }
    let offset = super::page::offset(query.offset)?;
    // One more than asked tells whether there is a next page.
    let mut rows = trusted_callers::list(&state.db, limit + 1, offset).await?;
    let total = trusted_callers::count(&state.db).await?;
    let page = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > page;
    rows.truncate(page);
    Ok(HttpResponse::Ok().json(TrustedCallerPage {
        trusted_callers: rows
            .into_iter()
            .map(|c| TrustedCallerView::of(c, &who))
            .collect(),
        total,
        next_offset: more.then_some(offset + limit),
    }))
}

/// Read a trusted caller.
///
/// Needs a token with `:pii`.
#[utoipa::path(
    operation_id = "get_trusted_caller",
    get,
    path = "/api/v1/trusted-callers/{number}",
    tag = "trusted callers",
    params(("number" = String, Path, description = "The number, in any form a phone number is written (`+` as `%2B`).")),
    responses(
        (status = 200, description = "The trusted caller.", body = TrustedCallerView),
        (status = 400, description = "`invalid_number`.", body = ErrorBody),
        (status = 403, description = "`pii_required`: a token without `:pii`, since the answer would tell whether a number is a trusted caller.", body = ErrorBody),
        (status = 404, description = "`not_found`: the number is not a trusted caller.", body = ErrorBody),
    )
)]
async fn get(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_pii(&who)?;
    let number = path_number(&state, &path)?;
    let found = trusted_callers::get(&state.db, &number)
        .await?
        .ok_or_else(|| ApiError::not_found("this number is not a trusted caller"))?;
    Ok(HttpResponse::Ok().json(TrustedCallerView::of(found, &who)))
}

/// Remove a trusted caller.
///
/// Answers 204 once the number is no longer trusted. Needs a token with `:pii`.
#[utoipa::path(
    operation_id = "remove_trusted_caller",
    delete,
    path = "/api/v1/trusted-callers/{number}",
    tag = "trusted callers",
    params(("number" = String, Path, description = "The number, in any form a phone number is written (`+` as `%2B`).")),
    responses(
        (status = 204, description = "The number is no longer trusted."),
        (status = 400, description = "`invalid_number`.", body = ErrorBody),
        (status = 403, description = "`pii_required`: a token without `:pii`, since the answer would tell whether a number is a trusted caller.", body = ErrorBody),
        (status = 404, description = "`not_found`: the number was not a trusted caller.", body = ErrorBody),
    )
)]
async fn remove(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_pii(&who)?;
    let number = path_number(&state, &path)?;
    if !trusted_callers::remove(&state.db, &number).await? {
        return Err(ApiError::not_found("this number is not a trusted caller"));
    }
    tracing::info!(
        caller.number = %number.masked(),
        admin.token = %who.name,
        "trusted caller removed"
    );
    Ok(HttpResponse::NoContent().finish())
}
