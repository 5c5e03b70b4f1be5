//! Logs: JSON lines on stdout, filtered by `RUST_LOG` (default `info`).
//!
//! The request span records the method, the route *pattern* (`/exotel/{secret}/connect`), the
//! status and the latency, never the path or query string: Exotel puts phone numbers and PIN
//! digits in the query, and the path carries the URL secret (DESIGN.md, "Rules").

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the global JSON subscriber writing to stdout. Calling it twice is harmless (the
/// second is ignored).
pub fn init(default_filter: &str) {
    init_with_writer(default_filter, std::io::stdout);
}

/// Installs the global JSON subscriber writing to `writer` (tests write to a file whose every
/// line CI scans for personal data).
pub fn init_with_writer<W>(default_filter: &str, writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_span_events(FmtSpan::CLOSE)
        .with_env_filter(filter)
        .try_init();
}

/// The root span of each HTTP request, without personal data.
pub struct PrivateRootSpan;

impl RootSpanBuilder for PrivateRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        tracing::info_span!(
            "http_request",
            http.method = %request.method(),
            http.route = %route,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        match outcome {
            Ok(response) => {
                span.record("http.status_code", response.status().as_u16());
            }
            Err(_) => {
                span.record("otel.status_code", "ERROR");
            }
        }
        // Keeps the default's handling of errors raised inside handlers (their cause chain).
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
