//! Exotel's REST API, for the requests pinbridge makes itself: `Calls/connect` (click-to-call,
//! connect two numbers) and `Sms/send` (`reference/exotel.md` §4.1 and §4.2; seed 003,
//! "Click to Call API" and "Integrating SMS API").
//!
//! Both are `POST {base}/v1/Accounts/{AccountSid}/...` with a form body and HTTP basic auth
//! (API key as user name, API token as password); the `.json` suffix asks for a JSON answer.
//!
//! # Retries never place a second call
//!
//! Neither request is idempotent: a `Calls/connect` that Exotel accepted and then answered too
//! late would, if sent again, ring the courier twice. So a request is sent again only when
//! Exotel certainly did not act on it:
//!
//! - the connection could not be opened (nothing was sent);
//! - HTTP 429 "Too Many Requests" (support article 48282 lists it) or HTTP 503 "Service
//!   Unavailable": the request was refused before being processed (RFC 9110 §15.6.4).
//!
//! Anything else is final at once: a 4xx is Exotel's refusal ([`ExotelError::Rejected`], with
//! its `RestException` message); a timeout after the request was sent, a cut connection, a 500,
//! 502 or 504, or a 2xx without a `Sid` leave the outcome unknown ([`ExotelError::Uncertain`]):
//! the call may have been placed, and its status callback (which carries our `CustomField`)
//! completes the record if it was. Retries wait 200 ms, then 400 ms (3 tries in all, by default).
//!
//! Nothing here logs a phone number, the message body or the API token; Exotel's messages are
//! logged with their digit runs masked.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::domain::{PhoneNumber, mask};

/// The `SmsType` of every SMS: a transactional message (seed 003, "Integrating SMS API").
pub const SMS_TYPE: &str = "transactional";

/// Exotel's longest `TimeLimit`, seconds (4 hours; `reference/exotel.md` §4.1).
pub const MAX_TIME_LIMIT_SECS: u64 = 14_400;

/// Exotel's longest `CustomField`, characters (`reference/exotel.md` §4.1, new portal).
pub const MAX_CUSTOM_FIELD_LEN: usize = 128;

/// The credentials of Exotel's REST API. `Debug` hides the token.
#[derive(Clone)]
pub struct Credentials {
    /// The API key: the basic-auth user name.
    pub api_key: String,
    /// The API token: the basic-auth password. A secret.
    pub api_token: String,
    /// The account SID, part of every path.
    pub account_sid: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_key", &mask(&self.api_key))
            .field("api_token", &"<set>")
            .field("account_sid", &self.account_sid)
            .finish()
    }
}

/// How often, and how far apart, a request Exotel certainly did not act on is sent again (see
/// the module documentation for which failures those are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included; at least 1.
    pub tries: u32,
    /// The wait before the second try; doubled before each further one.
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 3 tries, 200 ms then 400 ms apart.
    fn default() -> Self {
        Self {
            tries: 3,
            first_backoff: Duration::from_millis(200),
        }
    }
}

/// Why a request to Exotel did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExotelError {
    /// Exotel refused the request with a 4xx: bad credentials, a number it will not call, a
    /// DLT template mismatch. `message` is Exotel's `RestException` `Message` (or the HTTP
    /// reason when the body had none). Nothing was placed or sent.
    #[error("Exotel refused the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// Exotel could not take the request on any try (no connection, HTTP 429 or 503).
    /// Nothing was placed or sent.
    #[error("Exotel is unavailable: {message}")]
    Unavailable {
        status: Option<u16>,
        message: String,
    },
    /// The request may have reached Exotel, but no usable answer came back (a timeout after
    /// sending, a cut connection, HTTP 500, 502 or 504, a 2xx without a `Sid`). Never retried:
    /// the call may have been placed (its status callback will tell).
    #[error("Exotel's answer is unknown: {message}")]
    Uncertain {
        status: Option<u16>,
        message: String,
    },
}

