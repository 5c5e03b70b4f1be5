//! Arbitrary bytes as an 8x8 webhook body, read by every payload type pinbridge knows (Voice
//! Call Action, Call Status, Session Summary). Parsing is lenient and must never panic; only a
//! body that is not a JSON object is refused, and every accessor keeps its promise: values
//! trimmed and non-empty, durations not negative, the legs summary a JSON array.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pinbridge::providers::eight_by_eight::auth::{authorization_matches, secret_matches};
use pinbridge::providers::eight_by_eight::params::{
    CallAction, CallActionKind, CallStatus, SessionSummary, Webhook, dial_status, dtmf_digits,
};

fn check_value(what: &str, value: Option<&str>) {
    if let Some(v) = value {
        assert!(!v.is_empty(), "{what}: empty value returned");
        assert_eq!(v, v.trim(), "{what}: value not trimmed");
    }
}

/// `is_event`: true for an absent `eventType`, else a trimmed, case-insensitive comparison.
fn check_event(event_type: Option<&str>, is_event: impl Fn(&str) -> bool) {
    for name in ["CALL_ACTION", "CALL_STATUS", "SESSION_SUMMARY"] {
        let is = is_event(name);
        match event_type {
            None => assert!(is, "absent eventType must match {name}"),
            Some(t) => assert_eq!(is, t.trim().eq_ignore_ascii_case(name)),
        }
    }
}

fuzz_target!(|body: &[u8]| {
    let action = Webhook::<CallAction>::parse(body);
    let status = Webhook::<CallStatus>::parse(body);
    let summary = Webhook::<SessionSummary>::parse(body);
    // Every field is optional and lenient: whether a body is accepted depends only on it being
    // a JSON object, never on the payload type asked for.
    assert_eq!(
        action.is_some(),
        status.is_some(),
        "CallAction vs CallStatus"
    );
    assert_eq!(
        action.is_some(),
        summary.is_some(),
        "CallAction vs SessionSummary"
    );

    if let Some(w) = &action {
        check_event(w.event_type.as_deref(), |n| w.is_event(n));
        let p = &w.payload;
        check_value("session_id", p.session_id());
        check_value("caller", p.caller());
        check_value("virtual_number", p.virtual_number());
        if let CallActionKind::PinCaptured { digits } = p.kind() {
            assert_eq!(digits, digits.trim(), "captured digits not trimmed");
            let raw = p
                .event_data
                .as_ref()
                .and_then(|e| e.dtmf.as_deref())
                .unwrap_or("");
            assert_eq!(digits, dtmf_digits(raw));
        }
        let _ = (&p.event_id, &p.call_id, &p.call_direction);
    }

    if let Some(w) = &status {
        check_event(w.event_type.as_deref(), |n| w.is_event(n));
        check_value("session_id", w.payload.session_id());
        let _ = (
            &w.payload.call_id,
            &w.payload.call_status,
            &w.payload.source,
            &w.payload.destination,
        );
    }

    if let Some(w) = &summary {
        check_event(w.event_type.as_deref(), |n| w.is_event(n));
        let s = &w.payload;
        check_value("session_id", s.session_id());
        check_value("session_status", s.session_status());
        check_value("caller", s.caller());
        check_value("virtual_number", s.virtual_number());
        check_value("dialled_number", s.dialled_number());
        // A dial status only for a session that dialled someone, mapped from its sessionStatus.
        let want = if s.dialled() {
            s.session_status().and_then(dial_status)
        } else {
            None
        };
        assert_eq!(s.dial_status(), want);
        for (what, secs) in [("talk_secs", s.talk_secs()), ("dial_secs", s.dial_secs())] {
            if let Some(secs) = secs {
                assert!(secs >= 0, "{what}: negative {secs}");
            }
        }
        if let Some(legs) = s.legs_json() {
            assert!(
                legs.starts_with('[') && legs.ends_with(']'),
                "legs_json not an array: {legs}"
            );
            // Numbers are left out of the legs written to the call record.
            assert!(!legs.contains("\"source\":"), "{legs}");
            assert!(!legs.contains("\"destination\":"), "{legs}");
        }
        if let Some(details) = &s.details {
            for leg in [&details.call_a, &details.call_b].into_iter().flatten() {
                if let Some(d) = leg.call_duration {
                    assert!(d >= 0, "negative callDuration {d}");
                }
            }
        }
    }

    // The 8x8 secret checks take the same untrusted bytes: never panic, only the exact value matches.
    let text = String::from_utf8_lossy(body);
    let (a, b) = text.split_once('\n').unwrap_or((&text, ""));
    assert_eq!(secret_matches(a, b), a == b);
    assert_eq!(authorization_matches(Some(a), Some(b.as_bytes())), a == b);
    assert!(authorization_matches(None, None));
    assert!(authorization_matches(None, Some(body)));
    assert!(!authorization_matches(Some(a), None));
});
