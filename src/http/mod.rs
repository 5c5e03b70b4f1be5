//! What every HTTP edge shares (the providers' webhooks, the admin API and UI, operations):
//! the admin API's errors ([`error`]), request limits ([`limits`]), the client's address
//! behind trusted proxies ([`source`]), and the JSON
//! 404 of an unknown path.
//!
//! Owns: what is the same on every HTTP edge. Must not touch: any route's own logic, or the
//! call path.

pub mod error;
pub mod limits;
pub mod source;

use actix_web::HttpResponse;

use error::ApiError;

/// The JSON 404 of every path no route knows.
pub(crate) async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::not_found("no such resource"))
}
