//! The settings as written: one flat key per setting, with its default. Only
//! [`super::Settings::load`] reads this; everything else sees the typed concerns it is parsed
//! into.
//!
//! The keys are the contract with users' files and environments: a key here is the TOML key,
//! and upper-cased with `PINBRIDGE_` its variable. The unknown-key check reads their names
//! from this struct's serde derive, so that a setting can not exist here without being
//! accepted, nor be accepted without existing here. What each one means is documented on the
//! typed field it becomes (and in docs/settings.md).

use std::time::Duration;

use serde::Deserialize;

use super::{duration, fraction};

/// One field per setting, named as written.
#[derive(Deserialize)]
#[serde(default)]
pub(super) struct Raw {
    pub listen: String,
    pub database_url: String,
    pub public_url: Option<String>,
    pub admin_token: Option<String>,
    pub exotel_secret: Option<String>,
    pub exotel_number_format: String,
    pub default_region: String,
    pub pin_min_length: u8,
    pub pin_max_length: u8,
    pub pin_max_attempts: u8,
    pub brand: String,
    pub default_language: String,
    pub fallback_language: String,
    #[serde(deserialize_with = "duration")]
    pub order_ttl: Duration,
    #[serde(deserialize_with = "duration")]
    pub gather_input_timeout: Duration,
    pub record_calls: bool,
    pub whisper: bool,
    #[serde(deserialize_with = "duration")]
    pub max_ringing_duration: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_conversation_duration: Duration,
    #[serde(deserialize_with = "duration")]
    pub call_state_ttl: Duration,
    pub call_state_capacity: u64,
    #[serde(deserialize_with = "duration")]
    pub webhook_timeout: Duration,
    pub database_max_connections: u32,
    pub database_min_connections: u32,
    #[serde(deserialize_with = "duration")]
    pub database_acquire_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub database_statement_timeout: Duration,
    pub sqlite_max_size_mb: Option<u64>,
    #[serde(deserialize_with = "duration")]
    pub database_connect_retry: Duration,
    pub fallback_number: Option<String>,
    pub twilio_auth_token: Option<String>,
    pub plivo_auth_token: Option<String>,
    #[serde(rename = "8x8_secret")]
    pub eight_by_eight_secret: Option<String>,
    #[serde(rename = "8x8_auth_header")]
    pub eight_by_eight_auth_header: Option<String>,
    #[serde(rename = "8x8_voice_profile")]
    pub eight_by_eight_voice_profile: String,
    #[serde(rename = "8x8_voice_profiles")]
    pub eight_by_eight_voice_profiles: String,
    pub language_locales: String,
    pub twilio_voices: String,
    pub plivo_voices: String,
    pub vonage_styles: String,
    pub vonage_signature_secret: Option<String>,
    pub unsigned_providers: Option<String>,
    pub admin_tokens: Option<String>,
    pub admin_time_zone: String,
    pub caller_max_failures: u32,
    #[serde(deserialize_with = "duration")]
    pub lockout_window: Duration,
    pub pin_guessing_budget: f64,
    #[serde(deserialize_with = "duration")]
    pub known_caller_window: Duration,
    #[serde(deserialize_with = "fraction")]
    pub pin_max_density: f64,
    pub allowed_country_codes: Option<String>,
    pub allowed_source_networks: Option<String>,
    pub trusted_proxies: Option<String>,
    pub retention_days: u32,
    #[serde(deserialize_with = "duration")]
    pub booking_ttl: Duration,
    #[serde(deserialize_with = "duration")]
    pub booking_cool_off: Duration,
    pub pool_headroom_alert: u32,
    #[serde(deserialize_with = "duration")]
    pub health_grace: Duration,
    #[serde(deserialize_with = "duration")]
    pub callback_window: Duration,
    pub exotel_api_key: Option<String>,
    pub exotel_api_token: Option<String>,
    pub exotel_account_sid: Option<String>,
    pub exotel_api_base_url: String,
    pub exotel_caller_id: Option<String>,
    pub exotel_call_recording: bool,
    pub exotel_sms_from: Option<String>,
    pub exotel_dlt_entity_id: Option<String>,
    pub exotel_dlt_template_id: Option<String>,
    pub sms_template: Option<String>,
    #[serde(deserialize_with = "duration")]
    pub sms_cooldown: Duration,
    pub events_url: Option<String>,
    pub events_allow_http_loopback: bool,
    pub events_secret: Option<String>,
    pub strangers_webhook_url: Option<String>,
    #[serde(deserialize_with = "duration")]
    pub strangers_webhook_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub reconcile_after: Duration,
    #[serde(deserialize_with = "duration")]
    pub reconcile_give_up: Duration,
    #[serde(deserialize_with = "duration")]
    pub reconcile_interval: Duration,
    pub twilio_account_sid: Option<String>,
    pub twilio_api_base_url: String,
    pub plivo_auth_id: Option<String>,
    pub plivo_api_base_url: String,
}

