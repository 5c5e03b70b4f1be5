//! What Exotel posts to a `Calls/connect` `StatusCallback` (`reference/exotel.md` §4.1,
//! "StatusCallback payload", from https://developer.exotel.com/api/statuscallback; seed 003,
//! "Click to Call API").
//!
//! Always `CallSid`, `Status` (`completed`, `failed`, `busy`, `no-answer`), `DateUpdated` and
//! `RecordingUrl`; with the `terminal` event also `CustomField`, `ConversationDuration`,
//! `StartTime` and `Legs` (per leg `OnCallDuration`, `Status`, `AnsweredBy`). The body is JSON
//! (what pinbridge asks for with `StatusCallbackContentType=application/json`) or form-encoded
//! (`Legs[0][Status]=...`), or the values come in the query string; every field is optional
//! and numbers may be written as JSON numbers or as text.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::params::{MAX_LEGS, legs, value};
use crate::call::flow::DialStatus;
use crate::providers::lenient;

/// One status report: the fields pinbridge reads, trimmed, Exotel's `null` absent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct StatusReport {
    /// `CallSid`: Exotel's id of the call.
    #[serde(rename = "CallSid", deserialize_with = "value")]
    pub call_sid: Option<String>,
    /// `Status`: `completed`, `failed`, `busy`, `no-answer` (see [`Self::dial_status`]).
    #[serde(rename = "Status", deserialize_with = "value")]
    pub status: Option<String>,
    /// `CustomField`: pinbridge's id of the call, as sent with `Calls/connect`.
    #[serde(rename = "CustomField", deserialize_with = "value")]
    pub custom_field: Option<String>,
    /// `ConversationDuration`: seconds both parties were on the call.
    #[serde(rename = "ConversationDuration", deserialize_with = "lenient::seconds")]
    pub conversation_duration: Option<i64>,
    /// `RecordingUrl`, when the call was recorded.
    #[serde(rename = "RecordingUrl", deserialize_with = "value")]
    pub recording_url: Option<String>,
    /// `StartTime`: `YYYY-MM-DD HH:mm:ss`, as Exotel writes it.
    #[serde(rename = "StartTime", deserialize_with = "value")]
    pub start_time: Option<String>,
    /// `Legs`, in order: leg 0 is `From` (called first), leg 1 is `To`. A JSON array; in a
    /// form, `Legs[n][...]` keys.
    #[serde(rename = "Legs", deserialize_with = "json_legs")]
    pub legs: Vec<StatusLeg>,
}

/// One leg of a status report, its values as received, for the call record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct StatusLeg {
    /// `OnCallDuration`: seconds on the call, a JSON number or text as Exotel sent it.
    #[serde(
        rename = "OnCallDuration",
        deserialize_with = "scalar",
        skip_serializing_if = "Option::is_none"
    )]
    pub on_call_duration: Option<Value>,
    /// `Status`: `completed`, `busy`, `failed`, `no-answer`, `canceled`.
    #[serde(
        rename = "Status",
        deserialize_with = "value",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<String>,
    /// `AnsweredBy`: `Human`, `Machine`, `NotSure`, `NA`.
    #[serde(
        rename = "AnsweredBy",
        deserialize_with = "value",
        skip_serializing_if = "Option::is_none"
    )]
    pub answered_by: Option<String>,
}

impl StatusReport {
    /// Reads the query string, then the body: JSON when `content_type` says so or the body
    /// starts with `{`, else form-encoded. A key in both takes the body's value. Never fails:
    /// what can not be read is absent.
    pub fn parse(query: &str, content_type: Option<&str>, body: &[u8]) -> Self {
        let trimmed = body.trim_ascii_start();
        let json = content_type.is_some_and(|ct| ct.contains("json")) || trimmed.starts_with(b"{");
        if json {
            let from_body: Self = lenient::json_object(body).unwrap_or_default();
            from_body.or(Self::from_form(query.as_bytes()))
        } else {
            let body = (!trimmed.is_empty()).then_some(body);
            Self::from_form(&lenient::query_and_body(query, body))
        }
    }

    fn from_form(encoded: &[u8]) -> Self {
        let mut report: Self = lenient::form(encoded);
        report.legs = legs(encoded);
        report
    }

    /// Each field of `self`, or where it has none, of `other`.
    fn or(self, other: Self) -> Self {
        Self {
            call_sid: self.call_sid.or(other.call_sid),
            status: self.status.or(other.status),
            custom_field: self.custom_field.or(other.custom_field),
            conversation_duration: self.conversation_duration.or(other.conversation_duration),
            recording_url: self.recording_url.or(other.recording_url),
            start_time: self.start_time.or(other.start_time),
            legs: if self.legs.is_empty() {
                other.legs
            } else {
                self.legs
            },
        }
    }

    /// `Status`, read as a dial status (`completed`, `no-answer`, `busy`, `failed`, `canceled`).
    pub fn dial_status(&self) -> Option<DialStatus> {
        self.status.as_deref().and_then(DialStatus::parse)
    }