impl ExotelError {
    /// The message for people: Exotel's own for a refusal, else what went wrong.
    pub fn message(&self) -> &str {
        match self {
            Self::Rejected { message, .. }
            | Self::Unavailable { message, .. }
            | Self::Uncertain { message, .. } => message,
        }
    }

    /// The HTTP status Exotel answered, when it answered one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Rejected { status, .. } => Some(*status),
            Self::Unavailable { status, .. } | Self::Uncertain { status, .. } => *status,
        }
    }
}

/// One `Calls/connect`: Exotel calls `from` first and, once answered, connects `to`, both
/// seeing `caller_id`.
#[derive(Debug, Clone)]
pub struct ConnectCall {
    /// `From`: the party called first (the courier, party A).
    pub from: PhoneNumber,
    /// `To`: the party connected second (the customer, party B).
    pub to: PhoneNumber,
    /// `CallerId`: the ExoPhone both parties see.
    pub caller_id: PhoneNumber,
    /// `StatusCallback`: the URL Exotel posts the terminal status to.
    pub status_callback: String,
    /// `CustomField`: pinbridge's id of the call, echoed in the status callback; at most
    /// [`MAX_CUSTOM_FIELD_LEN`] characters.
    pub custom_field: String,
    /// `Record`: record the call (dual channel).
    pub record: bool,
    /// `TimeLimit`: the longest call, seconds (capped at [`MAX_TIME_LIMIT_SECS`]).
    pub time_limit_secs: Option<u64>,
    /// `TimeOut`: how long each leg rings, seconds.
    pub ring_timeout_secs: Option<u64>,
}

impl ConnectCall {
    /// The form fields, in the order Exotel documents them: `From`, `To`, `CallerId`,
    /// `StatusCallback`, `StatusCallbackEvents[0]=terminal`,
    /// `StatusCallbackContentType=application/json`, `CustomField`, `Record` (and
    /// `RecordingChannels=dual` when recording), then `TimeLimit` and `TimeOut` when set.
    pub fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("From", self.from.to_string()),
            ("To", self.to.to_string()),
            ("CallerId", self.caller_id.to_string()),
            ("StatusCallback", self.status_callback.clone()),
            ("StatusCallbackEvents[0]", "terminal".to_owned()),
            ("StatusCallbackContentType", "application/json".to_owned()),
            ("CustomField", self.custom_field.clone()),
            ("Record", self.record.to_string()),
        ];
        if self.record {
            form.push(("RecordingChannels", "dual".to_owned()));
        }
        if let Some(limit) = self.time_limit_secs {
            form.push(("TimeLimit", limit.min(MAX_TIME_LIMIT_SECS).to_string()));
        }
        if let Some(ring) = self.ring_timeout_secs {
            form.push(("TimeOut", ring.to_string()));
        }
        form
    }
}

/// Exotel's answer to an accepted `Calls/connect` (`{"Call": {"Sid": ..., "Status": ...}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedCall {
    /// Exotel's `Call.Sid`: the `CallSid` of its status callback.
    pub sid: String,
    /// `Call.Status` as answered (`in-progress`, `queued`), if any.
    pub status: Option<String>,
}

/// One `Sms/send`.
#[derive(Debug, Clone)]
pub struct SendSms {
    /// `From`: an ExoPhone or a DLT sender ID.
    pub from: String,
    /// `To`: the recipient.
    pub to: PhoneNumber,
    /// `Body`: at most 2000 characters, matching the DLT template exactly.
    pub body: String,
    /// `DltEntityId`, when set.
    pub dlt_entity_id: Option<String>,
    /// `DltTemplateId`, when set.
    pub dlt_template_id: Option<String>,
}

impl SendSms {
    /// The form fields: `From`, `To`, `Body`, `SmsType=transactional`, then `DltEntityId` and
    /// `DltTemplateId` when set.
    pub fn form(&self) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("From", self.from.clone()),
            ("To", self.to.to_string()),
            ("Body", self.body.clone()),
            ("SmsType", SMS_TYPE.to_owned()),
        ];
        if let Some(id) = &self.dlt_entity_id {
            form.push(("DltEntityId", id.clone()));
        }
        if let Some(id) = &self.dlt_template_id {
            form.push(("DltTemplateId", id.clone()));
        }
        form
    }
}

