//! The reconciler: when a call whose end report never came is looked up at its provider's
//! call-details API, and when it is given up on; and the REST API settings those look-ups
//! need beyond the webhooks' credentials (Twilio's account SID, Plivo's auth ID, each API's
//! base URL). Exotel's look-ups use its REST API settings (`super::ExotelApiSettings`).

use std::time::Duration;

use anyhow::bail;

use super::raw::Raw;

/// How calls left open are reconciled.
#[derive(Debug, Clone)]
pub struct Reconcile {
    /// `PINBRIDGE_RECONCILE_AFTER`: a call with no end report this long after it started is
    /// looked up at its provider; one still in progress there is looked up again this long
    /// after. Default `15m`.
    pub after: Duration,
    /// `PINBRIDGE_RECONCILE_GIVE_UP`: a call still open this long after it started is closed
    /// as `unknown`, whatever its provider says or could not say. Longer than the longest
    /// call (`PINBRIDGE_MAX_CONVERSATION_DURATION` plus ringing and the menus) and than
    /// `PINBRIDGE_RECONCILE_AFTER`. Default `6h`, as the call-state cache
    /// (`PINBRIDGE_CALL_STATE_TTL`), after which a call reads as ended anyway.
    pub give_up: Duration,
    /// `PINBRIDGE_RECONCILE_INTERVAL`: how often each instance looks for calls to reconcile.
    /// Default `1m`.
    pub interval: Duration,
    /// `PINBRIDGE_TWILIO_ACCOUNT_SID`: the Twilio account SID (`AC...`): with
    /// `PINBRIDGE_TWILIO_AUTH_TOKEN`, the basic auth of Twilio's REST API, and part of its
    /// paths. Unset: Twilio calls are not looked up.
    pub twilio_account_sid: Option<String>,
    /// `PINBRIDGE_TWILIO_API_BASE_URL`: Twilio's REST API. Default `https://api.twilio.com`.
    pub twilio_api_base_url: String,
    /// `PINBRIDGE_PLIVO_AUTH_ID`: the Plivo auth ID: with `PINBRIDGE_PLIVO_AUTH_TOKEN`, the
    /// basic auth of Plivo's REST API, and part of its paths. Unset: Plivo calls are not
    /// looked up.
    pub plivo_auth_id: Option<String>,
    /// `PINBRIDGE_PLIVO_API_BASE_URL`: Plivo's REST API. Default `https://api.plivo.com`.
    pub plivo_api_base_url: String,
}

impl Reconcile {
    /// Errors: a base URL that is not an http(s) URL, naming its setting.
    pub(super) fn parse(raw: &Raw) -> anyhow::Result<Self> {
        let base = |value: &str, name: &str| {
            let value = value.trim();
            if !(value.starts_with("https://") || value.starts_with("http://"))
                || reqwest::Url::parse(value).is_err()
            {
                bail!("{name} must be an http(s) URL");
            }
            Ok(value.to_owned())
        };
        let filled = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Ok(Self {
            after: raw.reconcile_after,
            give_up: raw.reconcile_give_up,
            interval: raw.reconcile_interval,
            twilio_account_sid: filled(&raw.twilio_account_sid),
            twilio_api_base_url: base(&raw.twilio_api_base_url, "PINBRIDGE_TWILIO_API_BASE_URL")?,
            plivo_auth_id: filled(&raw.plivo_auth_id),
            plivo_api_base_url: base(&raw.plivo_api_base_url, "PINBRIDGE_PLIVO_API_BASE_URL")?,
        })
    }

    /// Checks that `PINBRIDGE_RECONCILE_GIVE_UP` comes after `PINBRIDGE_RECONCILE_AFTER` (the
    /// look-up delay), and an interval above zero.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.interval.is_zero() {
            bail!("PINBRIDGE_RECONCILE_INTERVAL must be above 0s");
        }
        if self.give_up <= self.after {
            bail!("PINBRIDGE_RECONCILE_GIVE_UP must be longer than PINBRIDGE_RECONCILE_AFTER");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_env;
    use std::time::Duration;

    #[test]
    fn reconcile_settings_have_defaults_and_refuse_a_give_up_before_the_first_look() {
        let s = load_env(&[]).unwrap().reconcile;
        assert_eq!(s.after, Duration::from_secs(15 * 60));
        assert_eq!(s.give_up, Duration::from_secs(6 * 3600));
        assert_eq!(s.interval, Duration::from_secs(60));
        assert_eq!(s.twilio_api_base_url, "https://api.twilio.com");
        assert_eq!(s.plivo_api_base_url, "https://api.plivo.com");
        assert_eq!(s.twilio_account_sid, None);
        let s = load_env(&[
            ("PINBRIDGE_RECONCILE_AFTER", "100ms"),
            ("PINBRIDGE_TWILIO_ACCOUNT_SID", " AC123 "),
        ])
        .unwrap()
        .reconcile;
        assert_eq!(s.after, Duration::from_millis(100));
        assert_eq!(s.twilio_account_sid.as_deref(), Some("AC123"));
        for (name, bad) in [
            ("PINBRIDGE_RECONCILE_GIVE_UP", "10m"),
            ("PINBRIDGE_RECONCILE_INTERVAL", "0s"),
            ("PINBRIDGE_TWILIO_API_BASE_URL", "api.twilio.com"),
            ("PINBRIDGE_PLIVO_API_BASE_URL", "ftp://api.plivo.com"),
        ] {
            let e = load_env(&[(name, bad)]).unwrap_err().to_string();
            assert!(e.contains(name), "{name}={bad}: {e}");
        }
    }
}
