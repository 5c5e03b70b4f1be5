//! The telephony providers: which are on, and the credentials their webhooks are checked with.
//! DESIGN.md, "Rules that come from the field": a provider whose credentials are not
//! configured has no routes.

use anyhow::bail;
use secrecy::{ExposeSecret, SecretString};

use super::raw::Raw;

/// The providers' settings, decided once at load.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// `PINBRIDGE_EXOTEL_SECRET`: secret path segment of the Exotel URLs, at least 16
    /// characters of `A-Z a-z 0-9 - _`. Unset: one is generated on the first start and kept in
    /// the database. Exotel is always on: it signs nothing, so this secret is what lets it in.
    pub exotel_secret: Option<SecretString>,
    /// `PINBRIDGE_EXOTEL_NUMBER_FORMAT`: how Exotel's Connect applet is told whom to dial.
    /// Default `e164`.
    pub exotel_number_format: ExotelNumberFormat,
    /// Twilio: `PINBRIDGE_TWILIO_AUTH_TOKEN` turns it on, and `X-Twilio-Signature` is verified
    /// on every Twilio webhook over the URL built from `PINBRIDGE_PUBLIC_URL`.
    pub twilio: Signing,
    /// Plivo: `PINBRIDGE_PLIVO_AUTH_TOKEN` turns it on, and `X-Plivo-Signature-V3` is verified
    /// on every Plivo webhook.
    pub plivo: Signing,
    /// Vonage: `PINBRIDGE_VONAGE_SIGNATURE_SECRET` turns it on, and the signed-webhook JWT
    /// (HS256) of every Vonage webhook is verified.
    pub vonage: Signing,
    /// `PINBRIDGE_8X8_SECRET`: turns 8x8 on; the secret path segment of the 8x8 URLs, at least
    /// 16 characters of `A-Z a-z 0-9 - _`. Unset: 8x8 has no routes.
    pub eight_by_eight_secret: Option<SecretString>,
    /// `PINBRIDGE_8X8_AUTH_HEADER`: when set, 8x8 webhooks must carry this exact
    /// `Authorization` header value (8x8's webhook `httpAuthHeader`).
    pub eight_by_eight_auth_header: Option<SecretString>,
    /// `PINBRIDGE_8X8_VOICE_PROFILE`: the 8x8 text-to-speech voice. Default `en-US-BenjaminRUS`.
    pub eight_by_eight_voice_profile: String,
}

/// The form of the numbers pinbridge gives Exotel's Connect applet to dial
/// (`PINBRIDGE_EXOTEL_NUMBER_FORMAT`). Exotel reads both; its applet articles write numbers in
/// the national form, and integrators report it dials most reliably on Indian routes
/// (`reference/exotel.md` §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExotelNumberFormat {
    /// `e164`: `+919812345678`, the same everywhere.
    #[default]
    E164,
    /// `national`: `0` and the national number (`09812345678`) for a number of
    /// `PINBRIDGE_DEFAULT_REGION`'s country; a number of another country stays E.164.
    National,
}

impl ExotelNumberFormat {
    /// Errors: anything but `e164` or `national` (any case).
    fn parse(raw: &str) -> anyhow::Result<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "e164" | "e.164" => Ok(Self::E164),
            "national" => Ok(Self::National),
            other => bail!("PINBRIDGE_EXOTEL_NUMBER_FORMAT: {other:?} is not e164 or national"),
        }
    }
}

/// How a provider that signs its requests (Twilio, Plivo, Vonage) is let in. Its credential
/// and `PINBRIDGE_UNSIGNED_PROVIDERS` decide it at load; one value holds both, so a provider
/// can not be unsigned and have a credential, nor signed without one.
#[derive(Debug, Clone, Default)]
pub enum Signing {
    /// Neither its credential nor `PINBRIDGE_UNSIGNED_PROVIDERS` names it: no routes.
    #[default]
    Off,
    /// Its signatures are verified with this credential (a blank one counts as unset).
    Signed(SecretString),
    /// Listed in `PINBRIDGE_UNSIGNED_PROVIDERS`: on without any check, for local testing only;
    /// a warning at start, and each request counted in `pinbridge_unsigned_requests_total`.
    Unsigned,
}

impl Signing {
    /// How its requests are let in.
    pub fn auth(&self) -> ProviderAuth {
        match self {
            Self::Off => ProviderAuth::Off,
            Self::Signed(_) => ProviderAuth::Signed,
            Self::Unsigned => ProviderAuth::Unsigned,
        }
    }

    /// The credential signatures are verified with; `None` unless [`Signing::Signed`].
    pub fn credential(&self) -> Option<&str> {
        match self {
            Self::Signed(secret) => Some(secret.expose_secret()),
            Self::Off | Self::Unsigned => None,
        }
    }
}

/// How a provider's webhooks are let in ([`ProviderSettings::on`]).
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

/// The providers `PINBRIDGE_UNSIGNED_PROVIDERS` may name: the ones that sign their requests.
const SIGNING: [&str; 3] = ["twilio", "plivo", "vonage"];

