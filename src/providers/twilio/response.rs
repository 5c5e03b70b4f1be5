//! TwiML answers (https://www.twilio.com/docs/voice/twiml), rendered from askama templates in
//! `templates/twilio/`; every text is XML-escaped there.

use actix_web::HttpResponse;
use askama::Template;

use crate::call::ConnectOptions;
use crate::call::flow::Decision;
use crate::call::prompts::{Spoken, Voice};
use crate::config::Voices;
use crate::providers::BridgeSpeech;

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
    /// The recording consent, before the dial.
    speech: Vec<Speech<'a>>,
    caller_id: &'a str,
    to: &'a str,
    action: &'a str,
    timeout: u64,
    time_limit: u64,
    /// The `recordingStatusCallback` when the call is recorded.
    recording: Option<&'a str>,
    /// The `<Number url>` saying the consent and the whisper to the dialled party.
    whisper: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "twilio/whisper.xml")]
struct WhisperTwiml<'a> {
    speech: Vec<Speech<'a>>,
}

#[derive(Template)]
#[template(path = "twilio/goodbye.xml")]
struct Goodbye<'a> {
    speech: Vec<Speech<'a>>,
}

/// One thing the caller hears, as `templates/twilio/speech.xml` renders it.
pub type Speech<'a> = crate::providers::XmlSpeech<'a>;

/// What `spoken` says, each item with the `<Say>` `language` and `voice` of its own language
/// ([`Voices::twilio`]): the one way this provider speaks, for prompts and for what a bridge
/// says, through the `twilio/speech.xml` partial.
pub fn speech<'a>(spoken: impl IntoIterator<Item = Spoken>, voices: &'a Voices) -> Vec<Speech<'a>> {
    crate::providers::xml_speech(spoken, |language| voices.twilio(language))
}

/// Where TwiML sends the caller next.
#[derive(Debug, Clone, Copy)]
pub struct Urls<'a> {
    /// The `<Gather>` action: `/twilio/pin`.
    pub pin: &'a str,
    /// The `<Dial>` action: `/twilio/status`.
    pub status: &'a str,
    /// The `<Dial recordingStatusCallback>`: `/twilio/recording`.
    pub recording: &'a str,
    /// The `<Number url>` run on the dialled party's leg when they answer: `/twilio/whisper`.
    pub whisper: &'a str,
}

