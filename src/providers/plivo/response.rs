//! Plivo XML answers (https://www.plivo.com/docs/voice/xml/), rendered from the askama
//! templates in `templates/plivo/`; every text and URL is XML-escaped there. Served as
//! `text/xml` (https://www.plivo.com/docs/voice/xml/response/).

use actix_web::HttpResponse;
use askama::Template;

use crate::call::ConnectOptions;
use crate::call::flow::Decision;
use crate::call::prompts::{Spoken, Voice};
use crate::config::Voices;

/// `digitEndTimeout` of `<GetInput>`: seconds allowed between two keys (Plivo allows 2–10).
pub const DIGIT_END_TIMEOUT_SECS: u8 = 5;

#[derive(Template)]
#[template(path = "plivo/get_input.xml")]
struct GetInput<'a> {
    speech: Vec<Speech<'a>>,
    max_digits: u8,
    finish_on_key: char,
    digit_end_timeout: u8,
    execution_timeout: u16,
    action: &'a str,
}

#[derive(Template)]
#[template(path = "plivo/dial.xml")]
struct Dial<'a> {
    /// The recording consent, before the dial.
    speech: Vec<Speech<'a>>,
    caller_id: &'a str,
    to: &'a str,
    action: &'a str,
    timeout: u64,
    time_limit: u64,
    record: bool,
    /// The `confirmSound` saying the consent and the whisper to the dialled party.
    confirm_sound: Option<String>,
}

#[derive(Template)]
#[template(path = "plivo/whisper.xml")]
struct WhisperXml<'a> {
    speech: Vec<Speech<'a>>,
}

#[derive(Template)]
#[template(path = "plivo/goodbye.xml")]
struct Goodbye<'a> {
    speech: Vec<Speech<'a>>,
}

/// One thing the caller hears, as `templates/plivo/speech.xml` renders it.
pub type Speech<'a> = crate::providers::XmlSpeech<'a>;

/// What `spoken` says, each item with the `<Speak>` `language` and `voice` of its own language
/// ([`Voices::plivo`]): the one way this provider speaks, for prompts and for what a bridge
/// says, through the `plivo/speech.xml` partial.
pub fn speech<'a>(spoken: impl IntoIterator<Item = Spoken>, voices: &'a Voices) -> Vec<Speech<'a>> {
    crate::providers::xml_speech(spoken, |language| voices.plivo(language))
}

/// Where the XML sends the call next.
#[derive(Debug, Clone, Copy)]
pub struct Urls<'a> {
    /// The `<GetInput>` action and the no-input `<Redirect>`: `/plivo/pin`.
    pub pin: &'a str,
    /// The `<Dial>` action (and the `<Record>` action when recording): `/plivo/hangup`.
    pub hangup: &'a str,
    /// The `<Dial confirmSound>`: `/plivo/whisper`, to which the call's `CallUUID` is added.
    pub whisper: &'a str,
}

/// `executionTimeout` of `<GetInput>` (https://www.plivo.com/docs/voice/xml/getinput, allowed
/// 5–60 s): the wait for the first key plus [`DIGIT_END_TIMEOUT_SECS`] per digit, so a caller
/// keying slowly is not cut off, within Plivo's bounds.
pub fn execution_timeout(first_key_secs: u8, max_digits: u8) -> u16 {
    (u16::from(first_key_secs) + u16::from(DIGIT_END_TIMEOUT_SECS) * u16::from(max_digits))
        .clamp(5, 60)
}

