//! What Vonage sends: the answer webhook's query parameters (GET, the default) or JSON body
//! (`answer_method=POST`), and the JSON bodies of the `input` and event webhooks
//! (https://developer.vonage.com/voice/voice-api/webhook-reference; `reference/providers.md`
//! §4), read with serde ([`lenient`]). Every field optional, extra ones ignored, and nothing
//! here fails: a malformed request yields fewer parameters.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::call::flow::DialStatus;
use crate::providers::lenient;

/// The DTMF result of an `input` action: `"dtmf":{"digits":"1234","timed_out":false}`
/// (webhook reference, "Input"). The legacy (pre-2020) format sends a bare `"dtmf":"1234"`;
/// both are read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Dtmf {
    /// The keys pressed, as sent (text or a number); empty when none.
    #[serde(deserialize_with = "digits")]
    pub digits: String,
    /// True when the input ended because `timeOut` passed rather than by `#` or `maxDigits`.
    #[serde(deserialize_with = "flag")]
    pub timed_out: bool,
}

/// What Vonage sends to pinbridge's webhooks, as far as pinbridge reads it: the answer
/// webhook's `to`, `from`, `uuid`, `conversation_uuid` (webhook reference, "Answer webhook");
/// the `input` event's `dtmf` ("Input"); an event's `status`, `direction`, `duration`
/// ("Events") and a `record` event's `recording_url`. Values are trimmed, an empty value
/// absent; numbers and booleans read as text.
///
/// No `Debug`: the values hold phone numbers and keyed digits, which must not reach a log.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct VonageParams {
    /// `conversation_uuid`: the conversation both legs of the call belong to; pinbridge's
    /// call id for Vonage.
    #[serde(deserialize_with = "lenient::text")]
    pub conversation_uuid: Option<String>,
    /// `uuid`: this leg's id.
    #[serde(deserialize_with = "lenient::text")]
    pub uuid: Option<String>,
    /// `from`: for the caller's leg the caller; for the leg pinbridge dialled, the caller ID
    /// it was given (the virtual number).
    #[serde(deserialize_with = "lenient::text")]
    pub from: Option<String>,
    /// `to`: for the caller's leg the virtual number dialled; for the dialled leg, the number
    /// pinbridge dialled.
    #[serde(deserialize_with = "lenient::text")]
    pub to: Option<String>,
    /// `status` of an event webhook (`started`, `ringing`, `answered`, `completed`, ...).
    #[serde(deserialize_with = "lenient::text")]
    pub status: Option<String>,
    /// The leg an event reports on, from its `direction`.
    #[serde(deserialize_with = "direction")]
    pub direction: Direction,
    /// `duration` of a `completed` event, in whole seconds (Vonage sends it as a string).
    #[serde(rename = "duration", deserialize_with = "lenient::seconds")]
    pub duration_secs: Option<i64>,
    /// `recording_url` of a `record` event.
    #[serde(deserialize_with = "lenient::text")]
    pub recording_url: Option<String>,
    /// The `dtmf` of an `input` event, if there was one.
    #[serde(deserialize_with = "dtmf")]
    pub dtmf: Option<Dtmf>,
}

impl VonageParams {
    /// Reads a GET's query string (the answer webhook's default). Never fails.
    pub fn from_query(query: &str) -> Self {
        lenient::form(query.as_bytes())
    }

    /// Reads a POST's JSON body; a body that is not a JSON object reads as no parameters.
    pub fn from_json(body: &[u8]) -> Self {
        lenient::json_object(body).unwrap_or_default()
    }

    /// The digits keyed at an `input` action, cleaned of whitespace and a finishing `#`; empty
    /// when nothing was keyed (a timeout with no digits) or no `dtmf` was sent at all.
    pub fn digits(&self) -> &str {
        self.dtmf
            .as_ref()
            .map_or("", |d| d.digits.trim().trim_end_matches('#').trim())
    }
}

/// Field reader for `dtmf`: the current object, or the legacy bare digits; `None` for
/// anything else.
fn dtmf<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Dtmf>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(digits) => Some(Dtmf {
            digits,
            timed_out: false,
        }),
        object @ Value::Object(_) => serde_json::from_value(object).ok(),
        _ => None,
    })
}

/// Field reader for `dtmf.digits`: text or a number as written; empty for anything else.
fn digits<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(lenient::raw_text(d)?.unwrap_or_default())
}

/// Field reader for `timed_out`: `true` or `"true"`; false for anything else.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(lenient::text(d)?.is_some_and(|v| v == "true"))
}

