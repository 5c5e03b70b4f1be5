//! What 8x8 POSTs: a JSON envelope `{"namespace":"VOICE","eventType":…,"description":…,
//! "payload":{…}}` (`reference/providers.md` §3.2, §3.4). Every field is optional and read
//! leniently: a field of an unexpected type reads as absent rather than failing the request,
//! unknown fields are ignored, and only a body that is not a JSON object at all is refused.
//!
//! Sources, in 8x8Cloud/public-developer-docs: `docs/connect/docs/voice/number-masking/
//! call-action-handling.md` (the VCA sample), `webhook-guides/voice-call-action-webhook-guide.md`
//! (`ACTION_COMPLETED`, `eventData.dtmf`, `clientActionId`), `number-masking/
//! number-masking-call-status.md` (VCS) and `number-masking/session-summary-number-masking.md`
//! (VSS).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::PIN_PROMPT_ACTION_ID;
use crate::call::flow::DialStatus;
use crate::providers::lenient;

/// One webhook delivery: its `eventType` and its `payload` (default when absent or not an
/// object).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(bound = "P: DeserializeOwned + Default")]
pub struct Webhook<P> {
    /// `CALL_ACTION` (VCA), `CALL_STATUS` (VCS) or `SESSION_SUMMARY` (VSS).
    #[serde(rename = "eventType", default, deserialize_with = "lenient::raw_text")]
    pub event_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::or_default")]
    pub payload: P,
}

impl<P: DeserializeOwned + Default> Webhook<P> {
    /// Reads a request body; `None` when it is not a JSON object.
    pub fn parse(body: &[u8]) -> Option<Self> {
        lenient::json_object(body)
    }

    /// True when the `eventType` is `expected`, or absent.
    pub fn is_event(&self, expected: &str) -> bool {
        self.event_type
            .as_deref()
            .is_none_or(|t| t.trim().eq_ignore_ascii_case(expected))
    }
}

/// The payload of a Voice Call Action request (VCA, `eventType` `CALL_ACTION`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallAction {
    /// Unique per delivery.
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub event_id: Option<String>,
    /// One leg of the session: differs between the legs of a session.
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub call_id: Option<String>,
    /// The number-masking session: the key pinbridge stores the call under.
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub session_id: Option<String>,
    /// `CALL_RECEIVED` (a call reached a virtual number) or `ACTION_COMPLETED`.
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub call_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub call_direction: Option<String>,
    /// The caller, E.164 with `+`.
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub source: Option<String>,
    /// The virtual number dialled, E.164 with `+`.
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub destination: Option<String>,
    /// The `clientActionId` of pinbridge's previous answer in this session.
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub client_action_id: Option<String>,
    /// `{"dtmf": "…"}` after a `sayAndCapture`; `dtmf` is null when nothing was captured.
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub event_data: Option<EventData>,
}

/// `payload.eventData` of a VCA request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EventData {
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub dtmf: Option<String>,
}

/// What a VCA request reports, as far as pinbridge cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallActionKind {
    /// A call reached the virtual number: `callStatus` `CALL_RECEIVED`, or a request that
    /// echoes no `clientActionId` (nothing of pinbridge's has run in it yet).
    CallReceived,
    /// The PIN prompt completed: the digits captured, `#` stripped; empty when nothing was.
    PinCaptured { digits: String },
    /// Another action of an earlier answer completed (a `makeCall` leg ended, ...).
    ActionCompleted,
}

impl CallAction {
    /// The session id, trimmed; `None` when absent or empty.
    pub fn session_id(&self) -> Option<&str> {
        non_empty(&self.session_id)
    }

    /// The caller (`source`).
    pub fn caller(&self) -> Option<&str> {
        non_empty(&self.source)
    }

    /// The virtual number dialled (`destination`).
    pub fn virtual_number(&self) -> Option<&str> {
        non_empty(&self.destination)
    }

    /// Which step of the session this request is.
    pub fn kind(&self) -> CallActionKind {
        let received =
            non_empty(&self.call_status).is_some_and(|s| s.eq_ignore_ascii_case("CALL_RECEIVED"));
        match non_empty(&self.client_action_id) {
            _ if received => CallActionKind::CallReceived,
            None => CallActionKind::CallReceived,
            Some(PIN_PROMPT_ACTION_ID) => CallActionKind::PinCaptured {
                digits: dtmf_digits(
                    self.event_data
                        .as_ref()
                        .and_then(|e| e.dtmf.as_deref())
                        .unwrap_or(""),
                ),
            },
            Some(_) => CallActionKind::ActionCompleted,
        }
    }
}

