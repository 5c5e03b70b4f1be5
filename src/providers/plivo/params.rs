//! What Plivo sends to pinbridge's webhooks: form fields of a POST, or query parameters of a
//! GET; every one optional, extra ones ignored.
//!
//! The fields pinbridge reads: those of every request to an application's URLs (`CallUUID`,
//! `From`, `To`, `CallStatus`; https://www.plivo.com/docs/voice/xml/request/,
//! `reference/providers.md` §2.1), what `<GetInput>` adds for its action (`Digits`;
//! https://www.plivo.com/docs/voice/xml/getinput), what `<Dial>` adds for its action
//! (`DialStatus`; https://www.plivo.com/docs/voice/xml/dial, "Parameters sent to action URL",
//! and `DialBLegDuration`, see the `hangup` handler) and what `<Record>` adds (`RecordUrl`).
//! Plivo writes numbers without `+` (`919812345678`).

use serde::Deserialize;

use crate::providers::lenient;

/// The parameters of one Plivo request, trimmed, an empty value absent.
///
/// No `Debug`: the values hold phone numbers and keyed digits, which must not reach a log.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct PlivoParams {
    /// `CallUUID`: Plivo's id of the call.
    #[serde(rename = "CallUUID", deserialize_with = "lenient::text")]
    pub call_uuid: Option<String>,
    /// `From`: the caller.
    #[serde(rename = "From", deserialize_with = "lenient::text")]
    pub from: Option<String>,
    /// `To`: the Plivo number called, the virtual number.
    #[serde(rename = "To", deserialize_with = "lenient::text")]
    pub to: Option<String>,
    /// `CallStatus`: `ringing`, `in-progress`, `completed`; for outbound calls also `busy`,
    /// `failed`, `timeout`, `no-answer`.
    #[serde(rename = "CallStatus", deserialize_with = "lenient::text")]
    pub call_status: Option<String>,
    /// `Digits`: what `<GetInput>` collected, "excluding the finishOnKey"; absent when
    /// nothing was keyed.
    #[serde(rename = "Digits", deserialize_with = "lenient::text")]
    pub digits: Option<String>,
    /// `DialStatus`: `completed`, `busy`, `failed`, `timeout`, `no-answer`.
    #[serde(rename = "DialStatus", deserialize_with = "lenient::text")]
    pub dial_status: Option<String>,
    /// `DialBLegDuration`: seconds of the dialled (B) leg.
    #[serde(rename = "DialBLegDuration", deserialize_with = "lenient::seconds")]
    pub dial_b_leg_duration: Option<i64>,
    /// `RecordUrl`: the recording, from the `<Record>` action.
    #[serde(rename = "RecordUrl", deserialize_with = "lenient::text")]
    pub record_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_request_and_a_dial_action_read() {
        let p: PlivoParams = lenient::form(
            b"CallUUID=2f1c-9e&From=919812345678&To=917314853246&CallStatus=ringing&Direction=inbound",
        );
        assert_eq!(p.call_uuid.as_deref(), Some("2f1c-9e"));
        assert_eq!(p.from.as_deref(), Some("919812345678"));
        assert_eq!(p.to.as_deref(), Some("917314853246"));
        assert_eq!(p.call_status.as_deref(), Some("ringing"));
        let p: PlivoParams = lenient::form(
            b"CallUUID=a&DialStatus=completed&DialBLegDuration=17&DialHangupCause=NORMAL_CLEARING",
        );
        assert_eq!(p.dial_status.as_deref(), Some("completed"));
        assert_eq!(p.dial_b_leg_duration, Some(17));
        assert_eq!(p.digits, None);
    }
}