/// Field reader for `direction`.
fn direction<'de, D: Deserializer<'de>>(d: D) -> Result<Direction, D::Error> {
    Ok(match lenient::text(d)? {
        Some(v) if v.eq_ignore_ascii_case("outbound") => Direction::Outbound,
        Some(v) if v.eq_ignore_ascii_case("inbound") => Direction::Inbound,
        _ => Direction::Unknown,
    })
}

/// Which leg an event webhook reports on (`direction`, webhook reference "Events").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    /// The caller's own leg, into the virtual number.
    Inbound,
    /// A leg Vonage placed: here, the party a `connect` action dialled.
    Outbound,
    /// No or an unknown `direction`.
    #[default]
    Unknown,
}

/// True for the event statuses after which a leg is over: `completed`, `busy`, `failed`,
/// `timeout`, `unanswered`, `rejected`, `cancelled` (webhook reference, "Events";
/// https://developer.vonage.com/en/legacy-client-sdk/in-app-voice/concepts/call-statuses).
/// `started`, `ringing`, `answered` and anything unknown are not.
pub fn is_terminal(status: &str) -> bool {
    leg_end(status).is_some()
}

/// The dial status of the dialled leg for a terminal event status: `completed` → completed,
/// `busy` and `rejected` → busy, `failed` → failed, `timeout` and `unanswered` → no answer,
/// `cancelled` → canceled (the caller hung up while it rang). `None` for non-terminal ones.
pub fn leg_end(status: &str) -> Option<DialStatus> {
    match status.trim().to_ascii_lowercase().as_str() {
        "completed" => Some(DialStatus::Completed),
        "busy" | "rejected" => Some(DialStatus::Busy),
        "failed" => Some(DialStatus::Failed),
        "timeout" | "unanswered" => Some(DialStatus::NoAnswer),
        "cancelled" | "canceled" => Some(DialStatus::Canceled),
        _ => None,
    }
}