/// Cleans `eventData.dtmf`: surrounding whitespace and the `#` that ends the entry with
/// `completeOnHash` (8x8 does not document whether it is included, so it is stripped either
/// way). What remains may still not be a PIN; the flow decides.
pub fn dtmf_digits(raw: &str) -> String {
    raw.trim().trim_end_matches('#').trim().to_owned()
}

/// The payload of a Voice Call Status request (VCS, `eventType` `CALL_STATUS`): per-leg
/// telemetry (`CALL_INITIATED`, `CALL_RECEIVED`, `CALL_CONNECTED`, `CALL_DISCONNECTED`, ...).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStatus {
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub session_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub call_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub call_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub destination: Option<String>,
}

impl CallStatus {
    pub fn session_id(&self) -> Option<&str> {
        non_empty(&self.session_id)
    }
}

/// The payload of a Voice Recording Uploaded request (VRU, `eventType`
/// `CALL_RECORDING_STATUS`): a session's recording was uploaded to the account's file server
/// (8x8Cloud/public-developer-docs `docs/connect/docs/voice/number-masking/number-masking-call-recordings.md`,
/// "Voice Recording Uploaded Event").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingStatus {
    /// The session recorded: pinbridge's call id for 8x8.
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub session_id: Option<String>,
    /// Where the recording was stored (the recordings push configuration's server and path).
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub file_path: Option<String>,
    /// `UPLOAD_COMPLETED` once the file is there.
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub status: Option<String>,
}

impl RecordingStatus {
    /// The session id, when not empty.
    pub fn session_id(&self) -> Option<&str> {
        non_empty(&self.session_id)
    }

    /// The recording's location, once its upload completed (a status other than
    /// `UPLOAD_COMPLETED` has none yet).
    pub fn uploaded_file(&self) -> Option<&str> {
        let completed = self
            .status
            .as_deref()
            .is_none_or(|s| s.trim().eq_ignore_ascii_case("UPLOAD_COMPLETED"));
        non_empty(&self.file_path).filter(|_| completed)
    }
}

/// The payload of a Voice Session Summary (VSS, `eventType` `SESSION_SUMMARY`), sent once the
/// session ended.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub session_id: Option<String>,
    /// `COMPLETED`, `NO_ANSWER`, `BUSY`, `CANCELED`, `FAILED` or `ERROR`.
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub session_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub start_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub end_time: Option<String>,
    /// The last action executed: `MAKE_CALL`, `HANGUP`, `SAY_AND_CAPTURE`, `PLAY_TTS`, ...
    #[serde(default, deserialize_with = "lenient::raw_text")]
    pub last_action: Option<String>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub details: Option<SessionDetails>,
}

/// `payload.details`: the caller's leg (`callA`) and the dialled leg (`callB`), if any.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SessionDetails {
    #[serde(rename = "callA", default, deserialize_with = "lenient::or_none")]
    pub call_a: Option<SessionLeg>,
    #[serde(rename = "callB", default, deserialize_with = "lenient::or_none")]
    pub call_b: Option<SessionLeg>,
}

/// One leg of a session summary. Its numbers are read but not written into the call record's
/// legs: the record has its own caller and destination columns.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionLeg {
    #[serde(
        default,
        deserialize_with = "lenient::raw_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub call_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::raw_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub call_direction: Option<String>,
    /// `COMPLETED`, `NO_ANSWER`, `BUSY`, `CANCELED`, `FAILED`, `ERROR`.
    #[serde(
        default,
        deserialize_with = "lenient::raw_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub call_status: Option<String>,
    /// Seconds from the leg's connection to its end (the sample: connected 06:01:37,
    /// disconnected 06:01:50, `callDuration` 13).
    #[serde(
        default,
        deserialize_with = "lenient::seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub call_duration: Option<i64>,
    #[serde(
        default,
        deserialize_with = "lenient::raw_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub initiated_timestamp: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::raw_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub connected_timestamp: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::raw_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub disconnected_timestamp: Option<String>,
    #[serde(default, deserialize_with = "lenient::raw_text", skip_serializing)]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "lenient::raw_text", skip_serializing)]
    pub destination: Option<String>,
}