/// Exotel's answer to an accepted `Sms/send` (`{"SMSMessage": {"Sid": ..., "Status": ...}}`).
/// Accepted is not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// `SMSMessage.Sid`.
    pub sid: String,
    /// `SMSMessage.Status` as answered (`queued`), if any.
    pub status: Option<String>,
}

/// A client of Exotel's REST API, cheap to share (`Arc`).
#[derive(Debug, Clone)]
pub struct ExotelApi {
    client: reqwest::Client,
    base: Url,
    credentials: Credentials,
    retry: RetryPolicy,
}

impl ExotelApi {
    /// Connection timeout of a try.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
    /// Whole-request timeout of a try.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// A client of the cluster at `base_url` (`https://api.exotel.com`,
    /// `https://api.in.exotel.com`), with [`Self::TIMEOUT`] and the default [`RetryPolicy`].
    ///
    /// Errors: `base_url` is not an http(s) URL; the HTTP client can not be built.
    pub fn new(base_url: &str, credentials: Credentials) -> anyhow::Result<Self> {
        Self::with_policy(base_url, credentials, Self::TIMEOUT, RetryPolicy::default())
    }

    /// Like [`Self::new`] with a timeout per try and a retry policy of its own.
    pub fn with_policy(
        base_url: &str,
        credentials: Credentials,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> anyhow::Result<Self> {
        let base = Url::parse(base_url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| anyhow::anyhow!("the Exotel API base URL is not an http(s) URL"))?;
        let client = reqwest::Client::builder()
            .connect_timeout(Self::CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .user_agent(concat!("pinbridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            base,
            credentials,
            retry: RetryPolicy {
                tries: retry.tries.max(1),
                ..retry
            },
        })
    }

    /// `POST /v1/Accounts/{sid}/Calls/connect.json`: connects `call.from` and `call.to`
    /// (`reference/exotel.md` §4.1). Retried only as the module documentation says.
    ///
    /// Errors: [`ExotelError`]; `Rejected` carries Exotel's message.
    pub async fn connect_call(&self, call: &ConnectCall) -> Result<ConnectedCall, ExotelError> {
        let url = self.url(&["Calls", "connect.json"]);
        let answer = self.post("Calls/connect", url, &call.form()).await?;
        let (sid, status) = sid_and_status(&answer, "Call")?;
        Ok(ConnectedCall { sid, status })
    }

    /// `POST /v1/Accounts/{sid}/Sms/send.json`: sends one SMS (`reference/exotel.md` §4.2).
    /// Retried only as the module documentation says.
    ///
    /// Errors: [`ExotelError`]; `Rejected` carries Exotel's message.
    pub async fn send_sms(&self, sms: &SendSms) -> Result<SentSms, ExotelError> {
        let url = self.url(&["Sms", "send.json"]);
        let answer = self.post("Sms/send", url, &sms.form()).await?;
        let (sid, status) = sid_and_status(&answer, "SMSMessage")?;
        Ok(SentSms { sid, status })
    }

    /// `{base}/v1/Accounts/{sid}/{tail...}`, each segment percent-encoded.
    fn url(&self, tail: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["v1", "Accounts", self.credentials.account_sid.as_str()])
                .extend(tail);
        }
        url
    }

