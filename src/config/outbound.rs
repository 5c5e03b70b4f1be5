//! Work pinbridge starts towards others: Exotel's REST API (click-to-call), the SMS after an
//! unanswered call, and the event webhooks. What needs the sandbox or the events URL rules
//! (the SMS template, the events URL) is checked by `crate::outbound::check_settings`, which
//! lives above this module.

use std::time::Duration;

use anyhow::bail;
use secrecy::SecretString;

use crate::domain::{PhoneNumber, Region};

use super::raw::Raw;

/// The outbound settings, by what they drive.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub exotel_api: ExotelApiSettings,
    pub sms: SmsSettings,
    pub events: EventsSettings,
    pub strangers_webhook: StrangersWebhookSettings,
}

/// The question to the business about a caller with no route on a number that answers
/// strangers `webhook`. Its own URL, not the events URL: events are queued and retried
/// later, a question is answered while the caller waits. Signed like the events, with
/// `PINBRIDGE_EVENTS_SECRET`, under the same rules for where it may go
/// (`PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK`).
#[derive(Clone)]
pub struct StrangersWebhookSettings {
    /// `PINBRIDGE_STRANGERS_WEBHOOK_URL`: where the question is posted, an https URL. Unset:
    /// no number can be set to `webhook`, and one that is answers the message. May carry a
    /// key in its query: never printed (see `Debug`).
    pub url: Option<String>,
    /// `PINBRIDGE_STRANGERS_WEBHOOK_TIMEOUT`: the longest wait for the business's answer,
    /// after which the caller hears the message. Default `2s`. The call's step gets this on
    /// top of `PINBRIDGE_WEBHOOK_TIMEOUT`, so the provider's own wait must cover both.
    pub timeout: Duration,
}

/// The URL may carry a key: only whether it is set prints.
impl std::fmt::Debug for StrangersWebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrangersWebhookSettings")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Exotel's REST API: with the key, the token and the account SID, it turns on click-to-call
/// (`POST /api/v1/calls/connect`) and the SMS after unanswered calls.
#[derive(Debug, Clone)]
pub struct ExotelApiSettings {
    /// `PINBRIDGE_EXOTEL_API_KEY`: the API key (the user name of its HTTP basic auth).
    pub api_key: Option<SecretString>,
    /// `PINBRIDGE_EXOTEL_API_TOKEN`: the API token (the password of its HTTP basic auth).
    pub api_token: Option<SecretString>,
    /// `PINBRIDGE_EXOTEL_ACCOUNT_SID`: the account SID, part of every REST API path
    /// (`/v1/Accounts/{sid}/...`).
    pub account_sid: Option<String>,
    /// `PINBRIDGE_EXOTEL_API_BASE_URL`: the REST API cluster, an http(s) URL. Default
    /// `https://api.exotel.com` (Singapore); `https://api.in.exotel.com` is Mumbai.
    pub base_url: String,
    /// `PINBRIDGE_EXOTEL_CALLER_ID`: the ExoPhone shown as caller ID by a click-to-call for an
    /// order that names no virtual number, read in the default region. Unset: such an order
    /// can not be called this way.
    pub caller_id: Option<PhoneNumber>,
    /// `PINBRIDGE_EXOTEL_CALL_RECORDING`: click-to-call asks Exotel to record the call
    /// (`Record=true`, dual channel). Default `false`.
    pub call_recording: bool,
}

/// The SMS after an unanswered call, sent through Exotel's REST API.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// `PINBRIDGE_EXOTEL_SMS_FROM`: the sender, an ExoPhone or a DLT sender ID (header).
    /// Unset: no SMS is sent.
    pub from: Option<String>,
    /// `PINBRIDGE_EXOTEL_DLT_ENTITY_ID`: the DLT principal entity ID sent with each SMS
    /// (`DltEntityId`; required for Indian destinations).
    pub dlt_entity_id: Option<String>,
    /// `PINBRIDGE_EXOTEL_DLT_TEMPLATE_ID`: the DLT template ID of the SMS (`DltTemplateId`);
    /// the rendered text must match that registered template exactly.
    pub dlt_template_id: Option<String>,
    /// `PINBRIDGE_SMS_TEMPLATE`: the text, a minijinja template with `order_id`, `booking_id`,
    /// `virtual_number` and `brand`. Unset: the shipped `templates/sms/unanswered.txt`.
    pub template: Option<String>,
    /// `PINBRIDGE_SMS_COOLDOWN`: at most one SMS per order (or booking) within this time, over
    /// every instance. Default `30m`.
    pub cooldown: Duration,
}

/// The event webhooks (the event outbox).
#[derive(Clone)]
pub struct EventsSettings {
    /// `PINBRIDGE_EVENTS_URL`: where call events are posted, an https URL (see
    /// `crate::outbound::events::check_endpoint`). Unset or blank: no events are sent. May
    /// carry a key in its query: never printed (see `Debug`).
    pub url: Option<String>,
    /// `PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK`: also accept an `http://` events URL whose host
    /// is loopback (127.0.0.0/8, `::1`, `localhost`), for a receiver on the same machine in
    /// local testing. Default `false`: https only.
    pub allow_http_loopback: bool,
    /// `PINBRIDGE_EVENTS_SECRET`: the key events are signed with.
    pub secret: Option<SecretString>,
}

/// The URL may carry a key: only whether it is set prints.
impl std::fmt::Debug for EventsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsSettings")
            .field("url", &self.url.as_ref().map(|_| "<set>"))
            .field("allow_http_loopback", &self.allow_http_loopback)
            .field("secret", &self.secret)
            .finish()
    }
}

