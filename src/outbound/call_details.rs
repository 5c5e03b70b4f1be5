//! The providers' call-details REST APIs, asked by the reconciler (`crate::call::reconcile`)
//! how a call whose end report never came has ended:
//!
//! - Exotel: `GET {base}/v1/Accounts/{AccountSid}/Calls/{CallSid}.json?details=true`, basic
//!   auth API key : API token; `{"Call": {"Sid", "Status", "Duration", "StartTime",
//!   "EndTime", ..., "Details": {"ConversationDuration", "Leg1Status", "Leg2Status", ...}}}`,
//!   `Status` one of `queued`, `in-progress`, `completed`, `failed`, `busy`, `no-answer`,
//!   `canceled` (developer.exotel.com, "Call Details API (v1)"; `details=true` adds the legs).
//! - Twilio: `GET {base}/2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`, basic auth
//!   AccountSid : AuthToken; `status` one of `queued`, `ringing`, `in-progress`, `canceled`,
//!   `completed`, `failed`, `busy`, `no-answer`, and `duration` (seconds, a string, `null`
//!   until the call ends) (twilio-python `twilio/rest/api/v2010/account/call/__init__.py`,
//!   `CallInstance.Status`; Twilio's "Call resource" page).
//! - Plivo: `GET {base}/v1/Account/{auth_id}/Call/{call_uuid}/`, basic auth auth ID : auth
//!   token: the record of a *completed* call (Plivo's "The Call object": `answer_time`,
//!   `bill_duration`, `call_duration`, `end_time`, `hangup_cause_name`, `hangup_cause_code`,
//!   `hangup_source`). A live call has no such record yet (its details are under
//!   `?status=live`): a 404 there reads as a call still going.
//!
//! 8x8 and Vonage are not asked. 8x8's Voice API offers no look-up of one call by its id
//! that pinbridge's webhook credentials (a URL secret) could reach; Vonage's `GET /v1/calls/{uuid}`
//! needs the application's private key to sign a JWT, which pinbridge does not hold (it
//! holds only the webhooks' signature secret). Their calls left open are closed as
//! `unknown` at the give-up deadline.
//!
//! Nothing here logs a phone number, a token or a response body.

use std::time::Duration;

use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::config::Settings;
use crate::domain::DialStatus;

/// What a provider says of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Not ended: queued, ringing or in progress (or, at Plivo, not in its records of
    /// completed calls yet). `status` is the provider's word.
    Live { status: String },
    /// Ended.
    Ended(Ended),
}

/// How a call ended, as its provider says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The call's own status (the caller's leg): completed, busy, no answer, failed or
    /// canceled.
    pub status: DialStatus,
    /// The provider's word for it, as answered (lower case): `completed`, `no-answer`, ...;
    /// Plivo's `hangup_cause_name`.
    pub raw_status: String,
    /// Seconds the call lasted, menus included (Exotel `Duration`, Twilio `duration`, Plivo
    /// `bill_duration`), when answered.
    pub duration_secs: Option<i64>,
    /// Seconds of conversation with the dialled party, when the provider tells it apart
    /// (Exotel `Details.ConversationDuration`).
    pub talk_secs: Option<i64>,
    /// How the dialled leg ended, when the provider tells it apart (Exotel
    /// `Details.Leg2Status`).
    pub dialled_leg: Option<DialStatus>,
}

/// Why a look-up gave no answer: no connection, a timeout, an HTTP error status, or an
/// answer that could not be read. The message names none of the request's secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LookupError(pub String);

/// One provider's REST API: its base URL, its basic auth and the account in its paths.
struct Api {
    base: Url,
    user: String,
    password: SecretString,
}

impl Api {
    /// Errors: a base URL that is not an http(s) URL, naming `setting`.
    fn new(base: &str, user: &str, password: &str, setting: &str) -> anyhow::Result<Self> {
        let base = Url::parse(base.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| anyhow::anyhow!("{setting} is not an http(s) URL"))?;
        Ok(Self {
            base,
            user: user.to_owned(),
            password: SecretString::from(password.to_owned()),
        })
    }

