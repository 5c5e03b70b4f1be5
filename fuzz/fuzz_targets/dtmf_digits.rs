//! Arbitrary text as keyed DTMF: Exotel's `dtmf_digits` (and 8x8's) clean it, then
//! `Pin::parse(…, 3, 12)` decides. Checks what the two functions guarantee:
//!
//! - the cleaned string is a piece of the input, with no surrounding whitespace and no leading
//!   quote (straight or curly); when the input is one quoted entry (`"4821#"`, `“4821”`, with
//!   whitespace around), the result is exactly the entry without quotes and its finishing `#`s;
//! - `Pin::parse` accepts exactly the strings that, trimmed, are 3 to 12 ASCII digits, says why
//!   it refuses the others, and an accepted PIN never shows in full in `Debug`.
//!
//! Not asserted, because `dtmf_digits` does not guarantee it for every input: "no trailing `#`
//! or quote" and idempotence. It trims in a fixed order (whitespace and quotes, then `#`s, then
//! whitespace), so `"1"#` (quote, digit, quote, `#`) cleans to `1"`, and `1# #` to `1#`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pinbridge::domain::{Pin, PinError};
use pinbridge::providers::eight_by_eight::params::dtmf_digits as dtmf_digits_8x8;
use pinbridge::providers::exotel::params::dtmf_digits;

const MIN: u8 = 3;
const MAX: u8 = 12;

fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\'' | '“' | '”')
}

fn check_pin(s: &str) {
    let t = s.trim();
    let want_ok = !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit())
        && (usize::from(MIN)..=usize::from(MAX)).contains(&t.len());
    match Pin::parse(s, MIN, MAX) {
        Ok(pin) => {
            assert!(want_ok, "accepted {s:?}");
            let p = pin.as_ref();
            assert_eq!(p, t);
            assert!(
                p.bytes().all(|b| b.is_ascii_digit()),
                "non-digit in PIN {p:?}"
            );
            assert!((usize::from(MIN)..=usize::from(MAX)).contains(&p.len()));
            assert_eq!(pin.len(), p.len());
            assert!(!pin.is_empty());
            let debug = format!("{pin:?}");
            assert!(!debug.contains(p), "Debug shows the PIN: {debug}");
            assert!(
                debug.chars().filter(char::is_ascii_digit).count() <= 7,
                "{debug}"
            );
        }
        Err(e) => {
            assert!(!want_ok, "refused {s:?}: {e}");
            let want = if t.is_empty() {
                PinError::Empty
            } else if !t.bytes().all(|b| b.is_ascii_digit()) {
                PinError::NotDigits
            } else {
                PinError::BadLength { min: MIN, max: MAX }
            };
            assert_eq!(e, want, "{s:?}");
        }
    }
}

/// The one shape the cleaning promises to undo completely: whitespace, quotes, the entry, `#`s,
/// quotes, whitespace. Returns the entry when `raw` has that shape and the entry itself starts
/// and ends with neither whitespace, a quote nor (at its end) a `#`.
fn quoted_entry(raw: &str) -> Option<&str> {
    let inner = raw.trim_matches(|c: char| c.is_whitespace() || is_quote(c));
    let entry = inner.trim_end_matches('#');
    let clean_edge = |c: char| !c.is_whitespace() && !is_quote(c) && c != '#';
    match (entry.chars().next(), entry.chars().last()) {
        (Some(a), Some(z)) if clean_edge(a) && clean_edge(z) => Some(entry),
        _ => None,
    }
}

fuzz_target!(|raw: &str| {
    let out = dtmf_digits(raw);
    assert!(raw.contains(out), "{out:?} is not a piece of {raw:?}");
    assert_eq!(out, out.trim(), "surrounding whitespace left in {out:?}");
    assert!(!out.starts_with(is_quote), "leading quote left in {out:?}");
    if let Some(entry) = quoted_entry(raw) {
        assert_eq!(out, entry, "{raw:?}");
    }
    check_pin(out);
    check_pin(raw);

    // 8x8 sends the digits without quotes; its cleaning only trims and drops the finishing `#`s.
    let out8 = dtmf_digits_8x8(raw);
    assert!(raw.contains(out8.as_str()));
    assert_eq!(out8, out8.trim());
    let plain = raw.trim().trim_end_matches('#');
    if !plain.ends_with(char::is_whitespace) {
        assert_eq!(out8, plain, "{raw:?}");
    }
    check_pin(&out8);
});