    /// Posts `form` to `url`, trying again only when Exotel certainly did not act on it.
    /// Returns the JSON body of a 2xx.
    async fn post(
        &self,
        what: &'static str,
        url: Url,
        form: &[(&str, String)],
    ) -> Result<Value, ExotelError> {
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 1;
        loop {
            let sent = self
                .client
                .post(url.clone())
                .basic_auth(&self.credentials.api_key, Some(&self.credentials.api_token))
                .form(form)
                .send()
                .await;
            let retryable = match sent {
                Ok(response) => match read_answer(what, response).await {
                    Ok(value) => return Ok(value),
                    Err(Answer::Final(e)) => return Err(e),
                    Err(Answer::Retryable(e)) => e,
                },
                Err(e) if e.is_connect() => ExotelError::Unavailable {
                    status: None,
                    message: "could not connect to Exotel's API".to_owned(),
                },
                Err(e) => {
                    let message = if e.is_timeout() {
                        "Exotel did not answer in time; the request may have been carried out"
                    } else {
                        "the connection to Exotel broke; the request may have been carried out"
                    };
                    tracing::error!(exotel.api = what, timeout = e.is_timeout(), "{message}");
                    return Err(ExotelError::Uncertain {
                        status: None,
                        message: message.to_owned(),
                    });
                }
            };
            if attempt >= self.retry.tries {
                tracing::error!(
                    exotel.api = what,
                    attempt,
                    http.status = retryable.status(),
                    "Exotel did not take the request; giving up"
                );
                return Err(retryable);
            }
            tracing::warn!(
                exotel.api = what,
                attempt,
                http.status = retryable.status(),
                retry.in_ms = backoff.as_millis(),
                "Exotel did not take the request; trying again"
            );
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }
}

/// What one HTTP answer means for the retry loop.
enum Answer {
    /// Exotel certainly did not act on the request: it may be sent again.
    Retryable(ExotelError),
    /// Final: no further try.
    Final(ExotelError),
}

/// Reads one answer: the JSON of a 2xx, else the error it stands for.
async fn read_answer(what: &'static str, response: reqwest::Response) -> Result<Value, Answer> {
    let status = response.status();
    let body = response.bytes().await;
    if status.is_success() {
        return body
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .ok_or_else(|| {
                tracing::error!(
                    exotel.api = what,
                    http.status = status.as_u16(),
                    "Exotel accepted the request but its answer could not be read"
                );
                Answer::Final(ExotelError::Uncertain {
                    status: Some(status.as_u16()),
                    message: "Exotel accepted the request but its answer could not be read"
                        .to_owned(),
                })
            });
    }
    let message = body
        .ok()
        .and_then(|b| exotel_message(&b))
        .unwrap_or_else(|| reason(status));
    tracing::warn!(
        exotel.api = what,
        http.status = status.as_u16(),
        exotel.message = %redact_digits(&message),
        "Exotel answered with an error"
    );
    let code = Some(status.as_u16());
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            Answer::Retryable(ExotelError::Unavailable {
                status: code,
                message,
            })
        }
        s if s.is_client_error() => Answer::Final(ExotelError::Rejected {
            status: s.as_u16(),
            message,
        }),
        _ => Answer::Final(ExotelError::Uncertain {
            status: code,
            message: format!("{message}; the request may have been carried out"),
        }),
    })
}

/// `{"<wrapper>": {"Sid": ..., "Status": ...}}` of an accepted request.
fn sid_and_status(answer: &Value, wrapper: &str) -> Result<(String, Option<String>), ExotelError> {
    let inner = &answer[wrapper];
    let sid = inner["Sid"]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ExotelError::Uncertain {
            status: None,
            message: format!("Exotel's answer has no {wrapper}.Sid"),
        })?;
    let status = inner["Status"].as_str().map(str::to_owned);
    Ok((sid.to_owned(), status))
}

/// Exotel's error message: JSON `{"RestException": {"Message": ...}}`, or the XML
/// `<RestException><Message>...</Message></RestException>` of the classic API (support
/// article 48282), trimmed to 500 characters.
pub fn exotel_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        let e = &v["RestException"];
        e["Message"]
            .as_str()
            .or_else(|| e["message"].as_str())
            .or_else(|| v["Message"].as_str())
            .map(str::to_owned)
    });
    let from_xml = || {
        let start = text.find("<Message>")? + "<Message>".len();
        let len = text[start..].find("</Message>")?;
        Some(text[start..start + len].to_owned())
    };
    from_json
        .or_else(from_xml)
        .map(|m| m.trim().chars().take(500).collect::<String>())
        .filter(|m| !m.is_empty())
}