    /// `{base}/{segments...}`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

/// The call-details APIs whose credentials are configured. Cheap to share (`Arc`).
pub struct CallDetails {
    client: reqwest::Client,
    exotel: Option<(Api, String)>,
    twilio: Option<(Api, String)>,
    plivo: Option<(Api, String)>,
}

impl std::fmt::Debug for CallDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallDetails")
            .field("exotel", &self.exotel.is_some())
            .field("twilio", &self.twilio.is_some())
            .field("plivo", &self.plivo.is_some())
            .finish()
    }
}

impl CallDetails {
    /// Longest wait for one look-up's answer.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// The APIs `settings` holds credentials for: Exotel with `PINBRIDGE_EXOTEL_API_KEY`,
    /// `_TOKEN` and `_ACCOUNT_SID` (at `PINBRIDGE_EXOTEL_API_BASE_URL`); Twilio with
    /// `PINBRIDGE_TWILIO_ACCOUNT_SID` and `PINBRIDGE_TWILIO_AUTH_TOKEN`; Plivo with
    /// `PINBRIDGE_PLIVO_AUTH_ID` and `PINBRIDGE_PLIVO_AUTH_TOKEN`.
    ///
    /// Errors: a base URL that is not an http(s) URL; the HTTP client could not be built.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let exotel_api = &settings.outbound.exotel_api;
        let exotel = match (
            &exotel_api.api_key,
            &exotel_api.api_token,
            &exotel_api.account_sid,
        ) {
            (Some(key), Some(token), Some(sid)) => Some((
                Api::new(
                    &exotel_api.base_url,
                    key.expose_secret(),
                    token.expose_secret(),
                    "PINBRIDGE_EXOTEL_API_BASE_URL",
                )?,
                sid.clone(),
            )),
            _ => None,
        };
        let reconcile = &settings.reconcile;
        let twilio = match (
            &reconcile.twilio_account_sid,
            settings.providers.twilio.credential(),
        ) {
            (Some(sid), Some(token)) => Some((
                Api::new(
                    &reconcile.twilio_api_base_url,
                    sid,
                    token,
                    "PINBRIDGE_TWILIO_API_BASE_URL",
                )?,
                sid.clone(),
            )),
            _ => None,
        };
        let plivo = match (
            &reconcile.plivo_auth_id,
            settings.providers.plivo.credential(),
        ) {
            (Some(id), Some(token)) => Some((
                Api::new(
                    &reconcile.plivo_api_base_url,
                    id,
                    token,
                    "PINBRIDGE_PLIVO_API_BASE_URL",
                )?,
                id.clone(),
            )),
            _ => None,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Self::TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("pinbridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            exotel,
            twilio,
            plivo,
        })
    }

    /// True when calls of `provider` can be looked up (its API exists and its credentials
    /// are set).
    pub fn can_look_up(&self, provider: &str) -> bool {
        match provider {
            "exotel" => self.exotel.is_some(),
            "twilio" => self.twilio.is_some(),
            "plivo" => self.plivo.is_some(),
            _ => false,
        }
    }

    /// The providers whose calls can be looked up, for the start log.
    pub fn providers(&self) -> Vec<&'static str> {
        ["exotel", "twilio", "plivo"]
            .into_iter()
            .filter(|p| self.can_look_up(p))
            .collect()
    }

    /// Asks `provider` how the call `call_sid` stands. One request, no retry: the
    /// reconciler asks again at its next round.
    ///
    /// Errors: [`LookupError`]; also when `provider` can not be looked up
    /// ([`Self::can_look_up`]).
    pub async fn look_up(&self, provider: &str, call_sid: &str) -> Result<Found, LookupError> {
        match provider {
            "exotel" => {
                let (api, sid) = self.exotel.as_ref().ok_or_else(not_configured)?;
                let mut url =
                    api.url(&["v1", "Accounts", sid, "Calls", &format!("{call_sid}.json")]);
                url.set_query(Some("details=true"));
                let body = self.get(api, url).await?.ok_or_else(|| {
                    LookupError("Exotel does not know the call (HTTP 404)".into())
                })?;
                exotel_found(&body)
            }
            "twilio" => {
                let (api, sid) = self.twilio.as_ref().ok_or_else(not_configured)?;
                let url = api.url(&[
                    "2010-04-01",
                    "Accounts",
                    sid,
                    "Calls",
                    &format!("{call_sid}.json"),
                ]);
                let body = self.get(api, url).await?.ok_or_else(|| {
                    LookupError("Twilio does not know the call (HTTP 404)".into())
                })?;
                twilio_found(&body)
            }
            "plivo" => {
                let (api, id) = self.plivo.as_ref().ok_or_else(not_configured)?;
                let url = api.url(&["v1", "Account", id, "Call", call_sid, ""]);
                match self.get(api, url).await? {
                    Some(body) => plivo_found(&body),
                    None => Ok(Found::Live {
                        status: "not-completed".into(),
                    }),
                }
            }
            _ => Err(not_configured()),
        }
    }

    /// GETs `url` with `api`'s basic auth: the JSON of a 2xx, `None` for a 404.
    async fn get(&self, api: &Api, url: Url) -> Result<Option<Value>, LookupError> {
        let response = self
            .client
            .get(url)
            .basic_auth(&api.user, Some(api.password.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                LookupError(if e.is_timeout() {
                    "no answer in time".to_owned()
                } else if e.is_connect() {
                    "could not connect".to_owned()
                } else {
                    "the connection broke".to_owned()
                })
            })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(LookupError(format!("HTTP {}", status.as_u16())));
        }
        let body = response
            .bytes()
            .await
            .map_err(|_| LookupError("the answer was cut".into()))?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|_| LookupError("the answer is not JSON".into()))
    }
}

