//! Identifiers that came with a request (call ids, order ids, request ids), as a log line
//! may carry them: bounded in length and charset, with nothing in them that could be a
//! phone number. Whoever sends a webhook chooses its ids, so a log line must not carry one
//! that is long (a 60 KB `CallSid` fills the log) or holds personal data or a secret.

use std::fmt;

use sha2::{Digest, Sha256};

/// The longest identifier a log line carries as sent, in bytes. Real call ids are at most
/// 40 characters (Vonage's `conversation_uuid`, `CON-` and a UUID); Exotel's are 32, Twilio's
/// `CA` and 32 hex digits, Plivo's, 8x8's and Vonage's `uuid` UUIDs of 36.
pub const MAX_LOGGED_LEN: usize = 64;

/// Digits in a row from which a run could be a phone number (a national number has 10 in
/// India, an E.164 number up to 15): the same bound as `scripts/scan-logs.sh`'s.
pub const PHONE_DIGITS: usize = 10;

/// Whether `value` may go into a log line exactly as sent: 1 to [`MAX_LOGGED_LEN`] bytes of
/// `A-Z a-z 0-9 . _ - :`, without a run of [`PHONE_DIGITS`] or more digits.
pub fn is_loggable_as_sent(value: &str) -> bool {
    (1..=MAX_LOGGED_LEN).contains(&value.len())
        && value.bytes().all(allowed)
        && longest_digit_run(value) < PHONE_DIGITS
}

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':')
}

fn longest_digit_run(value: &str) -> usize {
    value
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// `value`, an identifier from a request, rendered for a log line by its `Display`:
///
/// - as sent when [`is_loggable_as_sent`] (1 to [`MAX_LOGGED_LEN`] bytes of
///   `A-Z a-z 0-9 . _ - :` without a run of [`PHONE_DIGITS`] digits): every real call id,
///   but for the odd hex id with ten digits in a row;
/// - anything else (longer, other characters such as spaces, `+`, quotes, control characters
///   or non-ASCII, or digits that could be a phone number, with whatever came around them):
///   `hashed-<first 8 hex digits of its SHA-256>-<length in bytes>B`
///   (`hashed-1f3a9c2b-61440B`), which holds nothing of what was sent but still tells two
///   values apart and matches `printf %s "$id" | sha256sum | cut -c1-8`;
/// - empty: empty.
///
/// Never fails, and writes at most 64 bytes whatever the input.
pub fn log_safe(value: &str) -> LogSafe<'_> {
    LogSafe(value)
}

/// See [`log_safe`].
#[derive(Clone, Copy)]
pub struct LogSafe<'a>(&'a str);

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        if value.is_empty() || is_loggable_as_sent(value) {
            return f.write_str(value);
        }
        let digest = Sha256::digest(value.as_bytes());
        write!(f, "hashed-{}-{}B", hex::encode(&digest[..4]), value.len())
    }
}

impl fmt::Debug for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn real_call_ids_are_logged_as_sent() {
        for id in [
            "c39894edd8a85d7fd95dbf5fdb65157g",
            "CA1234567a90abcdef12345678e0abcd",
            "3f2a9c1e-7b4d-4e7a-9c1d-2b3c4d5e6f70",
            "CON-3f2a9c1e-7b4d-4e7a-9c1d-2b3c4d5e6f70",
            "ctc_AbCdEf01234x56789",
            "OD-1",
        ] {
            assert!(is_loggable_as_sent(id), "{id}");
            assert_eq!(log_safe(id).to_string(), id);
        }
    }

    #[test]
    fn an_id_holding_a_phone_number_is_logged_by_its_digest_only() {
        for id in [
            "919812345678",
            "09812345678.tok_s3cr3t",
            "CA9198123456780abc",
            "c3989412345678905d7fd95dbf5fdb65",
        ] {
            assert!(!is_loggable_as_sent(id), "{id}");
            let shown = log_safe(id).to_string();
            assert!(shown.starts_with("hashed-"), "{id}: {shown}");
            assert!(
                !shown.contains("812345678") && !shown.contains("tok"),
                "{shown}"
            );
        }
        assert_eq!(
            log_safe("919812345678").to_string(),
            format!(
                "hashed-{}-12B",
                &hex::encode(Sha256::digest(b"919812345678"))[..8]
            )
        );
        // Nine digits in a row are no phone number: kept.
        assert_eq!(log_safe("id-123456789").to_string(), "id-123456789");
    }

    #[test]
    fn long_or_strange_ids_are_logged_by_their_digest() {
        let huge = "a".repeat(60 * 1024);
        let shown = log_safe(&huge).to_string();
        assert!(
            shown.starts_with("hashed-") && shown.ends_with("-61440B"),
            "{shown}"
        );
        assert_eq!(shown.len(), "hashed-12345678-61440B".len());
        for strange in ["+44 20", "a b", "x\ny", "\"quoted\"", "ünïcode", "a/b"] {
            let shown = log_safe(strange).to_string();
            assert!(shown.starts_with("hashed-"), "{strange:?}: {shown}");
            assert!(!is_loggable_as_sent(strange), "{strange:?}");
        }
        assert_eq!(
            log_safe("a b").to_string(),
            log_safe("a b").to_string(),
            "the same value, the same rendering"
        );
        assert_ne!(log_safe("a b").to_string(), log_safe("a c").to_string());
        assert_eq!(log_safe("").to_string(), "");
    }

    proptest! {
        #[test]
        fn no_rendering_is_long_strange_or_holds_a_phone_number(s in "\\PC{0,200}|[0-9a-f+ -]{0,100}") {
            let shown = log_safe(&s).to_string();
            prop_assert!(shown.len() <= MAX_LOGGED_LEN);
            prop_assert!(shown.bytes().all(allowed));
            prop_assert!(longest_digit_run(&shown) < PHONE_DIGITS);
        }
    }
}
