//! Settings: defaults, then an optional TOML file (`--config FILE`), then `PINBRIDGE_*`
//! environment variables, each later source overriding the earlier ones; read once, at load,
//! into typed values grouped by concern, and checked there. Nothing reads a setting's text
//! after that.
//!
//! Owns: every setting's name, default, parsing and check. Must not touch: anything that acts
//! on a setting (the modules that use a value receive it typed).
//!
//! Every setting is one flat key; its environment variable is the key upper-cased with the
//! `PINBRIDGE_` prefix (`pin_max_attempts` ⇔ `PINBRIDGE_PIN_MAX_ATTEMPTS`). Durations are
//! written `90s`, `30m`, `24h`, `7d` (humantime), or as a number of seconds. docs/settings.md lists them
//! all. The keys as written are one private flat struct (`raw`); each concern reads its own:
//!
//! - [`Server`], [`Database`] (`server`): where pinbridge listens and is reached, its database.
//! - [`ProviderSettings`] (`providers`): which providers are on, their credentials.
//! - [`OrderRules`] (`orders`): the region, the calling codes, PIN lengths, the order TTL.
//! - [`Calls`] (`calls`): prompts, PIN attempts, bridging, call state, the fallback number.
//! - [`Guessing`] (`guessing`): the caller limit, the guessing budget, the PIN density.
//! - [`Access`] (`access`): admin tokens, trusted proxies, allowed source networks.
//! - [`AdminUi`] (`admin_ui`): how the admin web UI shows times (its time zone).
//! - [`Outbound`] (`outbound`): Exotel's REST API, the SMS, the event webhooks.
//! - [`Retention`] (`retention`): what is deleted when, the booking TTL.
//! - [`Allocation`] (`allocation`): the cool-off between bookings of the same parties, the
//!   pool's headroom alert.
//! - [`Reconcile`] (`reconcile`): calls whose end report never came, and the call-details
//!   APIs they are looked up in.
//! - [`Voices`] (`voices`): the locale and the voice each provider reads each language with.

mod access;
mod admin_ui;
mod allocation;
mod calls;
mod guessing;
mod orders;
mod outbound;
mod providers;
mod raw;
mod reconcile;
mod retention;
mod server;
mod voices;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Deserializer};

pub use self::access::{Access, AdminToken};
pub use self::admin_ui::AdminUi;
pub use self::allocation::Allocation;
pub use self::calls::{Calls, ConnectOptions};
pub use self::guessing::Guessing;
pub use self::outbound::{EventsSettings, ExotelApiSettings, Outbound, SmsSettings};
pub use self::providers::{ExotelNumberFormat, ProviderAuth, ProviderSettings, Providers, Signing};
pub use self::reconcile::Reconcile;
pub use self::retention::Retention;
pub use self::server::{Database, Listen, Server};
pub use self::voices::{Tts, Voices, VonageVoice};

use crate::domain::{OrderRules, PhoneNumber, Region};
use raw::Raw;

/// All settings of one pinbridge process, parsed and checked ([`Settings::load`]). `Debug`
/// never prints a secret: secrets are [`secrecy::SecretString`], admin tokens are kept as
/// digests, and the database and events URLs print without their credentials.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: Server,
    pub database: Database,
    pub providers: ProviderSettings,
    /// What orders and bookings may be, and the region every number without a country code is
    /// read in ([`OrderRules::region`]).
    pub orders: OrderRules,
    pub calls: Calls,
    pub guessing: Guessing,
    pub access: Access,
    pub admin_ui: AdminUi,
    pub outbound: Outbound,
    pub retention: Retention,
    pub allocation: Allocation,
    pub reconcile: Reconcile,
    pub voices: Voices,
}

/// The defaults: what `pinbridge serve` runs with when nothing is configured.
impl Default for Settings {
    fn default() -> Self {
        Self::parse(&Raw::default()).expect("the default settings are valid")
    }
}

