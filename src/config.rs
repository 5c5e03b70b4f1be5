//! Settings: defaults, then an optional TOML file (`--config FILE`), then `PINBRIDGE_*`
//! environment variables, each later source overriding the earlier ones.
//!
//! Every setting is one flat key; its environment variable is the key upper-cased with the
//! `PINBRIDGE_` prefix (`pin_max_attempts` ⇔ `PINBRIDGE_PIN_MAX_ATTEMPTS`). Durations are
//! written `90s`, `30m`, `24h`, `7d` (humantime), or as a number of seconds. README lists them all.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Deserializer};

use crate::domain::{OrderRules, Region};

/// All settings of one pinbridge process.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `PINBRIDGE_LISTEN`: address and port to listen on. Default `127.0.0.1:8080`.
    pub listen: String,
    /// `PINBRIDGE_DATABASE_URL`: `sqlite://FILE` or `postgres://...`. Default
    /// `sqlite://pinbridge.db` (created if missing, WAL mode).
    pub database_url: String,
    /// `PINBRIDGE_PUBLIC_URL`: the address providers reach this server at, used to print the
    /// applet URLs. Default `http://` + `listen`.
    pub public_url: Option<String>,
    /// `PINBRIDGE_ADMIN_TOKEN`: bearer token of the admin API. Unset: one is generated on the
    /// first start, printed once, and only its SHA-256 is stored in the database.
    pub admin_token: Option<String>,
    /// `PINBRIDGE_EXOTEL_SECRET`: secret path segment of the Exotel URLs. Unset: one is
    /// generated on the first start and kept in the database.
    pub exotel_secret: Option<String>,
    /// `PINBRIDGE_DEFAULT_REGION`: ISO 3166-1 region for numbers without a country code. Default `IN`.
    pub default_region: String,
    /// `PINBRIDGE_PIN_MIN_LENGTH`: shortest PIN, digits. Default 4.
    pub pin_min_length: u8,
    /// `PINBRIDGE_PIN_MAX_LENGTH`: longest PIN, digits. Default 12.
    pub pin_max_length: u8,
    /// `PINBRIDGE_PIN_MAX_ATTEMPTS`: PIN entries per call. Default 3.
    pub pin_max_attempts: u8,
    /// `PINBRIDGE_BRAND`: the company name spoken in prompts. Default `our delivery service`.
    pub brand: String,
    /// `PINBRIDGE_DEFAULT_LANGUAGE`: the language (BCP 47 primary tag) callers hear on a virtual
    /// number that has none of its own. Default `en`.
    pub default_language: String,
    /// `PINBRIDGE_ORDER_TTL`: lifetime of an order created without `expires_at`. Default `24h`.
    #[serde(deserialize_with = "duration")]
    pub order_ttl: Duration,
    /// `PINBRIDGE_GATHER_INPUT_TIMEOUT`: seconds a prompt waits for the first key (Exotel
    /// `input_timeout`; integrators report values above 6 s rejected). Default `6s`.
    #[serde(deserialize_with = "duration")]
    pub gather_input_timeout: Duration,
    /// `PINBRIDGE_RECORD_CALLS`: ask the provider to record bridged calls. Default `false`.
    pub record_calls: bool,
    /// `PINBRIDGE_MAX_RINGING_DURATION`: how long the customer's phone rings. Default `45s`.
    #[serde(deserialize_with = "duration")]
    pub max_ringing_duration: Duration,
    /// `PINBRIDGE_MAX_CONVERSATION_DURATION`: longest bridged conversation. Default `1h`.
    #[serde(deserialize_with = "duration")]
    pub max_conversation_duration: Duration,
    /// `PINBRIDGE_CALL_STATE_TTL`: how long a call's state stays in the in-memory cache; longer
    /// than the longest call. Default `6h`.
    #[serde(deserialize_with = "duration")]
    pub call_state_ttl: Duration,
    /// `PINBRIDGE_WEBHOOK_TIMEOUT`: time budget of one webhook's storage work; past it the
    /// caller gets the safe answer (dial no one, say sorry). Default `2s`.
    #[serde(deserialize_with = "duration")]
    pub webhook_timeout: Duration,
    /// `PINBRIDGE_DATABASE_MAX_CONNECTIONS`: most connections this instance's pool opens. With
    /// N instances on one PostgreSQL, N times this must stay below the server's
    /// `max_connections`. Default 8.
    pub database_max_connections: u32,
    /// `PINBRIDGE_DATABASE_MIN_CONNECTIONS`: connections kept open while idle, so the first
    /// request after a quiet spell does not pay for a connection. Default 1.
    pub database_min_connections: u32,
    /// `PINBRIDGE_DATABASE_ACQUIRE_TIMEOUT`: longest a request waits for a pooled connection,
    /// including opening a new one; while the database is unreachable, webhook answers fall back
    /// after at most this (and never after more than `PINBRIDGE_WEBHOOK_TIMEOUT`). Default `1s`.
    #[serde(deserialize_with = "duration")]
    pub database_acquire_timeout: Duration,
    /// `PINBRIDGE_DATABASE_STATEMENT_TIMEOUT`: longest one statement may run; PostgreSQL's
    /// `statement_timeout` on every connection, SQLite's `busy_timeout` (the wait for another
    /// writer). Default `2s`.
    #[serde(deserialize_with = "duration")]
    pub database_statement_timeout: Duration,
    /// `PINBRIDGE_SQLITE_MAX_SIZE_MB`: SQLite only, the most the database file may hold, in
    /// MiB. Past it, writes fail as on a full disk: the admin API answers 503, `/readyz` says
    /// not ready, calls get the fallback answer, until rows are purged or deleted (pages freed
    /// within the file are reused). Keeps the database from filling a disk it shares. A
    /// database already larger stops growing at its size. Default: unset, no bound but the
    /// disk's.
    pub sqlite_max_size_mb: Option<u64>,
    /// `PINBRIDGE_DATABASE_CONNECT_RETRY`: how long `pinbridge` (any command) keeps trying to
    /// reach the database at start before it gives up (once a second), so an instance can start
    /// before its database. `0s`: try once. Once running, lost connections are reopened by themselves.
    /// Default `60s`.
    #[serde(deserialize_with = "duration")]
    pub database_connect_retry: Duration,
    /// `PINBRIDGE_FALLBACK_NUMBER`: a number (a support desk) dialled when a call can not be
    /// served because the database is unreachable or too slow; unset, such a caller hears
    /// sorry and no one is dialled. Calls routed normally never reach it.
    pub fallback_number: Option<String>,
    /// `PINBRIDGE_TWILIO_AUTH_TOKEN`: turns Twilio on; `X-Twilio-Signature` is verified on
    /// every Twilio webhook, over the URL built from `PINBRIDGE_PUBLIC_URL`. Unset: Twilio has
    /// no routes (see [`Settings::providers`]).
    pub twilio_auth_token: Option<String>,
    /// `PINBRIDGE_PLIVO_AUTH_TOKEN`: turns Plivo on; `X-Plivo-Signature-V3` is verified on
    /// every Plivo webhook. Unset: Plivo has no routes.
    pub plivo_auth_token: Option<String>,
    /// `PINBRIDGE_8X8_SECRET`: turns 8x8 on; the secret path segment of the 8x8 URLs. Unset:
    /// 8x8 has no routes.
    #[serde(rename = "8x8_secret")]
    pub eight_by_eight_secret: Option<String>,
    /// `PINBRIDGE_8X8_AUTH_HEADER`: when set, 8x8 webhooks must carry this exact
    /// `Authorization` header value (8x8's webhook `httpAuthHeader`).
    #[serde(rename = "8x8_auth_header")]
    pub eight_by_eight_auth_header: Option<String>,
    /// `PINBRIDGE_8X8_VOICE_PROFILE`: the 8x8 text-to-speech voice. Default `en-US-BenjaminRUS`.
    #[serde(rename = "8x8_voice_profile")]
    pub eight_by_eight_voice_profile: String,
    /// `PINBRIDGE_VONAGE_SIGNATURE_SECRET`: turns Vonage on; the signed-webhook JWT (HS256) of
    /// every Vonage webhook is verified. Unset: Vonage has no routes.
    pub vonage_signature_secret: Option<String>,
    /// `PINBRIDGE_UNSIGNED_PROVIDERS`: `twilio`, `plivo`, `vonage`, comma-separated: turns these
    /// providers on without checking their signatures. For local testing only: a warning at
    /// start, and every such request counted in `pinbridge_unsigned_requests_total`. A provider
    /// may not be both listed here and have its credential set.
    pub unsigned_providers: Option<String>,
    /// `PINBRIDGE_ADMIN_TOKENS`: several admin tokens, `name:token[:pii],...`, so one can be
    /// rotated without downtime. Tokens marked `:pii` see full phone numbers in the admin API;
    /// the others see them masked. `PINBRIDGE_ADMIN_TOKEN`, if set too, is one more (with pii).
    pub admin_tokens: Option<String>,
    /// `PINBRIDGE_CALLER_MAX_FAILURES`: wrong PINs one caller number may key within
    /// `PINBRIDGE_LOCKOUT_WINDOW` before the PIN flow refuses it for the window. Default 10.
    pub caller_max_failures: u32,
    /// `PINBRIDGE_LOCKOUT_WINDOW`: the window of the caller and virtual-number limits. Default `1h`.
    #[serde(deserialize_with = "duration")]
    pub lockout_window: Duration,
    /// `PINBRIDGE_PIN_GUESSING_BUDGET`: the customer numbers a day that an attacker with any
    /// number of caller IDs may expect to find by guessing PINs on one virtual number. Each
    /// wrong PIN spends the chance it had of hitting an active PIN there; once a day's budget
    /// (with a burst of one `PINBRIDGE_LOCKOUT_WINDOW`'s share) is spent, callers not known on
    /// that number are refused until it leaks back ([`crate::storage::attempts::Budget`]).
    /// Default `1`.
    pub pin_guessing_budget: f64,
    /// `PINBRIDGE_KNOWN_CALLER_WINDOW`: a caller bridged through a virtual number within this
    /// is known there, and keeps its own allowance when the number's budget is spent (as do
    /// trusted callers). Default `30d`.
    #[serde(deserialize_with = "duration")]
    pub known_caller_window: Duration,
    /// `PINBRIDGE_PIN_MAX_DENSITY`: the largest share of a PIN length's space that active PINs on
    /// one virtual number may fill, as `1%` or `0.01`. Default `1%`.
    #[serde(deserialize_with = "fraction")]
    pub pin_max_density: f64,
    /// `PINBRIDGE_ALLOWED_COUNTRY_CODES`: calling codes (`91,65`) a customer or booking party may
    /// have; nothing else is ever dialled. Default: the default region's code.
    pub allowed_country_codes: Option<String>,
    /// `PINBRIDGE_ALLOWED_SOURCE_NETWORKS`: CIDR list (`203.0.113.0/24,2001:db8::/32`); when set,
    /// Exotel and 8x8 webhooks from other addresses get 403. Default: off.
    pub allowed_source_networks: Option<String>,
    /// `PINBRIDGE_TRUSTED_PROXIES`: CIDR list of the proxies in front of pinbridge; only a request
    /// from one of them may name its client in `X-Forwarded-For`. Default: none.
    pub trusted_proxies: Option<String>,
    /// `PINBRIDGE_RETENTION_DAYS`: call records and inactive orders and bookings older than this
    /// are deleted (hourly, and by `pinbridge purge`). Default 90.
    pub retention_days: u32,
    /// `PINBRIDGE_BOOKING_TTL`: lifetime of a booking created without `ttl_seconds` or
    /// `expires_at`. Default `24h`.
    #[serde(deserialize_with = "duration")]
    pub booking_ttl: Duration,
    /// `PINBRIDGE_CALLBACK_WINDOW`: how long after a bridged call its dialled party can call the
    /// virtual number back and reach the caller. Default `24h`.
    #[serde(deserialize_with = "duration")]
    pub callback_window: Duration,
    /// `PINBRIDGE_EXOTEL_API_KEY`: the API key of Exotel's REST API (the user name of its HTTP
    /// basic auth). With the token and the account SID, it turns on click-to-call
    /// (`POST /api/v1/calls/connect`) and the SMS after unanswered calls.
    pub exotel_api_key: Option<String>,
    /// `PINBRIDGE_EXOTEL_API_TOKEN`: the API token of Exotel's REST API (the password of its
    /// HTTP basic auth). A secret: never logged.
    pub exotel_api_token: Option<String>,
    /// `PINBRIDGE_EXOTEL_ACCOUNT_SID`: the Exotel account SID, part of every REST API path
    /// (`/v1/Accounts/{sid}/...`).
    pub exotel_account_sid: Option<String>,
    /// `PINBRIDGE_EXOTEL_API_BASE_URL`: the Exotel REST API cluster. Default
    /// `https://api.exotel.com` (Singapore); `https://api.in.exotel.com` is Mumbai.
    pub exotel_api_base_url: String,
    /// `PINBRIDGE_EXOTEL_CALLER_ID`: the ExoPhone shown as caller ID by a click-to-call for an
    /// order that names no virtual number. Unset: such an order can not be called this way.
    pub exotel_caller_id: Option<String>,
    /// `PINBRIDGE_EXOTEL_CALL_RECORDING`: click-to-call asks Exotel to record the call
    /// (`Record=true`, dual channel). Default `false`.
    pub exotel_call_recording: bool,
    /// `PINBRIDGE_EXOTEL_SMS_FROM`: the sender of the SMS after an unanswered call: an ExoPhone
    /// or a DLT sender ID (header). Unset: no SMS is sent.
    pub exotel_sms_from: Option<String>,
    /// `PINBRIDGE_EXOTEL_DLT_ENTITY_ID`: the DLT principal entity ID sent with each SMS
    /// (`DltEntityId`; required for Indian destinations).
    pub exotel_dlt_entity_id: Option<String>,
    /// `PINBRIDGE_EXOTEL_DLT_TEMPLATE_ID`: the DLT template ID of the SMS (`DltTemplateId`);
    /// the rendered text must match that registered template exactly.
    pub exotel_dlt_template_id: Option<String>,
    /// `PINBRIDGE_SMS_TEMPLATE`: the text of the SMS after an unanswered call, a minijinja
    /// template with `order_id`, `booking_id`, `virtual_number` and `brand`. Unset: the shipped
    /// `templates/sms/unanswered.txt`.
    pub sms_template: Option<String>,
    /// `PINBRIDGE_SMS_COOLDOWN`: at most one SMS per order (or booking) within this time, over
    /// every instance. Default `30m`.
    #[serde(deserialize_with = "duration")]
    pub sms_cooldown: Duration,
    /// `PINBRIDGE_EVENTS_URL`: where call events are posted (the event outbox): an https URL
    /// (see [`crate::outbound::events::check_endpoint`]). Unset: no events are sent.
    pub events_url: Option<String>,
    /// `PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK`: also accept an `http://` events URL whose host
    /// is loopback (127.0.0.0/8, `::1`, `localhost`), for a receiver on the same machine in
    /// local testing. Default `false`: https only.
    pub events_allow_http_loopback: bool,
    /// `PINBRIDGE_EVENTS_SECRET`: the key events are signed with. A secret: never logged.
    pub events_secret: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://pinbridge.db".into(),
            public_url: None,
            admin_token: None,
            exotel_secret: None,
            default_region: "IN".into(),
            pin_min_length: 4,
            pin_max_length: 12,
            pin_max_attempts: 3,
            brand: "our delivery service".into(),
            order_ttl: Duration::from_secs(24 * 3600),
            gather_input_timeout: Duration::from_secs(6),
            record_calls: false,
            max_ringing_duration: Duration::from_secs(45),
            max_conversation_duration: Duration::from_secs(3600),
            call_state_ttl: Duration::from_secs(6 * 3600),
            webhook_timeout: Duration::from_secs(2),
            database_max_connections: 8,
            database_min_connections: 1,
            database_acquire_timeout: Duration::from_secs(1),
            database_statement_timeout: Duration::from_secs(2),
            sqlite_max_size_mb: None,
            database_connect_retry: Duration::from_secs(60),
            fallback_number: None,
            booking_ttl: Duration::from_secs(24 * 3600),
            twilio_auth_token: None,
            plivo_auth_token: None,
            eight_by_eight_secret: None,
            eight_by_eight_auth_header: None,
            eight_by_eight_voice_profile: "en-US-BenjaminRUS".into(),
            vonage_signature_secret: None,
            unsigned_providers: None,
            admin_tokens: None,
            caller_max_failures: 10,
            lockout_window: Duration::from_secs(3600),
            pin_guessing_budget: 1.0,
            known_caller_window: Duration::from_secs(30 * 86_400),
            pin_max_density: 0.01,
            allowed_country_codes: None,
            allowed_source_networks: None,
            trusted_proxies: None,
            retention_days: 90,
            callback_window: Duration::from_secs(24 * 3600),
            default_language: "en".into(),
            exotel_api_key: None,
            exotel_api_token: None,
            exotel_account_sid: None,
            exotel_api_base_url: "https://api.exotel.com".into(),
            exotel_caller_id: None,
            exotel_call_recording: false,
            exotel_sms_from: None,
            exotel_dlt_entity_id: None,
            exotel_dlt_template_id: None,
            sms_template: None,
            sms_cooldown: Duration::from_secs(30 * 60),
            events_url: None,
            events_allow_http_loopback: false,
            events_secret: None,
        }
    }
}

