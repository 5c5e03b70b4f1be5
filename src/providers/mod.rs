//! Provider adapters: each turns its provider's webhooks into flow events and renders the
//! flow's decisions in its own wire format. One module per provider, the same inner shape in
//! each: `params` (what the provider sends: a serde struct, every field optional, read through
//! [`lenient`]), `response` (render a decision), `auth` (signature or secret check).
//!
//! Owns: each provider's wire contract: parameters, signatures, answers. Must not touch: flow
//! rules (the call session decides; a handler reads, calls it, renders), SQL.

pub mod eight_by_eight;
pub mod exotel;
pub mod lenient;
pub mod plivo;
pub mod twilio;
pub mod vonage;
pub mod webhook;

use crate::domain::PhoneNumber;

/// The caller ID a bridge shows the dialled party: the virtual number the caller dialled
/// (E.164), or, when it did not parse, that number as the provider sent it; empty when neither
/// is known. Every adapter renders a bridge's caller ID through this.
pub fn caller_id_text(caller_id: Option<&PhoneNumber>, dialled: Option<&str>) -> String {
    caller_id
        .map(ToString::to_string)
        .or_else(|| dialled.map(str::to_owned))
        .unwrap_or_default()
}

/// One thing a caller hears, as the XML providers' `speech.xml` partials render it (Twilio's
/// `<Say>`, Plivo's `<Speak>`): in the locale and voice of its words, or a `<Play>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlSpeech<'a> {
    /// The URL of an audio greeting (a `<Play>`), else `None`.
    pub audio: Option<String>,
    /// The words (empty for audio).
    pub words: String,
    /// The `language` attribute: the locale of the words' language.
    pub locale: &'a str,
    /// The `voice` attribute, if one is set for the language.
    pub voice: Option<&'a str>,
}

/// What `spoken` says, each item with the `language` and `voice` `voice_of` gives its own
/// language ([`crate::config::Voices::twilio`], [`crate::config::Voices::plivo`]).
pub fn xml_speech<'a>(
    spoken: impl IntoIterator<Item = crate::call::prompts::Spoken>,
    voice_of: impl Fn(&str) -> crate::config::Tts<'a>,
) -> Vec<XmlSpeech<'a>> {
    use crate::call::prompts::Spoken;
    spoken
        .into_iter()
        .map(|item| {
            let tts = voice_of(item.language());
            let (audio, words) = match item {
                Spoken::Audio { url, .. } => (Some(url), String::new()),
                Spoken::Text { words, .. } => (None, words),
            };
            XmlSpeech {
                audio,
                words,
                locale: tts.locale,
                voice: tts.voice,
            }
        })
        .collect()
}

/// What a bridge says and how it is dialled, the same on every provider: the settings under
/// the bridge's own options, its language, and the words the caller hears before the dial
/// (the recording consent, when recorded) and the dialled party hears when they answer (the
/// consent, when recorded, then the whisper, when on).
#[derive(Debug, Clone)]
pub struct BridgeSpeech {
    /// The settings with the order's, booking's or number's options applied.
    pub connect: crate::call::ConnectOptions,
    /// The call's prompts in the order's or booking's language.
    pub voice: crate::call::prompts::Voice,
    /// Said to the caller before the dial.
    pub caller: Vec<crate::call::prompts::Spoken>,
    /// Said to the dialled party when they answer, before the parties are connected.
    pub callee: Vec<crate::call::prompts::Spoken>,
}

impl BridgeSpeech {
    /// For `bridging`, on a call whose prompts are `voice`, under the settings `connect`.
    pub fn new(
        bridging: &crate::call::flow::Bridging,
        voice: &crate::call::prompts::Voice,
        connect: &crate::call::ConnectOptions,
    ) -> Self {
        use crate::call::flow::Dialled;
        use crate::call::prompts::{Callee, Whisper};
        let options = bridging.options.or(&voice.number_options());
        let connect = connect.resolve(&options);
        let voice = voice.clone().in_language(options.language.as_deref());
        let mut caller = Vec::new();
        let mut callee = Vec::new();
        if connect.record {
            caller.push(voice.consent());
            callee.push(voice.consent());
        }
        if connect.whisper {
            let party = match bridging.dialled {
                Dialled::Any => Callee::Any,
                Dialled::PartyA => Callee::PartyA,
                Dialled::PartyB => Callee::PartyB,
            };
            let reference = bridging.reference.as_deref().unwrap_or_default();
            callee.push(voice.whisper(party, Whisper { reference }));
        }
        Self {
            connect,
            voice,
            caller,
            callee,
        }
    }
}