impl Settings {
    /// Loads the settings: defaults, then `file` (TOML, if given), then the environment.
    ///
    /// Errors: an unreadable or malformed file, a value of the wrong type, or a value out of
    /// range (see [`Settings::validate`]); the message names the setting.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_from(file, std::env::vars())
    }

    /// [`Settings::load`] with `env` in place of the process's environment.
    ///
    /// Errors: as [`Settings::load`], and a `PINBRIDGE_*` variable or a TOML key that names no
    /// setting (a misspelling would otherwise leave a provider's secret unset without a word);
    /// the message names the closest known setting.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let env: std::collections::HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            let source = config::File::from(path)
                .format(config::FileFormat::Toml)
                .required(true);
            let keys = config::Config::builder()
                .add_source(source.clone())
                .build()
                .context("reading the settings")?
                .try_deserialize::<std::collections::HashMap<String, config::Value>>()
                .context("reading the settings")?;
            for key in keys.keys() {
                check_known(key, &format!("{}: the key {key:?}", path.display()), "")?;
            }
            builder = builder.add_source(source);
        }
        for name in env.keys() {
            let key = name[ENV_PREFIX.len()..].to_ascii_lowercase();
            check_known(&key, name, ENV_PREFIX)?;
        }
        builder = builder.add_source(
            config::Environment::with_prefix("PINBRIDGE").source(Some(env.into_iter().collect())),
        );
        let raw: Raw = builder
            .build()
            .context("reading the settings")?
            .try_deserialize()
            .context("reading the settings")?;
        let settings = Self::parse(&raw)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Reads every setting into its typed value; the region first, since the phone numbers
    /// among the settings are read in it.
    fn parse(raw: &Raw) -> anyhow::Result<Self> {
        let orders = orders::parse(raw)?;
        let region = orders.region;
        Ok(Self {
            server: Server::parse(raw)?,
            database: Database::parse(raw)?,
            providers: ProviderSettings::parse(raw)?,
            calls: Calls::parse(raw, region)?,
            guessing: Guessing::parse(raw),
            access: Access::parse(raw)?,
            admin_ui: AdminUi::parse(raw)?,
            outbound: Outbound::parse(raw, region)?,
            retention: Retention::parse(raw),
            allocation: Allocation::parse(raw),
            reconcile: Reconcile::parse(raw)?,
            voices: Voices::parse(raw)?,
            orders,
        })
    }

    /// Checks the ranges that types alone do not (each concern's `check`): PIN lengths, PIN
    /// attempts and the prompt timeout, the database pool and its timeouts, the guessing limits,
    /// the URL secrets. [`Settings::load`] runs it; so does
    /// [`crate::app::startup::Application::build`], for settings put together in code.
    ///
    /// Errors: the first value out of range, naming its setting.
    pub fn validate(&self) -> anyhow::Result<()> {
        orders::check(&self.orders)?;
        self.calls.check()?;
        self.database.check()?;
        self.guessing.check()?;
        self.providers.check()?;
        self.reconcile.check()?;
        self.allocation.check()?;
        Ok(())
    }
}

/// The prefix of every setting's environment variable.
const ENV_PREFIX: &str = "PINBRIDGE_";

/// Settings that no longer exist, with what replaced them: naming them stops the start with
/// that advice instead of a guess at the closest name.
const REMOVED: &[(&str, &str)] = &[
    (
        "number_max_failures",
        "the guessing budget replaced it: PINBRIDGE_PIN_GUESSING_BUDGET bounds what wrong PINs on a number may reach, and raises pin.budget_spent",
    ),
    (
        "number_lockout",
        "the guessing budget replaced it: once a number's budget is spent, only callers unknown there are refused (PINBRIDGE_PIN_GUESSING_BUDGET)",
    ),
];

