//! The provider's identifier of one call.

use std::fmt;
use std::sync::Arc;

/// A provider's call identifier: Exotel's and Twilio's `CallSid`, Plivo's `CallUUID`, 8x8's
/// `callId`, Vonage's `uuid`.
///
/// 1 to 64 characters of `[A-Za-z0-9._-]`: the longest real id is 40 (Vonage's
/// `conversation_uuid`). It keys the call session in the cache and the database, so anything
/// else (empty, oversized, or carrying separators) is refused. Log lines carry it as
/// [`CallSid::for_log`] renders it.
///
/// Shared, not copied: a clone (for the writes of a step) allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallSid(Arc<str>);

/// Why a call identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallSidError {
    #[error("the call id is empty")]
    Empty,
    #[error("the call id is longer than 64 characters")]
    TooLong,
    #[error("the call id holds a character other than letters, digits, '.', '_' and '-'")]
    BadCharacter,
}

impl CallSid {
    /// Maximum length in characters.
    pub const MAX_LEN: usize = super::MAX_LOGGED_LEN;

    /// Parses a call identifier, trimming surrounding whitespace.
    pub fn parse(raw: &str) -> Result<Self, CallSidError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(CallSidError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(CallSidError::TooLong);
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(CallSidError::BadCharacter);
        }
        Ok(Self(s.into()))
    }

    /// The identifier as a log line carries it ([`super::log_safe`]): as sent, unless it
    /// holds a run of digits long enough to be a phone number, when only its digest is
    /// logged. Real ids are hex or UUIDs, but a provider (or someone posing as one) may send
    /// anything that passes [`CallSid::parse`].
    pub fn for_log(&self) -> super::LogSafe<'_> {
        super::log_safe(&self.0)
    }

    /// The identifier, shared: for a write that outlives the request ([`crate::storage::calls::CallKey`]).
    pub fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }
}

impl AsRef<str> for CallSid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// As a log line may hold it ([`CallSid::for_log`]): an id a request chose is never written
/// to a log as sent unless it is safe to. The id itself is [`AsRef::as_ref`].
impl fmt::Display for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.for_log(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_seed_call_sids_parse() {
        for sid in [
            "c39894edd8a85d7fd95dbf5fdb65157g",
            "066b197844c030d6737dac19cca6157p",
            "CA1234567890abcdef1234567890abcdef",
            "aaaa-bbbb-cccc",
        ] {
            assert_eq!(CallSid::parse(sid).unwrap().as_ref(), sid);
        }
    }

    #[test]
    fn bad_call_sids_are_refused() {
        assert_eq!(CallSid::parse(""), Err(CallSidError::Empty));
        assert_eq!(CallSid::parse("   "), Err(CallSidError::Empty));
        assert_eq!(CallSid::parse("a b"), Err(CallSidError::BadCharacter));
        assert_eq!(CallSid::parse("a:b"), Err(CallSidError::BadCharacter));
        assert_eq!(CallSid::parse(&"a".repeat(65)), Err(CallSidError::TooLong));
        assert_eq!(CallSid::parse(&"a".repeat(64)).unwrap().as_ref().len(), 64);
        assert_eq!(
            CallSid::parse(&"a".repeat(60 * 1024)),
            Err(CallSidError::TooLong)
        );
    }

    #[test]
    fn a_call_sid_holding_a_phone_number_is_logged_by_its_digest() {
        let sid = CallSid::parse("09812345678-tok").unwrap();
        assert_eq!(
            sid.as_ref(),
            "09812345678-tok",
            "kept as sent for the session"
        );
        let logged = sid.for_log().to_string();
        assert!(
            logged.starts_with("hashed-") && logged.ends_with("-15B"),
            "{logged}"
        );
        let real = CallSid::parse("c39894edd8a85d7fd95dbf5fdb65157g").unwrap();
        assert_eq!(real.for_log().to_string(), real.as_ref());
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepted_sids_are_clean(s in "\\PC{0,200}") {
            if let Ok(sid) = CallSid::parse(&s) {
                prop_assert!(!sid.as_ref().is_empty() && sid.as_ref().len() <= 64);
                prop_assert!(sid.as_ref().bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }
}
