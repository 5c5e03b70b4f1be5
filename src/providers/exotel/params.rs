//! What Exotel sends to an applet URL: URL-encoded query parameters (GET, HEAD), or a form body
//! (POST); every one optional, extra ones ignored (`reference/exotel.md` §1.1, §2).
//!
//! The fields pinbridge reads, as Exotel's applet articles list them: Passthru
//! (https://support.exotel.com/support/solutions/articles/48283-working-with-passthru-applet),
//! Connect "Dial whom" (…/articles/3000088074) and Programmable Connect (…/articles/3000096873),
//! Gather (…/articles/3000084635); `Legs[n][...]` and `DialCallStatus` as integrators see them
//! in Passthru requests after a Connect (`reference/exotel.md` §1.5).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

use crate::providers::lenient;

/// The most legs read from a request, Passthru or status callback: pinbridge's calls have two
/// (the caller and the one number dialled); a bound keeps `Legs[99999][...]` from allocating.
pub const MAX_LEGS: usize = 8;

/// The parameters of one Exotel applet request. Values are trimmed, and Exotel's `null`
/// placeholder (`DialCallStatus=null`, `RecordingUrl=null`) reads as absent.
///
/// No `Debug`: the values hold phone numbers and keyed digits, which must not reach a log.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct ExotelParams {
    /// `CallSid`: Exotel's id of the call.
    #[serde(rename = "CallSid", deserialize_with = "value")]
    pub call_sid: Option<String>,
    /// `CallFrom`: for an incoming call, the caller.
    #[serde(rename = "CallFrom", deserialize_with = "value")]
    pub call_from: Option<String>,
    /// `From`: the older name of `CallFrom`.
    #[serde(rename = "From", deserialize_with = "value")]
    pub from: Option<String>,
    /// `CallTo`: for an incoming call, the ExoPhone (virtual number) it came in on.
    #[serde(rename = "CallTo", deserialize_with = "value")]
    pub call_to: Option<String>,
    /// `To`: the older name of `CallTo`.
    #[serde(rename = "To", deserialize_with = "value")]
    pub to: Option<String>,
    /// `digits`: what an earlier Gather collected, cleaned by [`dtmf_digits`]. `None`: no
    /// `digits` parameter at all; `Some("")`: sent, but nothing keyed.
    #[serde(rename = "digits", deserialize_with = "digits")]
    pub digits: Option<String>,
    /// `CallType`: `call-attempt`, `completed`, `client-hangup`, `incomplete`, `voicemail`.
    #[serde(rename = "CallType", deserialize_with = "value")]
    pub call_type: Option<String>,
    /// `DialCallStatus`: `completed`, `no-answer`, `busy`, `failed`, `canceled`.
    #[serde(rename = "DialCallStatus", deserialize_with = "value")]
    pub dial_call_status: Option<String>,
    /// `DialCallDuration`: seconds of the dialled leg, ring time included.
    #[serde(rename = "DialCallDuration", deserialize_with = "lenient::seconds")]
    pub dial_call_duration: Option<i64>,
    /// `DialWhomNumber`: the number Connect dialled last.
    #[serde(rename = "DialWhomNumber", deserialize_with = "value")]
    pub dial_whom_number: Option<String>,
    /// `RecordingUrl`: after a Connect that recorded.
    #[serde(rename = "RecordingUrl", deserialize_with = "value")]
    pub recording_url: Option<String>,
    /// `StartTime`: `YYYY-MM-DD HH:mm:ss`, IST, as Exotel writes it.
    #[serde(rename = "StartTime", deserialize_with = "value")]
    pub start_time: Option<String>,
    /// `Legs[n][...]`: the legs of the call, leg `n` at index `n`, at most [`MAX_LEGS`]; none
    /// when serde_qs can not read the keys.
    #[serde(skip)]
    pub legs: Vec<Leg>,
}