/// Secrets never print: `Debug` shows whether they are set, not their value.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("database", &self.database_url.split(':').next())
            .field("admin_token", &self.admin_token.as_ref().map(|_| "<set>"))
            .field(
                "exotel_secret",
                &self.exotel_secret.as_ref().map(|_| "<set>"),
            )
            .field("default_region", &self.default_region)
            .field("pin_min_length", &self.pin_min_length)
            .field("pin_max_length", &self.pin_max_length)
            .field("pin_max_attempts", &self.pin_max_attempts)
            .field(
                "exotel_api_token",
                &self.exotel_api_token.as_ref().map(|_| "<set>"),
            )
            .field(
                "events_secret",
                &self.events_secret.as_ref().map(|_| "<set>"),
            )
            .finish_non_exhaustive()
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

/// How a provider's webhooks are let in, decided once at start from the settings
/// ([`Settings::providers`]). DESIGN.md, "Rules that come from the field": a provider whose
/// credentials are not configured has no routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderAuth {
    /// No routes: its paths answer 404 like any unknown path.
    Off,
    /// A secret path segment in every URL (Exotel, 8x8: they sign nothing).
    SecretPath,
    /// The provider's request signature, verified on every request.
    Signed,
    /// On without any check (`PINBRIDGE_UNSIGNED_PROVIDERS`): for local testing only.
    Unsigned,
}

