//! Logs: JSON lines on stdout, filtered by `RUST_LOG` (default `info`).
//!
//! Each HTTP request logs one line when it ends: `call step` (or `call ended`) for a webhook
//! step, with the provider, applet, call id and decision, else `request`; both with the method,
//! the status and the latency in microseconds. The line holds the route *pattern*
//! (`/api/v1/orders/{order_id}`), never the path or query string: Exotel puts phone numbers and
//! PIN digits in the query, and the path carries the URL secret (DESIGN.md, "Rules"). Every
//! line logged during a request, its own included, carries the request's `request_id` (the
//! `http_request` span), echoed in the response's `X-Request-Id`.
//!
//! One line a request, not a line for the step and another when the span closes: a reader
//! of the log finds everything about a request on one line.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use std::time::Instant;
use tracing::Span;

use crate::domain::log_safe;
use tracing_actix_web::RootSpanBuilder;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Registry};

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
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter(
            std::env::var("RUST_LOG").ok().as_deref(),
            default_filter,
        ))
        .try_init();
}

/// The filter of `RUST_LOG` (`directives`), else of `default_filter`, always with
/// rlibphonenumber's own log records off: at `trace` they quote the number being parsed.
fn filter(directives: Option<&str>, default_filter: &str) -> EnvFilter {
    let filter = directives
        .and_then(|d| EnvFilter::try_new(d).ok())
        .unwrap_or_else(|| EnvFilter::new(default_filter));
    match "rlibphonenumber=off".parse() {
        Ok(off) => filter.add_directive(off),
        Err(_) => filter,
    }
}

/// The counter of HTTP requests answered, by status class (`class`: `1xx` to `5xx`): counted
/// where each request's line is logged, so that the two agree. `crate::metrics` describes it
/// and shows every class from the start.
pub const HTTP_REQUESTS_TOTAL: &str = "pinbridge_http_requests_total";

/// The values of [`HTTP_REQUESTS_TOTAL`]'s `class` label.
pub const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Counts one answered request of `status` in [`HTTP_REQUESTS_TOTAL`].
fn count_request(status: u16) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    ::metrics::counter!(HTTP_REQUESTS_TOTAL, "class" => class).increment(1);
}

/// An error's code (`invalid_body`, `internal`), in the extensions of the response that
/// carries it, for the request's log line: never its message, which may quote the request.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// The root span of each HTTP request, `http_request`, with its [`RequestId`] as `request_id`
/// and nothing else, so that every log line of the request shows the id. Its end logs the
/// request's line: see the module's documentation and [`log_step`].
pub struct PrivateRootSpan;

/// When the request came in (in its extensions), for the latency of its line.
struct Received(Instant);

/// A webhook step's part of its request's line, kept in the request's span until the request
/// ends ([`log_step`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepLine {
    /// A flow step: `call step` with its `decision` (`flow::decision_name`).
    Step {
        provider: &'static str,
        applet: &'static str,
        call_sid: String,
        decision: &'static str,
    },
    /// A status report: `call ended` with the call's `outcome`.
    Ended {
        provider: &'static str,
        applet: &'static str,
        call_sid: String,
        outcome: &'static str,
    },
}

/// Logs a webhook step on its request's line, written when the response is ready. Outside a
/// request (a background task, a test calling the flow directly), or when no subscriber keeps
/// spans, it is logged at once on a line of its own.
pub fn log_step(line: StepLine) {
    let mut line = Some(line);
    let mut earlier = None;
    Span::current().with_subscriber(|(id, dispatch)| {
        let root = dispatch
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span(id))
            .and_then(|span| span.scope().from_root().next());
        if let Some(root) = root
            && root.name() == "http_request"
            && let Some(line) = line.take()
        {
            earlier = root.extensions_mut().replace(line);
        }
    });
    // A second step in the same request: the first gets a line of its own.
    for line in [earlier, line].into_iter().flatten() {
        emit_step(&line, None);
    }
}

/// The step line kept in `span` by [`log_step`], taken out of it.
fn take_step(span: &Span) -> Option<StepLine> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(id)?;
        let mut extensions = span.extensions_mut();
        extensions.remove::<StepLine>()
    })
    .flatten()
}

/// What the end of a request adds to a step's line: the method, the status and the latency.
struct Http<'a> {
    method: &'a str,
    status: u16,
    latency_us: u64,
}

fn emit_step(line: &StepLine, http: Option<&Http>) {
    let (method, status, latency_us) = http.map_or((None, None, None), |h| {
        (Some(h.method), Some(h.status), Some(h.latency_us))
    });
    match line {
        StepLine::Step {
            provider,
            applet,
            call_sid,
            decision,
        } => tracing::info!(
            provider,
            applet,
            call.sid = %log_safe(call_sid),
            decision,
            http.method = method,
            http.status_code = status,
            latency_us,
            "call step"
        ),
        StepLine::Ended {
            provider,
            applet,
            call_sid,
            outcome,
        } => tracing::info!(
            provider,
            applet,
            call.sid = %log_safe(call_sid),
            outcome,
            http.method = method,
            http.status_code = status,
            latency_us,
            "call ended"
        ),
    }
}

