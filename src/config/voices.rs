//! The voices providers read prompts with: for each language (a BCP 47 primary tag, `en`,
//! `hi`), the locale its `language` attributes carry and the voice each provider uses.
//!
//! Every setting is a list of `language=value` pairs separated by commas
//! (`PINBRIDGE_TWILIO_VOICES="hi=Polly.Aditi,en=Polly.Raveena"`); the pairs given replace the
//! shipped ones of the same language and keep the others. A language a provider has no voice
//! for is read with the voice of `PINBRIDGE_FALLBACK_LANGUAGE`, then of English (the prompt's
//! words are still the language's own: an operator who adds Tamil greetings adds the Tamil
//! voices too). What the shipped values rest on:
//!
//! - Twilio `<Say voice language>`: "any of the Twilio-supported Amazon Polly voices, e.g.
//!   Polly.Amy" and "any supported language/locale combination"
//!   (https://www.twilio.com/docs/voice/twiml/say); Polly's Aditi speaks Hindi (`hi-IN`) and
//!   Indian English, Raveena Indian English (`en-IN`)
//!   (https://docs.aws.amazon.com/polly/latest/dg/available-voices.html; Aditi is "bilingual
//!   and fluent in both Indian English and Hindi", API_Voice `AdditionalLanguageCodes`).
//! - Plivo `<Speak voice language>`: "specify one of the Amazon Polly voices in the voice
//!   attribute … Polly voices must be namespaced with a Polly prefix"
//!   (https://www.plivo.com/docs/voice/concepts/ssml, https://www.plivo.com/docs/voice/xml/speak):
//!   the same Polly voices.
//! - Vonage `talk`: `language` is a BCP 47 code and `style` picks one of its voices, `0` by
//!   default; `hi-IN` and `en-IN` have styles `0` to `4`
//!   (https://developer.vonage.com/voice/voice-api/guides/text-to-speech, "Supported Languages").
//! - 8x8 `say`/`sayAndCapture` `voiceProfile` (mandatory): a profile of 8x8's list
//!   (https://developer.8x8.com/connect/reference-link/vm-voice-languages-and-profiles, Azure
//!   names such as `ar-EG-SalmaNeural`); English keeps `PINBRIDGE_8X8_VOICE_PROFILE`
//!   (`en-US-BenjaminRUS`, `reference/providers.md` §3.3), Hindi ships `hi-IN-SwaraNeural`,
//!   following the same naming: check it against the account's list (docs/providers.md).
//! - Exotel reads the text of its Greeting applet itself: no voice to choose.

use std::collections::BTreeMap;

use anyhow::bail;

use super::raw::Raw;

/// The language every lookup ends with, which always has a voice.
const ENGLISH: &str = "en";

/// `PINBRIDGE_LANGUAGE_LOCALES` as shipped: the Indian locale of each shipped language (the
/// default region is India).
pub const DEFAULT_LOCALES: &str = "en=en-IN,hi=hi-IN";
/// `PINBRIDGE_TWILIO_VOICES` as shipped.
pub const DEFAULT_TWILIO_VOICES: &str = "en=Polly.Raveena,hi=Polly.Aditi";
/// `PINBRIDGE_PLIVO_VOICES` as shipped.
pub const DEFAULT_PLIVO_VOICES: &str = "en=Polly.Raveena,hi=Polly.Aditi";
/// `PINBRIDGE_VONAGE_STYLES` as shipped.
pub const DEFAULT_VONAGE_STYLES: &str = "en=0,hi=0";
/// `PINBRIDGE_8X8_VOICE_PROFILES` as shipped (English: `PINBRIDGE_8X8_VOICE_PROFILE`).
pub const DEFAULT_8X8_VOICE_PROFILES: &str = "hi=hi-IN-SwaraNeural";

/// A voice for Twilio's `<Say>` or Plivo's `<Speak>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tts<'a> {
    /// The `language` attribute: a locale such as `hi-IN`.
    pub locale: &'a str,
    /// The `voice` attribute (`Polly.Aditi`); `None`: the provider's default voice of the
    /// locale.
    pub voice: Option<&'a str>,
}

/// A voice for Vonage's `talk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VonageVoice<'a> {
    /// `language`: a locale such as `hi-IN`.
    pub locale: &'a str,
    /// `style`: which of the locale's voices, from 0.
    pub style: u8,
}

