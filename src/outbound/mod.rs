//! Work pinbridge starts towards others: event webhooks to the business ([`events`]), the SMS
//! after an unanswered call ([`sms`]), and Exotel's REST API that sends it and places
//! click-to-calls ([`exotel_api`]), and the providers' call-details APIs the reconciler asks
//! about calls whose end report never came ([`call_details`]).
//!
//! Owns: requests pinbridge sends and their retries (the outbox). Must not touch: the call's
//! flow; a call step only queues work here and never waits for a remote answer, but for one:
//! the question about a caller with no route on a number that asks the business
//! ([`strangers`]), bounded by its own timeout.

pub mod call_details;
pub mod events;
pub mod exotel_api;
pub mod sms;
pub mod strangers;

use crate::config::Settings;

/// Checks the settings of outbound work that the settings alone can not: the SMS template
/// renders within the sandbox's rules, and the events URL is one events may be posted to
/// ([`events::check_endpoint`]). Run at start, after the settings loaded.
///
/// Errors: a message naming the setting.
pub fn check_settings(settings: &Settings) -> anyhow::Result<()> {
    let outbound = &settings.outbound;
    sms::check_template(outbound.sms.template.as_deref())
        .map_err(|e| anyhow::anyhow!("PINBRIDGE_SMS_TEMPLATE: {e}"))?;
    if let Some(url) = &outbound.events.url {
        events::check_endpoint(url, outbound.events.allow_http_loopback)
            .map_err(|e| anyhow::anyhow!("PINBRIDGE_EVENTS_URL {e}"))?;
    }
    if let Some(url) = &outbound.strangers_webhook.url {
        events::check_endpoint(url, outbound.events.allow_http_loopback)
            .map_err(|e| anyhow::anyhow!("PINBRIDGE_STRANGERS_WEBHOOK_URL {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    trait Check {
        fn check(&self) -> anyhow::Result<()>;
    }

    impl Check for Settings {
        fn check(&self) -> anyhow::Result<()> {
            check_settings(self)
        }
    }

    #[test]
    fn an_sms_template_that_does_not_render_is_refused_naming_the_setting() {
        let mut bad = Settings::default();
        bad.outbound.sms.template = Some("Call {{ nobody }}".into());
        let e = bad.check().unwrap_err().to_string();
        assert!(e.contains("PINBRIDGE_SMS_TEMPLATE"), "{e}");
    }

    /// `url` as `PINBRIDGE_EVENTS_URL`, with `PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK=allow`,
    /// loaded the way the process loads them.
    fn with_events_url(url: &str, allow: bool) -> Settings {
        Settings::load_from(
            None,
            [
                ("PINBRIDGE_EVENTS_URL", url.to_owned()),
                ("PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK", allow.to_string()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        )
        .expect("the settings load")
    }

    #[test]
    fn an_https_events_url_is_accepted_and_loopback_http_only_when_allowed() {
        for url in [
            "https://hooks.example.com/pinbridge",
            "https://hooks.example.com:8443/p?key=v",
            "https://10.0.0.7/hooks",
            "https://[2001:db8::7]/hooks",
            "https://localhost/hooks",
        ] {
            assert!(with_events_url(url, false).check().is_ok(), "{url}");
        }
        for url in [
            "http://127.0.0.1:8080/hooks",
            "http://127.8.9.10/hooks",
            "http://[::1]:9000/hooks",
            "http://localhost:3000/hooks",
            "http://LOCALHOST/hooks",
            "http://[::ffff:127.0.0.1]/hooks",
        ] {
            assert!(with_events_url(url, true).check().is_ok(), "{url}");
            let e = with_events_url(url, false).check().unwrap_err().to_string();
            assert!(
                e.contains("PINBRIDGE_EVENTS_URL must be https://"),
                "{url}: {e}"
            );
            assert!(
                e.contains("PINBRIDGE_EVENTS_ALLOW_HTTP_LOOPBACK"),
                "{url}: {e}"
            );
        }
        // Unset, or blank: no events, nothing to check.
        assert!(with_events_url("  ", false).check().is_ok());
        assert!(Settings::default().check().is_ok());
    }

    #[test]
    fn the_strangers_webhook_url_is_held_to_the_events_rules_naming_its_setting() {
        let load = |url: &str| {
            Settings::load_from(
                None,
                [("PINBRIDGE_STRANGERS_WEBHOOK_URL", url.to_owned())]
                    .map(|(k, v)| (k.to_owned(), v)),
            )
            .expect("the settings load")
        };
        let ok = load("https://hooks.example.com/strangers");
        assert!(ok.check().is_ok());
        assert_eq!(
            ok.outbound.strangers_webhook.timeout,
            std::time::Duration::from_secs(2)
        );
        for url in [
            "http://hooks.example.com/strangers",
            "https://169.254.169.254/latest",
        ] {
            let e = load(url).check().unwrap_err().to_string();
            assert!(
                e.starts_with("PINBRIDGE_STRANGERS_WEBHOOK_URL "),
                "{url}: {e}"
            );
        }
        assert_eq!(load(" ").outbound.strangers_webhook.url, None);
    }

    #[test]
    fn plain_http_beyond_loopback_is_refused_even_when_loopback_http_is_allowed() {
        for url in [
            "http://hooks.example.com/pinbridge",
            "http://10.0.0.7/hooks",
            "http://localhost.example.com/hooks",
            "http://127.0.0.1.nip.io/hooks",
            "http://[2001:db8::7]/hooks",
        ] {
            let e = with_events_url(url, true).check().unwrap_err().to_string();
            assert!(
                e.contains("PINBRIDGE_EVENTS_URL must be https://"),
                "{url}: {e}"
            );
        }
    }

    #[test]
    fn events_urls_of_other_schemes_or_without_a_host_are_refused() {
        for (url, says) in [
            ("file:///etc/passwd", "must be an https:// URL, not file://"),
            ("gopher://127.0.0.1:6379/_INFO", "not gopher://"),
            ("ftp://hooks.example.com/", "not ftp://"),
            ("hooks.example.com/pinbridge", "is not a URL"),
            ("https://", "is not a URL"),
            ("not a url", "is not a URL"),
        ] {
            for allow in [false, true] {
                let e = with_events_url(url, allow).check().unwrap_err().to_string();
                assert!(e.starts_with("PINBRIDGE_EVENTS_URL "), "{url}: {e}");
                assert!(e.contains(says), "{url}: {e}");
            }
        }
    }

    #[test]
    fn events_urls_to_link_local_or_unspecified_addresses_are_refused_over_any_scheme() {
        for url in [
            "https://169.254.169.254/latest/meta-data/",
            "http://169.254.169.254/latest/meta-data/",
            "https://[fe80::1]/hooks",
            "http://[fe80::a9fe:a9fe]:8080/hooks",
            "https://[::ffff:169.254.169.254]/hooks",
            "https://0.0.0.0/hooks",
            "https://0/hooks",
            "http://0.0.0.0:8080/hooks",
            "https://[::]/hooks",
            "https://224.0.0.1/hooks",
            "https://255.255.255.255/hooks",
            // Other spellings of 169.254.169.254 that URL parsers accept.
            "https://2852039166/hooks",
            "https://0xa9.0xfe.0xa9.0xfe/hooks",
        ] {
            for allow in [false, true] {
                let e = with_events_url(url, allow).check().unwrap_err().to_string();
                assert!(
                    e.starts_with("PINBRIDGE_EVENTS_URL must not point at a link-local"),
                    "{url}: {e}"
                );
            }
        }
    }
}