/// Stops the start when `key` (a lower-case setting name, as in TOML) names no setting.
/// `what` names where it was written, for the message; `prefix` is how settings are written
/// there (`PINBRIDGE_` for variables, nothing for TOML keys), for the suggestion.
fn check_known(key: &str, what: &str, prefix: &str) -> anyhow::Result<()> {
    let known = serde_aux::serde_introspection::serde_introspect::<Raw>();
    if known.contains(&key) {
        return Ok(());
    }
    if let Some((_, advice)) = REMOVED.iter().find(|(name, _)| *name == key) {
        bail!("{what} is no longer a setting: {advice}");
    }
    let closest = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), *k))
        .min()
        .filter(|(distance, _)| *distance <= 4);
    match closest {
        Some((_, k)) => bail!(
            "{what} is not a setting; did you mean {}? (docs/settings.md)",
            written(prefix, k)
        ),
        None => bail!("{what} is not a setting (docs/settings.md lists them all)"),
    }
}

/// A setting's name as written with `prefix`: `PINBRIDGE_PIN_MIN_LENGTH` or `pin_min_length`.
fn written(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}{}", key.to_ascii_uppercase())
    }
}

/// Accepts `90s`, `30m`, `24h`, `7d`, `1h 30m`, or a bare number of seconds.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

/// Accepts `1%`, `0.5 %` or a plain fraction such as `0.01`.
fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(f64),
        Text(String),
    }
    let value = match Raw::deserialize(d)? {
        Raw::Number(n) => n,
        Raw::Text(t) => {
            let t = t.trim();
            match t.strip_suffix('%') {
                Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
                None => t.parse::<f64>(),
            }
            .map_err(|_| {
                serde::de::Error::custom(format!("{t:?} is not a share such as 1% or 0.01"))
            })?
        }
    };
    if !(value > 0.0 && value <= 1.0) {
        return Err(serde::de::Error::custom(
            "a share lies above 0% and at most 100%",
        ));
    }
    Ok(value)
}

/// Parses a duration as written in settings: `90s`, `30m`, `24h`, `7d`, or bare seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{t:?} is not a duration such as 90s, 30m, 24h or 7d ({e})"))
}

