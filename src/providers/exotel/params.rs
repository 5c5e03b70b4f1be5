//! What Exotel sends to an applet URL: URL-encoded query parameters (GET), or a form body
//! (POST); every one optional, extra ones ignored (`reference/exotel.md` §2).

use std::borrow::Cow;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// The parameters of one Exotel request, kept as received.
///
/// One copy of what was sent, and the pairs as places in it: a value is copied out only when
/// it had to be decoded (`%2C`, `+`). Decoded into a map of strings, the dozen parameters of a
/// request were a fifth of a webhook step's allocations in the load benchmark.
///
/// Its `Debug` shows the keys only: the values hold phone numbers and keyed digits.
#[derive(Clone, Default)]
pub struct ExotelParams {
    /// The query string, then `&` and the form body when there is one.
    raw: String,
    /// Each pair in the order sent (the query's, then the body's): key, value.
    pairs: Vec<(Text, Text)>,
    legs: Vec<Leg>,
}

/// A key or a value: a range of [`ExotelParams::raw`], or decoded.
#[derive(Debug, Clone)]
enum Text {
    Raw(Range<usize>),
    Decoded(String),
}

/// One leg of a call as Exotel reports it in `Legs[n][...]` keys (`reference/exotel.md` §1.5).
/// Values are kept as received: the seeds show masked numbers such as `07995679xx`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Leg {
    #[serde(rename = "Number", default, skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    #[serde(rename = "Type", default, skip_serializing_if = "Option::is_none")]
    pub leg_type: Option<String>,
    /// Seconds of conversation on this leg.
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

#[derive(Deserialize)]
struct LegsOnly {
    #[serde(rename = "Legs", default)]
    legs: Vec<Leg>,
}

/// The pairs of `raw` (`application/x-www-form-urlencoded`). A pair with nothing to decode
/// (no `%`, no `+`: most of what Exotel sends) is split where it lies; the others are decoded
/// by `form_urlencoded`. The separators are found with `memchr` (vectorised): scanning the
/// query a byte at a time, three times over, was most of this function's work in
/// `scripts/instructions.py`.
fn pairs(raw: &str) -> Vec<(Text, Text)> {
    // A borrowed piece is part of `raw` itself, so its place is known; all but an empty one,
    // which `form_urlencoded` may give from elsewhere (a key without `=`).
    let start = raw.as_ptr() as usize;
    let place = |piece: &str| match (piece.as_ptr() as usize).checked_sub(start) {
        Some(at) if at + piece.len() <= raw.len() => Text::Raw(at..at + piece.len()),
        _ => Text::Decoded(piece.to_owned()),
    };
    let text = |t: Cow<'_, str>| match t {
        Cow::Borrowed(piece) => place(piece),
        Cow::Owned(decoded) => Text::Decoded(decoded),
    };
    let bytes = raw.as_bytes();
    // Exotel sends about a dozen parameters to an applet.
    let mut pairs = Vec::with_capacity(16);
    let mut from = 0;
    while from < bytes.len() {
        // `&` and `=` are ASCII: the places found are character boundaries.
        let end = memchr::memchr(b'&', &bytes[from..]).map_or(bytes.len(), |i| from + i);
        let pair = &bytes[from..end];
        if memchr::memchr2(b'%', b'+', pair).is_some() {
            pairs.extend(form_urlencoded::parse(pair).map(|(k, v)| (text(k), text(v))));
        } else if !pair.is_empty() {
            let equals = memchr::memchr(b'=', pair).map_or(end, |i| from + i);
            pairs.push((
                Text::Raw(from..equals),
                Text::Raw((equals + 1).min(end)..end),
            ));
        }
        from = end + 1;
    }
    pairs
}

impl std::fmt::Debug for ExotelParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExotelParams")
            .field(
                "keys",
                &self
                    .pairs
                    .iter()
                    .map(|(k, _)| self.text(k))
                    .collect::<Vec<_>>(),
            )
            .field("legs", &self.legs.len())
            .finish()
    }
}

impl ExotelParams {
    /// Reads the query string and, for a POST, the form body (`application/x-www-form-urlencoded`);
    /// a key present in both takes the body's value. Never fails: undecodable input yields
    /// fewer parameters, not an error.
    pub fn parse(query: &str, form_body: Option<&str>) -> Self {
        let mut raw = String::with_capacity(query.len() + form_body.map_or(0, |f| f.len() + 1));
        raw.push_str(query);
        if let Some(form) = form_body {
            raw.push('&');
            raw.push_str(form);
        }
        let pairs = pairs(&raw);
        let sources = std::iter::once(query).chain(form_body);
        // `Legs[0][Number]=...`: nested keys, read with form encoding so that `%5B..%5D` works
        // (`reference/rust-anchors-and-crates.md` §3.2). Only status reports carry them: the
        // other requests are not parsed a second time.
        let qs = serde_qs::Config::new().use_form_encoding(true);
        let legs = sources
            .filter(|s| s.contains("Legs"))
            .filter_map(|s| qs.deserialize_str::<LegsOnly>(s).ok())
            .map(|l| l.legs)
            .find(|l| !l.is_empty())
            .unwrap_or_default();
        Self { raw, pairs, legs }
    }

