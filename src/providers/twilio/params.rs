//! What Twilio sends to pinbridge's webhooks: form fields of a POST, or query parameters of a
//! GET, depending on the method configured; every one optional, extra ones ignored.
//!
//! The fields pinbridge reads: the request parameters of every voice webhook (`CallSid`,
//! `From`, `To`, `CallStatus`; https://www.twilio.com/docs/voice/twiml#request-parameters,
//! `reference/providers.md` §1.1), what `<Gather>` adds for its `action` (`Digits`;
//! https://www.twilio.com/docs/voice/twiml/gather#action) and what `<Dial>` adds for its
//! `action` (`DialCallStatus`, `DialCallDuration`, `RecordingUrl`;
//! https://www.twilio.com/docs/voice/twiml/dial#action).

use serde::Deserialize;

use crate::providers::lenient;

/// The parameters of one Twilio request, trimmed, an empty value absent.
///
/// No `Debug`: the values hold phone numbers and keyed digits, which must not reach a log.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct TwilioParams {
    /// `CallSid`: Twilio's id of the call (`CA…`).
    #[serde(rename = "CallSid", deserialize_with = "lenient::text")]
    pub call_sid: Option<String>,
    /// `From`: the caller, E.164 (or `client:<name>`).
    #[serde(rename = "From", deserialize_with = "lenient::text")]
    pub from: Option<String>,
    /// `To`: the Twilio number called, the virtual number.
    #[serde(rename = "To", deserialize_with = "lenient::text")]
    pub to: Option<String>,
    /// `CallStatus`: `queued`, `ringing`, `in-progress`, `completed`, `busy`, `failed`,
    /// `no-answer`, `canceled`.
    #[serde(rename = "CallStatus", deserialize_with = "lenient::text")]
    pub call_status: Option<String>,
    /// `Digits`: what `<Gather>` collected, without the `finishOnKey`; absent or empty when
    /// nothing was keyed.
    #[serde(rename = "Digits", deserialize_with = "lenient::text")]
    pub digits: Option<String>,
    /// `DialCallStatus`: how the `<Dial>` ended: `completed`, `busy`, `no-answer`, `failed`,
    /// `canceled`.
    #[serde(rename = "DialCallStatus", deserialize_with = "lenient::text")]
    pub dial_call_status: Option<String>,
    /// `DialCallDuration`: seconds of the dialled call.
    #[serde(rename = "DialCallDuration", deserialize_with = "lenient::seconds")]
    pub dial_call_duration: Option<i64>,
    /// `ParentCallSid`: on the dialled party's leg (the `<Number url>` request), the CallSid of
    /// the call that dialled it (https://www.twilio.com/docs/voice/twiml/number#url).
    #[serde(rename = "ParentCallSid", deserialize_with = "lenient::text")]
    pub parent_call_sid: Option<String>,
    /// `RecordingUrl`: the recording of a `<Dial record>`, on the `<Dial>` action and on the
    /// `recordingStatusCallback` (https://www.twilio.com/docs/voice/api/recording#recordingstatuscallback).
    #[serde(rename = "RecordingUrl", deserialize_with = "lenient::text")]
    pub recording_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_gather_action_reads() {
        // Twilio's signature example (webhooks-security page): a Gather action's fields.
        let p: TwilioParams = lenient::form(
            b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212",
        );
        assert_eq!(p.call_sid.as_deref(), Some("CA1234567890ABCDE"));
        assert_eq!(p.from.as_deref(), Some("+12349013030"));
        assert_eq!(p.to.as_deref(), Some("+18005551212"));
        assert_eq!(p.digits.as_deref(), Some("1234"));
        assert_eq!(p.dial_call_duration, None);
    }

    #[test]
    fn the_dial_action_reads() {
        let p: TwilioParams = lenient::form(
            b"CallSid=CA1&DialCallStatus=completed&DialCallDuration=42&CallStatus=in-progress&RecordingUrl=",
        );
        assert_eq!(p.dial_call_status.as_deref(), Some("completed"));
        assert_eq!(p.dial_call_duration, Some(42));
        assert_eq!(p.call_status.as_deref(), Some("in-progress"));
        assert_eq!(p.recording_url, None);
    }
}
