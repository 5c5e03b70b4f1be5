//! What Exotel posts to a `Calls/connect` `StatusCallback` (`reference/exotel.md` §4.1,
//! "StatusCallback payload"; seed 003, "Click to Call API").
//!
//! Always `CallSid`, `Status` (`completed`, `failed`, `busy`, `no-answer`), `DateUpdated` and
//! `RecordingUrl`; with the `terminal` event also `CustomField`, `ConversationDuration`,
//! `StartTime` and `Legs` (per leg `OnCallDuration`, `Status`). The body is JSON (what
//! pinbridge asks for with `StatusCallbackContentType=application/json`) or form-encoded
//! (`Legs[0][Status]=...`), or the values come in the query string; every field is optional
//! and numbers may be written as JSON numbers or as text.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::params::parse_seconds;
use crate::call::flow::DialStatus;

/// The most legs read from a report (a click-to-call has two).
const MAX_LEGS: usize = 8;

/// One status report, every value as received (trimmed; Exotel's `null` is absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusReport {
    values: Map<String, Value>,
    legs: Vec<Map<String, Value>>,
}

impl StatusReport {
    /// Reads the query string, then the body: JSON when `content_type` says so or the body
    /// starts with `{`, else form-encoded. A key in both takes the body's value. Never fails:
    /// what can not be read is absent.
    pub fn parse(query: &str, content_type: Option<&str>, body: &[u8]) -> Self {
        let mut report = Self::default();
        report.add_form(query.as_bytes());
        let trimmed = body.trim_ascii_start();
        let json = content_type.is_some_and(|ct| ct.contains("json")) || trimmed.starts_with(b"{");
        if json {
            if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) {
                for (key, value) in object {
                    if key == "Legs" {
                        if let Value::Array(legs) = value {
                            report.legs = legs
                                .into_iter()
                                .take(MAX_LEGS)
                                .map(|l| match l {
                                    Value::Object(o) => o,
                                    _ => Map::new(),
                                })
                                .collect();
                        }
                    } else {
                        report.values.insert(key, value);
                    }
                }
            }
        } else if !trimmed.is_empty() {
            report.add_form(body);
        }
        report
    }

    /// Adds form-encoded pairs; `Legs[n][Field]` keys become legs.
    fn add_form(&mut self, encoded: &[u8]) {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(encoded).unwrap_or_default();
        let mut legs: BTreeMap<usize, Map<String, Value>> = BTreeMap::new();
        for (key, value) in pairs {
            match leg_key(&key) {
                Some((n, field)) if n < MAX_LEGS => {
                    legs.entry(n)
                        .or_default()
                        .insert(field.to_owned(), Value::String(value));
                }
                Some(_) => {}
                None => {
                    self.values.insert(key, Value::String(value));
                }
            }
        }
        if !legs.is_empty() {
            let last = legs.keys().next_back().copied().unwrap_or_default();
            self.legs = (0..=last)
                .map(|n| legs.remove(&n).unwrap_or_default())
                .collect();
        }
    }

    /// The value of `key` as text (a JSON number as written); `None` when absent, empty or
    /// `null`.
    pub fn get(&self, key: &str) -> Option<String> {
        text(self.values.get(key)?)
    }

    /// `CallSid`: Exotel's id of the call.
    pub fn call_sid(&self) -> Option<String> {
        self.get("CallSid")
    }

    /// `CustomField`: pinbridge's id of the call, as sent with `Calls/connect`.
    pub fn custom_field(&self) -> Option<String> {
        self.get("CustomField")
    }

    /// `Status`, read as a dial status (`completed`, `no-answer`, `busy`, `failed`, `canceled`).
    pub fn status(&self) -> Option<DialStatus> {
        self.get("Status").as_deref().and_then(DialStatus::parse)
    }

    /// `ConversationDuration`: seconds both parties were on the call.
    pub fn conversation_secs(&self) -> Option<i64> {
        parse_seconds(&self.get("ConversationDuration")?)
    }

    /// The legs, in order: leg 0 is `From` (called first), leg 1 is `To`.
    pub fn legs(&self) -> &[Map<String, Value>] {
        &self.legs
    }

    /// The status of leg `n` (`completed`, `no-answer`, `busy`, `failed`, `canceled`).
    pub fn leg_status(&self, n: usize) -> Option<DialStatus> {
        text(self.legs.get(n)?.get("Status")?)
            .as_deref()
            .and_then(DialStatus::parse)
    }

    /// The legs as a JSON array, as received; `None` without legs.
    pub fn legs_json(&self) -> Option<String> {
        if self.legs.is_empty() {
            return None;
        }
        serde_json::to_string(&self.legs).ok()
    }
}

