//! The OpenAPI 3.1 document of the admin API, served at `GET /api/v1/openapi.json` without a
//! token (it holds no data). It is generated from the handlers' `#[utoipa::path]` and the JSON
//! shapes' `ToSchema`, so it changes with them; [`Shared`] adds what every operation has in
//! common: the bearer scheme and the errors any request can get.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, Object, ObjectBuilder, OpenApi as Document, Ref, RefOr,
    ResponseBuilder, SecurityRequirement, Type,
};
use utoipa::{Modify, OpenApi, ToSchema};

use super::{bookings, calls, click_to_call, orders, trusted_callers, virtual_numbers};
use crate::domain::{BookingStatus, OrderStatus, Outcome, PROVIDERS};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::limits;

/// The admin API's document, as the derive builds it from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "pinbridge admin API",
        description = "Orders of the PIN flow, bookings and the pool of virtual numbers, trusted \
callers, the call log and click-to-call.\n\n\
Every operation but this document and its page needs `Authorization: Bearer <admin token>` \
(`PINBRIDGE_ADMIN_TOKENS`). A token marked `:pii` sees phone numbers and PINs in full and may \
filter by them; any other token sees them masked (`+91******5678`, `******`) and gets 403 \
`pii_required` for what would reveal them.\n\n\
Times are RFC 3339, phone numbers E.164 (any written form is accepted in requests). Errors are \
`{\"error\": {\"code\", \"message\"}}`: branch on `code`; the message names the field in plain \
words. A method a path does not answer gets 405 `method_not_allowed` with `Allow`; a path no \
operation has gets 404 `not_found`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        orders::create,
        orders::list,
        orders::get,
        orders::change,
        orders::deactivate,
        bookings::create,
        bookings::list,
        bookings::get,
        bookings::change,
        bookings::close,
        virtual_numbers::add,
        virtual_numbers::list,
        virtual_numbers::get,
        virtual_numbers::change,
        virtual_numbers::drain,
        calls::list,
        click_to_call::connect,
        trusted_callers::add,
        trusted_callers::list,
        trusted_callers::get,
        trusted_callers::remove,
        openapi_json,
        crate::admin::ui::api_docs::page,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Shared),
    tags(
        (name = "orders", description = "Orders of the PIN flow: a courier dials the virtual number, keys the order's PIN and is bridged to its customer."),
        (name = "bookings", description = "Two parties who reach each other through a virtual number of the pool, each seeing only that number."),
        (name = "virtual numbers", description = "The pool bookings are given their virtual number from."),
        (name = "calls", description = "The call log, and click-to-call."),
        (name = "trusted callers", description = "Callers an operator vouches for (the fleet's couriers), whom a virtual number's spent guessing budget never stops."),
        (name = "documentation", description = "This document and its page, without a token."),
    )
)]
struct AdminApi;

/// The name of the bearer scheme in the document.
const BEARER: &str = "bearer";

/// What every operation has in common, added to the derived document: the bearer scheme on
/// each operation that does not say it needs none, with the 401 and 429 of a refused token;
/// and on every operation, the 413 of an oversized request, the 500 of a bug and the 503 of a
/// database that can not be reached. The 405 of a method a path does not answer is a shared
/// response too, though no operation can list it.
struct Shared;

/// The JSON error response with `description`.
fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
}