    fn text<'a>(&'a self, text: &'a Text) -> &'a str {
        match text {
            Text::Raw(range) => self.raw.get(range.clone()).unwrap_or_default(),
            Text::Decoded(s) => s,
        }
    }

    /// The value of `key` as sent, undecoded parts and all; the last one sent when it came
    /// more than once (the body's over the query's).
    fn raw_value(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| self.text(k) == key)
            .map(|(_, v)| self.text(v))
    }

    /// The value of `key`, trimmed; `None` when absent, empty, or Exotel's `null` placeholder.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.raw_value(key)
            .map(str::trim)
            .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("null"))
    }

    /// `CallSid`: Exotel's id of the call.
    pub fn call_sid(&self) -> Option<&str> {
        self.get("CallSid")
    }

    /// The caller: `CallFrom`, or the older `From`.
    pub fn caller(&self) -> Option<&str> {
        self.get("CallFrom").or_else(|| self.get("From"))
    }

    /// The virtual number (ExoPhone) the call came in on: `CallTo`, or the older `To`.
    pub fn virtual_number(&self) -> Option<&str> {
        self.get("CallTo").or_else(|| self.get("To"))
    }

    /// The DTMF digits a Gather collected, from `digits` (see [`dtmf_digits`]).
    /// `None`: no `digits` parameter at all; `Some("")`: present but nothing keyed.
    pub fn digits(&self) -> Option<&str> {
        self.raw_value("digits").map(dtmf_digits)
    }

    /// The legs of the call, from `Legs[n][...]` keys.
    pub fn legs(&self) -> &[Leg] {
        &self.legs
    }

    /// An integer parameter; `None` when absent or not a number. Fractions are truncated.
    pub fn seconds(&self, key: &str) -> Option<i64> {
        parse_seconds(self.get(key)?)
    }
}