/// `Legs[3][Status]` → (3, `Status`); nested keys (`Legs[1][Insights][X]`) are not legs'
/// own fields and are skipped.
fn leg_key(key: &str) -> Option<(usize, &str)> {
    let rest = key.strip_prefix("Legs[")?;
    let (n, rest) = rest.split_once("][")?;
    let field = rest.strip_suffix(']')?;
    if field.contains(['[', ']']) {
        return None;
    }
    Some((n.parse().ok()?, field))
}

fn text(value: &Value) -> Option<String> {
    let t = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!t.is_empty() && !t.eq_ignore_ascii_case("null")).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's terminal status callback (seed 003, "Click to Call API"), with our id.
    const SEED_JSON: &str = r#"{
      "CallSid": "492205107c5fb48f4ac25d1f77759339",
      "EventType": "terminal",
      "DateCreated": "2019-04-08 03:17:59",
      "DateUpdated": "2019-04-08 03:18:35",
      "Status": "no-answer",
      "To": "+91886799XXXX",
      "From": "+91941374XXXX",
      "PhoneNumberSid": "0113083XXXX",
      "StartTime": "2019-04-08 03:17:59",
      "EndTime": "2019-04-08 03:18:36",
      "Direction": "outbound-api",
      "CustomField": "ctc_abc",
      "RecordingUrl": null,
      "ConversationDuration": 32,
      "Legs": [
        {"OnCallDuration": 41, "Status": "completed"},
        {"OnCallDuration": 0, "Status": "no-answer"}
      ]
    }"#;

    #[test]
    fn the_seed_json_callback_reads() {
        let r = StatusReport::parse("", Some("application/json"), SEED_JSON.as_bytes());
        assert_eq!(
            r.call_sid().as_deref(),
            Some("492205107c5fb48f4ac25d1f77759339")
        );
        assert_eq!(r.custom_field().as_deref(), Some("ctc_abc"));
        assert_eq!(r.status(), Some(DialStatus::NoAnswer));
        assert_eq!(r.conversation_secs(), Some(32));
        assert_eq!(r.get("RecordingUrl"), None);
        assert_eq!(r.leg_status(0), Some(DialStatus::Completed));
        assert_eq!(r.leg_status(1), Some(DialStatus::NoAnswer));
        assert_eq!(r.leg_status(2), None);
        let legs: Value = serde_json::from_str(&r.legs_json().unwrap()).unwrap();
        assert_eq!(legs[0]["OnCallDuration"], 41);
    }

    #[test]
    fn a_form_callback_reads_the_same() {
        let body = "CallSid=abc&Status=busy&CustomField=ctc_1&ConversationDuration=0&Legs%5B0%5D%5BStatus%5D=completed&Legs[1][Status]=busy&Legs[1][OnCallDuration]=0&Legs[1][Insights][DetailedStatus]=x";
        let r = StatusReport::parse(
            "",
            Some("application/x-www-form-urlencoded"),
            body.as_bytes(),
        );
        assert_eq!(r.call_sid().as_deref(), Some("abc"));
        assert_eq!(r.status(), Some(DialStatus::Busy));
        assert_eq!(r.leg_status(0), Some(DialStatus::Completed));
        assert_eq!(r.leg_status(1), Some(DialStatus::Busy));
        assert_eq!(r.legs()[1].len(), 2, "nested keys are skipped");
    }

    #[test]
    fn query_values_and_garbage_are_handled() {
        let r = StatusReport::parse("CallSid=q&Status=completed", None, b"");
        assert_eq!(r.call_sid().as_deref(), Some("q"));
        assert_eq!(r.status(), Some(DialStatus::Completed));
        let r = StatusReport::parse("", Some("application/json"), b"{not json");
        assert_eq!(r, StatusReport::default());
        let r = StatusReport::parse("%%%&=&CallSid=%E0%A4", None, b"\0");
        assert_eq!(r.status(), None);
        assert!(r.legs().is_empty());
        let r = StatusReport::parse("Legs[99999999][Status]=busy&Legs[x][Status]=y", None, b"[]");
        assert!(r.legs().is_empty());
    }
}
