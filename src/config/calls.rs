//! The call itself: what callers hear, how a PIN is asked for, how a bridge is dialled, how
//! long a call's state and its callback live, and the answer when storage fails.

use std::time::Duration;

use anyhow::bail;

use crate::domain::{PhoneNumber, Region};

use super::raw::Raw;

/// How calls are answered and bridged.
#[derive(Debug, Clone)]
pub struct Calls {
    /// `PINBRIDGE_BRAND`: the company name spoken in prompts and written in the SMS. Default
    /// `our delivery service`.
    pub brand: String,
    /// `PINBRIDGE_DEFAULT_LANGUAGE`: the language (BCP 47 primary tag) callers hear on a virtual
    /// number that has none of its own. Default `en`.
    pub default_language: String,
    /// `PINBRIDGE_FALLBACK_LANGUAGE`: the language (BCP 47 primary tag) a prompt is said in
    /// when the call's language has no words for it, operator's or shipped. Default `en`.
    pub fallback_language: String,
    /// `PINBRIDGE_PIN_MAX_ATTEMPTS`: PIN entries per call, at least 1. Default 3.
    pub pin_max_attempts: u8,
    /// `PINBRIDGE_GATHER_INPUT_TIMEOUT`: how long a prompt waits for the first key, 1 s to
    /// 60 s (Exotel `input_timeout`; integrators report values above 6 s rejected). Default
    /// `6s`.
    pub gather_input_timeout: Duration,
    /// How bridges are dialled: `PINBRIDGE_RECORD_CALLS`, `PINBRIDGE_WHISPER`,
    /// `PINBRIDGE_MAX_RINGING_DURATION`, `PINBRIDGE_MAX_CONVERSATION_DURATION`: the defaults a
    /// virtual number, an order or a booking may override ([`ConnectOptions::resolve`]).
    pub connect: ConnectOptions,
    /// `PINBRIDGE_CALL_STATE_TTL`: how long a call's state stays in the in-memory cache; longer
    /// than the longest call. Default `6h`.
    pub call_state_ttl: Duration,
    /// `PINBRIDGE_CALL_STATE_CAPACITY`: how many calls' states the in-memory cache holds at
    /// most; past it the least used go first (and are read from the database when their next
    /// step comes). At least 1. Default 100000.
    pub call_state_capacity: u64,
    /// `PINBRIDGE_WEBHOOK_TIMEOUT`: time budget of one webhook's storage work; past it the
    /// caller gets the safe answer (dial no one, say sorry). Default `2s`.
    pub webhook_timeout: Duration,
    /// `PINBRIDGE_CALLBACK_WINDOW`: how long after a bridged call its dialled party can call the
    /// virtual number back and reach the caller. Default `24h`.
    pub callback_window: Duration,
    /// `PINBRIDGE_FALLBACK_NUMBER`: a number (a support desk) dialled when a call can not be
    /// served because the database is unreachable or too slow; written as a national number in
    /// the default region or in E.164. Unset: such a caller hears sorry and no one is dialled.
    /// Calls routed normally never reach it.
    pub fallback_number: Option<PhoneNumber>,
}

/// How a bridge is dialled, on every provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `PINBRIDGE_RECORD_CALLS`: ask the provider to record the bridged call (in two channels
    /// where it offers them), after the recording consent is said to both parties. Default
    /// `false`.
    pub record: bool,
    /// `PINBRIDGE_WHISPER`: say the whisper (the order or booking the call is about) to the
    /// dialled party when they answer, before the parties are connected. Default `false`.
    pub whisper: bool,
    /// `PINBRIDGE_MAX_RINGING_DURATION`: how long the dialled party's phone rings, seconds.
    /// Default `45s`.
    pub max_ringing_secs: u64,
    /// `PINBRIDGE_MAX_CONVERSATION_DURATION`: the longest bridged conversation, seconds.
    /// Default `1h`.
    pub max_conversation_secs: u64,
}

impl ConnectOptions {
    /// These settings under a bridge's own options (an order's or booking's over its virtual
    /// number's): each option set replaces the setting.
    #[must_use]
    pub fn resolve(&self, options: &crate::domain::CallOptions) -> Self {
        Self {
            record: options.record.unwrap_or(self.record),
            whisper: options.whisper.unwrap_or(self.whisper),
            max_ringing_secs: options
                .ring_timeout_secs
                .map_or(self.max_ringing_secs, u64::from),
            max_conversation_secs: options
                .max_conversation_secs
                .map_or(self.max_conversation_secs, u64::from),
        }
    }
}