/// The TwiML for a decision:
/// - `AskForPin`: `<Gather input="dtmf">` with the prompt(s), then a `<Redirect>` to the same
///   action for accounts where an empty Gather falls through;
/// - `Bridge`: `<Dial callerId="virtual number" timeout timeLimit><Number>`
///   (https://www.twilio.com/docs/voice/twiml/dial: `timeout` the ring seconds, `timeLimit` the
///   longest call). Recorded: the consent `<Say>` first, and `record="record-from-answer-dual"`
///   (each party on its own channel) with `recordingStatusCallback` to `/twilio/recording`
///   (twilio-python `Dial(record=…, recording_status_callback=…)`). With the consent or the
///   whisper for the dialled party, `<Number url="/twilio/whisper">`: TwiML Twilio runs on the
///   dialled party's leg when they answer, before the parties are connected
///   (https://www.twilio.com/docs/voice/twiml/number#url);
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
        Decision::Bridge {
            to,
            caller_id,
            bridging,
            ..
        } => {
            let caller_id = crate::providers::caller_id_text(caller_id.as_ref(), dialled);
            let bridge = BridgeSpeech::new(bridging, voice, connect);
            Dial {
                speech: speech(bridge.caller, voices),
                caller_id: &caller_id,
                to: to.as_ref(),
                action: urls.status,
                timeout: bridge.connect.max_ringing_secs,
                time_limit: bridge.connect.max_conversation_secs,
                recording: bridge.connect.record.then_some(urls.recording),
                whisper: (!bridge.callee.is_empty()).then_some(urls.whisper),
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

/// The TwiML of `/twilio/whisper`, run on the dialled party's leg when they answer: what
/// [`BridgeSpeech::callee`] holds (the consent, the whisper), then the parties are connected.
/// Nothing to say: an empty `<Response/>`, which connects them at once.
pub fn whisper(said: Vec<Spoken>, voices: &Voices) -> HttpResponse {
    let body = WhisperTwiml {
        speech: speech(said, voices),
    }
    .render()
    .unwrap_or_else(|_| {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>".to_owned()
    });
    HttpResponse::Ok().content_type("text/xml").body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::flow::{Bridging, Dialled, Route};
    use crate::domain::PhoneNumber;
    use crate::providers::hindi;
    use crate::providers::hindi::{body, spoken};

    const SETTINGS: ConnectOptions = ConnectOptions {
        record: false,
        whisper: false,
        max_ringing_secs: 45,
        max_conversation_secs: 3600,
    };
    const URLS: Urls<'static> = Urls {
        pin: "https://x.example/twilio/pin",
        status: "https://x.example/twilio/status",
        recording: "https://x.example/twilio/recording",
        whisper: "https://x.example/twilio/whisper",
    };

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
            let says = spoken(&xml, "Say");
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
        assert_eq!(spoken(&xml, "Say")[0].0, "en-IN", "{xml}");
        assert_eq!(spoken(&xml, "Say")[0].1, None, "{xml}");
        assert!(!xml.contains("voice="), "{xml}");
    }

    fn booking(bridging: Bridging) -> Decision {
        Decision::Bridge {
            to: PhoneNumber::from_e164("+919812345678").unwrap(),
            caller_id: PhoneNumber::from_e164("+917314853246"),
            route: Route::Booking {
                booking_id: "bk_1".into(),
            },
            bridging,
        }
    }

    #[tokio::test]
    async fn a_plain_bridge_has_the_settings_limits_and_nothing_said() {
        let xml = body(twiml(
            &booking(Bridging::default()),
            &Voice::plain("B", 3),
            &Voices::default(),
            URLS,
            None,
            &SETTINGS,
        ))
        .await;
        assert!(xml.contains(r#"timeout="45" timeLimit="3600">"#), "{xml}");
        assert!(xml.contains("<Number>+919812345678</Number>"), "{xml}");
        assert!(!xml.contains("<Say") && !xml.contains("record="), "{xml}");
    }

    #[tokio::test]
    async fn a_recorded_booking_says_the_consent_records_both_channels_and_whispers_to_the_callee()
    {
        let mut bridging = Bridging {
            reference: Some("RIDE-77".into()),
            dialled: Dialled::PartyB,
            ..Bridging::default()
        };
        bridging.options.record = Some(true);
        bridging.options.max_conversation_secs = Some(600);
        let voice = Voice::plain("B", 3);
        let xml = body(twiml(
            &booking(bridging),
            &voice,
            &Voices::default(),
            URLS,
            None,
            &SETTINGS,
        ))
        .await;
        let consent = voice.consent();
        let say = xml
            .find(&format!(">{}</Say>", consent.words().unwrap()))
            .expect("the consent for the caller");
        assert!(say < xml.find("<Dial ").unwrap(), "{xml}");
        assert!(xml.contains(r#"timeLimit="600""#), "{xml}");
        assert!(
            xml.contains(r#"record="record-from-answer-dual" recordingStatusCallback="https://x.example/twilio/recording" recordingStatusCallbackMethod="POST""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<Number url="https://x.example/twilio/whisper" method="POST">+919812345678</Number>"#),
            "{xml}"
        );
    }

    #[tokio::test]
    async fn the_whisper_answer_says_each_item_and_nothing_is_an_empty_response() {
        let said = vec![Spoken::text("one", "en"), Spoken::text("two & three", "en")];
        let xml = body(whisper(said, &Voices::default())).await;
        assert!(xml.contains(">one</Say>"), "{xml}");
        assert!(xml.contains(">two &#38; three</Say>"), "{xml}");
        let empty = body(whisper(Vec::new(), &Voices::default())).await;
        assert!(!empty.contains("<Say"), "{empty}");
        assert!(empty.contains("<Response>"), "{empty}");
    }
}
