//! Limits on input, applied to every request before any handler: oversized input gets 413,
//! never a panic or a 500 (the abuse-resistance issue). Bodies are capped by the extractors'
//! configuration in [`super::configure`].

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

/// Longest query string accepted, in bytes. Exotel's richest request is under 2 KB.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Most query parameters accepted.
pub const MAX_PARAMS: usize = 200;
/// Largest body accepted, in bytes (JSON, form or raw).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Answers 413 to a request whose query string is too long or has too many parameters.
pub async fn reject_oversized(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let query = req.query_string();
    if query.len() > MAX_QUERY_BYTES || query.split('&').count() > MAX_PARAMS {
        tracing::warn!("refused an oversized query string");
        // The admin API answers in its own JSON errors, like every other refusal of it.
        let response = if req.path().starts_with("/api/") {
            actix_web::ResponseError::error_response(&super::error::ApiError::client(
                actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the query string is larger than {MAX_QUERY_BYTES} bytes or has more than \
                     {MAX_PARAMS} parameters"
                ),
            ))
        } else {
            HttpResponse::PayloadTooLarge()
                .content_type("text/plain")
                .body("the query string is too large")
        };
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
