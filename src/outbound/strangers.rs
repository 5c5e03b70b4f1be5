//! The question to the business about a caller with no route on a virtual number that
//! answers strangers `webhook`: a signed POST to `PINBRIDGE_STRANGERS_WEBHOOK_URL`, answered
//! within `PINBRIDGE_STRANGERS_WEBHOOK_TIMEOUT` with the stored party, order or desk the
//! caller reaches (docs/admin-api.md, "Strangers asked to the business").
//!
//! The body is `{"type": "strangers.question", "created_at": "<RFC 3339>", "provider",
//! "call_sid", "virtual_number", "caller"}` (E.164; `caller` is `null` when withheld): the
//! business owns its parties' numbers and needs the caller's to decide. It is signed like an
//! event (`X-Pinbridge-Signature`, `PINBRIDGE_EVENTS_SECRET`). The answer is one of
//! `{"booking_id": "...", "party": "a"|"b"}`, `{"order_id": "..."}` or `{"desk": true}`;
//! any other field (a number to dial, above all) makes the whole answer refused: pinbridge
//! never dials a number an answer carries (toll-fraud rule). Nothing here logs a number.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::events::{GuardedResolver, SIGNATURE_HEADER, sign};
use crate::domain::clock::{now_ms, rfc3339};

/// What the question says of the call.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    /// The provider's name (`exotel`, `twilio`, ...).
    pub provider: &'a str,
    pub call_sid: &'a str,
    /// The dialled virtual number, E.164.
    pub virtual_number: &'a str,
    /// The caller, E.164; `None` when withheld or unreadable.
    pub caller: Option<&'a str>,
}

/// Whom the business chose, by its stored id: the session checks it against storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// A side of a booking: `party_a` true for party A.
    Party { booking_id: String, party_a: bool },
    /// The customer of an order.
    Order { order_id: String },
    /// The fallback desk (`PINBRIDGE_FALLBACK_NUMBER`).
    Desk,
}

/// Why the business gave no usable answer: the caller hears the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unanswered {
    #[error("no answer within the timeout")]
    Timeout,
    #[error("the request failed: {0}")]
    Transport(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("the answer is not one of the shapes taken: {0}")]
    BadAnswer(String),
}

impl Unanswered {
    /// A short label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Transport(_) => "error",
            Self::Status(_) => "status",
            Self::BadAnswer(_) => "bad_answer",
        }
    }
}

/// The answer as sent; unknown fields refuse it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAnswer {
    booking_id: Option<String>,
    party: Option<String>,
    order_id: Option<String>,
    desk: Option<bool>,
}

/// Reads the business's answer ([`Choice`]): exactly one of a booking's side, an order or
/// the desk.
///
/// Errors: [`Unanswered::BadAnswer`] for anything else, an unknown field included.
pub fn parse_answer(body: &[u8]) -> Result<Choice, Unanswered> {
    // serde's message may quote a value of the answer (a number): only its kind is kept.
    let raw: RawAnswer = serde_json::from_slice(body).map_err(|e| {
        Unanswered::BadAnswer(
            match e.classify() {
                serde_json::error::Category::Data => "fields or values of another shape",
                _ => "not JSON",
            }
            .to_owned(),
        )
    })?;
    let bad = |why: &str| Err(Unanswered::BadAnswer(why.to_owned()));
    match raw {
        RawAnswer {
            booking_id: Some(booking_id),
            party: Some(party),
            order_id: None,
            desk: None,
        } => match party.as_str() {
            "a" | "b" => Ok(Choice::Party {
                booking_id,
                party_a: party == "a",
            }),
            _ => bad("party must be a or b"),
        },
        RawAnswer {
            booking_id: None,
            party: None,
            order_id: Some(order_id),
            desk: None,
        } => Ok(Choice::Order { order_id }),
        RawAnswer {
            booking_id: None,
            party: None,
            order_id: None,
            desk: Some(true),
        } => Ok(Choice::Desk),
        _ => bad("give booking_id and party, order_id, or desk: true"),
    }
}

/// The client that asks the business. Cheap to clone.
#[derive(Clone)]
pub struct StrangersWebhook {
    url: String,
    secret: Option<String>,
    timeout: Duration,
    client: reqwest::Client,
}

impl StrangersWebhook {
    /// Questions posted to `url`, signed with `secret` (unsigned without one), answered
    /// within `timeout`.
    ///
    /// Errors: the HTTP client (guarded resolver, no redirects) could not be built.
    pub fn new(url: String, secret: Option<String>, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A redirected POST would become a GET elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(GuardedResolver))
            .user_agent(concat!("pinbridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("the strangers webhook HTTP client: {e}"))?;
        Ok(Self {
            url,
            secret: secret.filter(|s| !s.is_empty()),
            timeout,
            client,
        })
    }

    /// The longest the question may take (`PINBRIDGE_STRANGERS_WEBHOOK_TIMEOUT`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Asks the business whom `question`'s caller reaches.
    ///
    /// Errors: [`Unanswered`]: no answer within the timeout, a failed request, a status
    /// other than 200, or an answer of another shape.
    pub async fn ask(&self, question: &Question<'_>) -> Result<Choice, Unanswered> {
        match tokio::time::timeout(self.timeout, self.post(question)).await {
            Ok(answered) => answered,
            Err(_) => Err(Unanswered::Timeout),
        }
    }

    async fn post(&self, question: &Question<'_>) -> Result<Choice, Unanswered> {
        let now = now_ms();
        let body = json!({
            "type": "strangers.question",
            "created_at": rfc3339(now),
            "provider": question.provider,
            "call_sid": question.call_sid,
            "virtual_number": question.virtual_number,
            "caller": question.caller,
        })
        .to_string();
        let mut request = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &self.secret {
            request = request.header(SIGNATURE_HEADER, sign(secret, now / 1000, &body));
        }
        let response = request.body(body).send().await.map_err(|e| {
            if e.is_timeout() {
                Unanswered::Timeout
            } else {
                // Without the URL, which may hold a key.
                Unanswered::Transport(e.without_url().to_string())
            }
        })?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(Unanswered::Status(status));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| Unanswered::Transport(e.without_url().to_string()))?;
        parse_answer(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_names_one_stored_party_order_or_the_desk_and_nothing_else() {
        assert_eq!(
            parse_answer(br#"{"booking_id": "bk_1", "party": "b"}"#),
            Ok(Choice::Party {
                booking_id: "bk_1".into(),
                party_a: false
            })
        );
        assert_eq!(
            parse_answer(br#"{"order_id": "OD-1"}"#),
            Ok(Choice::Order {
                order_id: "OD-1".into()
            })
        );
        assert_eq!(parse_answer(br#"{"desk": true}"#), Ok(Choice::Desk));
        for refused in [
            r#"{"number": "+919999999999"}"#,
            r#"{"booking_id": "bk_1", "party": "a", "to": "+919999999999"}"#,
            r#"{"booking_id": "bk_1", "party": "c"}"#,
            r#"{"booking_id": "bk_1"}"#,
            r#"{"booking_id": "bk_1", "party": "a", "order_id": "OD-1"}"#,
            r#"{"desk": false}"#,
            r#"{}"#,
            "not json",
        ] {
            assert!(
                matches!(
                    parse_answer(refused.as_bytes()),
                    Err(Unanswered::BadAnswer(_))
                ),
                "{refused}"
            );
        }
    }
}