impl ProviderSettings {
    /// Which providers are on, and how each is authenticated: Exotel always (its URL secret is
    /// generated on the first start when unset); 8x8 with `PINBRIDGE_8X8_SECRET`; Twilio,
    /// Plivo and Vonage as their [`Signing`] says. Everything else is off.
    pub fn on(&self) -> Providers {
        Providers {
            exotel: ProviderAuth::SecretPath,
            twilio: self.twilio.auth(),
            plivo: self.plivo.auth(),
            eight_by_eight: if self.eight_by_eight_secret.is_some() {
                ProviderAuth::SecretPath
            } else {
                ProviderAuth::Off
            },
            vonage: self.vonage.auth(),
        }
    }

    /// Errors: an unknown name in `PINBRIDGE_UNSIGNED_PROVIDERS`, or a provider both listed
    /// there and given its credential.
    pub(super) fn parse(raw: &Raw) -> anyhow::Result<Self> {
        let unsigned: Vec<&str> = raw
            .unsigned_providers
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if let Some(bad) = unsigned.iter().find(|p| !SIGNING.contains(p)) {
            bail!(
                "PINBRIDGE_UNSIGNED_PROVIDERS: {bad:?} is not one of twilio, plivo, vonage (Exotel and 8x8 are always reached through a secret URL)"
            );
        }
        let signing = |name: &str, credential: &Option<String>, setting: &str| {
            let listed = unsigned.contains(&name);
            let credential = credential.as_deref().filter(|c| !c.trim().is_empty());
            Ok(match (credential, listed) {
                (Some(_), true) => bail!(
                    "{setting} is set and PINBRIDGE_UNSIGNED_PROVIDERS lists {name}: remove {name} from the list to check its signatures"
                ),
                (Some(c), false) => Signing::Signed(c.into()),
                (None, true) => Signing::Unsigned,
                (None, false) => Signing::Off,
            })
        };
        let secret = |value: &Option<String>| value.as_deref().map(SecretString::from);
        Ok(Self {
            exotel_secret: secret(&raw.exotel_secret),
            exotel_number_format: ExotelNumberFormat::parse(&raw.exotel_number_format)?,
            twilio: signing(
                "twilio",
                &raw.twilio_auth_token,
                "PINBRIDGE_TWILIO_AUTH_TOKEN",
            )?,
            plivo: signing("plivo", &raw.plivo_auth_token, "PINBRIDGE_PLIVO_AUTH_TOKEN")?,
            vonage: signing(
                "vonage",
                &raw.vonage_signature_secret,
                "PINBRIDGE_VONAGE_SIGNATURE_SECRET",
            )?,
            eight_by_eight_secret: secret(&raw.eight_by_eight_secret),
            eight_by_eight_auth_header: secret(&raw.eight_by_eight_auth_header),
            eight_by_eight_voice_profile: raw.eight_by_eight_voice_profile.clone(),
        })
    }

    /// Checks the URL secrets: each at least 16 characters of `A-Z a-z 0-9 - _`, since it is
    /// all that stands between the internet and the routes of a provider that signs nothing,
    /// and it must stay one path segment.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        for (name, secret) in [
            ("PINBRIDGE_EXOTEL_SECRET", &self.exotel_secret),
            ("PINBRIDGE_8X8_SECRET", &self.eight_by_eight_secret),
        ] {
            if let Some(secret) = secret.as_ref().map(ExposeSecret::expose_secret)
                && (secret.len() < 16
                    || !secret
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            {
                bail!("{name} must be at least 16 characters of A-Z, a-z, 0-9, '-' and '_'");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_env;
    use super::*;

    #[test]
    fn providers_are_off_until_their_credentials_are_set() {
        use ProviderAuth::*;
        let p = load_env(&[]).unwrap().providers.on();
        assert_eq!(
            (p.exotel, p.twilio, p.plivo, p.eight_by_eight, p.vonage),
            (SecretPath, Off, Off, Off, Off)
        );
        let s = load_env(&[
            ("PINBRIDGE_TWILIO_AUTH_TOKEN", "tw"),
            ("PINBRIDGE_PLIVO_AUTH_TOKEN", "  "),
            ("PINBRIDGE_8X8_SECRET", "an-8x8-secret-0123456789"),
            ("PINBRIDGE_UNSIGNED_PROVIDERS", "vonage"),
        ])
        .unwrap();
        let p = s.providers.on();
        assert_eq!(
            (p.twilio, p.plivo, p.eight_by_eight, p.vonage),
            (Signed, Off, SecretPath, Unsigned)
        );
        assert_eq!(s.providers.twilio.credential(), Some("tw"));
        assert_eq!(s.providers.vonage.credential(), None);
        for bad in ["exotel", "twillio"] {
            let e = load_env(&[("PINBRIDGE_UNSIGNED_PROVIDERS", bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains(bad), "{e}");
        }
        let both = load_env(&[
            ("PINBRIDGE_TWILIO_AUTH_TOKEN", "tw"),
            ("PINBRIDGE_UNSIGNED_PROVIDERS", "twilio"),
        ]);
        assert!(both.is_err());
    }

    #[test]
    fn url_secrets_that_are_short_or_leave_the_path_segment_are_refused() {
        for (name, bad) in [
            ("PINBRIDGE_EXOTEL_SECRET", "short"),
            ("PINBRIDGE_8X8_SECRET", "a/secret/0123456789"),
        ] {
            let e = load_env(&[(name, bad)]).unwrap_err().to_string();
            assert!(e.contains(name), "{e}");
        }
    }
}
