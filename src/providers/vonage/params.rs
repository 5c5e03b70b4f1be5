//! What Vonage sends: the answer webhook's query parameters (GET, the default) or JSON body
//! (`answer_method=POST`), and the JSON bodies of the `input` and event webhooks
//! (https://developer.vonage.com/voice/voice-api/webhook-reference; `reference/providers.md`
//! §4). Every field optional, extra ones ignored, and nothing here fails: a malformed request
//! yields fewer parameters.

use std::collections::HashMap;

use serde_json::Value;

use crate::call::flow::DialStatus;

/// The DTMF result of an `input` action: `"dtmf":{"digits":"1234","timed_out":false}`
/// (webhook reference, "Input"). The legacy (pre-2020) format sends a bare `"dtmf":"1234"`;
/// both are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dtmf {
    /// The keys pressed, without the submitting `#`.
    pub digits: String,
    /// True when the input ended because `timeOut` passed rather than by `#` or `maxDigits`.
    pub timed_out: bool,
}

/// The parameters of one Vonage request, kept as received (numbers and booleans as text).
#[derive(Debug, Clone, Default)]
pub struct VonageParams {
    values: HashMap<String, String>,
    dtmf: Option<Dtmf>,
}

impl VonageParams {
    /// Reads the query string and, when given, the JSON body; a key present in both takes the
    /// body's value. A body that is not a JSON object adds nothing.
    pub fn parse(query: &str, json_body: Option<&[u8]>) -> Self {
        let mut values: HashMap<String, String> = HashMap::new();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        values.extend(pairs);
        let mut dtmf = None;
        if let Some(Ok(Value::Object(map))) = json_body.map(serde_json::from_slice::<Value>) {
            for (key, value) in map {
                if key == "dtmf" {
                    dtmf = read_dtmf(&value);
                    continue;
                }
                let text = match value {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null | Value::Array(_) | Value::Object(_) => continue,
                };
                values.insert(key, text);
            }
        }
        Self { values, dtmf }
    }

    /// The value of `key`, trimmed; `None` when absent or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// `conversation_uuid`: the conversation both legs of the call belong to; pinbridge's
    /// call id for Vonage.
    pub fn conversation_uuid(&self) -> Option<&str> {
        self.get("conversation_uuid")
    }

    /// `from`: for the caller's leg the caller; for the leg pinbridge dialled, the caller ID
    /// it was given (the virtual number).
    pub fn from(&self) -> Option<&str> {
        self.get("from")
    }

    /// `to`: for the caller's leg the virtual number dialled; for the dialled leg, the number
    /// pinbridge dialled.
    pub fn to(&self) -> Option<&str> {
        self.get("to")
    }

    /// `status` of an event webhook (`started`, `ringing`, `answered`, `completed`, ...).
    pub fn status(&self) -> Option<&str> {
        self.get("status")
    }

    /// The leg an event reports on, from its `direction`.
    pub fn direction(&self) -> Direction {
        match self.get("direction") {
            Some(d) if d.eq_ignore_ascii_case("outbound") => Direction::Outbound,
            Some(d) if d.eq_ignore_ascii_case("inbound") => Direction::Inbound,
            _ => Direction::Unknown,
        }
    }

    /// `duration` of a `completed` event, in whole seconds (Vonage sends it as a string).
    pub fn duration_secs(&self) -> Option<i64> {
        let raw = self.get("duration")?;
        raw.parse::<i64>()
            .ok()
            .or_else(|| {
                raw.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .map(|f| f as i64)
            })
            .filter(|s| *s >= 0)
    }

    /// `recording_url` of a `record` event.
    pub fn recording_url(&self) -> Option<&str> {
        self.get("recording_url")
    }

    /// The `dtmf` object of an `input` event, if there was one.
    pub fn dtmf(&self) -> Option<&Dtmf> {
        self.dtmf.as_ref()
    }

