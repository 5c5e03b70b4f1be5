//! TwiML answers (https://www.twilio.com/docs/voice/twiml), rendered from askama templates in
//! `templates/twilio/`; every text is XML-escaped there.

use actix_web::HttpResponse;
use askama::Template;

use crate::call::ConnectOptions;
use crate::call::flow::Decision;
use crate::call::prompts::{Spoken, Voice};
use crate::config::Voices;

#[derive(Template)]
#[template(path = "twilio/gather.xml")]
struct Gather<'a> {
    speech: Vec<Speech<'a>>,
    max_digits: u8,
    finish_on_key: char,
    timeout: u8,
    action: &'a str,
}

#[derive(Template)]
#[template(path = "twilio/dial.xml")]
struct Dial<'a> {
    caller_id: &'a str,
    to: &'a str,
    action: &'a str,
    timeout: u64,
    time_limit: u64,
    record: bool,
}

#[derive(Template)]
#[template(path = "twilio/goodbye.xml")]
struct Goodbye<'a> {
    speech: Vec<Speech<'a>>,
}

/// One thing the caller hears, as `templates/twilio/speech.xml` renders it: a `<Say>` in
/// the locale and voice of its words, or a `<Play>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speech<'a> {
    /// The URL of an audio greeting (a `<Play>`), else `None`.
    pub audio: Option<String>,
    /// The words (empty for audio).
    pub words: String,
    /// The `language` attribute: the locale of the words' language.
    pub locale: &'a str,
    /// The `voice` attribute, if one is set for the language.
    pub voice: Option<&'a str>,
}

/// What `spoken` says, each item with the `<Say>` `language` and `voice` of its own language
/// ([`Voices::twilio`]): the one way this provider speaks, for prompts and for what a bridge
/// says, through the `twilio/speech.xml` partial.
pub fn speech<'a>(spoken: impl IntoIterator<Item = Spoken>, voices: &'a Voices) -> Vec<Speech<'a>> {
    spoken
        .into_iter()
        .map(|item| {
            let tts = voices.twilio(item.language());
            let (audio, words) = match item {
                Spoken::Audio { url, .. } => (Some(url), String::new()),
                Spoken::Text { words, .. } => (None, words),
            };
            Speech {
                audio,
                words,
                locale: tts.locale,
                voice: tts.voice,
            }
        })
        .collect()
}

/// Where TwiML sends the caller next.
#[derive(Debug, Clone, Copy)]
pub struct Urls<'a> {
    /// The `<Gather>` action: `/twilio/pin`.
    pub pin: &'a str,
    /// The `<Dial>` action: `/twilio/status`.
    pub status: &'a str,
}

/// The TwiML for a decision:
/// - `AskForPin`: `<Gather input="dtmf">` with the prompt(s), then a `<Redirect>` to the same
///   action for accounts where an empty Gather falls through;
/// - `Bridge`: `<Dial callerId="virtual number"><Number>`;
/// - `Goodbye`: `<Say>` (`<Play>` for an audio greeting) then `<Hangup/>`; `Recorded`: `<Hangup/>`.
///
/// Every `<Say>` carries the `language` (and `voice`, where set) of its own words
/// ([`speech`]). `dialled` is the `To` of the call, the caller ID when the virtual number did
/// not parse.
pub fn twiml(
    decision: &Decision,
    voice: &Voice,
    voices: &Voices,
    urls: Urls<'_>,
    dialled: Option<&str>,
    connect: &ConnectOptions,
) -> HttpResponse {
    let rendered = match decision {
        Decision::AskForPin {
            max_digits,
            finish_on_key,
            timeout_secs,
            ..
        } => Gather {
            speech: speech(voice.spoken(decision), voices),
            max_digits: *max_digits,
            finish_on_key: *finish_on_key,
            timeout: *timeout_secs,
            action: urls.pin,
        }
        .render(),
        Decision::Bridge { to, caller_id, .. } => {
            let caller_id = crate::providers::caller_id_text(caller_id.as_ref(), dialled);
            Dial {
                caller_id: &caller_id,
                to: to.as_ref(),
                action: urls.status,
                timeout: connect.max_ringing_secs,
                time_limit: connect.max_conversation_secs,
                record: connect.record,
            }
            .render()
        }
        Decision::Greet { .. } | Decision::Goodbye { .. } => Goodbye {
            speech: speech(voice.spoken(decision).into_iter().take(1), voices),
        }
        .render(),
        Decision::Recorded => Goodbye { speech: Vec::new() }.render(),
    };
    let body = rendered.unwrap_or_else(|_| {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Hangup/></Response>".to_owned()
    });
    HttpResponse::Ok().content_type("text/xml").body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::hindi;

    const URLS: Urls<'static> = Urls {
        pin: "https://x.example/twilio/pin",
        status: "https://x.example/twilio/status",
    };

    async fn body(r: HttpResponse) -> String {
        let bytes = actix_web::body::to_bytes(r.into_body()).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Each `<Say>` of `xml`: (language, voice, words).
    fn says(xml: &str) -> Vec<(String, Option<String>, String)> {
        let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        doc.descendants()
            .filter(|n| n.has_tag_name("Say"))
            .map(|n| {
                (
                    n.attribute("language").unwrap_or_default().to_owned(),
                    n.attribute("voice").map(str::to_owned),
                    n.text().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn a_hindi_numbers_whole_pin_call_is_said_with_the_hindi_voice() {
        let voice = hindi::voice();
        let voices = Voices::default();
        let connect = crate::config::Settings::default().calls.connect;
        let mut heard = 0;
        for decision in hindi::pin_call() {
            let xml = body(twiml(
                &decision,
                &voice,
                &voices,
                URLS,
                Some(hindi::NUMBER),
                &connect,
            ))
            .await;
            let says = says(&xml);
            assert_eq!(says.len(), Voice::prompts(&decision).len(), "{xml}");
            for (language, voice, words) in says {
                assert_eq!(language, "hi-IN", "{xml}");
                assert_eq!(voice.as_deref(), Some("Polly.Aditi"), "{xml}");
                assert!(
                    words
                        .chars()
                        .any(|c| ('\u{0900}'..='\u{097F}').contains(&c)),
                    "Hindi words: {xml}"
                );
                heard += 1;
            }
        }
        assert_eq!(heard, 7, "welcome and six prompts");
    }

    #[tokio::test]
    async fn an_english_call_is_said_in_indian_english_and_a_voice_set_empty_is_left_out() {
        let settings = crate::config::Settings::load_from(
            None,
            [("PINBRIDGE_TWILIO_VOICES".to_owned(), "en=".to_owned())],
        )
        .unwrap();
        let xml = body(twiml(
            &Decision::Goodbye {
                prompt: crate::call::flow::Prompt::NoOneToDial,
            },
            &Voice::plain("B", 3),
            &settings.voices,
            URLS,
            None,
            &settings.calls.connect,
        ))
        .await;
        assert_eq!(says(&xml)[0].0, "en-IN", "{xml}");
        assert_eq!(says(&xml)[0].1, None, "{xml}");
        assert!(!xml.contains("voice="), "{xml}");
    }
}
