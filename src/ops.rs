//! Operations endpoints: liveness, readiness and Prometheus metrics.

use actix_web::{HttpResponse, web};

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

/// Prometheus metrics, text exposition format 0.0.4 ([`crate::metrics`]). Unauthenticated,
/// like `/healthz`: it holds no personal data (labels are providers, applets, outcomes,
/// countries), and can be kept from the internet by the proxy or firewall in front. The
/// pool's gauges are read from the database at each scrape, within a second; without an
/// answer they are left out (and a warning logged) while the rest is served.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let now = crate::domain::clock::now_ms();
    let day_ago = now - 24 * 3600 * 1000;
    let read = crate::storage::pool::groups(&state.db, "", "", day_ago, now);
    let pool = match tokio::time::timeout(std::time::Duration::from_secs(1), read).await {
        Ok(Ok(groups)) => crate::metrics::pool_gauges(&groups),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the pool's gauges were not read");
            String::new()
        }
        Err(_) => {
            tracing::warn!("the pool's gauges were not read within a second");
            String::new()
        }
    };
    let mut body = crate::metrics::render();
    body.push_str(&pool);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}

/// Liveness: the process answers HTTP. 200 `ok`.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Readiness: the database answers and takes writes. 200 `ready`; 503 `database unavailable`
/// when it does not answer within a second, or `database refuses writes` when the latest write
/// failed for want of the database (a full disk, a read-only file or standby, a lost
/// connection; see [`crate::storage::health`]). Turns 200 again by itself with the first write
/// that succeeds, the call path's or its own probe's.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = &state.db;
    let checked = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        crate::storage::ping(db)
            .await
            .map_err(|_| "database unavailable")?;
        crate::storage::health::check(db)
            .await
            .map_err(|_| "database refuses writes")
    })
    .await;
    match checked {
        Ok(Ok(())) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Ok(Err(why)) => unready(why),
        Err(_) => unready("database unavailable"),
    }
}

fn unready(why: &'static str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain")
        .body(why)
}
