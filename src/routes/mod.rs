//! HTTP routes: thin actix handlers that extract, authenticate and hand on.

pub mod admin;
pub mod admin_auth;
mod bookings;
mod calls;
mod eight_by_eight;
mod exotel;
mod health;
pub mod limits;
mod orders;
mod outbound;
mod plivo;
pub mod source;
mod trusted_callers;
mod twilio;
mod virtual_numbers;
mod vonage;
mod webhook;

use actix_web::{HttpResponse, web};

use crate::error::ApiError;

pub use admin_auth::{AdminAuth, AdminToken};

/// Registers every route, and JSON errors for bad bodies, bad queries and unknown paths. A
/// provider that `providers` has off gets no routes: its paths answer the 404 of any unknown
/// path.
pub fn configure(cfg: &mut web::ServiceConfig, providers: crate::config::Providers) {
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
        .configure(admin::configure)
        .configure(exotel::configure)
        .configure(|cfg| {
            let on = [
                (
                    providers.twilio.is_on(),
                    twilio::configure as fn(&mut web::ServiceConfig),
                ),
                (providers.plivo.is_on(), plivo::configure),
                (providers.eight_by_eight.is_on(), eight_by_eight::configure),
                (providers.vonage.is_on(), vonage::configure),
            ];
            for (_, configure) in on.into_iter().filter(|(is_on, _)| *is_on) {
                configure(cfg);
            }
        })
        .service(
            web::scope("/api/v1")
                .configure(orders::configure)
                .configure(bookings::configure)
                .configure(virtual_numbers::configure)
                .configure(calls::configure)
                .configure(outbound::configure)
                .configure(trusted_callers::configure),
        )
        .default_service(web::to(not_found));
}

/// The JSON 404 of every path no route knows.
pub(crate) async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::not_found("no such resource"))
}