/// A number as Vonage writes it (E.164 without `+`: `447700900000`) in a form
/// [`crate::domain::PhoneNumber::parse`] reads unambiguously: 8 to 15 digits not starting with
/// `0` get their `+` back. Anything else (`+` already there, `Unknown`, a SIP URI) is returned
/// trimmed as received.
pub fn e164_form(raw: &str) -> String {
    let raw = raw.trim();
    let is_bare_e164 = (8..=15).contains(&raw.len())
        && !raw.starts_with('0')
        && raw.bytes().all(|b| b.is_ascii_digit());
    if is_bare_e164 {
        format!("+{raw}")
    } else {
        raw.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PhoneNumber, Region};
    use proptest::prelude::*;

    /// The answer webhook's GET example (webhook reference, "Answer webhook data fields").
    const ANSWER_QUERY: &str = "to=442079460000&from=447700900000&conversation_uuid=CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab&uuid=aaaaaaaa-bbbb-cccc-dddd-0123456789ab&SipHeader_X-UserId=1938ND9";

    /// The `input` event example (`reference/providers.md` §4).
    const INPUT_BODY: &str = r#"{"speech":{"results":[]},"dtmf":{"digits":"1234","timed_out":true},"from":"15551234567","to":"15557654321","uuid":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab","conversation_uuid":"CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab","timestamp":"2020-01-01T14:00:00.000Z"}"#;

    /// A `completed` event of a dialled leg (webhook reference, "Completed").
    const COMPLETED_BODY: &str = r#"{"end_time":"2020-01-01T12:00:00.000Z","uuid":"bbbbbbbb-cccc-dddd-eeee-0123456789ab","network":"65512","duration":"31","start_time":"2020-01-01T11:59:20.000Z","rate":"0.00450000","price":"0.00225000","from":"447700900000","to":"447700900001","conversation_uuid":"CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab","status":"completed","direction":"outbound","timestamp":"2020-01-01T12:00:00.000Z"}"#;

    #[test]
    fn the_documented_answer_query_reads() {
        let p = VonageParams::from_query(ANSWER_QUERY);
        assert_eq!(
            p.conversation_uuid.as_deref(),
            Some("CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab")
        );
        assert_eq!(p.from.as_deref(), Some("447700900000"));
        assert_eq!(p.to.as_deref(), Some("442079460000"));
        assert_eq!(
            p.uuid.as_deref(),
            Some("aaaaaaaa-bbbb-cccc-dddd-0123456789ab")
        );
        assert_eq!(p.dtmf, None);
        assert_eq!(p.digits(), "");
    }

    #[test]
    fn the_documented_input_event_reads() {
        let p = VonageParams::from_json(INPUT_BODY.as_bytes());
        assert_eq!(
            p.dtmf,
            Some(Dtmf {
                digits: "1234".into(),
                timed_out: true
            })
        );
        assert_eq!(p.digits(), "1234");
        assert_eq!(p.from.as_deref(), Some("15551234567"));
    }

    #[test]
    fn a_timeout_without_digits_and_the_legacy_flat_dtmf_read() {
        let p = VonageParams::from_json(br#"{"dtmf":{"digits":"","timed_out":true}}"#);
        assert_eq!(p.digits(), "");
        assert!(p.dtmf.unwrap().timed_out);
        let p = VonageParams::from_json(br#"{"dtmf":{"digits":null,"timed_out":"true"}}"#);
        assert_eq!(p.digits(), "");
        assert!(p.dtmf.unwrap().timed_out);
        let p = VonageParams::from_json(br#"{"dtmf":"4821#"}"#);
        assert_eq!(p.digits(), "4821");
        let p = VonageParams::from_json(br#"{"dtmf":{"digits":4821}}"#);
        assert_eq!(p.digits(), "4821");
        let p = VonageParams::from_json(br#"{"dtmf":[1,2]}"#);
        assert_eq!(p.dtmf, None);
    }

    #[test]
    fn the_completed_event_reads() {
        let p = VonageParams::from_json(COMPLETED_BODY.as_bytes());
        assert_eq!(p.status.as_deref(), Some("completed"));
        assert_eq!(p.direction, Direction::Outbound);
        assert_eq!(p.duration_secs, Some(31));
        let p = VonageParams::from_json(br#"{"duration":31,"direction":"inbound"}"#);
        assert_eq!(p.duration_secs, Some(31));
        assert_eq!(p.direction, Direction::Inbound);
        assert_eq!(VonageParams::default().direction, Direction::Unknown);
        let p = VonageParams::from_json(br#"{"duration":"-4","direction":7}"#);
        assert_eq!(p.duration_secs, None);
        assert_eq!(p.direction, Direction::Unknown);
    }

    #[test]
    fn garbage_and_values_of_the_wrong_type_add_nothing() {
        for body in [&b"not json"[..], b"[1,2]", b"", b"\"x\"", b"{\"to\":"] {
            let p = VonageParams::from_json(body);
            assert_eq!(p.to, None);
            assert_eq!(p.dtmf, None);
        }
        let p = VonageParams::from_json(br#"{"to":{"x":1},"from":["1"],"conversation_uuid":42}"#);
        assert_eq!((p.to, p.from), (None, None));
        assert_eq!(p.conversation_uuid.as_deref(), Some("42"));
        let p = VonageParams::from_query("to=1&to=2&from=%ZZ");
        assert_eq!(
            p.to.as_deref(),
            Some("2"),
            "a repeated key takes its last value"
        );
        assert_eq!(p.from.as_deref(), Some("%ZZ"));
    }

    #[test]
    fn statuses_map_to_dial_statuses() {
        for (raw, want) in [
            ("completed", Some(DialStatus::Completed)),
            ("busy", Some(DialStatus::Busy)),
            ("rejected", Some(DialStatus::Busy)),
            ("failed", Some(DialStatus::Failed)),
            ("timeout", Some(DialStatus::NoAnswer)),
            ("unanswered", Some(DialStatus::NoAnswer)),
            ("cancelled", Some(DialStatus::Canceled)),
            ("started", None),
            ("ringing", None),
            ("answered", None),
            ("disconnected", None),
            ("", None),
        ] {
            assert_eq!(leg_end(raw), want, "{raw}");
            assert_eq!(is_terminal(raw), want.is_some(), "{raw}");
        }
    }

    #[test]
    fn vonage_numbers_get_their_plus_back_and_parse() {
        let india = Region::parse("IN").unwrap();
        for (raw, want) in [
            ("447911123456", "+447911123456"),
            ("917709562799", "+917709562799"),
            ("14155552671", "+14155552671"),
            ("917314853246", "+917314853246"),
        ] {
            assert_eq!(e164_form(raw), want);
            assert_eq!(
                PhoneNumber::parse(&e164_form(raw), india).map(|n| n.to_string()),
                Ok(want.to_owned()),
                "{raw}"
            );
        }
        assert_eq!(e164_form(" +917709562799 "), "+917709562799");
        assert_eq!(e164_form("Unknown"), "Unknown");
        assert_eq!(e164_form("07709562799"), "07709562799");
        assert_eq!(e164_form("1234"), "1234");
    }

    proptest! {
        #[test]
        fn any_body_or_query_parses_without_panicking(q in "\\PC{0,100}", b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let p = VonageParams::from_query(&q);
            let _ = p.digits();
            let p = VonageParams::from_json(&b);
            prop_assert!(p.duration_secs.is_none_or(|s| s >= 0));
        }
    }
}