impl Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        let shared = [
            (
                "Unauthorized",
                "401",
                "`unauthorized`: no admin token, or not one of `PINBRIDGE_ADMIN_TOKENS`. The \
                 answer carries `WWW-Authenticate: Bearer`."
                    .to_owned(),
            ),
            (
                "RateLimited",
                "429",
                "`rate_limited`: too many failed authentications from this source (10 a \
                 minute); wait a minute. A right token is still accepted."
                    .to_owned(),
            ),
            (
                "PayloadTooLarge",
                "413",
                format!(
                    "`payload_too_large`: the body is larger than {} bytes, or the query \
                     string than {} bytes or {} parameters.",
                    limits::MAX_BODY_BYTES,
                    limits::MAX_QUERY_BYTES,
                    limits::MAX_PARAMS
                ),
            ),
            (
                "Internal",
                "500",
                "`internal`: a bug; the server log has the cause.".to_owned(),
            ),
            (
                "Unavailable",
                "503",
                "`database_unavailable`: the database can not be reached; retry shortly."
                    .to_owned(),
            ),
            (
                "MethodNotAllowed",
                "405",
                "`method_not_allowed`: the path does not answer this method; `Allow` lists \
                 those it does."
                    .to_owned(),
            ),
        ];
        let components = doc
            .components
            .get_or_insert_with(|| ComponentsBuilder::new().build());
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin token of `PINBRIDGE_ADMIN_TOKENS`; one marked `:pii` sees \
                         personal data.",
                    ))
                    .build(),
            ),
        );
        for (name, _, description) in &shared {
            components
                .responses
                .insert((*name).to_owned(), RefOr::T(error_response(description)));
        }
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let needs_token = operation.security.is_none();
                if needs_token {
                    operation.security =
                        Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
                }
                for (name, status, _) in &shared {
                    let only_with_token = matches!(*status, "401" | "429");
                    if *status == "405" || (only_with_token && !needs_token) {
                        continue;
                    }
                    operation
                        .responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
                }
            }
        }
    }
}

/// The document, built once.
static DOCUMENT: LazyLock<Document> = LazyLock::new(AdminApi::openapi);

/// The OpenAPI 3.1 document of the admin API.
pub fn document() -> &'static Document {
    &DOCUMENT
}

/// The document as JSON, serialised once; the error, should it not serialise.
static JSON: LazyLock<Result<String, String>> =
    LazyLock::new(|| DOCUMENT.to_pretty_json().map_err(|e| e.to_string()));

/// Registers the document and its page, both without a token.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/openapi.json", "GET").route(web::get().to(openapi_json)))
        .service(
            super::resource("/docs", "GET")
                .wrap(crate::admin::ui::security::headers())
                .route(web::get().to(crate::admin::ui::api_docs::page)),
        );
}

/// This document.
///
/// The OpenAPI 3.1 document of the admin API, for client generators, API tools and the page
/// at `/api/v1/docs`. Needs no token: it holds no data.
#[utoipa::path(
    operation_id = "openapi_document",
    get,
    path = "/api/v1/openapi.json",
    tag = "documentation",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> Result<HttpResponse, ApiError> {
    let json = JSON
        .as_ref()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("the OpenAPI document: {e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type("application/json")
        .body(json.as_str()))
}

/// A string that is one of `words`: the names a domain type writes, so that a client generator
/// makes an enum of them, and an answer with another fails the tests' check.
fn one_of(words: &[&'static str], description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words.iter().copied()))
        .description(Some(description))
        .build()
}

/// An order's `status`.
pub(super) fn order_status() -> Object {
    let all = [
        OrderStatus::Active,
        OrderStatus::Expired,
        OrderStatus::Deactivated,
    ];
    one_of(&all.map(OrderStatus::as_str), "Where the order stands.")
}

/// A booking's `status`.
pub(super) fn booking_status() -> Object {
    let all = [
        BookingStatus::Active,
        BookingStatus::Pending,
        BookingStatus::Expired,
        BookingStatus::Closed,
    ];
    one_of(&all.map(BookingStatus::as_str), "Where the booking stands.")
}

/// A virtual number's `status`, as [`super::virtual_numbers`] names it.
pub(super) fn number_status() -> Object {
    one_of(
        &["active", "drained"],
        "`drained`: no new bookings get the number; those on it go on until they end.",
    )
}

/// A call's `outcome`.
pub(super) fn outcome() -> Object {
    one_of(
        &Outcome::ALL.map(Outcome::as_str),
        "How the call ended, or `in_progress`; `unknown`: its end report never came and its provider could not tell.",
    )
}

/// A provider's name.
pub(super) fn provider() -> Object {
    one_of(&PROVIDERS, "The telephony provider.")
}