/// The voice every provider reads each language with, parsed once at load.
#[derive(Debug, Clone)]
pub struct Voices {
    /// `PINBRIDGE_LANGUAGE_LOCALES`: language → locale of the `language` attributes.
    locales: BTreeMap<String, String>,
    /// `PINBRIDGE_TWILIO_VOICES`: language → `<Say voice>` ('' for none).
    twilio: BTreeMap<String, String>,
    /// `PINBRIDGE_PLIVO_VOICES`: language → `<Speak voice>` ('' for none).
    plivo: BTreeMap<String, String>,
    /// `PINBRIDGE_VONAGE_STYLES`: language → `talk.style`.
    vonage: BTreeMap<String, u8>,
    /// `PINBRIDGE_8X8_VOICE_PROFILES` (and `PINBRIDGE_8X8_VOICE_PROFILE` for English):
    /// language → `voiceProfile`.
    eight_by_eight: BTreeMap<String, String>,
    /// `PINBRIDGE_FALLBACK_LANGUAGE`: whose voice a language without one borrows.
    fallback: String,
}

impl Default for Voices {
    fn default() -> Self {
        Self::parse(&Raw::default()).expect("the shipped voices are valid")
    }
}

/// A language tag as settings write it: 2 or 3 lower-case letters.
fn is_language(tag: &str) -> bool {
    (2..=3).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_lowercase())
}

/// A locale: a language tag, then subtags of 1 to 8 letters or digits (`hi-IN`, `en-GB-WLS`).
fn is_locale(text: &str) -> bool {
    let mut parts = text.split('-');
    parts.next().is_some_and(is_language)
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A voice name: letters, digits, `.`, `-` and `_` (`Polly.Aditi`, `hi-IN-SwaraNeural`), at
/// most 64 characters.
fn is_voice(text: &str) -> bool {
    text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Reads `language=value` pairs into `into` (replacing the languages named), each value
/// checked by `value`, whose error names what it expected.
///
/// Errors: a pair without `=`, a language that is not 2 or 3 letters, or a value `value`
/// refuses; the message names `name`, the setting.
fn pairs<T>(
    name: &str,
    text: &str,
    into: &mut BTreeMap<String, T>,
    value: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<()> {
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((language, v)) = pair.split_once('=') else {
            bail!("{name}: {pair:?} is not language=value, such as hi=…");
        };
        let language = language.trim();
        if !is_language(language) {
            bail!(
                "{name}: {language:?} is not a language; write a 2- or 3-letter code such as en or hi"
            );
        }
        let v = value(v.trim()).map_err(|e| anyhow::anyhow!("{name}: {language}={e}"))?;
        into.insert(language.to_owned(), v);
    }
    Ok(())
}

fn locale(v: &str) -> Result<String, String> {
    if is_locale(v) {
        Ok(v.to_owned())
    } else {
        Err(format!("{v:?} is not a locale such as hi-IN"))
    }
}

fn voice(v: &str) -> Result<String, String> {
    if is_voice(v) {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "{v:?} is not a voice name (letters, digits, '.', '-', '_')"
        ))
    }
}

fn profile(v: &str) -> Result<String, String> {
    if v.is_empty() {
        return Err("an empty voice profile: 8x8 requires one".to_owned());
    }
    voice(v)
}

fn style(v: &str) -> Result<u8, String> {
    v.parse::<u8>()
        .map_err(|_| format!("{v:?} is not a style number such as 0"))
}

impl Voices {
    /// Reads the shipped values, then the settings over them.
    ///
    /// Errors: a malformed pair or value, naming the setting (see [`pairs`]).
    pub(super) fn parse(raw: &Raw) -> anyhow::Result<Self> {
        let mut v = Self {
            locales: BTreeMap::new(),
            twilio: BTreeMap::new(),
            plivo: BTreeMap::new(),
            vonage: BTreeMap::new(),
            eight_by_eight: BTreeMap::new(),
            fallback: raw.fallback_language.trim().to_ascii_lowercase(),
        };
        let name = "PINBRIDGE_LANGUAGE_LOCALES";
        pairs(name, DEFAULT_LOCALES, &mut v.locales, locale)?;
        pairs(name, &raw.language_locales, &mut v.locales, locale)?;
        let name = "PINBRIDGE_TWILIO_VOICES";
        pairs(name, DEFAULT_TWILIO_VOICES, &mut v.twilio, voice)?;
        pairs(name, &raw.twilio_voices, &mut v.twilio, voice)?;
        let name = "PINBRIDGE_PLIVO_VOICES";
        pairs(name, DEFAULT_PLIVO_VOICES, &mut v.plivo, voice)?;
        pairs(name, &raw.plivo_voices, &mut v.plivo, voice)?;
        let name = "PINBRIDGE_VONAGE_STYLES";
        pairs(name, DEFAULT_VONAGE_STYLES, &mut v.vonage, style)?;
        pairs(name, &raw.vonage_styles, &mut v.vonage, style)?;
        let name = "PINBRIDGE_8X8_VOICE_PROFILE";
        v.eight_by_eight.insert(
            ENGLISH.to_owned(),
            profile(raw.eight_by_eight_voice_profile.trim())
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?,
        );
        let name = "PINBRIDGE_8X8_VOICE_PROFILES";
        pairs(
            name,
            DEFAULT_8X8_VOICE_PROFILES,
            &mut v.eight_by_eight,
            profile,
        )?;
        pairs(
            name,
            &raw.eight_by_eight_voice_profiles,
            &mut v.eight_by_eight,
            profile,
        )?;
        Ok(v)
    }