/// The Plivo XML for a decision:
/// - `AskForPin`: `<GetInput inputType="dtmf" redirect="true" log="false">` speaking the
///   prompt(s) (https://www.plivo.com/docs/voice/xml/getinput; `log="false"` keeps the keyed
///   PIN out of Plivo's debug logs), then a `<Redirect>` to the same action: when nothing is
///   keyed, Plivo goes on to the next element, which arrives without `Digits`;
/// - `Bridge`: `<Dial callerId="virtual number" action="/plivo/hangup" timeout timeLimit>`
///   around one `<Number>` (https://www.plivo.com/docs/voice/xml/dial), preceded, when calls
///   are recorded, by `<Record startOnDialAnswer="true" redirect="false">` whose action
///   (carrying `RecordUrl`) is `/plivo/hangup` too (https://www.plivo.com/docs/voice/xml/record),
///   in two channels: `recordChannelType="stereo"` (plivo-python's `RecordElement`
///   `record_channel_type`; `mono` or `stereo`, as the Record API's `record_channel_type`), and
///   by the consent
///   `<Speak>`. With the consent or the whisper for the dialled party, `confirmSound` is
///   `/plivo/whisper?call=<CallUUID>`: XML of `<Speak>`/`<Play>` "played to the called party
///   when the call is answered" (https://plivo.com/docs/voice/xml/dial). No `confirmKey`: it
///   would make the dialled party press a key to accept, and `confirmSound` plays without it
///   (the docs require `confirmSound` for `confirmKey`, not the reverse);
/// - `Greet`/`Goodbye`: `<Speak>` then `<Hangup/>`; `Recorded`: `<Hangup/>`.
///
/// Every `<Speak>` carries the `language` (and `voice`, where set) of its own words
/// ([`speech`]). `dialled` is the `To` of the call as received: the caller ID when the virtual
/// number did not parse; `call_uuid` its `CallUUID`, which the whisper's request carries back.
pub fn xml(
    decision: &Decision,
    voice: &Voice,
    voices: &Voices,
    urls: Urls<'_>,
    dialled: Option<&str>,
    call_uuid: Option<&str>,
    connect: &ConnectOptions,
) -> HttpResponse {
    let rendered = match decision {
        Decision::AskForPin {
            max_digits,
            finish_on_key,
            timeout_secs,
            ..
        } => GetInput {
            speech: speech(voice.spoken(decision), voices),
            max_digits: *max_digits,
            finish_on_key: *finish_on_key,
            digit_end_timeout: DIGIT_END_TIMEOUT_SECS,
            execution_timeout: execution_timeout(*timeout_secs, *max_digits),
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
            let bridge = crate::providers::BridgeSpeech::new(bridging, voice, connect);
            let confirm_sound = (!bridge.callee.is_empty()).then(|| {
                let query = serde_urlencoded::to_string([("call", call_uuid.unwrap_or(""))])
                    .unwrap_or_default();
                format!("{}?{query}", urls.whisper)
            });
            Dial {
                speech: speech(bridge.caller, voices),
                caller_id: &caller_id,
                to: to.as_ref(),
                action: urls.hangup,
                timeout: bridge.connect.max_ringing_secs,
                time_limit: bridge.connect.max_conversation_secs,
                record: bridge.connect.record,
                confirm_sound,
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

/// The XML of `/plivo/whisper` (the `confirmSound`), played to the dialled party when they
/// answer: what [`crate::providers::BridgeSpeech::callee`] holds. Nothing to say: an empty
/// `<Response/>`.
pub fn whisper(said: Vec<Spoken>, voices: &Voices) -> HttpResponse {
    let body = WhisperXml {
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
    use crate::providers::hindi::{body, spoken};

    #[test]
    fn the_execution_timeout_stays_within_plivos_bounds() {
        assert_eq!(execution_timeout(5, 6), 35);
        assert_eq!(execution_timeout(0, 0), 5);
        assert_eq!(execution_timeout(u8::MAX, u8::MAX), 60);
    }

    fn connect() -> ConnectOptions {
        ConnectOptions {
            record: false,
            whisper: false,
            max_ringing_secs: 45,
            max_conversation_secs: 3600,
        }
    }

    fn bridge(caller_id: Option<&str>) -> Decision {
        let region = crate::domain::Region::parse("IN").unwrap();
        Decision::Bridge {
            to: crate::domain::PhoneNumber::parse("+919812345678", region).unwrap(),
            caller_id: caller_id.map(|n| crate::domain::PhoneNumber::parse(n, region).unwrap()),
            route: crate::call::flow::Route::Pin {
                order_id: "o".into(),
            },
            bridging: crate::call::flow::Bridging::default(),
        }
    }

    const URLS: Urls<'static> = Urls {
        pin: "https://x.example/plivo/pin",
        hangup: "https://x.example/plivo/hangup",
        whisper: "https://x.example/plivo/whisper",
    };

    #[tokio::test]
    async fn a_bridge_dials_the_number_showing_the_virtual_number() {
        let xml = body(xml(
            &bridge(Some("+917314853246")),
            &Voice::plain("B", 3),
            &Voices::default(),
            URLS,
            Some("917314853246"),
            Some("uuid-1"),
            &connect(),
        ))
        .await;
        assert!(
            xml.contains(r#"<Dial callerId="+917314853246" action="https://x.example/plivo/hangup" method="POST" timeout="45" timeLimit="3600">"#),
            "{xml}"
        );
        assert!(xml.contains("<Number>+919812345678</Number>"), "{xml}");
        assert!(!xml.contains("<Record"), "{xml}");
    }

    #[tokio::test]
    async fn an_unparsed_virtual_number_is_shown_as_received() {
        let xml = body(xml(
            &bridge(None),
            &Voice::plain("B", 3),
            &Voices::default(),
            URLS,
            Some("7314-VN"),
            None,
            &connect(),
        ))
        .await;
        assert!(xml.contains(r#"callerId="7314-VN""#), "{xml}");
    }

    #[tokio::test]
    async fn a_recorded_bridge_records_from_the_answer() {
        let options = ConnectOptions {
            record: true,
            ..connect()
        };
        let xml = body(xml(
            &bridge(Some("+917314853246")),
            &Voice::plain("B", 3),
            &Voices::default(),
            URLS,
            None,
            Some("uuid-1"),
            &options,
        ))
        .await;
        let record = xml.find("<Record ").expect("a <Record>");
        assert!(record < xml.find("<Dial ").unwrap(), "{xml}");
        assert!(xml.contains(r#"startOnDialAnswer="true""#), "{xml}");
        assert!(xml.contains(r#"recordChannelType="stereo""#), "{xml}");
        assert!(xml.contains(r#"redirect="false""#), "{xml}");
        // The consent is said to the caller before the dial, and to the dialled party by the
        // confirmSound, which names the call.
        let consent = Voice::plain("B", 3).consent();
        let speak = xml.find("<Speak ").expect("the consent for the caller");
        assert!(speak < record, "{xml}");
        assert!(xml.contains(consent.words().unwrap()), "{xml}");
        assert!(
            xml.contains(r#"confirmSound="https://x.example/plivo/whisper?call=uuid-1""#),
            "{xml}"
        );
        assert!(!xml.contains("confirmKey"), "{xml}");
    }

    #[tokio::test]
    async fn an_order_s_limits_replace_the_settings_and_a_whisper_alone_is_not_said_to_the_caller()
    {
        let mut decision = bridge(Some("+917314853246"));
        if let Decision::Bridge { bridging, .. } = &mut decision {
            bridging.options.ring_timeout_secs = Some(20);
            bridging.options.max_conversation_secs = Some(600);
            bridging.options.whisper = Some(true);
            bridging.reference = Some("OD-1234".into());
        }
        let xml = body(xml(
            &decision,
            &Voice::plain("B", 3),
            &Voices::default(),
            URLS,
            None,
            Some("uuid-2"),
            &connect(),
        ))
        .await;
        assert!(xml.contains(r#"timeout="20" timeLimit="600""#), "{xml}");
        assert!(!xml.contains("<Speak") && !xml.contains("<Record"), "{xml}");
        assert!(xml.contains("confirmSound="), "{xml}");
    }

    #[tokio::test]
    async fn a_hindi_numbers_whole_pin_call_is_spoken_with_the_hindi_voice() {
        use crate::providers::hindi;
        let voice = hindi::voice();
        let voices = Voices::default();
        let mut heard = 0;
        for decision in hindi::pin_call() {
            let xml = body(xml(
                &decision,
                &voice,
                &voices,
                URLS,
                Some(hindi::NUMBER),
                None,
                &connect(),
            ))
            .await;
            let speaks = spoken(&xml, "Speak");
            assert_eq!(speaks.len(), Voice::prompts(&decision).len(), "{xml}");
            for (language, voice, words) in speaks {
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
}