impl Calls {
    /// Errors: a fallback number that is not a phone number.
    pub(super) fn parse(raw: &Raw, region: Region) -> anyhow::Result<Self> {
        Ok(Self {
            brand: raw.brand.clone(),
            default_language: raw.default_language.clone(),
            fallback_language: raw.fallback_language.clone(),
            pin_max_attempts: raw.pin_max_attempts,
            gather_input_timeout: raw.gather_input_timeout,
            connect: ConnectOptions {
                record: raw.record_calls,
                whisper: raw.whisper,
                max_ringing_secs: raw.max_ringing_duration.as_secs(),
                max_conversation_secs: raw.max_conversation_duration.as_secs(),
            },
            call_state_ttl: raw.call_state_ttl,
            call_state_capacity: raw.call_state_capacity,
            webhook_timeout: raw.webhook_timeout,
            callback_window: raw.callback_window,
            fallback_number: super::phone_number(
                raw.fallback_number.as_deref(),
                "PINBRIDGE_FALLBACK_NUMBER",
                region,
            )?,
        })
    }

    /// Checks at least one PIN attempt and a prompt timeout of 1 s to 60 s.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.pin_max_attempts == 0 {
            bail!("PINBRIDGE_PIN_MAX_ATTEMPTS must be at least 1");
        }
        if !(1..=60).contains(&self.gather_input_timeout.as_secs()) {
            bail!("PINBRIDGE_GATHER_INPUT_TIMEOUT must be between 1s and 60s");
        }
        if self.call_state_capacity == 0 {
            bail!("PINBRIDGE_CALL_STATE_CAPACITY must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_env;

    #[test]
    fn the_call_state_capacity_is_read_and_is_at_least_one() {
        assert_eq!(load_env(&[]).unwrap().calls.call_state_capacity, 100_000);
        let s = load_env(&[("PINBRIDGE_CALL_STATE_CAPACITY", "500")]).unwrap();
        assert_eq!(s.calls.call_state_capacity, 500);
        let e = load_env(&[("PINBRIDGE_CALL_STATE_CAPACITY", "0")]).unwrap_err();
        assert!(
            e.to_string().contains("PINBRIDGE_CALL_STATE_CAPACITY"),
            "{e}"
        );
    }

    #[test]
    fn the_fallback_number_is_read_once_in_the_default_region() {
        let s = load_env(&[("PINBRIDGE_FALLBACK_NUMBER", "080 4567 8901")]).unwrap();
        assert_eq!(
            s.calls.fallback_number.map(|n| n.to_string()),
            Some("+918045678901".to_owned())
        );
        assert_eq!(load_env(&[]).unwrap().calls.fallback_number, None);
        assert_eq!(
            load_env(&[("PINBRIDGE_FALLBACK_NUMBER", " ")])
                .unwrap()
                .calls
                .fallback_number,
            None
        );
        let e = load_env(&[("PINBRIDGE_FALLBACK_NUMBER", "support desk")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("PINBRIDGE_FALLBACK_NUMBER"), "{e}");
    }

    #[test]
    fn attempts_and_prompt_timeouts_out_of_range_are_refused_with_their_name() {
        for (name, bad) in [
            ("PINBRIDGE_PIN_MAX_ATTEMPTS", "0"),
            ("PINBRIDGE_GATHER_INPUT_TIMEOUT", "0s"),
            ("PINBRIDGE_GATHER_INPUT_TIMEOUT", "61s"),
        ] {
            let e = load_env(&[(name, bad)]).unwrap_err().to_string();
            assert!(e.contains(name), "{name}={bad}: {e}");
        }
        let s = load_env(&[
            ("PINBRIDGE_MAX_RINGING_DURATION", "30s"),
            ("PINBRIDGE_MAX_CONVERSATION_DURATION", "2h"),
            ("PINBRIDGE_RECORD_CALLS", "true"),
            ("PINBRIDGE_WHISPER", "true"),
        ])
        .unwrap();
        assert!(s.calls.connect.whisper);
        assert!(!load_env(&[]).unwrap().calls.connect.whisper);
        assert_eq!(s.calls.connect.max_ringing_secs, 30);
        assert_eq!(s.calls.connect.max_conversation_secs, 7200);
        assert!(s.calls.connect.record);
    }
}