    /// The languages a lookup for `language` tries, in order: itself, the fallback, English.
    fn chain<'a>(&'a self, language: &'a str) -> impl Iterator<Item = &'a str> {
        let mut seen: Vec<&str> = Vec::with_capacity(3);
        for l in [language, self.fallback.as_str(), ENGLISH] {
            if !seen.contains(&l) {
                seen.push(l);
            }
        }
        seen.into_iter()
    }

    fn tts<'a>(&'a self, voices: &'a BTreeMap<String, String>, language: &str) -> Tts<'a> {
        self.chain(language)
            .find_map(|l| {
                let locale = self.locales.get(l)?;
                let voice = voices.get(l)?;
                Some(Tts {
                    locale,
                    voice: Some(voice.as_str()).filter(|v| !v.is_empty()),
                })
            })
            .unwrap_or(Tts {
                locale: "en-US",
                voice: None,
            })
    }

    /// Twilio's `<Say language voice>` for words in `language`: its own voice, else the
    /// fallback language's, else English's.
    pub fn twilio(&self, language: &str) -> Tts<'_> {
        self.tts(&self.twilio, language)
    }

    /// Plivo's `<Speak language voice>` for words in `language` (as [`Voices::twilio`]).
    pub fn plivo(&self, language: &str) -> Tts<'_> {
        self.tts(&self.plivo, language)
    }

    /// Vonage's `talk` `language` and `style` for words in `language` (as
    /// [`Voices::twilio`]).
    pub fn vonage(&self, language: &str) -> VonageVoice<'_> {
        self.chain(language)
            .find_map(|l| {
                Some(VonageVoice {
                    locale: self.locales.get(l)?,
                    style: *self.vonage.get(l)?,
                })
            })
            .unwrap_or(VonageVoice {
                locale: "en-US",
                style: 0,
            })
    }

    /// 8x8's `voiceProfile` for words in `language` (as [`Voices::twilio`]).
    pub fn eight_by_eight(&self, language: &str) -> &str {
        self.chain(language)
            .find_map(|l| self.eight_by_eight.get(l))
            .map_or("en-US-BenjaminRUS", String::as_str)
    }

    /// The voice `provider` (`twilio`, `plivo`, `vonage`, `8x8`, `exotel`) reads words in
    /// `language` with, for people: `hi-IN Polly.Aditi`, `hi-IN style 0`, `hi-IN-SwaraNeural`;
    /// `text` for Exotel, which reads the text itself.
    pub fn describe(&self, provider: &str, language: &str) -> String {
        let tts = |t: Tts<'_>| match t.voice {
            Some(v) => format!("{} {v}", t.locale),
            None => format!("{} (default voice)", t.locale),
        };
        match provider {
            "twilio" => tts(self.twilio(language)),
            "plivo" => tts(self.plivo(language)),
            "vonage" => {
                let v = self.vonage(language);
                format!("{} style {}", v.locale, v.style)
            }
            "8x8" => self.eight_by_eight(language).to_owned(),
            _ => "text".to_owned(),
        }
    }

    /// The providers (`twilio`, `plivo`, `vonage`, `8x8`) with no voice of `language`'s own,
    /// which read it with the fallback language's voice.
    pub fn unvoiced(&self, language: &str) -> Vec<&'static str> {
        let has_locale = self.locales.contains_key(language);
        let mut out = Vec::new();
        if !(has_locale && self.twilio.contains_key(language)) {
            out.push("twilio");
        }
        if !(has_locale && self.plivo.contains_key(language)) {
            out.push("plivo");
        }
        if !(has_locale && self.vonage.contains_key(language)) {
            out.push("vonage");
        }
        if !self.eight_by_eight.contains_key(language) {
            out.push("8x8");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_env;
    use super::*;

    #[test]
    fn hindi_and_english_have_voices_on_every_provider_as_shipped() {
        let v = load_env(&[]).unwrap().voices;
        assert_eq!(
            v.twilio("hi"),
            Tts {
                locale: "hi-IN",
                voice: Some("Polly.Aditi")
            }
        );
        assert_eq!(
            v.plivo("en"),
            Tts {
                locale: "en-IN",
                voice: Some("Polly.Raveena")
            }
        );
        assert_eq!(
            v.vonage("hi"),
            VonageVoice {
                locale: "hi-IN",
                style: 0
            }
        );
        assert_eq!(v.eight_by_eight("hi"), "hi-IN-SwaraNeural");
        assert_eq!(v.eight_by_eight("en"), "en-US-BenjaminRUS");
        assert!(v.unvoiced("hi").is_empty());
        assert!(v.unvoiced("en").is_empty());
        assert_eq!(v.describe("twilio", "hi"), "hi-IN Polly.Aditi");
        assert_eq!(v.describe("vonage", "hi"), "hi-IN style 0");
        assert_eq!(v.describe("8x8", "hi"), "hi-IN-SwaraNeural");
        assert_eq!(v.describe("exotel", "hi"), "text");
    }

    #[test]
    fn settings_replace_the_languages_they_name_and_add_others() {
        let v = load_env(&[
            ("PINBRIDGE_TWILIO_VOICES", "hi=Polly.Kajal-Neural, ta="),
            ("PINBRIDGE_LANGUAGE_LOCALES", "ta=ta-IN,en=en-GB"),
            ("PINBRIDGE_VONAGE_STYLES", "hi=3"),
            ("PINBRIDGE_8X8_VOICE_PROFILES", "ta=ta-IN-PallaviNeural"),
            ("PINBRIDGE_8X8_VOICE_PROFILE", "en-IN-NeerjaNeural"),
        ])
        .unwrap()
        .voices;
        assert_eq!(v.twilio("hi").voice, Some("Polly.Kajal-Neural"));
        assert_eq!(
            v.twilio("ta"),
            Tts {
                locale: "ta-IN",
                voice: None
            },
            "an empty voice: the provider's default voice of the locale"
        );
        assert_eq!(v.twilio("en").locale, "en-GB");
        assert_eq!(v.plivo("hi").voice, Some("Polly.Aditi"), "kept");
        assert_eq!(v.vonage("hi").style, 3);
        assert_eq!(v.eight_by_eight("ta"), "ta-IN-PallaviNeural");
        assert_eq!(v.eight_by_eight("en"), "en-IN-NeerjaNeural");
        assert_eq!(v.unvoiced("ta"), ["plivo", "vonage"]);
    }

    #[test]
    fn a_language_without_a_voice_borrows_the_fallback_languages() {
        let v = load_env(&[("PINBRIDGE_FALLBACK_LANGUAGE", "hi")])
            .unwrap()
            .voices;
        assert_eq!(v.twilio("ta").voice, Some("Polly.Aditi"));
        assert_eq!(v.vonage("ta").locale, "hi-IN");
        assert_eq!(v.eight_by_eight("ta"), "hi-IN-SwaraNeural");
        assert_eq!(v.unvoiced("ta"), ["twilio", "plivo", "vonage", "8x8"]);
        let english = Voices::default();
        assert_eq!(english.plivo("ta").locale, "en-IN");
    }

    #[test]
    fn a_malformed_voice_setting_stops_the_start_naming_it() {
        for (name, bad, says) in [
            ("PINBRIDGE_TWILIO_VOICES", "hi", "is not language=value"),
            (
                "PINBRIDGE_PLIVO_VOICES",
                "hindi=Polly.Aditi",
                "is not a language",
            ),
            (
                "PINBRIDGE_TWILIO_VOICES",
                "hi=Polly Aditi\"/>",
                "is not a voice name",
            ),
            (
                "PINBRIDGE_LANGUAGE_LOCALES",
                "hi=Hindi India",
                "is not a locale",
            ),
            (
                "PINBRIDGE_VONAGE_STYLES",
                "hi=first",
                "is not a style number",
            ),
            ("PINBRIDGE_8X8_VOICE_PROFILES", "hi=", "8x8 requires one"),
            ("PINBRIDGE_8X8_VOICE_PROFILE", " ", "8x8 requires one"),
        ] {
            let e = format!("{:#}", load_env(&[(name, bad)]).unwrap_err());
            assert!(e.contains(name), "{name}={bad}: {e}");
            assert!(e.contains(says), "{name}={bad}: {e}");
        }
    }
}