impl ProviderAuth {
    /// True unless [`ProviderAuth::Off`].
    pub fn is_on(self) -> bool {
        self != Self::Off
    }
}

/// Which providers are on and how each is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Providers {
    pub exotel: ProviderAuth,
    pub twilio: ProviderAuth,
    pub plivo: ProviderAuth,
    pub eight_by_eight: ProviderAuth,
    pub vonage: ProviderAuth,
}

impl Providers {
    /// (provider name, how it is let in, what turns it on or what checks it), for the start
    /// banner and log; never a secret's value.
    pub fn describe(&self) -> Vec<(&'static str, ProviderAuth, &'static str)> {
        let say = |auth: ProviderAuth, signed: &'static str, setting: &'static str| match auth {
            ProviderAuth::Off => setting,
            ProviderAuth::SecretPath | ProviderAuth::Signed => signed,
            ProviderAuth::Unsigned => {
                "NOT AUTHENTICATED (PINBRIDGE_UNSIGNED_PROVIDERS): for local testing only"
            }
        };
        vec![
            (
                "exotel",
                self.exotel,
                say(self.exotel, "secret path segment in each applet URL", ""),
            ),
            (
                "twilio",
                self.twilio,
                say(
                    self.twilio,
                    "X-Twilio-Signature over PINBRIDGE_PUBLIC_URL",
                    "set PINBRIDGE_TWILIO_AUTH_TOKEN to turn it on",
                ),
            ),
            (
                "plivo",
                self.plivo,
                say(
                    self.plivo,
                    "X-Plivo-Signature-V3 over PINBRIDGE_PUBLIC_URL, each nonce once",
                    "set PINBRIDGE_PLIVO_AUTH_TOKEN to turn it on",
                ),
            ),
            (
                "8x8",
                self.eight_by_eight,
                say(
                    self.eight_by_eight,
                    "secret path segment in each webhook URL",
                    "set PINBRIDGE_8X8_SECRET to turn it on",
                ),
            ),
            (
                "vonage",
                self.vonage,
                say(
                    self.vonage,
                    "signed-webhook JWT (HS256), fresh and each token once",
                    "set PINBRIDGE_VONAGE_SIGNATURE_SECRET to turn it on",
                ),
            ),
        ]
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
    let known = serde_aux::serde_introspection::serde_introspect::<Settings>();
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
            "{what} is not a setting; did you mean {}? (README, \"Settings\")",
            written(prefix, k)
        ),
        None => bail!("{what} is not a setting (README, \"Settings\", lists them all)"),
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
        let settings: Settings = builder
            .build()
            .context("reading the settings")?
            .try_deserialize()
            .context("reading the settings")?;
        settings.validate()?;
        Ok(settings)
    }

    /// `PINBRIDGE_FALLBACK_NUMBER` parsed (a national number in the default region), if set.
    ///
    /// Errors: a value that is not a phone number.
    pub fn fallback(&self) -> anyhow::Result<Option<crate::domain::PhoneNumber>> {
        self.optional_number(self.fallback_number.as_deref(), "PINBRIDGE_FALLBACK_NUMBER")
    }

    /// Which providers are on, and how each is authenticated: Exotel always (its URL secret is
    /// generated on the first start when unset); 8x8 with `PINBRIDGE_8X8_SECRET`; Twilio,
    /// Plivo and Vonage with their signing credential, or unsigned when listed in
    /// `PINBRIDGE_UNSIGNED_PROVIDERS`. Everything else is off.
    ///
    /// Errors: an unknown name in `PINBRIDGE_UNSIGNED_PROVIDERS`, or a provider both listed
    /// there and given its credential.
    pub fn providers(&self) -> anyhow::Result<Providers> {
        let unsigned: Vec<&str> = self
            .unsigned_providers
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if let Some(bad) = unsigned
            .iter()
            .find(|p| !["twilio", "plivo", "vonage"].contains(p))
        {
            bail!(
                "PINBRIDGE_UNSIGNED_PROVIDERS: {bad:?} is not one of twilio, plivo, vonage (Exotel and 8x8 are always reached through a secret URL)"
            );
        }
        let signed = |name: &str, credential: &Option<String>, setting: &str| {
            let listed = unsigned.contains(&name);
            let set = credential.as_deref().is_some_and(|c| !c.trim().is_empty());
            match (set, listed) {
                (true, true) => bail!(
                    "{setting} is set and PINBRIDGE_UNSIGNED_PROVIDERS lists {name}: remove {name} from the list to check its signatures"
                ),
                (true, false) => Ok(ProviderAuth::Signed),
                (false, true) => Ok(ProviderAuth::Unsigned),
                (false, false) => Ok(ProviderAuth::Off),
            }
        };
        Ok(Providers {
            exotel: ProviderAuth::SecretPath,
            twilio: signed(
                "twilio",
                &self.twilio_auth_token,
                "PINBRIDGE_TWILIO_AUTH_TOKEN",
            )?,
            plivo: signed(
                "plivo",
                &self.plivo_auth_token,
                "PINBRIDGE_PLIVO_AUTH_TOKEN",
            )?,
            eight_by_eight: if self.eight_by_eight_secret.is_some() {
                ProviderAuth::SecretPath
            } else {
                ProviderAuth::Off
            },
            vonage: signed(
                "vonage",
                &self.vonage_signature_secret,
                "PINBRIDGE_VONAGE_SIGNATURE_SECRET",
            )?,
        })
    }

    /// `raw`, the value of the setting `name`, parsed as a phone number in the default region;
    /// `None` when unset or blank. Errors: a value that is not a phone number.
    fn optional_number(
        &self,
        raw: Option<&str>,
        name: &str,
    ) -> anyhow::Result<Option<crate::domain::PhoneNumber>> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(None);
        };
        crate::domain::PhoneNumber::parse(raw, self.region()?)
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} is not a phone number"))
    }

    /// `PINBRIDGE_SQLITE_MAX_SIZE_MB` in bytes; `None` when unset, or outside 1 MiB..=8 TiB
    /// (refused by [`Settings::validate`]).
    pub fn sqlite_max_bytes(&self) -> Option<u64> {
        self.sqlite_max_size_mb
            .filter(|mb| (1..=8 * 1024 * 1024).contains(mb))
            .map(|mb| mb * 1024 * 1024)
    }

    /// Checks ranges that types alone do not: PIN lengths `1..=20` with min ≤ max, at least one
    /// attempt, a known region, a timeout of 1 to 60 s, a pool of at least one connection, a
    /// fallback number that parses, a SQLite size bound of 1 MiB to 8 TiB.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.pin_min_length == 0 || self.pin_max_length > 20 {
            bail!("PIN lengths must lie between 1 and 20 digits");
        }
        if self.pin_min_length > self.pin_max_length {
            bail!("PINBRIDGE_PIN_MIN_LENGTH is larger than PINBRIDGE_PIN_MAX_LENGTH");
        }
        if self.pin_max_attempts == 0 {
            bail!("PINBRIDGE_PIN_MAX_ATTEMPTS must be at least 1");
        }
        let timeout = self.gather_input_timeout.as_secs();
        if !(1..=60).contains(&timeout) {
            bail!("PINBRIDGE_GATHER_INPUT_TIMEOUT must be between 1s and 60s");
        }
        self.region()?;
        self.country_codes()?;
        self.admin_token_list()?;
        Self::networks(
            self.allowed_source_networks.as_deref(),
            "PINBRIDGE_ALLOWED_SOURCE_NETWORKS",
        )?;
        Self::networks(self.trusted_proxies.as_deref(), "PINBRIDGE_TRUSTED_PROXIES")?;
        if self.database_max_connections == 0
            || self.database_min_connections > self.database_max_connections
        {
            bail!(
                "PINBRIDGE_DATABASE_MAX_CONNECTIONS must be at least 1 and at least PINBRIDGE_DATABASE_MIN_CONNECTIONS"
            );
        }
        if self.database_acquire_timeout.is_zero() || self.database_statement_timeout.is_zero() {
            bail!(
                "PINBRIDGE_DATABASE_ACQUIRE_TIMEOUT and PINBRIDGE_DATABASE_STATEMENT_TIMEOUT must be above 0s"
            );
        }
        self.fallback()?;
        if self.sqlite_max_size_mb.is_some() && self.sqlite_max_bytes().is_none() {
            bail!("PINBRIDGE_SQLITE_MAX_SIZE_MB must be between 1 and 8388608 (8 TiB)");
        }
        if self.caller_max_failures == 0 {
            bail!("PINBRIDGE_CALLER_MAX_FAILURES must be at least 1");
        }
        if !(0.001..=1000.0).contains(&self.pin_guessing_budget) {
            bail!(
                "PINBRIDGE_PIN_GUESSING_BUDGET must lie between 0.001 and 1000 (customer numbers a day)"
            );
        }
        // At most half a day at once, so that at least half of a day's budget leaks back.
        if self.lockout_window.is_zero() || self.lockout_window > Duration::from_secs(43_200) {
            bail!("PINBRIDGE_LOCKOUT_WINDOW must lie above 0s and at most 12h");
        }
        for (name, secret) in [
            ("PINBRIDGE_EXOTEL_SECRET", &self.exotel_secret),
            ("PINBRIDGE_8X8_SECRET", &self.eight_by_eight_secret),
        ] {
            if let Some(secret) = secret
                && (secret.len() < 16
                    || !secret
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            {
                bail!("{name} must be at least 16 characters of A-Z, a-z, 0-9, '-' and '_'");
            }
        }
        if let Some(token) = &self.admin_token
            && token.len() < 16
        {
            bail!("PINBRIDGE_ADMIN_TOKEN must be at least 16 characters");
        }
        self.check_outbound()?;
        self.providers()?;
        Ok(())
    }

    /// The click-to-call settings: an http(s) API base URL, a caller ID that is a phone number.
    /// (The SMS template and the events URL are checked by `crate::outbound::check_settings`.)
    fn check_outbound(&self) -> anyhow::Result<()> {
        let base = self.exotel_api_base_url.trim();
        if !(base.starts_with("https://") || base.starts_with("http://"))
            || reqwest::Url::parse(base).is_err()
        {
            bail!(
                "PINBRIDGE_EXOTEL_API_BASE_URL must be an http(s) URL such as https://api.exotel.com"
            );
        }
        self.exotel_caller_id()?;
        Ok(())
    }

    /// The names of the Exotel REST API settings that are not set (empty: click-to-call and
    /// SMS can reach Exotel).
    pub fn exotel_api_missing(&self) -> Vec<&'static str> {
        [
            ("PINBRIDGE_EXOTEL_API_KEY", &self.exotel_api_key),
            ("PINBRIDGE_EXOTEL_API_TOKEN", &self.exotel_api_token),
            ("PINBRIDGE_EXOTEL_ACCOUNT_SID", &self.exotel_account_sid),
        ]
        .into_iter()
        .filter(|(_, v)| v.as_deref().is_none_or(|v| v.trim().is_empty()))
        .map(|(name, _)| name)
        .collect()
    }

    /// `PINBRIDGE_EXOTEL_CALLER_ID` parsed (a national number in the default region), if set.
    ///
    /// Errors: a value that is not a phone number.
    pub fn exotel_caller_id(&self) -> anyhow::Result<Option<crate::domain::PhoneNumber>> {
        self.optional_number(
            self.exotel_caller_id.as_deref(),
            "PINBRIDGE_EXOTEL_CALLER_ID",
        )
    }

    /// The default region, parsed.
    pub fn region(&self) -> anyhow::Result<Region> {
        Region::parse(&self.default_region)
            .with_context(|| "PINBRIDGE_DEFAULT_REGION is not a region code".to_string())
    }

    /// The rules new orders are checked against.
    pub fn order_rules(&self) -> anyhow::Result<OrderRules> {
        Ok(OrderRules {
            region: self.region()?,
            pin_min: self.pin_min_length,
            pin_max: self.pin_max_length,
            default_ttl_ms: i64::try_from(self.order_ttl.as_millis()).unwrap_or(i64::MAX / 2),
            allowed_country_codes: self.country_codes()?,
        })
    }

    /// The calling codes destinations may have: `PINBRIDGE_ALLOWED_COUNTRY_CODES`, else the
    /// default region's.
    pub fn country_codes(&self) -> anyhow::Result<Vec<u16>> {
        match &self.allowed_country_codes {
            Some(list) => list
                .split(',')
                .map(|c| c.trim().trim_start_matches('+'))
                .filter(|c| !c.is_empty())
                .map(|c| {
                    c.parse::<u16>().with_context(|| {
                        format!("PINBRIDGE_ALLOWED_COUNTRY_CODES: {c:?} is not a calling code such as 91")
                    })
                })
                .collect(),
            None => Ok(self.region()?.calling_code().into_iter().collect()),
        }
    }

    /// A CIDR list setting, parsed; `None` when unset. Errors name the setting.
    pub fn networks(value: Option<&str>, name: &str) -> anyhow::Result<Option<Vec<ipnet::IpNet>>> {
        value
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(|n| {
                        n.parse::<ipnet::IpNet>()
                            .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                            .with_context(|| {
                                format!("{name}: {n:?} is not a CIDR network such as 10.0.0.0/8")
                            })
                    })
                    .collect()
            })
            .transpose()
    }

    /// The admin tokens: `PINBRIDGE_ADMIN_TOKENS` entries and `PINBRIDGE_ADMIN_TOKEN`, as
    /// (name, token, sees full numbers).
    pub fn admin_token_list(&self) -> anyhow::Result<Vec<(String, String, bool)>> {
        let mut out = Vec::new();
        if let Some(list) = &self.admin_tokens {
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let mut parts = entry.splitn(3, ':');
                let (Some(name), Some(token)) = (parts.next(), parts.next()) else {
                    bail!("PINBRIDGE_ADMIN_TOKENS: each entry is name:token or name:token:pii");
                };
                let pii = match parts.next() {
                    None => false,
                    Some("pii") => true,
                    Some(_) => {
                        bail!("PINBRIDGE_ADMIN_TOKENS: the third part of an entry can only be pii")
                    }
                };
                if name.is_empty() || token.len() < 16 {
                    bail!(
                        "PINBRIDGE_ADMIN_TOKENS: {name:?} needs a name and a token of at least 16 characters"
                    );
                }
                out.push((name.to_owned(), token.to_owned(), pii));
            }
        }
        if let Some(token) = &self.admin_token {
            out.push(("admin".to_owned(), token.clone(), true));
        }
        Ok(out)
    }

    /// The public base URL without a trailing slash: `PINBRIDGE_PUBLIC_URL`, else
    /// `http://` + the listen address with `port` (the port actually bound, which differs from
    /// the configured one when that is 0).
    pub fn public_base_url(&self, port: u16) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = self
                    .listen
                    .rsplit_once(':')
                    .map_or(self.listen.as_str(), |(host, _)| host);
                format!("http://{host}:{port}")
            }
        }
    }

    /// The port configured in `listen`, when it has one.
    pub fn listen_port(&self) -> Option<u16> {
        self.listen
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_the_way_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("120"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn database_and_fallback_settings_are_checked() {
        let s = Settings {
            fallback_number: Some("080 4567 8901".into()),
            ..Settings::default()
        };
        assert_eq!(
            s.fallback().unwrap().map(|n| n.to_string()),
            Some("+918045678901".to_owned())
        );
        assert_eq!(Settings::default().fallback().unwrap(), None);
        for bad in [
            Settings {
                fallback_number: Some("support desk".into()),
                ..Settings::default()
            },
            Settings {
                database_max_connections: 2,
                database_min_connections: 3,
                ..Settings::default()
            },
            Settings {
                database_acquire_timeout: Duration::ZERO,
                ..Settings::default()
            },
            Settings {
                sqlite_max_size_mb: Some(0),
                ..Settings::default()
            },
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains("PINBRIDGE_"), "{e}");
        }
        let bounded = Settings {
            sqlite_max_size_mb: Some(512),
            ..Settings::default()
        };
        assert_eq!(bounded.sqlite_max_bytes(), Some(512 * 1024 * 1024));
        assert_eq!(Settings::default().sqlite_max_bytes(), None);
    }

    #[test]
    fn a_toml_file_overrides_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pinbridge.toml");
        std::fs::write(
            &path,
            "pin_min_length = 3\norder_ttl = \"7d\"\nbrand = \"Swift\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&path)).unwrap();
        assert_eq!(s.pin_min_length, 3);
        assert_eq!(s.order_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(s.brand, "Swift");
        assert_eq!(s.pin_max_length, 12);
    }

    #[test]
    fn out_of_range_settings_are_refused_with_their_name() {
        let s = Settings {
            pin_min_length: 8,
            pin_max_length: 6,
            ..Settings::default()
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("PIN_MIN_LENGTH")
        );
        let s = Settings {
            default_region: "XX".into(),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
        let s = Settings {
            exotel_secret: Some("short".into()),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
    }

    #[test]
    fn a_misspelled_variable_or_key_stops_the_start_naming_the_closest_setting() {
        let env = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        let e = Settings::load_from(None, env(&[("PINBRIDGE_PIN_MIN_LENGHT", "5")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("PINBRIDGE_PIN_MIN_LENGHT"), "{e}");
        assert!(e.contains("did you mean PINBRIDGE_PIN_MIN_LENGTH"), "{e}");
        let e = Settings::load_from(None, env(&[("PINBRIDGE_TWILIO_AUTH_TOKN", "x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("PINBRIDGE_TWILIO_AUTH_TOKEN"), "{e}");
        let e = Settings::load_from(None, env(&[("PINBRIDGE_WHATEVER_ELSE_ENTIRELY", "1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a setting"), "{e}");
        // Variables without the prefix are not ours; known ones load.
        let s = Settings::load_from(
            None,
            env(&[
                ("HOME", "/root"),
                ("PINBRIDGE_PIN_MIN_LENGTH", "5"),
                ("PINBRIDGE_8X8_SECRET", "an-8x8-secret-0123456789"),
            ]),
        )
        .unwrap();
        assert_eq!(s.pin_min_length, 5);
        assert!(s.eight_by_eight_secret.is_some());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pinbridge.toml");
        std::fs::write(&path, "brandd = \"Swift\"\n").unwrap();
        let e = Settings::load_from(Some(&path), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"brandd\""), "{e}");
        assert!(e.contains("did you mean brand?"), "{e}");
    }

    #[test]
    fn providers_are_off_until_their_credentials_are_set() {
        use ProviderAuth::*;
        let s = Settings::default();
        let p = s.providers().unwrap();
        assert_eq!(
            (p.exotel, p.twilio, p.plivo, p.eight_by_eight, p.vonage),
            (SecretPath, Off, Off, Off, Off)
        );
        let s = Settings {
            twilio_auth_token: Some("tw".into()),
            plivo_auth_token: Some("  ".into()),
            eight_by_eight_secret: Some("an-8x8-secret-0123456789".into()),
            unsigned_providers: Some("vonage".into()),
            ..Settings::default()
        };
        let p = s.providers().unwrap();
        assert_eq!(
            (p.twilio, p.plivo, p.eight_by_eight, p.vonage),
            (Signed, Off, SecretPath, Unsigned)
        );
        for bad in ["exotel", "twillio"] {
            let s = Settings {
                unsigned_providers: Some(bad.into()),
                ..Settings::default()
            };
            assert!(s.validate().unwrap_err().to_string().contains(bad));
        }
        let both = Settings {
            twilio_auth_token: Some("tw".into()),
            unsigned_providers: Some("twilio".into()),
            ..Settings::default()
        };
        assert!(both.validate().is_err());
    }

    #[test]
    fn the_public_url_defaults_to_the_bound_port() {
        let s = Settings {
            listen: "127.0.0.1:0".into(),
            ..Settings::default()
        };
        assert_eq!(s.public_base_url(43210), "http://127.0.0.1:43210");
        let s = Settings {
            public_url: Some("https://masking.example.com/".into()),
            ..Settings::default()
        };
        assert_eq!(s.public_base_url(8080), "https://masking.example.com");
    }

    #[test]
    fn lists_shares_and_tokens_are_read_as_written() {
        let s = Settings {
            allowed_country_codes: Some("91, +65".into()),
            admin_tokens: Some("ops:ops-token-0123456789:pii,ci:ci-token-0123456789ab".into()),
            ..Settings::default()
        };
        assert_eq!(s.country_codes().unwrap(), vec![91, 65]);
        assert_eq!(Settings::default().country_codes().unwrap(), vec![91]);
        let tokens = s.admin_token_list().unwrap();
        assert_eq!(
            tokens[0],
            ("ops".into(), "ops-token-0123456789".into(), true)
        );
        assert!(!tokens[1].2);
        let bad = Settings {
            admin_tokens: Some("ops:short".into()),
            ..Settings::default()
        };
        assert!(bad.validate().is_err());
        let nets = Settings::networks(Some("10.0.0.0/8, 192.0.2.7"), "X")
            .unwrap()
            .unwrap();
        assert_eq!(nets.len(), 2);
        assert!(Settings::networks(Some("10.0.0.0/33"), "X").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "pin_max_density = \"2%\"\n").unwrap();
        assert!((Settings::load(Some(&path)).unwrap().pin_max_density - 0.02).abs() < 1e-12);
    }

    /// `url` as `PINBRIDGE_EVENTS_URL`, with `PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK=allow`.

    #[test]
    fn resolved_addresses_of_the_metadata_service_are_never_connected_to() {
        use crate::outbound::events::forbidden_address;
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "::",
        ] {
            assert!(forbidden_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["127.0.0.1", "::1", "10.0.0.7", "203.0.113.9", "2001:db8::7"] {
            assert!(!forbidden_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let s = Settings {
            admin_token: Some("very-secret-admin-token".into()),
            exotel_api_token: Some("very-secret-exotel-token".into()),
            events_secret: Some("very-secret-events-key".into()),
            ..Settings::default()
        };
        assert!(!format!("{s:?}").contains("very-secret"));
    }

    #[test]
    fn outbound_settings_are_checked_and_name_what_is_missing() {
        let s = Settings::default();
        assert_eq!(s.sms_cooldown, Duration::from_secs(1800));
        assert_eq!(s.exotel_api_base_url, "https://api.exotel.com");
        assert_eq!(
            s.exotel_api_missing(),
            vec![
                "PINBRIDGE_EXOTEL_API_KEY",
                "PINBRIDGE_EXOTEL_API_TOKEN",
                "PINBRIDGE_EXOTEL_ACCOUNT_SID"
            ]
        );
        let set = Settings {
            exotel_api_key: Some("key".into()),
            exotel_api_token: Some("token".into()),
            exotel_account_sid: Some("acme1".into()),
            exotel_caller_id: Some("07314853246".into()),
            ..Settings::default()
        };
        assert!(set.exotel_api_missing().is_empty());
        assert_eq!(
            set.exotel_caller_id().unwrap().unwrap().as_ref(),
            "+917314853246"
        );
        for (bad, name) in [
            (
                Settings {
                    exotel_api_base_url: "api.exotel.com".into(),
                    ..Settings::default()
                },
                "PINBRIDGE_EXOTEL_API_BASE_URL",
            ),
            (
                Settings {
                    exotel_caller_id: Some("the desk".into()),
                    ..Settings::default()
                },
                "PINBRIDGE_EXOTEL_CALLER_ID",
            ),
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}
