//! The HTTP edges: every route registered in one place ([`configure`]), the admin JSON API
//! ([`admin_api`]), the admin web UI ([`admin_ui`]), the operations endpoints, and what they
//! share (admin auth, API errors, request limits, the client's address). Provider webhooks
//! are [`crate::providers`]' own handlers, registered here for the providers that are on.

pub mod admin_api;
pub mod admin_ui;
pub mod auth;
pub mod error;
mod health;
pub mod limits;
pub mod source;

use actix_web::{HttpResponse, web};

use crate::http::error::ApiError;
use crate::providers;

pub use auth::AdminAuth;

/// Registers every route, and JSON errors for bad bodies, bad queries and unknown paths. A
/// provider that `on` has off gets no routes: its paths answer the 404 of any unknown
/// path.
pub fn configure(cfg: &mut web::ServiceConfig, on: crate::config::Providers) {
    cfg.app_data(web::PayloadConfig::new(limits::MAX_BODY_BYTES))
        .app_data(
            web::JsonConfig::default()
                .limit(limits::MAX_BODY_BYTES)
                .content_type_required(false)
                .error_handler(|err, _req| {
                    let too_large = actix_web::ResponseError::status_code(&err)
                        == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE;
                    if too_large {
                        ApiError::client(
                            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                            "payload_too_large",
                            format!("the body is larger than {} bytes", limits::MAX_BODY_BYTES),
                        )
                    } else {
                        ApiError::bad_request(
                            "invalid_body",
                            format!("the JSON body is invalid: {err}"),
                        )
                    }
                    .into()
                }),
        )
        .app_data(web::QueryConfig::default().error_handler(|err, _req| {
            ApiError::bad_request(
                "invalid_query",
                format!("the query string is invalid: {err}"),
            )
            .into()
        }))
        .configure(health::configure)
        .configure(admin_ui::configure)
        .configure(providers::exotel::handlers::configure)
        .configure(|cfg| {
            let on = [
                (
                    on.twilio.is_on(),
                    providers::twilio::handlers::configure as fn(&mut web::ServiceConfig),
                ),
                (on.plivo.is_on(), providers::plivo::handlers::configure),
                (
                    on.eight_by_eight.is_on(),
                    providers::eight_by_eight::handlers::configure,
                ),
                (on.vonage.is_on(), providers::vonage::handlers::configure),
            ];
            for (_, configure) in on.into_iter().filter(|(is_on, _)| *is_on) {
                configure(cfg);
            }
        })
        .service(
            web::scope("/api/v1")
                .configure(admin_api::orders::configure)
                .configure(admin_api::bookings::configure)
                .configure(admin_api::virtual_numbers::configure)
                .configure(admin_api::calls::configure)
                .configure(admin_api::click_to_call::configure)
                .configure(admin_api::trusted_callers::configure),
        )
        .default_service(web::to(not_found));
}

/// The JSON 404 of every path no route knows.
pub(crate) async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::not_found("no such resource"))
}
