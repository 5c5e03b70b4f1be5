//! Logs: JSON lines on stdout, filtered by `RUST_LOG` (default `info`).
//!
//! The request span records the method, the route *pattern* (`/exotel/{secret}/connect`), the
//! status and the latency, never the path or query string: Exotel puts phone numbers and PIN
//! digits in the query, and the path carries the URL secret (DESIGN.md, "Rules"). It also
//! records a `request_id`, echoed in the response's `X-Request-Id`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
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

/// The root span of each HTTP request, without personal data. It carries the request's
/// [`RequestId`] as `request_id`, so every log line of the request (each step of a call
/// included, next to its `call.sid`) shows it.
pub struct PrivateRootSpan;

/// The id of one HTTP request: the client's `X-Request-Id` when it is sane (1 to 64
/// characters of `A-Z a-z 0-9 - _ . :`, without a run of 10 or more digits, which could be a
/// phone number), else a UUID generated for it. Kept in the request's extensions, echoed in
/// the response's `X-Request-Id` by [`echo_request_id`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// The header the id is read from and echoed in.
    pub const HEADER: &'static str = "x-request-id";

    fn of(request: &ServiceRequest) -> Self {
        let sent = request
            .headers()
            .get(Self::HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| Self::is_sane(v));
        match sent {
            Some(v) => Self(v.to_owned()),
            None => {
                // TracingLogger puts a fresh UUID in every request before the root span.
                let generated = request
                    .extensions()
                    .get::<tracing_actix_web::RequestId>()
                    .map(ToString::to_string);
                Self(generated.unwrap_or_else(|| crate::startup::random_token(32)))
            }
        }
    }

    /// Would `value` be kept as a request id?
    pub fn is_sane(value: &str) -> bool {
        let charset = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
        let mut digit_run = 0;
        let long_digit_run = value.bytes().any(|b| {
            digit_run = if b.is_ascii_digit() { digit_run + 1 } else { 0 };
            digit_run >= 10
        });
        (1..=64).contains(&value.len()) && charset && !long_digit_run
    }
}

/// Middleware: sets the response's `X-Request-Id` to the request's [`RequestId`]. Wrapped
/// inside `TracingLogger::<PrivateRootSpan>`, which sets the id.
pub async fn echo_request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req.extensions().get::<RequestId>().cloned();
    let mut response = next.call(req).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.0).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(RequestId::HEADER), value);
    }
    Ok(response)
}

impl RootSpanBuilder for PrivateRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let request_id = RequestId::of(request);
        let span = tracing::info_span!(
            "http_request",
            http.method = %request.method(),
            http.route = %route,
            request_id = %request_id.0,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        request.extensions_mut().insert(request_id);
        span
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

#[cfg(test)]
mod tests {
    use super::RequestId;

    #[test]
    fn only_sane_request_ids_are_kept() {
        for kept in ["3f2a9c1e-7b4d-4e7a-9c1d-2b3c4d5e6f70", "req_42", "a.b:c"] {
            assert!(RequestId::is_sane(kept), "{kept}");
        }
        let long = "x".repeat(65);
        for refused in [
            "",
            "917709562799",
            "call-+919812345678",
            "has space",
            "new\nline",
            long.as_str(),
        ] {
            assert!(!RequestId::is_sane(refused), "{refused:?}");
        }
    }
}
