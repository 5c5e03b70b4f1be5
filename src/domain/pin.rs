//! Order PINs: what a courier keys in to reach the customer of an order.

use std::fmt;

/// An order PIN: ASCII digits only, of a length between the configured minimum and maximum
/// (`PINBRIDGE_PIN_MIN_LENGTH`, `PINBRIDGE_PIN_MAX_LENGTH`, 4 and 12 by default).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pin(String);

/// Why a PIN was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("the PIN is empty")]
    Empty,
    #[error("a PIN holds digits 0-9 only")]
    NotDigits,
    #[error("a PIN has {min} to {max} digits")]
    BadLength { min: u8, max: u8 },
}

impl Pin {
    /// Parses a PIN of `min..=max` digits. Whitespace around it is trimmed; nothing else is
    /// forgiven here (a provider adapter strips its own wrapping, such as Exotel's quotes).
    pub fn parse(raw: &str, min: u8, max: u8) -> Result<Self, PinError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(PinError::Empty);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PinError::NotDigits);
        }
        if s.len() < usize::from(min) || s.len() > usize::from(max) {
            return Err(PinError::BadLength { min, max });
        }
        Ok(Self(s.to_owned()))
    }

    /// Draws a PIN of `len` digits from the operating system's cryptographic random source,
    /// refusing guessable shapes: one digit repeated (`111111`) and runs (`123456`, `654321`).
    pub fn generate(len: u8) -> Self {
        use rand::RngExt;
        let mut rng = rand::rng();
        loop {
            let s: String = (0..len)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            if !is_guessable(&s) {
                return Self(s);
            }
        }
    }

    /// Number of digits.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a parsed PIN has at least one digit.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The PIN rebuilt from storage, where only parsed PINs are written.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }
}

/// True for one repeated digit and for ascending or descending runs.
fn is_guessable(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 {
        return false;
    }
    let steps: Vec<i16> = b
        .windows(2)
        .map(|w| i16::from(w[1]) - i16::from(w[0]))
        .collect();
    steps.iter().all(|d| *d == 0) || steps.iter().all(|d| *d == 1) || steps.iter().all(|d| *d == -1)
}

impl AsRef<str> for Pin {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The PIN never prints in full by accident: `Debug` is masked.
impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({})", super::mask(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn digits_within_bounds_are_a_pin() {
        assert_eq!(Pin::parse("4821", 4, 12).unwrap().as_ref(), "4821");
        assert_eq!(Pin::parse(" 568 ", 3, 12).unwrap().as_ref(), "568");
    }

    #[test]
    fn bad_pins_are_refused_with_a_reason() {
        assert_eq!(Pin::parse("", 4, 12), Err(PinError::Empty));
        assert_eq!(Pin::parse("12a4", 4, 12), Err(PinError::NotDigits));
        assert_eq!(Pin::parse("12 34", 4, 12), Err(PinError::NotDigits));
        assert_eq!(Pin::parse("١٢٣٤", 4, 12), Err(PinError::NotDigits));
        assert_eq!(
            Pin::parse("568", 4, 12),
            Err(PinError::BadLength { min: 4, max: 12 })
        );
        assert_eq!(
            Pin::parse("1234567890123", 4, 12),
            Err(PinError::BadLength { min: 4, max: 12 })
        );
    }

    #[test]
    fn debug_output_hides_the_pin() {
        let pin = Pin::parse("48213377", 4, 12).unwrap();
        assert!(!format!("{pin:?}").contains("4821"));
    }

    #[test]
    fn guessable_shapes_are_recognised() {
        for s in ["111111", "123456", "654321", "0123", "9876"] {
            assert!(is_guessable(s), "{s}");
        }
        for s in ["482133", "120456", "135790"] {
            assert!(!is_guessable(s), "{s}");
        }
    }

    #[test]
    fn generated_pins_are_not_all_alike() {
        let pins: std::collections::HashSet<String> = (0..200)
            .map(|_| Pin::generate(6).as_ref().to_owned())
            .collect();
        // 200 draws from 10^6 values: a repeat is possible but more than a few means no randomness.
        assert!(pins.len() > 195, "only {} distinct PINs", pins.len());
    }

    proptest! {
        #[test]
        fn generated_pins_parse_and_are_never_guessable(len in 3u8..=12) {
            let pin = Pin::generate(len);
            prop_assert_eq!(pin.len(), usize::from(len));
            prop_assert!(Pin::parse(pin.as_ref(), len, len).is_ok());
            prop_assert!(!is_guessable(pin.as_ref()));
        }

        #[test]
        fn parse_accepts_exactly_the_digit_strings_within_bounds(s in "[0-9a#* ]{0,14}") {
            let ok = Pin::parse(&s, 4, 12).is_ok();
            let t = s.trim();
            let want = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && (4..=12).contains(&t.len());
            prop_assert_eq!(ok, want);
        }
    }
}