/// Seconds as Exotel writes them (`40`, `4.39`); fractions truncated.
pub fn parse_seconds(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    raw.parse::<i64>()
        .ok()
        .or_else(|| {
            raw.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as i64)
        })
        .filter(|s| *s >= 0)
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
    use proptest::prelude::*;

    /// The seed's Connect request of the PIN flow (seed 003, "Pin based Number"), encoded as
    /// Exotel sends it.
    const SEED_CONNECT: &str = "CallFrom=07709562799&CallSid=c39894edd8a85d7fd95dbf5fdb65157g&CallTo=07314853246&CallType=call-attempt&Created=Fri%2C+16+Jul+2021+18%3A24%3A05&CurrentTime=2021-07-16+18%3A24%3A12&DialCallDuration=0&DialCallStatus=null&DialWhomNumber=&Direction=incoming&EndTime=1970-01-01+05%3A30%3A00&ForwardedFrom=null&From=07709562799&ProcessStatus=null&RecordingUrl=null&StartTime=2021-07-16+18%3A24%3A05&To=07314853246&digits=%22568%22&flow_id=383431&tenant_id=53926";

    /// The seed's completed-call Passthru (seed 003).
    const SEED_COMPLETED: &str = "CallFrom=0770956xxx&CallSid=3edd4e59486d063b46403496ad3e157e&CallTo=07314853246&CallType=completed&DialCallDuration=40&DialCallStatus=completed&DialWhomNumber=0799567xxxx&Direction=incoming&Legs%5B0%5D%5BNumber%5D=07995679243&Legs%5B0%5D%5BType%5D=single&Legs%5B0%5D%5BOnCallDuration%5D=31&Legs%5B0%5D%5BCauseCode%5D=NORMAL_CLEARING&Legs%5B0%5D%5BCause%5D=16&RecordingUrl=https%3A%2F%2Fs3-ap-southeast-1.amazonaws.com%2Fexotelrecordings%2Fskillstreet%2F3edd4e59486d063b46403496xxx3e157e.mp3";

    #[test]
    fn debug_shows_the_keys_and_no_value() {
        let p = ExotelParams::parse(SEED_CONNECT, None);
        let shown = format!("{p:?}");
        assert!(shown.contains("CallFrom"), "{shown}");
        for value in [
            "07709562799",
            "07314853246",
            "568",
            "c39894edd8a85d7fd95dbf5fdb65157g",
        ] {
            assert!(!shown.contains(value), "{value} in {shown}");
        }
    }

    #[test]
    fn the_seed_connect_request_reads() {
        let p = ExotelParams::parse(SEED_CONNECT, None);
        assert_eq!(p.call_sid(), Some("c39894edd8a85d7fd95dbf5fdb65157g"));
        assert_eq!(p.caller(), Some("07709562799"));
        assert_eq!(p.virtual_number(), Some("07314853246"));
        assert_eq!(p.digits(), Some("568"));
        assert_eq!(
            p.get("DialCallStatus"),
            None,
            "null is Exotel's empty value"
        );
        assert_eq!(p.get("DialWhomNumber"), None);
    }

    #[test]
    fn the_seed_completed_call_reads_with_its_legs() {
        let p = ExotelParams::parse(SEED_COMPLETED, None);
        assert_eq!(p.seconds("DialCallDuration"), Some(40));
        assert_eq!(p.legs().len(), 1);
        let leg = &p.legs()[0];
        assert_eq!(leg.number.as_deref(), Some("07995679243"));
        assert_eq!(leg.on_call_duration.as_deref(), Some("31"));
        assert_eq!(leg.cause_code.as_deref(), Some("NORMAL_CLEARING"));
    }

    #[test]
    fn legs_with_unencoded_brackets_and_nested_insights_read_too() {
        let p = ExotelParams::parse(
            "CallSid=a&Legs[0][Number]=07995679xx&Legs[0][OnCallDuration]=0&Legs[1][Insights][DetailedStatus]=CALL_COMPLETED&Legs[1][OnCallDuration]=4.39",
            None,
        );
        assert_eq!(p.legs().len(), 2);
        assert_eq!(p.legs()[0].number.as_deref(), Some("07995679xx"));
        assert_eq!(
            parse_seconds(p.legs()[1].on_call_duration.as_deref().unwrap()),
            Some(4)
        );
    }

    #[test]
    fn a_form_body_adds_to_the_query() {
        let p = ExotelParams::parse(
            "CallSid=abc",
            Some("CallFrom=09812345678&digits=%221234%22"),
        );
        assert_eq!(p.call_sid(), Some("abc"));
        assert_eq!(p.caller(), Some("09812345678"));
        assert_eq!(p.digits(), Some("1234"));
    }

    #[test]
    fn older_parameter_names_are_understood() {
        let p = ExotelParams::parse("From=09880847047&To=08088919888", None);
        assert_eq!(p.caller(), Some("09880847047"));
        assert_eq!(p.virtual_number(), Some("08088919888"));
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
        assert_eq!(ExotelParams::parse("CallSid=a", None).digits(), None);
        assert_eq!(ExotelParams::parse("digits=", None).digits(), Some(""));
    }

    #[test]
    fn garbage_never_fails_the_parse() {
        let p = ExotelParams::parse("%%%&&==&Legs[x][=1&CallSid=%E0%A4", Some("\u{0}"));
        assert_eq!(p.legs().len(), 0);
    }

    proptest! {
        #[test]
        fn quoted_digit_strings_come_back_unquoted(d in "[0-9]{0,12}", hash in any::<bool>(), sp in " {0,2}") {
            let raw = format!("{sp}\"{d}{}\"{sp}", if hash { "#" } else { "" });
            prop_assert_eq!(dtmf_digits(&raw), d);
        }

        /// Each key reads as a plain decoder reads it (`form_urlencoded`, the last value of
        /// a key that comes twice), the query and the body as one.
        #[test]
        fn every_pair_reads_as_form_urlencoded_reads_it(
            q in "([a-c%+=&2]|%4[01]|%E2%82%AC|€){0,30}",
            body in proptest::option::of("([a-c%+=&]|%4[01]){0,12}"),
        ) {
            let p = ExotelParams::parse(&q, body.as_deref());
            let mut want = std::collections::HashMap::new();
            for source in std::iter::once(q.as_str()).chain(body.as_deref()) {
                for (k, v) in form_urlencoded::parse(source.as_bytes()) {
                    want.insert(k.into_owned(), v.into_owned());
                }
            }
            for (k, v) in &want {
                prop_assert_eq!(p.raw_value(k), Some(v.as_str()), "key {:?}", k);
            }
            prop_assert_eq!(p.raw_value("zz"), None);
        }

        #[test]
        fn any_query_string_parses_without_panicking(q in "\\PC{0,200}") {
            let p = ExotelParams::parse(&q, None);
            let _ = p.digits();
            let _ = p.call_sid();
        }
    }
}
