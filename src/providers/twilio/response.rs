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
