//! Operations endpoints: liveness, readiness and Prometheus metrics.

use actix_web::{HttpResponse, web};

use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Prometheus metrics, text exposition format 0.0.4 ([`crate::metrics`]). Unauthenticated,
/// like `/healthz`: it holds no personal data (labels are providers, applets, outcomes),
/// and can be kept from the internet by the proxy or firewall in front.
async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render())
}

/// Liveness: the process answers HTTP. 200 `ok`.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Readiness: the database answers. 200 `ready`, or 503 `database unavailable`.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let ping = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        crate::storage::ping(&state.db),
    )
    .await;
    match ping {
        Ok(Ok(())) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        _ => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unavailable"),
    }
}
