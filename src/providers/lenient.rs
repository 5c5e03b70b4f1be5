//! Reading what providers send, with serde, the lenient way: a malformed webhook must still get
//! a playable answer, so reading a request never fails.
//!
//! Each provider's `params` declares what pinbridge reads as a `#[derive(Deserialize)]` struct,
//! every field optional and read with one of the field readers below ([`text`], [`raw_text`],
//! [`seconds`], [`or_none`]): a value of an unexpected type (an array where a string was
//! expected, a word where seconds were) reads as absent, never as an error. [`form`] reads
//! form-encoded text (a query string, a form body) into such a struct with serde_urlencoded,
//! [`json_object`] a JSON body with serde_json.
//!
//! What the form reader does with what providers and attackers send:
//! - a key sent twice takes its last value (serde alone would refuse the whole request);
//! - a key in both the query string and the form body takes the body's value
//!   ([`query_and_body`]);
//! - an invalid percent-escape (`%ZZ`) is kept literally and invalid UTF-8 becomes U+FFFD, as
//!   `form_urlencoded` decodes them;
//! - a key without `=` has an empty value, and an empty value reads as absent ([`text`]) or
//!   as empty ([`raw_text`]), as the field asks;
//! - unknown keys are ignored.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The query string and the form body as one form-encoded text, the body's pairs after the
/// query's, so that a key sent in both takes the body's value ([`form`] keeps the last).
/// Borrows the query when there is no body (a GET, a HEAD).
pub fn query_and_body<'a>(query: &'a str, body: Option<&[u8]>) -> Cow<'a, [u8]> {
    match body {
        Some(body) if !body.is_empty() => {
            let mut joined = Vec::with_capacity(query.len() + 1 + body.len());
            joined.extend_from_slice(query.as_bytes());
            joined.push(b'&');
            joined.extend_from_slice(body);
            Cow::Owned(joined)
        }
        _ => Cow::Borrowed(query.as_bytes()),
    }
}

/// Reads `application/x-www-form-urlencoded` text into `T` with serde_urlencoded. Never fails:
/// `T`'s fields must all be optional and read by the field readers of this module, so that the
/// only error left is serde's refusal of a field sent twice; such a text is read again with
/// the last value of each key. `T::default()` if even that fails.
pub fn form<T: DeserializeOwned + Default>(encoded: &[u8]) -> T {
    serde_urlencoded::from_bytes(encoded).unwrap_or_else(|_| {
        let last: HashMap<String, String> = pairs(encoded).into_iter().collect();
        serde_urlencoded::to_string(&last)
            .ok()
            .and_then(|once| serde_urlencoded::from_str(&once).ok())
            .unwrap_or_default()
    })
}

/// The pairs of form-encoded text, decoded, in the order sent, repeated keys included: what
/// Twilio's and Plivo's signatures are computed over. Never fails.
pub fn pairs(encoded: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(encoded).unwrap_or_default()
}

/// Reads a JSON body into `T` with serde_json; `None` when the body is not a JSON object. Read
/// through [`Value`] first: a key sent twice then takes its last value instead of failing the
/// request, and an array is not read as a struct's fields in order.
pub fn json_object<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match serde_json::from_slice::<Value>(body).ok()? {
        object @ Value::Object(_) => serde_json::from_value(object).ok(),
        _ => None,
    }
}

/// Field reader: a value as text, trimmed; `None` when absent, empty, or not a scalar (JSON
/// `null`, an array, an object). A JSON number or boolean reads as written (`42` as `"42"`).
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(TextVisitor { trim: true })
}

/// Field reader: a value as text, exactly as received, empty included; `None` when absent or
/// not a scalar. For values whose emptiness means something (DTMF: sent, but nothing keyed).
pub fn raw_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(TextVisitor { trim: false })
}

/// Field reader: whole seconds, from a number or text (`40`, `"40"`, `"4.39"`); see
/// [`parse_seconds`]. `None` when absent or not a duration.
pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(text(d)?.as_deref().and_then(parse_seconds))
}

/// Field reader: any value that reads as `T`; `None` when it does not (the wrong type, a
/// field of `T` itself refused).
pub fn or_none<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// Field reader: as [`or_none`], `T::default()` when the value does not read as `T`.
pub fn or_default<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(or_none(d)?.unwrap_or_default())
}

/// Seconds as providers write them: an integer (`40`), or a decimal (`4.39`, Exotel's leg
/// durations) whose fraction is truncated. `None` for anything else and for negatives.
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

/// Reads any scalar as text; `None` for null, arrays and objects (their contents skipped).
struct TextVisitor {
    trim: bool,
}

impl TextVisitor {
    fn text(&self, s: &str) -> Option<String> {
        let s = if self.trim { s.trim() } else { s };
        (!self.trim || !s.is_empty()).then(|| s.to_owned())
    }