/// One leg of a call as a Passthru after Connect reports it in `Legs[n][...]` keys
/// (`reference/exotel.md` §1.5). Values are kept as received: the seeds show masked numbers
/// such as `07995679xx`, and they are stored so.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Leg {
    #[serde(rename = "Number", default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub leg_type: Option<String>,
    /// Seconds of conversation on this leg (`31`, `4.39`).
    #[serde(
        rename = "OnCallDuration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub on_call_duration: Option<String>,
    #[serde(rename = "CauseCode", default, skip_serializing_if = "Option::is_none")]
    pub cause_code: Option<String>,
    #[serde(rename = "Cause", default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl ExotelParams {
    /// Reads the query string and, for a POST, the form body (`application/x-www-form-urlencoded`);
    /// a key present in both takes the body's value, a key sent twice its last. Never fails:
    /// undecodable input yields fewer parameters, not an error ([`lenient::form`]).
    pub fn parse(query: &str, form_body: Option<&[u8]>) -> Self {
        let encoded = lenient::query_and_body(query, form_body);
        let mut params: Self = lenient::form(&encoded);
        // Only Passthru requests after a Connect carry legs: the others are not read twice.
        let has_legs = query.contains("Legs")
            || form_body.is_some_and(|b| String::from_utf8_lossy(b).contains("Legs"));
        if has_legs {
            params.legs = legs(&encoded);
        }
        params
    }

    /// The caller: `CallFrom`, or the older `From`.
    pub fn caller(&self) -> Option<&str> {
        self.call_from.as_deref().or(self.from.as_deref())
    }

    /// The virtual number (ExoPhone) the call came in on: `CallTo`, or the older `To`.
    pub fn virtual_number(&self) -> Option<&str> {
        self.call_to.as_deref().or(self.to.as_deref())
    }
}

/// Field reader for Exotel's values: [`lenient::text`], and Exotel's `null` placeholder (any
/// case) is absent too.
pub(super) fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(lenient::text(d)?.filter(|v| !v.eq_ignore_ascii_case("null")))
}

/// Field reader for `digits`: the raw value, cleaned by [`dtmf_digits`].
fn digits<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(lenient::raw_text(d)?.map(|raw| dtmf_digits(&raw).to_owned()))
}

/// The `Legs[n][Field]` keys of form-encoded text, read with serde_qs (form encoding, so that
/// `%5B..%5D` works too; `reference/rust-anchors-and-crates.md` §3.2): leg `n` at index `n`, a
/// leg not sent as `L::default()`; legs numbered [`MAX_LEGS`] or more are dropped. Keys nested deeper
/// (`Legs[1][Insights][DetailedStatus]`) are ignored; a text serde_qs refuses (a key it can not
/// nest, invalid UTF-8 in a value) has no legs.
pub(super) fn legs<L: DeserializeOwned + Default>(encoded: &[u8]) -> Vec<L> {
    #[derive(Deserialize)]
    #[serde(bound = "L: DeserializeOwned")]
    struct Legs<L> {
        #[serde(rename = "Legs", default = "BTreeMap::new")]
        legs: BTreeMap<usize, L>,
    }
    let qs = serde_qs::Config::new().use_form_encoding(true);
    let Ok(Legs { mut legs }) = qs.deserialize_bytes::<Legs<L>>(encoded) else {
        return Vec::new();
    };
    legs.split_off(&MAX_LEGS);
    let count = legs.keys().next_back().map_or(0, |last| last + 1);
    (0..count)
        .map(|n| legs.remove(&n).unwrap_or_default())
        .collect()
}