/// `raw`, the value of the setting `name`, read as a phone number in `region`; `None` when
/// unset or blank. Errors: a value that is not a phone number, naming the setting.
fn phone_number(
    raw: Option<&str>,
    name: &str,
    region: Region,
) -> anyhow::Result<Option<PhoneNumber>> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(None);
    };
    PhoneNumber::parse(raw, region)
        .map(Some)
        .map_err(|_| anyhow::anyhow!("{name} is not a phone number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings loaded from the variables `pairs` alone (no file), as a process with that
    /// environment would load them.
    pub(super) fn load_env(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        Settings::load_from(
            None,
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn durations_are_written_the_way_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("120"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        let s = load_env(&[("PINBRIDGE_WEBHOOK_TIMEOUT", "1500ms")]).unwrap();
        assert_eq!(s.calls.webhook_timeout, Duration::from_millis(1500));
        let e = format!(
            "{:#}",
            load_env(&[("PINBRIDGE_CALL_STATE_TTL", "soon")]).unwrap_err()
        );
        assert!(e.contains("call_state_ttl"), "{e}");
        assert!(e.contains("is not a duration"), "{e}");
    }

    #[test]
    fn the_defaults_load_and_are_what_an_empty_environment_gives() {
        let loaded = load_env(&[]).unwrap();
        assert_eq!(format!("{loaded:?}"), format!("{:?}", Settings::default()));
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn a_toml_file_overrides_the_defaults_and_the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pinbridge.toml");
        std::fs::write(
            &path,
            "pin_min_length = 3\norder_ttl = \"7d\"\nbrand = \"Swift\"\npin_max_density = \"2%\"\n\"8x8_voice_profile\" = \"en-IN-Neural\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.orders.pin_min, 3);
        assert_eq!(s.orders.default_ttl_ms, 7 * 86_400_000);
        assert_eq!(s.calls.brand, "Swift");
        assert_eq!(s.orders.pin_max, 12);
        assert!((s.guessing.pin_max_density - 0.02).abs() < 1e-12);
        assert_eq!(s.providers.eight_by_eight_voice_profile, "en-IN-Neural");
        let s = Settings::load_from(
            Some(&path),
            [("PINBRIDGE_BRAND".to_owned(), "Swifter".to_owned())],
        )
        .unwrap();
        assert_eq!((s.calls.brand.as_str(), s.orders.pin_min), ("Swifter", 3));
    }

    #[test]
    fn a_misspelled_variable_or_key_stops_the_start_naming_the_closest_setting() {
        let e = load_env(&[("PINBRIDGE_PIN_MIN_LENGHT", "5")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("PINBRIDGE_PIN_MIN_LENGHT"), "{e}");
        assert!(e.contains("did you mean PINBRIDGE_PIN_MIN_LENGTH"), "{e}");
        let e = load_env(&[("PINBRIDGE_TWILIO_AUTH_TOKN", "x")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("PINBRIDGE_TWILIO_AUTH_TOKEN"), "{e}");
        let e = load_env(&[("PINBRIDGE_WHATEVER_ELSE_ENTIRELY", "1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a setting"), "{e}");
        let e = load_env(&[("PINBRIDGE_NUMBER_LOCKOUT", "1h")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("is no longer a setting"), "{e}");
        assert!(e.contains("PINBRIDGE_PIN_GUESSING_BUDGET"), "{e}");
        // Variables without the prefix are not ours; known ones load.
        let s = Settings::load_from(
            None,
            [
                ("HOME", "/root"),
                ("PINBRIDGE_PIN_MIN_LENGTH", "5"),
                ("PINBRIDGE_8X8_SECRET", "an-8x8-secret-0123456789"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .unwrap();
        assert_eq!(s.orders.pin_min, 5);
        assert!(s.providers.eight_by_eight_secret.is_some());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pinbridge.toml");
        std::fs::write(&path, "brandd = \"Swift\"\n").unwrap();
        let e = Settings::load_from(Some(&path), [])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"brandd\""), "{e}");
        assert!(e.contains("did you mean brand?"), "{e}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = load_env(&[
            ("PINBRIDGE_ADMIN_TOKEN", "very-secret-admin-token"),
            ("PINBRIDGE_ADMIN_TOKENS", "ops:very-secret-ops-token:pii"),
            ("PINBRIDGE_EXOTEL_SECRET", "very-secret-exotel-path"),
            ("PINBRIDGE_TWILIO_AUTH_TOKEN", "very-secret-twilio"),
            ("PINBRIDGE_PLIVO_AUTH_TOKEN", "very-secret-plivo"),
            ("PINBRIDGE_VONAGE_SIGNATURE_SECRET", "very-secret-vonage"),
            ("PINBRIDGE_8X8_SECRET", "very-secret-8x8-path"),
            ("PINBRIDGE_8X8_AUTH_HEADER", "Basic very-secret-8x8"),
            ("PINBRIDGE_EXOTEL_API_KEY", "very-secret-exotel-key"),
            ("PINBRIDGE_EXOTEL_API_TOKEN", "very-secret-exotel-token"),
            ("PINBRIDGE_EVENTS_SECRET", "very-secret-events-key"),
            (
                "PINBRIDGE_EVENTS_URL",
                "https://hooks.example.com/p?key=very-secret-query",
            ),
            (
                "PINBRIDGE_DATABASE_URL",
                "postgres://pinbridge:very-secret-password@db/pinbridge",
            ),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains("very-secret"), "{printed}");
        let digest = hex::encode(crate::domain::token_digest("very-secret-admin-token"));
        assert!(!printed.contains(&digest), "{printed}");
        // What is not secret still shows, so the output stays of use.
        assert!(printed.contains("ops"), "{printed}");
        assert!(printed.contains("postgres"), "{printed}");
    }
}