    /// The status of leg `n` (`completed`, `no-answer`, `busy`, `failed`, `canceled`).
    pub fn leg_status(&self, n: usize) -> Option<DialStatus> {
        self.legs
            .get(n)?
            .status
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

/// Field reader for a JSON `Legs` array: at most [`MAX_LEGS`], an element that is not a leg
/// read as an empty one; anything but an array as no legs.
fn json_legs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<StatusLeg>, D::Error> {
    let legs: Vec<Value> = lenient::or_default(d)?;
    Ok(legs
        .into_iter()
        .take(MAX_LEGS)
        .map(|leg| serde_json::from_value(leg).unwrap_or_default())
        .collect())
}

/// Field reader for a value kept as received: a string (trimmed; empty and `null` absent), a
/// number or a boolean.
fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && !s.eq_ignore_ascii_case("null")).then(|| Value::String(s.to_owned()))
        }
        v @ (Value::Number(_) | Value::Bool(_)) => Some(v),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    })
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
            r.call_sid.as_deref(),
            Some("492205107c5fb48f4ac25d1f77759339")
        );
        assert_eq!(r.custom_field.as_deref(), Some("ctc_abc"));
        assert_eq!(r.dial_status(), Some(DialStatus::NoAnswer));
        assert_eq!(r.conversation_duration, Some(32));
        assert_eq!(r.recording_url, None);
        assert_eq!(r.start_time.as_deref(), Some("2019-04-08 03:17:59"));
        assert_eq!(r.leg_status(0), Some(DialStatus::Completed));
        assert_eq!(r.leg_status(1), Some(DialStatus::NoAnswer));
        assert_eq!(r.leg_status(2), None);
        let legs: Value = serde_json::from_str(&r.legs_json().unwrap()).unwrap();
        assert_eq!(legs[0]["OnCallDuration"], 41, "a number stays a number");
    }

    #[test]
    fn a_form_callback_reads_the_same() {
        let body = "CallSid=abc&Status=busy&CustomField=ctc_1&ConversationDuration=0&Legs%5B0%5D%5BStatus%5D=completed&Legs[1][Status]=busy&Legs[1][OnCallDuration]=0&Legs[1][Insights][DetailedStatus]=x";
        let r = StatusReport::parse(
            "",
            Some("application/x-www-form-urlencoded"),
            body.as_bytes(),
        );
        assert_eq!(r.call_sid.as_deref(), Some("abc"));
        assert_eq!(r.dial_status(), Some(DialStatus::Busy));
        assert_eq!(r.conversation_duration, Some(0));
        assert_eq!(r.leg_status(0), Some(DialStatus::Completed));
        assert_eq!(r.leg_status(1), Some(DialStatus::Busy));
        let legs: Value = serde_json::from_str(&r.legs_json().unwrap()).unwrap();
        assert_eq!(
            legs[1],
            serde_json::json!({"OnCallDuration": "0", "Status": "busy"}),
            "nested keys are skipped, text stays text"
        );
    }

    #[test]
    fn a_leg_reported_alone_keeps_its_place() {
        let r = StatusReport::parse("", None, b"CallSid=a&Legs[1][Status]=no-answer");
        assert_eq!(r.legs.len(), 2);
        assert_eq!(r.leg_status(0), None);
        assert_eq!(r.leg_status(1), Some(DialStatus::NoAnswer));
    }

    #[test]
    fn the_body_wins_over_the_query() {
        let r = StatusReport::parse(
            "CallSid=q&Status=busy&CustomField=c",
            Some("application/json"),
            br#"{"CallSid": "b", "Status": null}"#,
        );
        assert_eq!(r.call_sid.as_deref(), Some("b"));
        assert_eq!(r.dial_status(), Some(DialStatus::Busy));
        assert_eq!(r.custom_field.as_deref(), Some("c"));
        let r = StatusReport::parse("CallSid=q&Status=busy", None, b"Status=completed");
        assert_eq!(r.call_sid.as_deref(), Some("q"));
        assert_eq!(r.dial_status(), Some(DialStatus::Completed));
    }

    #[test]
    fn query_values_and_garbage_are_handled() {
        let r = StatusReport::parse("CallSid=q&Status=completed", None, b"");
        assert_eq!(r.call_sid.as_deref(), Some("q"));
        assert_eq!(r.dial_status(), Some(DialStatus::Completed));
        let r = StatusReport::parse("", Some("application/json"), b"{not json");
        assert_eq!(r, StatusReport::default());
        let r = StatusReport::parse("%%%&=&CallSid=%E0%A4", None, b"\0");
        assert_eq!(r.dial_status(), None);
        assert!(r.legs.is_empty());
        let r = StatusReport::parse("Legs[99999999][Status]=busy&Legs[x][Status]=y", None, b"[]");
        assert!(r.legs.is_empty());
        let r = StatusReport::parse(
            "",
            Some("application/json"),
            br#"{"Legs": [1, {"Status": "busy", "OnCallDuration": [3]}, {}, {}, {}, {}, {}, {}, {}, {}], "ConversationDuration": "x"}"#,
        );
        assert_eq!(r.legs.len(), MAX_LEGS);
        assert_eq!(r.legs[0], StatusLeg::default());
        assert_eq!(r.leg_status(1), Some(DialStatus::Busy));
        assert_eq!(r.legs[1].on_call_duration, None);
        assert_eq!(r.conversation_duration, None);
    }
}