    /// The digits keyed at an `input` action, cleaned of whitespace and a finishing `#`; empty
    /// when nothing was keyed (a timeout with no digits) or no `dtmf` was sent at all.
    pub fn digits(&self) -> &str {
        self.dtmf
            .as_ref()
            .map_or("", |d| d.digits.trim().trim_end_matches('#').trim())
    }
}

fn read_dtmf(value: &Value) -> Option<Dtmf> {
    match value {
        Value::String(digits) => Some(Dtmf {
            digits: digits.clone(),
            timed_out: false,
        }),
        Value::Object(map) => Some(Dtmf {
            digits: match map.get("digits") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => String::new(),
            },
            timed_out: matches!(map.get("timed_out"), Some(Value::Bool(true)))
                || matches!(map.get("timed_out"), Some(Value::String(s)) if s == "true"),
        }),
        _ => None,
    }
}

/// Which leg an event webhook reports on (`direction`, webhook reference "Events").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The caller's own leg, into the virtual number.
    Inbound,
    /// A leg Vonage placed: here, the party a `connect` action dialled.
    Outbound,
    /// No or an unknown `direction`.
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
        let p = VonageParams::parse(ANSWER_QUERY, None);
        assert_eq!(
            p.conversation_uuid(),
            Some("CON-aaaaaaaa-bbbb-cccc-dddd-0123456789ab")
        );
        assert_eq!(p.from(), Some("447700900000"));
        assert_eq!(p.to(), Some("442079460000"));
        assert_eq!(p.get("uuid"), Some("aaaaaaaa-bbbb-cccc-dddd-0123456789ab"));
        assert_eq!(p.dtmf(), None);
        assert_eq!(p.digits(), "");
    }

    #[test]
    fn the_documented_input_event_reads() {
        let p = VonageParams::parse("", Some(INPUT_BODY.as_bytes()));
        assert_eq!(
            p.dtmf(),
            Some(&Dtmf {
                digits: "1234".into(),
                timed_out: true
            })
        );
        assert_eq!(p.digits(), "1234");
        assert_eq!(p.from(), Some("15551234567"));
        assert_eq!(p.get("speech"), None, "objects are not kept as text");
    }

    #[test]
    fn a_timeout_without_digits_and_the_legacy_flat_dtmf_read() {
        let p = VonageParams::parse("", Some(br#"{"dtmf":{"digits":"","timed_out":true}}"#));
        assert_eq!(p.digits(), "");
        assert!(p.dtmf().unwrap().timed_out);
        let p = VonageParams::parse("", Some(br#"{"dtmf":"4821#"}"#));
        assert_eq!(p.digits(), "4821");
        let p = VonageParams::parse("", Some(br#"{"dtmf":{"digits":4821}}"#));
        assert_eq!(p.digits(), "4821");
    }

    #[test]
    fn the_completed_event_reads() {
        let p = VonageParams::parse("", Some(COMPLETED_BODY.as_bytes()));
        assert_eq!(p.status(), Some("completed"));
        assert_eq!(p.direction(), Direction::Outbound);
        assert_eq!(p.duration_secs(), Some(31));
        let p = VonageParams::parse("", Some(br#"{"duration":31,"direction":"inbound"}"#));
        assert_eq!(p.duration_secs(), Some(31));
        assert_eq!(p.direction(), Direction::Inbound);
        assert_eq!(VonageParams::default().direction(), Direction::Unknown);
    }

    #[test]
    fn the_body_wins_over_the_query_and_garbage_adds_nothing() {
        let p = VonageParams::parse("to=1&from=2", Some(br#"{"to":"3"}"#));
        assert_eq!(p.to(), Some("3"));
        assert_eq!(p.from(), Some("2"));
        for body in [&b"not json"[..], b"[1,2]", b"", b"\"x\"", b"{\"to\":"] {
            let p = VonageParams::parse("", Some(body));
            assert_eq!(p.to(), None);
            assert_eq!(p.dtmf(), None);
        }
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
            let p = VonageParams::parse(&q, Some(&b));
            let _ = (p.digits(), p.duration_secs(), p.direction(), p.conversation_uuid());
        }
    }
}
