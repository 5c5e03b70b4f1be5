//! Arbitrary text as a phone number read in region `IN`. `PhoneNumber::parse` must never panic,
//! and a number it accepts must be in the E.164 form that `PhoneNumber::from_e164` (the gate for
//! stored numbers) accepts: `+` and then 1 to 15 ASCII digits, the first not `0` (country codes
//! start at 1). That stored form must round-trip through `from_e164` unchanged, and parsing it
//! again, in any default region, must give the same number (an E.164 string names one number).
//!
//! The last check fails on the code as first fuzzed: phonenumber 0.3.10 strips the *default
//! region's* national prefix from a number written with `+` and a country code, so
//! `"390669821234"` is accepted in `IN` as `+390669821234`, which `IN` then refuses (`0` is
//! India's national prefix; Italian numbers keep their leading `0`), and `+911123456789` (a
//! Delhi landline) is refused with default region `US` (national prefix `1`).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pinbridge::domain::{PhoneNumber, PhoneNumberError, Region};

fn regions() -> &'static (Region, Region) {
    static REGIONS: OnceLock<(Region, Region)> = OnceLock::new();
    REGIONS.get_or_init(|| {
        (
            Region::parse("IN").expect("IN is a region"),
            Region::parse(" us ").expect("us is a region"),
        )
    })
}

fuzz_target!(|raw: &str| {
    let (india, us) = *regions();

    // Region codes: parsing arbitrary text never panics, and an accepted code has a calling code.
    if raw.len() <= 8
        && let Ok(r) = Region::parse(raw)
    {
        let _ = r.calling_code();
    }

    let parsed = PhoneNumber::parse(raw, india);
    if raw.trim().is_empty() {
        assert_eq!(parsed, Err(PhoneNumberError::Empty), "{raw:?}");
    }
    let Ok(n) = parsed else { return };

    let s = n.as_ref();
    let digits = s
        .strip_prefix('+')
        .unwrap_or_else(|| panic!("{s:?} has no +"));
    assert!(
        (1..=15).contains(&digits.len()),
        "{s:?}: {} digits, E.164 allows 1 to 15",
        digits.len()
    );
    assert!(
        digits.bytes().all(|b| b.is_ascii_digit()),
        "{s:?} holds a non-digit"
    );
    assert!(
        !digits.starts_with('0'),
        "{s:?}: a country code never starts with 0"
    );
    assert_eq!(n.to_string(), s);

    let stored = PhoneNumber::from_e164(s).unwrap_or_else(|| panic!("from_e164 refused {s:?}"));
    assert_eq!(stored, n);

    // Idempotence: the stored E.164 form parses to the same number, whatever the default region.
    assert_eq!(
        PhoneNumber::parse(s, india).as_ref(),
        Ok(&n),
        "{raw:?} -> {s:?}, region IN"
    );
    assert_eq!(
        PhoneNumber::parse(s, us).as_ref(),
        Ok(&n),
        "{raw:?} -> {s:?}, region US"
    );

    let masked = n.masked();
    assert_eq!(masked.chars().count(), s.chars().count());
});