fn reason(status: StatusCode) -> String {
    format!(
        "Exotel answered HTTP {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_owned()
}

/// `text` with every run of 6 or more digits (a `+` before it included) masked by [`mask`]:
/// Exotel's messages may quote the numbers of a request, and go to the log this way.
pub fn redact_digits(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().filter(char::is_ascii_digit).count() >= 6 {
            out.push_str(&mask(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Region;
    use wiremock::matchers::{basic_auth, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn number(n: &str) -> PhoneNumber {
        PhoneNumber::parse(n, Region::parse("IN").unwrap()).unwrap()
    }

    fn credentials() -> Credentials {
        Credentials {
            api_key: "key-123".into(),
            api_token: "token-secret-456".into(),
            account_sid: "acme1".into(),
        }
    }

    fn api(base: &str, timeout: Duration) -> ExotelApi {
        ExotelApi::with_policy(
            base,
            credentials(),
            timeout,
            RetryPolicy {
                tries: 3,
                first_backoff: Duration::from_millis(10),
            },
        )
        .unwrap()
    }

    fn call() -> ConnectCall {
        ConnectCall {
            from: number("07709562799"),
            to: number("09812345678"),
            caller_id: number("07314853246"),
            status_callback: "https://pb.example/exotel/s3cret/status".into(),
            custom_field: "ctc_1".into(),
            record: false,
            time_limit_secs: Some(99_999),
            ring_timeout_secs: Some(45),
        }
    }

    fn accepted() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "Call": {"Sid": "c5797dcbaaeed7678c4062a4a3ed2f8a", "Status": "in-progress"}
        }))
    }

    fn form_of(body: &[u8]) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(body).unwrap()
    }

    #[test]
    fn the_connect_form_holds_exactly_the_documented_fields() {
        let pairs: Vec<(&str, String)> = call().form();
        let want: Vec<(&str, &str)> = vec![
            ("From", "+917709562799"),
            ("To", "+919812345678"),
            ("CallerId", "+917314853246"),
            ("StatusCallback", "https://pb.example/exotel/s3cret/status"),
            ("StatusCallbackEvents[0]", "terminal"),
            ("StatusCallbackContentType", "application/json"),
            ("CustomField", "ctc_1"),
            ("Record", "false"),
            ("TimeLimit", "14400"),
            ("TimeOut", "45"),
        ];
        let got: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(got, want);
        let recorded = ConnectCall {
            record: true,
            ..call()
        };
        assert!(
            recorded
                .form()
                .contains(&("RecordingChannels", "dual".into()))
        );
    }

    #[tokio::test]
    async fn a_call_is_posted_with_basic_auth_to_the_json_path() {
        let mock = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/Accounts/acme1/Calls/connect.json"))
            .and(basic_auth("key-123", "token-secret-456"))
            .respond_with(accepted())
            .expect(1)
            .mount(&mock)
            .await;
        let placed = api(&format!("{}/", mock.uri()), ExotelApi::TIMEOUT)
            .connect_call(&call())
            .await
            .unwrap();
        assert_eq!(placed.sid, "c5797dcbaaeed7678c4062a4a3ed2f8a");
        assert_eq!(placed.status.as_deref(), Some("in-progress"));
        let received = mock.received_requests().await.unwrap();
        let form = form_of(&received[0].body);
        assert!(form.contains(&("StatusCallbackEvents[0]".into(), "terminal".into())));
        assert_eq!(
            received[0].headers["content-type"],
            "application/x-www-form-urlencoded"
        );
    }

    #[tokio::test]
    async fn a_503_is_tried_again_and_a_500_is_not() {
        let mock = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .mount(&mock)
            .await;
        Mock::given(method("POST"))
            .respond_with(accepted())
            .mount(&mock)
            .await;
        let exotel = api(&mock.uri(), ExotelApi::TIMEOUT);
        assert!(exotel.connect_call(&call()).await.is_ok());
        assert_eq!(mock.received_requests().await.unwrap().len(), 2);

        let mock = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(500))
            .mount(&mock)
            .await;
        let e = api(&mock.uri(), ExotelApi::TIMEOUT)
            .connect_call(&call())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ExotelError::Uncertain {
                    status: Some(500),
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(mock.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_timeout_after_sending_is_never_tried_again() {
        let mock = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(accepted().set_delay(Duration::from_millis(800)))
            .mount(&mock)
            .await;
        let e = api(&mock.uri(), Duration::from_millis(200))
            .connect_call(&call())
            .await
            .unwrap_err();
        assert!(
            matches!(e, ExotelError::Uncertain { status: None, .. }),
            "{e:?}"
        );
        assert_eq!(mock.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn rate_limiting_is_tried_three_times_in_all() {
        let mock = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429))
            .mount(&mock)
            .await;
        let e = api(&mock.uri(), ExotelApi::TIMEOUT)
            .connect_call(&call())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ExotelError::Unavailable {
                    status: Some(429),
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(mock.received_requests().await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_refused_connection_is_tried_again_then_reported_unavailable() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = api(&format!("http://127.0.0.1:{port}"), ExotelApi::TIMEOUT)
            .connect_call(&call())
            .await
            .unwrap_err();
        assert!(
            matches!(e, ExotelError::Unavailable { status: None, .. }),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn exotels_refusal_carries_its_message() {
        let mock = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "RestException": {"Status": 400, "Message": "CallerId is not a valid ExoPhone"}
            })))
            .mount(&mock)
            .await;
        let e = api(&mock.uri(), ExotelApi::TIMEOUT)
            .connect_call(&call())
            .await
            .unwrap_err();
        assert_eq!(
            e,
            ExotelError::Rejected {
                status: 400,
                message: "CallerId is not a valid ExoPhone".into()
            }
        );
        assert_eq!(mock.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_sms_carries_the_dlt_fields_and_returns_its_sid() {
        let mock = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/Accounts/acme1/Sms/send.json"))
            .and(basic_auth("key-123", "token-secret-456"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "SMSMessage": {"Sid": "0f477d60517e6e6a0f6d9a7e9af8630e", "Status": "queued"}
            })))
            .expect(1)
            .mount(&mock)
            .await;
        let sms = SendSms {
            from: "SWIFTC".into(),
            to: number("09812345678"),
            body: "Hello".into(),
            dlt_entity_id: Some("1101".into()),
            dlt_template_id: Some("1107".into()),
        };
        let sent = api(&mock.uri(), ExotelApi::TIMEOUT)
            .send_sms(&sms)
            .await
            .unwrap();
        assert_eq!(sent.sid, "0f477d60517e6e6a0f6d9a7e9af8630e");
        let received = mock.received_requests().await.unwrap();
        let want: Vec<(String, String)> = [
            ("From", "SWIFTC"),
            ("To", "+919812345678"),
            ("Body", "Hello"),
            ("SmsType", "transactional"),
            ("DltEntityId", "1101"),
            ("DltTemplateId", "1107"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(form_of(&received[0].body), want);
    }

    #[test]
    fn error_messages_are_read_from_json_or_xml() {
        assert_eq!(
            exotel_message(
                br#"{"RestException":{"Status":401,"Message":"Authentication failed"}}"#
            )
            .as_deref(),
            Some("Authentication failed")
        );
        assert_eq!(
            exotel_message(
                b"<TwilioResponse><RestException><Status>403</Status><Message>Not allowed</Message></RestException></TwilioResponse>"
            )
            .as_deref(),
            Some("Not allowed")
        );
        assert_eq!(exotel_message(b"<html>bad gateway</html>"), None);
    }

    #[test]
    fn numbers_in_exotels_messages_are_masked_for_the_log() {
        assert_eq!(
            redact_digits("To +919812345678 is DND (code 403)"),
            "To +91******5678 is DND (code 403)"
        );
        assert!(!redact_digits("09812345678").contains("98123"));
    }
}
