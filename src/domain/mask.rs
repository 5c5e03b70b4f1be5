//! Masking of personal data for logs, and for admin tokens that may not see it.

/// A PIN as shown to an admin token (or UI session) without access to personal data: always
/// these six stars, whatever the PIN, so that not even its length shows. The PIN is what a
/// caller keys on the public virtual number to reach the customer, and its length narrows
/// the guesses.
pub const MASKED_PIN: &str = "******";

/// Masks a phone number, PIN, secret or any other personal string for a log line.
///
/// Keeps a leading `+` and country-code-sized prefix (at most 3 characters, only for strings of
/// 10 characters or more) and the last 4 characters, and replaces the rest with `*`:
/// `+919812345678` becomes `+91******5678`. Strings shorter than 8 characters (PINs, short
/// codes) are fully masked, keeping only their length. Never fails.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n < 8 {
        return "*".repeat(n);
    }
    let head = if n >= 10 { 3 } else { 0 };
    let tail = 4;
    let mut out = String::with_capacity(n);
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', n - head - tail));
    out.extend(&chars[n - tail..]);
    out
}

/// `number` as a viewer sees it: in full when it may see personal data (`pii`), else
/// [`mask`]ed.
pub fn number_for(pii: bool, number: String) -> String {
    if pii { number } else { mask(&number) }
}

/// An order's `pin` as a viewer sees it: in full when it may see personal data (`pii`), else
/// [`MASKED_PIN`].
pub fn pin_for(pii: bool, pin: String) -> String {
    if pii { pin } else { MASKED_PIN.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::mask;
    use proptest::prelude::*;

    #[test]
    fn an_e164_number_keeps_its_country_code_and_last_four_digits() {
        assert_eq!(mask("+919812345678"), "+91******5678");
    }

    #[test]
    fn a_pin_is_masked_entirely() {
        assert_eq!(mask("4821"), "****");
        assert_eq!(mask("568"), "***");
    }

    proptest! {
        #[test]
        fn a_masked_value_never_contains_its_middle(s in "[0-9]{8,15}") {
            let masked = mask(&s);
            prop_assert_eq!(masked.chars().count(), s.chars().count());
            // At most 7 of the original characters survive, so a full number can not be rebuilt.
            let kept = masked.chars().filter(|c| *c != '*').count();
            prop_assert!(kept <= 7);
        }
    }
}
