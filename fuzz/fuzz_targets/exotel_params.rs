//! Arbitrary bytes as an Exotel request: everything before the first NUL byte is the query
//! string, everything after it (when there is a NUL) the form body. `ExotelParams::parse` never
//! fails, so no input may panic, and every field keeps its documented promise.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pinbridge::domain::CallSid;
use pinbridge::providers::exotel::params::{ExotelParams, MAX_LEGS};
use pinbridge::providers::lenient::parse_seconds;

/// A text field's promise: trimmed, non-empty, never Exotel's `null` placeholder.
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
    let (query, body) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    };
    // actix hands the query string over as text.
    let query = String::from_utf8_lossy(query);
    let p = ExotelParams::parse(&query, body);

    check_value("CallSid", p.call_sid.as_deref());
    check_value("caller", p.caller());
    check_value("virtual_number", p.virtual_number());
    for (key, value) in [
        ("CallFrom", &p.call_from),
        ("From", &p.from),
        ("CallTo", &p.call_to),
        ("To", &p.to),
        ("CallType", &p.call_type),
        ("DialCallStatus", &p.dial_call_status),
        ("DialWhomNumber", &p.dial_whom_number),
        ("RecordingUrl", &p.recording_url),
        ("StartTime", &p.start_time),
    ] {
        check_value(key, value.as_deref());
    }

    // A CallSid that the domain type accepts is the value as given (it is already trimmed).
    if let Some(raw) = p.call_sid.as_deref()
        && let Ok(sid) = CallSid::parse(raw)
    {
        assert_eq!(sid.as_ref(), raw);
        assert!(sid.as_ref().len() <= CallSid::MAX_LEN);
    }

    // Cleaned digits: trimmed, without the quotes Exotel wraps them in.
    if let Some(d) = p.digits.as_deref() {
        assert_eq!(d, d.trim(), "digits not trimmed");
        assert!(!d.starts_with('"'), "leading quote left in {d:?}");
    }

    if let Some(s) = p.dial_call_duration {
        assert!(s >= 0, "DialCallDuration: negative seconds {s}");
    }

    assert!(p.legs.len() <= MAX_LEGS, "{} legs", p.legs.len());
    for leg in &p.legs {
        if let Some(secs) = leg.on_call_duration.as_deref().and_then(parse_seconds) {
            assert!(secs >= 0, "negative leg duration {secs}");
        }
        let _ = (&leg.number, &leg.leg_type, &leg.cause_code, &leg.cause);
    }
});