    fn owned(&self, s: String) -> Option<String> {
        if self.trim && s.trim().len() != s.len() {
            return self.text(&s);
        }
        (!self.trim || !s.is_empty()).then_some(s)
    }
}

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number or a boolean")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.text(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(self.owned(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(self.text(&String::from_utf8_lossy(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A provider's parameters in miniature: what every `params` struct looks like.
    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default)]
    struct Sample {
        #[serde(rename = "To", deserialize_with = "text")]
        to: Option<String>,
        #[serde(rename = "Digits", deserialize_with = "raw_text")]
        digits: Option<String>,
        #[serde(rename = "Duration", deserialize_with = "seconds")]
        duration: Option<i64>,
    }

    fn read(encoded: &str) -> Sample {
        form(encoded.as_bytes())
    }

    #[test]
    fn a_form_reads_into_the_typed_fields_and_ignores_the_rest() {
        let s = read("To=%2B919812345678&Digits=+4821%23&Duration=31&Other=x&Legs[0][Number]=1");
        assert_eq!(s.to.as_deref(), Some("+919812345678"));
        assert_eq!(
            s.digits.as_deref(),
            Some(" 4821#"),
            "raw_text keeps what was sent"
        );
        assert_eq!(s.duration, Some(31));
        assert_eq!(read(""), Sample::default());
    }

    #[test]
    fn a_repeated_key_takes_its_last_value_and_the_body_wins_over_the_query() {
        let s = read("To=1&Digits=2&To=3&To=4");
        assert_eq!(
            (s.to.as_deref(), s.digits.as_deref()),
            (Some("4"), Some("2"))
        );
        let joined = query_and_body("To=query&Duration=5", Some(b"To=body"));
        let s: Sample = form(&joined);
        assert_eq!(s.to.as_deref(), Some("body"));
        assert_eq!(s.duration, Some(5));
        // The body's value wins even when it is empty: a key in both takes the body's.
        let s: Sample = form(&query_and_body("To=query", Some(b"To=")));
        assert_eq!(s.to, None);
        assert_eq!(&*query_and_body("a=1", Some(b"")), b"a=1");
        assert_eq!(&*query_and_body("a=1", None), b"a=1");
    }

    #[test]
    fn empty_values_bad_escapes_invalid_utf8_and_words_for_numbers_read_leniently() {
        let s = read("To=&Digits=&Duration=");
        assert_eq!(s.to, None, "an empty text is absent");
        assert_eq!(
            s.digits.as_deref(),
            Some(""),
            "raw text keeps the empty value"
        );
        assert_eq!(s.duration, None);
        let s = read("To=%ZZ%4&Duration=forty&Digits");
        assert_eq!(
            s.to.as_deref(),
            Some("%ZZ%4"),
            "a bad escape is kept as sent"
        );
        assert_eq!(s.duration, None, "a word is no duration");
        assert_eq!(
            s.digits.as_deref(),
            Some(""),
            "a key without = has an empty value"
        );
        let s: Sample = form(b"To=\xff%FE1&Duration=-3");
        assert_eq!(s.to.as_deref(), Some("\u{fffd}\u{fffd}1"));
        assert_eq!(s.duration, None, "negative seconds are refused");
        let s = read("To=+&Duration=4.39");
        assert_eq!(s.to, None, "a space alone is empty");
        assert_eq!(s.duration, Some(4));
    }

    #[test]
    fn json_scalars_read_as_text_and_other_values_as_absent() {
        let s: Sample =
            json_object(br#"{"To": 919812345678, "Digits": true, "Duration": "40"}"#).unwrap();
        assert_eq!(s.to.as_deref(), Some("919812345678"));
        assert_eq!(s.digits.as_deref(), Some("true"));
        assert_eq!(s.duration, Some(40));
        let s: Sample =
            json_object(br#"{"To": ["x"], "Digits": {"a": [1]}, "Duration": null}"#).unwrap();
        assert_eq!(s, Sample::default());
        let s: Sample = json_object(br#"{"To": "1", "To": " 2 ", "Duration": 4.9}"#).unwrap();
        assert_eq!(
            s.to.as_deref(),
            Some("2"),
            "the last of a repeated key, trimmed"
        );
        assert_eq!(s.duration, Some(4));
        for body in [&b""[..], b"[1,2,3]", b"\"x\"", b"{\"To\":", b"To=1"] {
            assert!(json_object::<Sample>(body).is_none(), "{body:?}");
        }
    }

    #[test]
    fn seconds_are_whole_and_never_negative() {
        for (raw, want) in [
            ("40", Some(40)),
            (" 7 ", Some(7)),
            ("4.39", Some(4)),
            ("0", Some(0)),
            ("-1", None),
            ("-0.5", None),
            ("NaN", None),
            ("inf", None),
            ("", None),
            ("null", None),
        ] {
            assert_eq!(parse_seconds(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn the_pairs_for_a_signature_keep_order_repeats_and_empty_values() {
        assert_eq!(
            pairs(b"b=2&a=1&a=&c"),
            [("b", "2"), ("a", "1"), ("a", ""), ("c", "")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    proptest! {
        /// Read straight or read again after a repeated key, a text reads as the last value of
        /// each of its keys.
        #[test]
        fn every_field_reads_the_last_value_sent(
            encoded in "((To|Digits|Duration|x)=([a-c0-9 +]|%2[0B]|%ZZ|%E2%82%AC){0,6}&?){0,8}",
        ) {
            let last: HashMap<String, String> = pairs(encoded.as_bytes()).into_iter().collect();
            let s = read(&encoded);
            let trimmed = |k: &str| last.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            prop_assert_eq!(s.to, trimmed("To"));
            prop_assert_eq!(s.digits, last.get("Digits").cloned());
            prop_assert_eq!(s.duration, last.get("Duration").and_then(|v| parse_seconds(v)));
        }

        #[test]
        fn any_bytes_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = form::<Sample>(&bytes);
            let _ = json_object::<Sample>(&bytes);
            let _ = pairs(&bytes);
        }
    }
}