impl SessionSummary {
    pub fn session_id(&self) -> Option<&str> {
        non_empty(&self.session_id)
    }

    pub fn session_status(&self) -> Option<&str> {
        non_empty(&self.session_status)
    }

    fn call_a(&self) -> Option<&SessionLeg> {
        self.details.as_ref()?.call_a.as_ref()
    }

    fn call_b(&self) -> Option<&SessionLeg> {
        self.details.as_ref()?.call_b.as_ref()
    }

    /// The caller: the `source` of the inbound leg `callA`.
    pub fn caller(&self) -> Option<&str> {
        non_empty(&self.call_a()?.source)
    }

    /// The virtual number: the `destination` of the inbound leg `callA`.
    pub fn virtual_number(&self) -> Option<&str> {
        non_empty(&self.call_a()?.destination)
    }

    /// The number the session dialled: the `destination` of `callB`.
    pub fn dialled_number(&self) -> Option<&str> {
        non_empty(&self.call_b()?.destination)
    }

    /// True when the session dialled someone: it has a `callB` leg, or its last action was
    /// `MAKE_CALL`. Without one, `sessionStatus` describes the caller's leg alone: the status
    /// table maps callA `COMPLETED` with no callB to `COMPLETED` (a session that only played
    /// prompts), which must not read as a connected call.
    pub fn dialled(&self) -> bool {
        self.call_b().is_some()
            || non_empty(&self.last_action).is_some_and(|a| a.eq_ignore_ascii_case("MAKE_CALL"))
    }

    /// The status of the dialled leg: `sessionStatus` mapped by [`dial_status`], and only when
    /// the session [`dialled`](Self::dialled) someone.
    pub fn dial_status(&self) -> Option<DialStatus> {
        self.dialled()
            .then(|| self.session_status().and_then(dial_status))
            .flatten()
    }

    /// Seconds of conversation: `callB.callDuration`.
    pub fn talk_secs(&self) -> Option<i64> {
        self.call_b()?.call_duration
    }

    /// Seconds from dialling `callB` to its end, ring time included: `initiatedTimestamp` to
    /// `disconnectedTimestamp` (RFC 3339).
    pub fn dial_secs(&self) -> Option<i64> {
        let leg = self.call_b()?;
        let at = |t: &Option<String>| OffsetDateTime::parse(non_empty(t)?, &Rfc3339).ok();
        let secs =
            (at(&leg.disconnected_timestamp)? - at(&leg.initiated_timestamp)?).whole_seconds();
        (secs >= 0).then_some(secs)
    }

    /// The legs as a JSON array for the call record: `[{"leg":"callA",…},{"leg":"callB",…}]`,
    /// numbers left out. `None` without legs.
    pub fn legs_json(&self) -> Option<String> {
        let legs: Vec<Value> = [("callA", self.call_a()), ("callB", self.call_b())]
            .into_iter()
            .filter_map(|(name, leg)| {
                let mut value = serde_json::to_value(leg?).ok()?;
                value
                    .as_object_mut()?
                    .insert("leg".into(), Value::String(name.into()));
                Some(value)
            })
            .collect();
        (!legs.is_empty())
            .then(|| serde_json::to_string(&legs).ok())
            .flatten()
    }
}