/// Cleans Exotel's `digits`: it "comes with a double quote (") before and after the number"
/// (Passthru article 48283; `reference/exotel.md` §1.3). Strips whitespace, straight and
/// curly quotes, and the finishing `#`. What remains may still not be a PIN (`*`, letters);
/// the caller of this function decides.
pub fn dtmf_digits(raw: &str) -> &str {
    let wrapping = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '“' | '”');
    let mut s = raw;
    // Quotes, spaces and finishing `#` in any order (`"1234"#`, `1234# #`), until none is left.
    loop {
        let next = s.trim_matches(wrapping).trim_end_matches('#');
        if next == s {
            return s;
        }
        s = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::lenient::parse_seconds;
    use proptest::prelude::*;

    /// The seed's Connect request of the PIN flow (seed 003, "Pin based Number"), encoded as
    /// Exotel sends it.
    const SEED_CONNECT: &str = "CallFrom=07709562799&CallSid=c39894edd8a85d7fd95dbf5fdb65157g&CallTo=07314853246&CallType=call-attempt&Created=Fri%2C+16+Jul+2021+18%3A24%3A05&CurrentTime=2021-07-16+18%3A24%3A12&DialCallDuration=0&DialCallStatus=null&DialWhomNumber=&Direction=incoming&EndTime=1970-01-01+05%3A30%3A00&ForwardedFrom=null&From=07709562799&ProcessStatus=null&RecordingUrl=null&StartTime=2021-07-16+18%3A24%3A05&To=07314853246&digits=%22568%22&flow_id=383431&tenant_id=53926";

    /// The seed's completed-call Passthru (seed 003).
    const SEED_COMPLETED: &str = "CallFrom=0770956xxx&CallSid=3edd4e59486d063b46403496ad3e157e&CallTo=07314853246&CallType=completed&DialCallDuration=40&DialCallStatus=completed&DialWhomNumber=0799567xxxx&Direction=incoming&Legs%5B0%5D%5BNumber%5D=07995679243&Legs%5B0%5D%5BType%5D=single&Legs%5B0%5D%5BOnCallDuration%5D=31&Legs%5B0%5D%5BCauseCode%5D=NORMAL_CLEARING&Legs%5B0%5D%5BCause%5D=16&RecordingUrl=https%3A%2F%2Fs3-ap-southeast-1.amazonaws.com%2Fexotelrecordings%2Fskillstreet%2F3edd4e59486d063b46403496xxx3e157e.mp3";

    #[test]
    fn the_seed_connect_request_reads() {
        let p = ExotelParams::parse(SEED_CONNECT, None);
        assert_eq!(
            p.call_sid.as_deref(),
            Some("c39894edd8a85d7fd95dbf5fdb65157g")
        );
        assert_eq!(p.caller(), Some("07709562799"));
        assert_eq!(p.virtual_number(), Some("07314853246"));
        assert_eq!(p.digits.as_deref(), Some("568"));
        assert_eq!(p.call_type.as_deref(), Some("call-attempt"));
        assert_eq!(p.dial_call_status, None, "null is Exotel's empty value");
        assert_eq!(p.recording_url, None);
        assert_eq!(p.dial_whom_number, None);
        assert_eq!(p.dial_call_duration, Some(0));
        assert_eq!(p.start_time.as_deref(), Some("2021-07-16 18:24:05"));
        assert!(p.legs.is_empty());
    }

    #[test]
    fn the_seed_completed_call_reads_with_its_legs() {
        let p = ExotelParams::parse(SEED_COMPLETED, None);
        assert_eq!(p.dial_call_duration, Some(40));
        assert_eq!(p.dial_call_status.as_deref(), Some("completed"));
        assert_eq!(p.digits, None);
        assert_eq!(p.legs.len(), 1);
        let leg = &p.legs[0];
        assert_eq!(leg.number.as_deref(), Some("07995679243"));
        assert_eq!(leg.on_call_duration.as_deref(), Some("31"));
        assert_eq!(leg.cause_code.as_deref(), Some("NORMAL_CLEARING"));
        assert!(
            p.recording_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://s3-ap-southeast-1"))
        );
    }

    #[test]
    fn legs_with_unencoded_brackets_nested_insights_and_gaps_read_too() {
        let p = ExotelParams::parse(
            "CallSid=a&Legs[0][Number]=07995679xx&Legs[0][OnCallDuration]=0&Legs[1][Insights][DetailedStatus]=CALL_COMPLETED&Legs[1][OnCallDuration]=4.39",
            None,
        );
        assert_eq!(p.legs.len(), 2);
        assert_eq!(p.legs[0].number.as_deref(), Some("07995679xx"));
        assert_eq!(
            parse_seconds(p.legs[1].on_call_duration.as_deref().unwrap()),
            Some(4)
        );
        let p = ExotelParams::parse("Legs[1][Number]=2&Legs[1][Number]=3", None);
        assert_eq!(
            p.legs,
            [
                Leg::default(),
                Leg {
                    number: Some("3".into()),
                    ..Leg::default()
                }
            ]
        );
        let p = ExotelParams::parse("Legs[99999][Number]=1&Legs[7][Type]=single", None);
        assert_eq!(p.legs.len(), MAX_LEGS, "no leg past the bound");
        assert_eq!(p.legs[7].leg_type.as_deref(), Some("single"));
    }

    #[test]
    fn a_form_body_adds_to_the_query_and_wins_where_both_have_a_key() {
        let p = ExotelParams::parse(
            "CallSid=abc&CallFrom=09800000000&Legs[0][Number]=q",
            Some(b"CallFrom=09812345678&digits=%221234%22&Legs[0][Number]=b"),
        );
        assert_eq!(p.call_sid.as_deref(), Some("abc"));
        assert_eq!(p.caller(), Some("09812345678"));
        assert_eq!(p.digits.as_deref(), Some("1234"));
        assert_eq!(p.legs[0].number.as_deref(), Some("b"));
    }

    #[test]
    fn a_repeated_key_takes_its_last_value() {
        let p = ExotelParams::parse(
            "CallSid=first&digits=1&CallSid=second&digits=%2242%22",
            None,
        );
        assert_eq!(p.call_sid.as_deref(), Some("second"));
        assert_eq!(p.digits.as_deref(), Some("42"));
    }

    #[test]
    fn older_parameter_names_are_understood() {
        let p = ExotelParams::parse("From=09880847047&To=08088919888", None);
        assert_eq!(p.caller(), Some("09880847047"));
        assert_eq!(p.virtual_number(), Some("08088919888"));
        let p = ExotelParams::parse("From=1&CallFrom=2&To=3&CallTo=4", None);
        assert_eq!((p.caller(), p.virtual_number()), (Some("2"), Some("4")));
    }

    #[test]
    fn digits_are_cleaned_of_what_exotel_and_callers_add() {
        for (raw, want) in [
            ("\"568\"", "568"),
            ("568", "568"),
            (" \"4821#\" ", "4821"),
            ("4821#", "4821"),
            ("“4821”", "4821"),
            ("\"\"", ""),
            ("", ""),
            ("  ", ""),
            ("\"12*4\"", "12*4"),
            ("\"1234\"#", "1234"),
            ("1234# #", "1234"),
            ("“1234”#", "1234"),
        ] {
            assert_eq!(dtmf_digits(raw), want, "{raw:?}");
        }
        assert_eq!(ExotelParams::parse("CallSid=a", None).digits, None);
        assert_eq!(
            ExotelParams::parse("digits=", None).digits.as_deref(),
            Some("")
        );
        assert_eq!(
            ExotelParams::parse("digits=+%224821%22+", None)
                .digits
                .as_deref(),
            Some("4821")
        );
    }

    #[test]
    fn garbage_never_fails_the_parse() {
        let p = ExotelParams::parse("%%%&&==&Legs[x][=1&CallSid=%E0%A4", Some(b"\xff\0"));
        assert!(p.legs.is_empty());
        assert_eq!(p.call_sid.as_deref(), Some("\u{fffd}"));
        let p = ExotelParams::parse("Legs[0][Number]=%FF&CallSid=a", None);
        assert!(p.legs.is_empty(), "serde_qs refuses invalid UTF-8");
        assert_eq!(p.call_sid.as_deref(), Some("a"), "the rest still reads");
    }

    proptest! {
        #[test]
        fn quoted_digit_strings_come_back_unquoted(d in "[0-9]{0,12}", hash in any::<bool>(), sp in " {0,2}") {
            let raw = format!("{sp}\"{d}{}\"{sp}", if hash { "#" } else { "" });
            prop_assert_eq!(dtmf_digits(&raw), d);
        }

        #[test]
        fn any_query_string_and_body_parse_without_panicking(q in "\\PC{0,200}", body in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..100))) {
            let p = ExotelParams::parse(&q, body.as_deref());
            prop_assert!(p.legs.len() <= MAX_LEGS);
            if let Some(sid) = p.call_sid {
                prop_assert!(!sid.is_empty() && !sid.eq_ignore_ascii_case("null"));
            }
        }
    }
}