impl Outbound {
    /// Errors: a base URL that is not an http(s) URL, a caller ID that is not a phone number;
    /// each naming the setting.
    pub(super) fn parse(raw: &Raw, region: Region) -> anyhow::Result<Self> {
        let base = raw.exotel_api_base_url.trim();
        if !(base.starts_with("https://") || base.starts_with("http://"))
            || reqwest::Url::parse(base).is_err()
        {
            bail!(
                "PINBRIDGE_EXOTEL_API_BASE_URL must be an http(s) URL such as https://api.exotel.com"
            );
        }
        Ok(Self {
            exotel_api: ExotelApiSettings {
                api_key: filled(&raw.exotel_api_key).map(SecretString::from),
                api_token: filled(&raw.exotel_api_token).map(SecretString::from),
                account_sid: filled(&raw.exotel_account_sid).map(str::to_owned),
                base_url: base.to_owned(),
                caller_id: super::phone_number(
                    raw.exotel_caller_id.as_deref(),
                    "PINBRIDGE_EXOTEL_CALLER_ID",
                    region,
                )?,
                call_recording: raw.exotel_call_recording,
            },
            sms: SmsSettings {
                from: filled(&raw.exotel_sms_from).map(|f| f.trim().to_owned()),
                dlt_entity_id: filled(&raw.exotel_dlt_entity_id).map(|v| v.trim().to_owned()),
                dlt_template_id: filled(&raw.exotel_dlt_template_id).map(|v| v.trim().to_owned()),
                template: raw.sms_template.clone(),
                cooldown: raw.sms_cooldown,
            },
            events: EventsSettings {
                url: filled(&raw.events_url).map(|u| u.trim().to_owned()),
                allow_http_loopback: raw.events_allow_http_loopback,
                secret: raw.events_secret.as_deref().map(SecretString::from),
            },
            strangers_webhook: StrangersWebhookSettings {
                url: filled(&raw.strangers_webhook_url).map(|u| u.trim().to_owned()),
                timeout: raw.strangers_webhook_timeout,
            },
        })
    }
}

/// A value that is set and not blank (a blank one counts as unset).
fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

impl ExotelApiSettings {
    /// The names of the REST API settings that are not set (empty: click-to-call and SMS can
    /// reach Exotel).
    pub fn missing(&self) -> Vec<&'static str> {
        [
            ("PINBRIDGE_EXOTEL_API_KEY", self.api_key.is_none()),
            ("PINBRIDGE_EXOTEL_API_TOKEN", self.api_token.is_none()),
            ("PINBRIDGE_EXOTEL_ACCOUNT_SID", self.account_sid.is_none()),
        ]
        .into_iter()
        .filter(|(_, missing)| *missing)
        .map(|(name, _)| name)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_env;
    use std::time::Duration;

    #[test]
    fn outbound_settings_are_checked_and_name_what_is_missing() {
        let s = load_env(&[]).unwrap().outbound;
        assert_eq!(s.sms.cooldown, Duration::from_secs(1800));
        assert_eq!(s.exotel_api.base_url, "https://api.exotel.com");
        assert_eq!(
            s.exotel_api.missing(),
            vec![
                "PINBRIDGE_EXOTEL_API_KEY",
                "PINBRIDGE_EXOTEL_API_TOKEN",
                "PINBRIDGE_EXOTEL_ACCOUNT_SID"
            ]
        );
        let set = load_env(&[
            ("PINBRIDGE_EXOTEL_API_KEY", "key"),
            ("PINBRIDGE_EXOTEL_API_TOKEN", "token"),
            ("PINBRIDGE_EXOTEL_ACCOUNT_SID", "acme1"),
            ("PINBRIDGE_EXOTEL_CALLER_ID", "07314853246"),
        ])
        .unwrap()
        .outbound;
        assert!(set.exotel_api.missing().is_empty());
        assert_eq!(set.exotel_api.caller_id.unwrap().as_ref(), "+917314853246");
        let blank = load_env(&[("PINBRIDGE_EXOTEL_API_TOKEN", "  ")]).unwrap();
        assert!(
            blank
                .outbound
                .exotel_api
                .missing()
                .contains(&"PINBRIDGE_EXOTEL_API_TOKEN")
        );
        for (name, bad) in [
            ("PINBRIDGE_EXOTEL_API_BASE_URL", "api.exotel.com"),
            ("PINBRIDGE_EXOTEL_CALLER_ID", "the desk"),
        ] {
            let e = load_env(&[(name, bad)]).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }

    #[test]
    fn sms_and_events_values_are_kept_trimmed_and_blank_means_unset() {
        let s = load_env(&[
            ("PINBRIDGE_EXOTEL_SMS_FROM", " EXOTL "),
            ("PINBRIDGE_EXOTEL_DLT_ENTITY_ID", "  "),
            ("PINBRIDGE_EVENTS_URL", " https://hooks.example.com/p "),
        ])
        .unwrap()
        .outbound;
        assert_eq!(s.sms.from.as_deref(), Some("EXOTL"));
        assert_eq!(s.sms.dlt_entity_id, None);
        assert_eq!(s.events.url.as_deref(), Some("https://hooks.example.com/p"));
        let unset = load_env(&[("PINBRIDGE_EVENTS_URL", " ")]).unwrap();
        assert_eq!(unset.outbound.events.url, None);
    }
}
