//! Every route, registered in one place: the providers' webhooks (for the providers that are
//! on), the admin API and UI, the operations endpoints, and the JSON errors of bad bodies, bad
//! queries and unknown paths.

use actix_web::web;

use crate::http::error::ApiError;
use crate::http::limits;
use crate::{admin, ops, providers};

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
        .configure(ops::configure)
        .configure(admin::ui::configure)
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
                .configure(admin::api::orders::configure)
                .configure(admin::api::bookings::configure)
                .configure(admin::api::virtual_numbers::configure)
                .configure(admin::api::calls::configure)
                .configure(admin::api::click_to_call::configure)
                .configure(admin::api::trusted_callers::configure)
                .configure(admin::api::openapi::configure),
        )
        .default_service(web::to(crate::http::not_found));
}
