//! The JSON admin API under `/api/v1`: orders, bookings and the pool, trusted callers, the call
//! log and click-to-call. Bearer-token auth ([`super::AdminAuth`]); errors as
//! `{"error": {"code", "message"}}` ([`crate::http::error::ApiError`]). Its OpenAPI document
//! ([`openapi`]) is built from the `#[utoipa::path]` of each handler and the `ToSchema` of each
//! shape here: a handler added to a resource is added to `openapi::AdminApi`'s `paths` too.
//!
//! Owns: the JSON shapes and validation of the admin API. Must not touch: SQL (storage), HTML
//! (the UI), provider formats.

mod alternates;
pub mod bookings;
mod call_options;
pub mod calls;
pub mod click_to_call;
mod json;
pub mod openapi;
pub mod orders;
mod page;
pub mod trusted_callers;
pub mod virtual_numbers;

use actix_web::http::{StatusCode, header};
use actix_web::{ResponseError, web};

use crate::http::error::ApiError;

pub use json::ApiJson;

/// The admin API's resource at `path`, answering the methods named in `allow` (`"GET,
/// DELETE"`) through the routes added to it; any other method gets 405 with `Allow` and the
/// API's JSON error (RFC 9110 §15.5.6), not the 404 of an unknown path.
pub fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut response = ApiError::client(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this resource answers {allow}"),
        )
        .error_response();
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        response
    }))
}