/// The id of one HTTP request: the client's `X-Request-Id` when it is sane (1 to 64
/// characters of `A-Z a-z 0-9 - _ . :`, without a run of 10 or more digits, which could be a
/// phone number), else 32 random letters and digits generated for it, held to the same rule.
/// Kept in the request's extensions, echoed in the response's `X-Request-Id` by
/// [`echo_request_id`].
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
            None => Self::generate(),
        }
    }

    /// A new id that [`RequestId::is_sane`] accepts. Not TracingLogger's UUID: one UUID in
    /// sixty has ten digits in a row, which the log scan takes for a phone number.
    fn generate() -> Self {
        loop {
            let id = crate::domain::random_token(32);
            if Self::is_sane(&id) {
                return Self(id);
            }
        }
    }

    /// Would `value` be kept as a request id? ([`crate::domain::is_loggable_as_sent`].)
    pub fn is_sane(value: &str) -> bool {
        crate::domain::is_loggable_as_sent(value)
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
        let request_id = RequestId::of(request);
        let span = tracing::info_span!("http_request", request_id = %request_id.0);
        let mut extensions = request.extensions_mut();
        extensions.insert(request_id);
        extensions.insert(Received(Instant::now()));
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                // No response was made: its status and code only (see below).
                let status = error.as_response_error().status_code().as_u16();
                count_request(status);
                let error_code = error
                    .error_response()
                    .extensions()
                    .get::<ErrorCode>()
                    .map(|c| c.0);
                tracing::info!(
                    http.status_code = status,
                    error.code = error_code,
                    "request"
                );
                return;
            }
        };
        let request = response.request();
        let latency_us = request.extensions().get::<Received>().map_or(0, |r| {
            u64::try_from(r.0.elapsed().as_micros()).unwrap_or(u64::MAX)
        });
        let http = Http {
            method: request.method().as_str(),
            status: response.status().as_u16(),
            latency_us,
        };
        count_request(http.status);
        if let Some(step) = take_step(&span) {
            emit_step(&step, Some(&http));
            return;
        }
        // Matching the route again costs a walk of the routing table: only the requests
        // without a step line pay for it.
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        // An error's code, never its message: a message may quote what the client sent (a
        // phone number in a refused JSON body). Internal errors log their cause where they
        // become a 500 (`ApiError::error_response`).
        let error_code = response
            .response()
            .extensions()
            .get::<ErrorCode>()
            .map(|c| c.0);
        tracing::info!(
            http.method = http.method,
            http.route = %route,
            http.status_code = http.status,
            latency_us,
            error.code = error_code,
            "request"
        );
    }
}

/// Log lines written to memory, for tests that check what a log line holds: a clone is the
/// writer of a subscriber (`with_writer(move || lines.clone())`), [`Lines::text`] what it wrote.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl Lines {
    /// Everything written so far, as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::{Lines, RequestId, StepLine, log_step, take_step};

    fn subscriber(lines: &Lines) -> impl tracing::Subscriber + Send + Sync {
        let lines = lines.clone();
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_env_filter(super::filter(None, "info"))
            .with_writer(move || lines.clone())
            .finish()
    }

    fn step(call_sid: &str) -> StepLine {
        StepLine::Step {
            provider: "exotel",
            applet: "greeting",
            call_sid: call_sid.to_owned(),
            decision: "greet",
        }
    }

    #[test]
    fn a_step_in_a_request_waits_for_the_end_of_the_request() {
        let lines = Lines::default();
        tracing::subscriber::with_default(subscriber(&lines), || {
            let span = tracing::info_span!("http_request", request_id = "r-1");
            span.in_scope(|| {
                // From a span nested in the request's, too.
                tracing::info_span!("inner").in_scope(|| log_step(step("sid-1")));
            });
            assert_eq!(lines.text(), "", "nothing logged before the request ends");
            assert_eq!(take_step(&span), Some(step("sid-1")));
            assert_eq!(take_step(&span), None, "taken once");
        });
    }

    #[test]
    fn a_second_step_in_a_request_logs_the_first_at_once() {
        let lines = Lines::default();
        tracing::subscriber::with_default(subscriber(&lines), || {
            let span = tracing::info_span!("http_request", request_id = "r-2");
            span.in_scope(|| {
                log_step(step("sid-a"));
                log_step(step("sid-b"));
            });
            let text = lines.text();
            assert!(text.contains("\"call.sid\":\"sid-a\""), "{text}");
            assert!(text.contains("\"request_id\":\"r-2\""), "{text}");
            assert_eq!(take_step(&span), Some(step("sid-b")));
        });
    }

    #[test]
    fn a_step_outside_a_request_is_logged_at_once() {
        let lines = Lines::default();
        tracing::subscriber::with_default(subscriber(&lines), || log_step(step("sid-3")));
        let text = lines.text();
        assert!(text.contains("\"message\":\"call step\""), "{text}");
        assert!(text.contains("\"decision\":\"greet\""), "{text}");
    }

    #[test]
    fn rlibphonenumber_never_logs_whatever_rust_log_says() {
        let lines = Lines::default();
        let lines_clone = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(super::filter(Some("trace,rlibphonenumber=trace"), "info"))
            .with_writer(move || lines_clone.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "rlibphonenumber::phonenumberutil", "Number '9812345678'");
            tracing::trace!(target: "pinbridge::flow", "kept");
        });
        let text = lines.text();
        assert!(!text.contains("9812345678"), "{text}");
        assert!(text.contains("kept"), "{text}");
    }

    #[test]
    fn generated_request_ids_are_sane_and_differ() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| RequestId::generate().0).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(
            ids.iter()
                .all(|id| RequestId::is_sane(id) && id.len() == 32)
        );
    }

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