impl Default for Raw {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://pinbridge.db".into(),
            public_url: None,
            admin_token: None,
            exotel_secret: None,
            exotel_number_format: "e164".into(),
            default_region: "IN".into(),
            pin_min_length: 4,
            pin_max_length: 12,
            pin_max_attempts: 3,
            brand: "our delivery service".into(),
            default_language: "en".into(),
            fallback_language: "en".into(),
            order_ttl: Duration::from_secs(24 * 3600),
            gather_input_timeout: Duration::from_secs(6),
            record_calls: false,
            whisper: false,
            max_ringing_duration: Duration::from_secs(45),
            max_conversation_duration: Duration::from_secs(3600),
            call_state_ttl: Duration::from_secs(6 * 3600),
            call_state_capacity: 100_000,
            webhook_timeout: Duration::from_secs(2),
            database_max_connections: 8,
            database_min_connections: 1,
            database_acquire_timeout: Duration::from_secs(1),
            database_statement_timeout: Duration::from_secs(2),
            sqlite_max_size_mb: None,
            database_connect_retry: Duration::from_secs(60),
            fallback_number: None,
            twilio_auth_token: None,
            plivo_auth_token: None,
            eight_by_eight_secret: None,
            eight_by_eight_auth_header: None,
            eight_by_eight_voice_profile: "en-US-BenjaminRUS".into(),
            eight_by_eight_voice_profiles: String::new(),
            language_locales: String::new(),
            twilio_voices: String::new(),
            plivo_voices: String::new(),
            vonage_styles: String::new(),
            vonage_signature_secret: None,
            unsigned_providers: None,
            admin_tokens: None,
            admin_time_zone: "Asia/Kolkata".into(),
            caller_max_failures: 10,
            lockout_window: Duration::from_secs(3600),
            pin_guessing_budget: 1.0,
            known_caller_window: Duration::from_secs(30 * 86_400),
            pin_max_density: 0.01,
            allowed_country_codes: None,
            allowed_source_networks: None,
            trusted_proxies: None,
            retention_days: 90,
            booking_ttl: Duration::from_secs(24 * 3600),
            booking_cool_off: Duration::from_secs(3600),
            pool_headroom_alert: 1,
            health_grace: Duration::from_secs(24 * 3600),
            callback_window: Duration::from_secs(24 * 3600),
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
            strangers_webhook_url: None,
            strangers_webhook_timeout: Duration::from_secs(2),
            reconcile_after: Duration::from_secs(15 * 60),
            reconcile_give_up: Duration::from_secs(6 * 3600),
            reconcile_interval: Duration::from_secs(60),
            twilio_account_sid: None,
            twilio_api_base_url: "https://api.twilio.com".into(),
            plivo_auth_id: None,
            plivo_api_base_url: "https://api.plivo.com".into(),
        }
    }
}