fn not_configured() -> LookupError {
    LookupError("no call-details API is configured for this provider".into())
}

/// A whole number of seconds written as a number or as a string (`"17"`); `None` otherwise.
fn seconds(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The call's status word (Exotel's and Twilio's): `Live` for queued, ringing or in
/// progress; `None` for a word neither documents.
fn status_word(raw: &str) -> Option<Result<DialStatus, ()>> {
    match raw {
        "queued" | "ringing" | "in-progress" | "initiated" => Some(Err(())),
        other => DialStatus::parse(other).map(Ok),
    }
}

/// Reads `status` and the durations into what was found.
fn found(
    status: Option<&str>,
    duration_secs: Option<i64>,
    talk_secs: Option<i64>,
    dialled_leg: Option<DialStatus>,
) -> Result<Found, LookupError> {
    let raw = status
        .map(|s| s.trim().to_ascii_lowercase())
        .ok_or_else(|| LookupError("the answer has no call status".into()))?;
    match status_word(&raw) {
        Some(Err(())) => Ok(Found::Live { status: raw }),
        Some(Ok(status)) => Ok(Found::Ended(Ended {
            status,
            raw_status: raw,
            duration_secs,
            talk_secs,
            dialled_leg,
        })),
        None => Err(LookupError(format!(
            "the call status {:?} is not one the provider documents",
            raw.chars().take(32).collect::<String>()
        ))),
    }
}

/// Exotel's `{"Call": {"Status", "Duration", "Details": {"ConversationDuration", "Leg2Status"}}}`.
pub fn exotel_found(body: &Value) -> Result<Found, LookupError> {
    let call = &body["Call"];
    let details = &call["Details"];
    found(
        call["Status"].as_str(),
        seconds(&call["Duration"]),
        seconds(&details["ConversationDuration"]),
        details["Leg2Status"].as_str().and_then(DialStatus::parse),
    )
}

/// Twilio's `{"status", "duration", ...}`.
pub fn twilio_found(body: &Value) -> Result<Found, LookupError> {
    found(
        body["status"].as_str(),
        seconds(&body["duration"]),
        None,
        None,
    )
}

/// Plivo's record of a completed call: how it ended, read from `hangup_cause_name` (`Busy
/// Line`, `No Answer`, `Cancelled`, ...; Plivo's "Hangup causes" list) and whether it was
/// answered (`answer_time`, `bill_duration`): a call answered and hung up is completed, one
/// never answered without a cause above failed.
pub fn plivo_found(body: &Value) -> Result<Found, LookupError> {
    if !body.is_object() || body.get("call_uuid").is_none() && body.get("end_time").is_none() {
        return Err(LookupError("the answer is not a call record".into()));
    }
    let cause = body["hangup_cause_name"]
        .as_str()
        .unwrap_or("")
        .trim()
        .to_owned();
    let lower = cause.to_ascii_lowercase();
    let duration_secs = seconds(&body["bill_duration"]).or_else(|| seconds(&body["call_duration"]));
    let answered = body["answer_time"]
        .as_str()
        .is_some_and(|t| !t.trim().is_empty())
        || duration_secs.is_some_and(|d| d > 0);
    let status = if lower.contains("busy") {
        DialStatus::Busy
    } else if lower.contains("no answer") || lower.contains("timeout") {
        DialStatus::NoAnswer
    } else if lower.contains("cancel") {
        DialStatus::Canceled
    } else if answered {
        DialStatus::Completed
    } else {
        DialStatus::Failed
    };
    Ok(Found::Ended(Ended {
        status,
        raw_status: if cause.is_empty() {
            "completed".into()
        } else {
            cause.chars().take(64).collect()
        },
        duration_secs,
        talk_secs: None,
        dialled_leg: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exotels_call_details_are_read_with_their_legs() {
        let body = json!({"Call": {
            "Sid": "b6cfaf5f5cef3ca0fc937749ef96d245", "Status": "completed",
            "StartTime": "2017-03-03 10:48:33", "EndTime": "2017-03-03 10:49:50",
            "Duration": "17",
            "Details": {"ConversationDuration": 8, "Leg1Status": "completed", "Leg2Status": "completed"}
        }});
        assert_eq!(
            exotel_found(&body),
            Ok(Found::Ended(Ended {
                status: DialStatus::Completed,
                raw_status: "completed".into(),
                duration_secs: Some(17),
                talk_secs: Some(8),
                dialled_leg: Some(DialStatus::Completed),
            }))
        );
        let live = json!({"Call": {"Status": "in-progress", "Duration": null}});
        assert_eq!(
            exotel_found(&live),
            Ok(Found::Live {
                status: "in-progress".into()
            })
        );
        assert!(exotel_found(&json!({"Call": {"Status": "exploded"}})).is_err());
        assert!(exotel_found(&json!({})).is_err());
    }

    #[test]
    fn twilios_statuses_map_to_ended_or_live() {
        for (raw, want) in [
            ("busy", DialStatus::Busy),
            ("no-answer", DialStatus::NoAnswer),
            ("failed", DialStatus::Failed),
            ("canceled", DialStatus::Canceled),
            ("completed", DialStatus::Completed),
        ] {
            let Ok(Found::Ended(e)) = twilio_found(&json!({"status": raw, "duration": "0"})) else {
                panic!("{raw} did not read as ended");
            };
            assert_eq!((e.status, e.duration_secs), (want, Some(0)));
        }
        for raw in ["queued", "ringing", "in-progress"] {
            assert_eq!(
                twilio_found(&json!({"status": raw, "duration": null})),
                Ok(Found::Live { status: raw.into() })
            );
        }
    }

    #[test]
    fn plivos_hangup_causes_and_answer_time_give_the_status() {
        let answered = json!({"call_uuid": "u", "answer_time": "2022-06-28 19:39:05+05:30",
            "bill_duration": 11, "call_duration": 11, "end_time": "2022-06-28 19:39:15+05:30",
            "hangup_cause_name": "Normal Hangup", "hangup_source": "Caller"});
        let Ok(Found::Ended(e)) = plivo_found(&answered) else {
            panic!("not ended");
        };
        assert_eq!(
            (e.status, e.duration_secs),
            (DialStatus::Completed, Some(11))
        );
        for (cause, want) in [
            ("Busy Line", DialStatus::Busy),
            ("No Answer", DialStatus::NoAnswer),
            ("Cancelled", DialStatus::Canceled),
            ("Unallocated Number", DialStatus::Failed),
        ] {
            let body = json!({"call_uuid": "u", "answer_time": null, "bill_duration": 0,
                "hangup_cause_name": cause});
            let Ok(Found::Ended(e)) = plivo_found(&body) else {
                panic!("{cause}: not ended");
            };
            assert_eq!(e.status, want, "{cause}");
        }
        assert!(plivo_found(&json!({"error": "not found"})).is_err());
    }
}