/// What the dialled party of the call `parent` (the CallSid of the call that dialled them)
/// hears when they answer: [`BridgeSpeech::callee`], for a whisper endpoint. Nothing when the
/// call can not be found, was not bridged by pinbridge's own route, or storage fails or is
/// too slow (`PINBRIDGE_WEBHOOK_TIMEOUT`): the parties are then connected at once rather than
/// the answered party left waiting.
pub async fn callee_speech(
    state: &crate::state::AppState,
    provider: &'static str,
    parent: Option<&str>,
) -> Vec<crate::call::prompts::Spoken> {
    let Some(parent) = parent.filter(|p| !p.is_empty()) else {
        tracing::warn!(provider, "whisper request without the calling leg's id");
        return Vec::new();
    };
    let found = tokio::time::timeout(
        state.settings.calls.webhook_timeout,
        state.sessions.bridged(provider, parent),
    )
    .await;
    let (bridging, virtual_number) = match found {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return Vec::new(),
        Ok(Err(e)) => {
            tracing::error!(provider, error = %e, "whisper: storage failed; connecting without it");
            return Vec::new();
        }
        Err(_) => {
            tracing::error!(
                provider,
                "whisper: time budget spent; connecting without it"
            );
            return Vec::new();
        }
    };
    let voice = state.voice_for(virtual_number.as_deref()).await;
    BridgeSpeech::new(&bridging, &voice, &state.settings.calls.connect).callee
}

/// What the providers' unit tests speak: a Hindi number's whole PIN call, and a Tamil call
/// that falls back to English.
#[cfg(test)]
pub(crate) mod hindi {
    use std::sync::Arc;

    use crate::call::flow::{Decision, Prompt};
    use crate::call::prompts::{Book, Languages, Voice};

    /// The virtual number whose language is Hindi.
    pub const NUMBER: &str = "+917314853246";

    /// The body of an answer, as text.
    pub async fn body(r: actix_web::HttpResponse) -> String {
        let bytes = actix_web::body::to_bytes(r.into_body()).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Each `<tag>` of `xml` (TwiML's `Say`, Plivo's `Speak`): (language, voice, words).
    pub fn spoken(xml: &str, tag: &str) -> Vec<(String, Option<String>, String)> {
        let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        doc.descendants()
            .filter(|n| n.has_tag_name(tag))
            .map(|n| {
                (
                    n.attribute("language").unwrap_or_default().to_owned(),
                    n.attribute("voice").map(str::to_owned),
                    n.text().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The prompts of a call to [`NUMBER`] (only the shipped greetings).
    pub fn voice() -> Voice {
        let book = Book::build(
            &[],
            &[(NUMBER.to_owned(), "hi".to_owned())],
            &Languages::english(),
            "B",
            3,
            None,
        );
        Voice::new(Arc::new(book), Some(NUMBER))
    }

    fn ask(welcome: bool, prompt: Prompt) -> Decision {
        Decision::AskForPin {
            welcome,
            prompt,
            max_digits: 12,
            finish_on_key: '#',
            timeout_secs: 6,
        }
    }

    /// A call to a Tamil number whose operator wrote only a Tamil welcome: the PIN prompt
    /// falls back to English. Tamil has a voice on every provider in the settings given.
    pub fn tamil() -> (Voice, crate::config::Settings) {
        let greeting = crate::storage::greetings::Greeting {
            prompt: "welcome".into(),
            language: "ta".into(),
            virtual_number: String::new(),
            kind: "text".into(),
            body: "Vanakkam".into(),
            updated_at: 0,
        };
        let book = Book::build(
            &[greeting],
            &[("+914".into(), "ta".into())],
            &Languages::english(),
            "B",
            3,
            None,
        );
        let settings = crate::config::Settings::load_from(
            None,
            [
                ("PINBRIDGE_LANGUAGE_LOCALES", "ta=ta-IN"),
                ("PINBRIDGE_VONAGE_STYLES", "ta=1"),
                ("PINBRIDGE_8X8_VOICE_PROFILES", "ta=ta-IN-PallaviNeural"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        )
        .unwrap();
        (Voice::new(Arc::new(book), Some("+914")), settings)
    }

    /// Every decision of a PIN call that speaks: welcome and enter PIN, wrong PIN, no input,
    /// attempts used up, no one to dial, try later.
    pub fn pin_call() -> Vec<Decision> {
        vec![
            ask(true, Prompt::EnterPin),
            ask(false, Prompt::WrongPin { attempts_left: 2 }),
            ask(false, Prompt::NoInput { attempts_left: 1 }),
            Decision::Goodbye {
                prompt: Prompt::AttemptsUsedUp,
            },
            Decision::Goodbye {
                prompt: Prompt::NoOneToDial,
            },
            Decision::Goodbye {
                prompt: Prompt::TryLater,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_metrics_list_every_provider_by_its_own_name() {
        let providers = [
            super::exotel::PROVIDER,
            super::twilio::PROVIDER,
            super::plivo::PROVIDER,
            super::eight_by_eight::PROVIDER,
            super::vonage::PROVIDER,
        ];
        assert_eq!(crate::metrics::PROVIDERS, providers);
    }
}