/// Maps a VSS `sessionStatus` (or a leg's `callStatus`) to the status of a dialled leg:
/// `COMPLETED`, `NO_ANSWER` (the status table writes `NO ANSWER`), `BUSY`, `CANCELED`, and
/// `FAILED`/`ERROR` as failed. Anything else is `None`.
pub fn dial_status(raw: &str) -> Option<DialStatus> {
    match raw
        .trim()
        .to_ascii_uppercase()
        .replace([' ', '-'], "_")
        .as_str()
    {
        "COMPLETED" => Some(DialStatus::Completed),
        "NO_ANSWER" | "NOANSWER" => Some(DialStatus::NoAnswer),
        "BUSY" => Some(DialStatus::Busy),
        "CANCELED" | "CANCELLED" => Some(DialStatus::Canceled),
        "FAILED" | "ERROR" => Some(DialStatus::Failed),
        _ => None,
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_documented_recording_uploaded_event_reads() {
        // The VRU sample of number-masking-call-recordings.md, verbatim.
        let r: Webhook<RecordingStatus> = Webhook::parse(br#"{
          "namespace": "VOICE",
          "eventType": "CALL_RECORDING_STATUS",
          "description": "Call recording status updated",
          "payload": {
            "sessionId": "e35e3d0e-065a-11ec-b119-676cb2bc33ef",
            "recordingId": "eef54fc2-065a-11ec-bce9-ed1000154345",
            "durationSeconds": 25,
            "filePath": "yourRecordingsEndpoint/2021-08-21/e35e3d0e-065a-11ec-b119-676cb2bc33ef/eef54fc2-065a-11ec-bce9-ed1000154345_2021-08-20T16:51:01.703Z.mp3",
            "status": "UPLOAD_COMPLETED"
          }
        }"#)
        .unwrap();
        assert!(r.is_event("CALL_RECORDING_STATUS"));
        assert_eq!(
            r.payload.session_id(),
            Some("e35e3d0e-065a-11ec-b119-676cb2bc33ef")
        );
        assert!(r.payload.uploaded_file().unwrap().ends_with(".mp3"));
        let failed = RecordingStatus {
            status: Some("UPLOAD_FAILED".into()),
            ..r.payload
        };
        assert_eq!(failed.uploaded_file(), None);
    }

    /// 8x8's Call Action Request sample (number-masking/call-action-handling.md), verbatim.
    const VCA_SAMPLE: &str = r#"{
      "namespace": "VOICE",
      "eventType": "CALL_ACTION",
      "description": "Action request of a call",
      "payload": {
        "eventId": "eb0fc709-9693-11ea-454d-1705dde98182",
        "callId": "a1d6a5e3-efec-11e9-b999-7d370b5f90d1",
        "sessionId": "a1d6a5e2-efec-11e9-b999-efc71013a78f",
        "subAccountId": "your_subaccount_id",
        "callStatus": "CALL_RECEIVED",
        "callDirection": "INBOUND",
        "callType": "PSTN",
        "source": "+65123456789",
        "destination": "+65987654321",
        "sourceFormat": "MSISDN",
        "destinationFormat": "MSISDN",
        "sourceCountryCode": "SG",
        "destinationCountryCode": "SG",
        "destinationRefId": "vn-ref-1",
        "callDuration": 0,
        "sipCode": 200,
        "timestamp": "2019-10-16T08:12:01Z"
      }
    }"#;

    /// The VCA guide's ACTION_COMPLETED sample, made valid JSON (the page's has a comment and
    /// a missing comma), with pinbridge's clientActionId.
    const VCA_CAPTURED: &str = r#"{ "namespace":"VOICE","eventType":"CALL_ACTION",
      "description":"Action request of a call",
      "payload":{ "eventId":"77e6a667-133a-11ef-9dd4-e911cc6fc82f",
        "callId":"627e25f1-133a-11ef-b08c-e33c09483244",
        "sessionId":"a4fad4b3-b388-12ee-b217-2fb8260fcf59","subAccountId":"account_x",
        "callStatus":"ACTION_COMPLETED","callDirection":"OUTBOUND","callType":"PSTN",
        "source":"+6568888888","destination":"+6598888888","sourceFormat":"MSISDN",
        "destinationFormat":"MSISDN","sourceCountryCode":"SG","destinationCountryCode":"SG",
        "sourceRefId":"SOME-VN-REF-ID","destinationRefId":"ANOTHER-VN-REF-ID","callDuration":0,
        "eventData":{"dtmf":"4821#"},"sipCode":200,"timestamp":"2024-05-16T04:12:11.217Z",
        "clientActionId":"pinbridge-pin" } }"#;

    /// The VSS "Success" sample (number-masking/session-summary-number-masking.md), verbatim.
    const VSS_SAMPLE: &str = r#"{
      "payload": {
        "sessionId": "1f048a84-ea6d-11ee-911b-078f7290bf52",
        "subAccountId": "8x8_test",
        "sessionStatus": "COMPLETED",
        "startTime": "2024-03-25T06:01:30Z",
        "endTime": "2024-03-25T06:01:50Z",
        "lastAction": "MAKE_CALL",
        "callCount": 2,
        "details": {
          "callB": {
            "callId": "1fbdef11-ea6d-11ee-9e30-e53b76c602ef",
            "callDirection": "OUTBOUND",
            "callType": "PSTN",
            "initiatedTimestamp": "2024-03-25T06:01:30Z",
            "connectedTimestamp": "2024-03-25T06:01:37Z",
            "disconnectedTimestamp": "2024-03-25T06:01:50Z",
            "source": "+6568332048",
            "destination": "+6591178965",
            "sourceFormat": "MSISDN",
            "destinationFormat": "MSISDN",
            "sourceCountryCode": "SG",
            "destinationCountryCode": "SG",
            "sourceRefId": "PSTN1",
            "callStatus": "COMPLETED",
            "callDuration": 13,
            "callQuality": { "mos": 4.5, "packetLossRate": 0, "jitter": 19 }
          },
          "callA": {
            "callId": "1f048a83-ea6d-11ee-911b-e9023a97c284",
            "callDirection": "INBOUND",
            "callType": "PSTN",
            "initiatedTimestamp": "2024-03-25T06:01:28Z",
            "connectedTimestamp": "2024-03-25T06:01:37Z",
            "disconnectedTimestamp": "2024-03-25T06:01:50Z",
            "source": "+12314377870",
            "destination": "+6568332048",
            "sourceFormat": "MSISDN",
            "destinationFormat": "MSISDN",
            "sourceCountryCode": "US",
            "destinationCountryCode": "SG",
            "destinationRefId": "PSTN1",
            "callStatus": "COMPLETED",
            "callDuration": 13,
            "callQuality": { "mos": 4.5, "packetLossRate": 0, "jitter": 20 }
          }
        }
      },
      "namespace": "VOICE",
      "eventType": "SESSION_SUMMARY",
      "description": "Summary of a completed call session"
    }"#;

    #[test]
    fn the_documented_call_action_request_reads() {
        let w = Webhook::<CallAction>::parse(VCA_SAMPLE.as_bytes()).unwrap();
        assert!(w.is_event("CALL_ACTION"));
        let p = &w.payload;
        assert_eq!(p.session_id(), Some("a1d6a5e2-efec-11e9-b999-efc71013a78f"));
        assert_eq!(p.caller(), Some("+65123456789"));
        assert_eq!(p.virtual_number(), Some("+65987654321"));
        assert_eq!(p.kind(), CallActionKind::CallReceived);
    }

    #[test]
    fn captured_digits_come_from_event_data_without_the_hash() {
        let w = Webhook::<CallAction>::parse(VCA_CAPTURED.as_bytes()).unwrap();
        assert_eq!(
            w.payload.kind(),
            CallActionKind::PinCaptured {
                digits: "4821".into()
            }
        );
    }

    #[test]
    fn null_absent_or_empty_dtmf_is_no_input() {
        for data in [
            r#""eventData":{"dtmf":null},"#,
            r#""eventData":{},"#,
            r#""eventData":null,"#,
            "",
            r#""eventData":{"dtmf":""},"#,
            r##""eventData":{"dtmf":"#"},"##,
        ] {
            let body = format!(
                r#"{{"payload":{{"sessionId":"s",{data}"callStatus":"ACTION_COMPLETED","clientActionId":"pinbridge-pin"}}}}"#
            );
            let w = Webhook::<CallAction>::parse(body.as_bytes()).unwrap();
            assert_eq!(
                w.payload.kind(),
                CallActionKind::PinCaptured { digits: "".into() },
                "{data}"
            );
        }
    }

    #[test]
    fn call_received_wins_and_other_actions_are_told_apart() {
        let kind = |body: &str| {
            Webhook::<CallAction>::parse(body.as_bytes())
                .unwrap()
                .payload
                .kind()
        };
        assert_eq!(
            kind(r#"{"payload":{"callStatus":"CALL_RECEIVED","clientActionId":"pinbridge-pin"}}"#),
            CallActionKind::CallReceived
        );
        assert_eq!(
            kind(r#"{"payload":{"callStatus":"ACTION_COMPLETED"}}"#),
            CallActionKind::CallReceived
        );
        assert_eq!(
            kind(
                r#"{"payload":{"callStatus":"ACTION_COMPLETED","clientActionId":"pinbridge-bridge"}}"#
            ),
            CallActionKind::ActionCompleted
        );
    }

    #[test]
    fn fields_of_the_wrong_type_read_as_absent_not_as_an_error() {
        let w = Webhook::<CallAction>::parse(
            br#"{"payload":{"sessionId":42,"source":["x"],"eventData":"oops","callStatus":{}}}"#,
        )
        .unwrap();
        assert_eq!(w.payload.session_id(), Some("42"));
        assert_eq!(w.payload.caller(), None);
        assert!(w.payload.event_data.is_none());
        let w = Webhook::<CallAction>::parse(br#"{"payload":"not an object"}"#).unwrap();
        assert_eq!(w.payload.session_id(), None);
        let w = Webhook::<SessionSummary>::parse(br#"{"payload":{"details":[1,2]}}"#).unwrap();
        assert!(!w.payload.dialled());
    }

    #[test]
    fn a_body_that_is_not_a_json_object_is_refused() {
        for body in [
            &b""[..],
            b"not json",
            b"[1,2]",
            b"\"x\"",
            b"CallSid=a&From=b",
        ] {
            assert!(Webhook::<CallAction>::parse(body).is_none());
        }
    }

    #[test]
    fn the_documented_session_summary_reads() {
        let w = Webhook::<SessionSummary>::parse(VSS_SAMPLE.as_bytes()).unwrap();
        assert!(w.is_event("SESSION_SUMMARY"));
        assert!(!w.is_event("CALL_ACTION"));
        let s = &w.payload;
        assert_eq!(s.session_id(), Some("1f048a84-ea6d-11ee-911b-078f7290bf52"));
        assert_eq!(s.caller(), Some("+12314377870"));
        assert_eq!(s.virtual_number(), Some("+6568332048"));
        assert_eq!(s.dialled_number(), Some("+6591178965"));
        assert!(s.dialled());
        assert_eq!(s.dial_status(), Some(DialStatus::Completed));
        assert_eq!(s.talk_secs(), Some(13));
        assert_eq!(s.dial_secs(), Some(20));
        let legs: Value = serde_json::from_str(&s.legs_json().unwrap()).unwrap();
        assert_eq!(legs[0]["leg"], "callA");
        assert_eq!(legs[1]["leg"], "callB");
        assert_eq!(legs[1]["callDuration"], 13);
        assert!(legs[1].get("destination").is_none(), "no numbers in legs");
    }

    #[test]
    fn a_session_that_dialled_no_one_has_no_dial_status() {
        let s = Webhook::<SessionSummary>::parse(
            br#"{"eventType":"SESSION_SUMMARY","payload":{"sessionId":"s","sessionStatus":"COMPLETED","lastAction":"SAY_AND_CAPTURE","details":{"callA":{"callStatus":"COMPLETED","callDuration":"9"}}}}"#,
        )
        .unwrap()
        .payload;
        assert!(!s.dialled());
        assert_eq!(s.dial_status(), None);
        assert_eq!(s.talk_secs(), None);
        let canceled = Webhook::<SessionSummary>::parse(
            br#"{"payload":{"sessionStatus":"CANCELED","lastAction":"MAKE_CALL"}}"#,
        )
        .unwrap()
        .payload;
        assert_eq!(canceled.dial_status(), Some(DialStatus::Canceled));
    }

    #[test]
    fn session_statuses_map_to_dial_statuses() {
        for (raw, want) in [
            ("COMPLETED", Some(DialStatus::Completed)),
            ("NO_ANSWER", Some(DialStatus::NoAnswer)),
            ("NO ANSWER", Some(DialStatus::NoAnswer)),
            ("BUSY", Some(DialStatus::Busy)),
            ("CANCELED", Some(DialStatus::Canceled)),
            ("FAILED", Some(DialStatus::Failed)),
            ("ERROR", Some(DialStatus::Failed)),
            ("completed", Some(DialStatus::Completed)),
            ("CREATED", None),
            ("", None),
        ] {
            assert_eq!(dial_status(raw), want, "{raw:?}");
        }
    }

    proptest! {
        #[test]
        fn any_body_parses_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some(w) = Webhook::<CallAction>::parse(&body) {
                let _ = w.payload.kind();
            }
            if let Some(w) = Webhook::<SessionSummary>::parse(&body) {
                let _ = (w.payload.dial_status(), w.payload.dial_secs(), w.payload.legs_json());
            }
        }

        #[test]
        fn keyed_digits_come_back_without_the_hash(d in "[0-9]{0,12}", hash in any::<bool>()) {
            let raw = format!("{d}{}", if hash { "#" } else { "" });
            prop_assert_eq!(dtmf_digits(&raw), d);
        }
    }
}
