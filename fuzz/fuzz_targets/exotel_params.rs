//! Arbitrary bytes as an Exotel request: everything before the first NUL byte is the query
//! string, everything after it (when there is a NUL) the form body. `ExotelParams::parse` never
//! fails, so no input may panic, and every getter keeps its documented promise.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pinbridge::domain::CallSid;
use pinbridge::providers::exotel::params::{ExotelParams, parse_seconds};

/// `get`'s promise: trimmed, non-empty, never Exotel's `null` placeholder.
fn check_value(key: &str, value: Option<&str>) {
    if let Some(v) = value {
        assert!(!v.is_empty(), "{key}: empty value returned");
        assert_eq!(v, v.trim(), "{key}: value not trimmed");
        assert!(
            !v.eq_ignore_ascii_case("null"),
            "{key}: null placeholder returned"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (query, body) = match text.split_once('\0') {
        Some((q, b)) => (q, Some(b)),
        None => (&*text, None),
    };
    let p = ExotelParams::parse(query, body);

    let call_sid = p.call_sid();
    check_value("CallSid", call_sid);
    check_value("caller", p.caller());
    check_value("virtual_number", p.virtual_number());
    for key in [
        "CallSid",
        "CallFrom",
        "From",
        "CallTo",
        "To",
        "DialCallStatus",
        "DialWhomNumber",
    ] {
        check_value(key, p.get(key));
    }

    // A CallSid that the domain type accepts is the value as given (it is already trimmed).
    if let Some(raw) = call_sid
        && let Ok(sid) = CallSid::parse(raw)
    {
        assert_eq!(sid.as_ref(), raw);
        assert!(sid.as_ref().len() <= CallSid::MAX_LEN);
    }

    if let Some(d) = p.digits() {
        assert_eq!(d, d.trim(), "digits not trimmed");
    }

    for key in [
        "DialCallDuration",
        "Duration",
        "ConversationDuration",
        "digits",
        "CallSid",
    ] {
        if let Some(s) = p.seconds(key) {
            assert!(s >= 0, "{key}: negative seconds {s}");
        }
    }

    for leg in p.legs() {
        if let Some(secs) = leg.on_call_duration.as_deref().and_then(parse_seconds) {
            assert!(secs >= 0, "negative leg duration {secs}");
        }
        let _ = (&leg.number, &leg.leg_type, &leg.cause_code, &leg.cause);
    }
});
