//! TwiML answers (https://www.twilio.com/docs/voice/twiml), rendered from askama templates in
//! `templates/twilio/`; every text is XML-escaped there.

use actix_web::HttpResponse;
use askama::Template;

use crate::call::ConnectOptions;
use crate::call::flow::Decision;
use crate::call::prompts::{Spoken, Voice};
use crate::providers::BridgeSpeech;

#[derive(Template)]
#[template(path = "twilio/gather.xml")]
struct Gather<'a> {
    say: Vec<Spoken>,
    max_digits: u8,
    finish_on_key: char,
    timeout: u8,
    action: &'a str,
}

#[derive(Template)]
#[template(path = "twilio/dial.xml")]
struct Dial<'a> {
    /// The recording consent, before the dial.
    say: Vec<Spoken>,
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
struct WhisperTwiml {
    say: Vec<Spoken>,
}

#[derive(Template)]
#[template(path = "twilio/goodbye.xml")]
struct Goodbye {
    say: Option<Spoken>,
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
/// `dialled` is the `To` of the call, the caller ID when the virtual number did not parse.
pub fn twiml(
    decision: &Decision,
    voice: &Voice,
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
            say: voice.spoken(decision),
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
            let speech = BridgeSpeech::new(bridging, voice, connect);
            Dial {
                say: speech.caller,
                caller_id: &caller_id,
                to: to.as_ref(),
                action: urls.status,
                timeout: speech.connect.max_ringing_secs,
                time_limit: speech.connect.max_conversation_secs,
                recording: speech.connect.record.then_some(urls.recording),
                whisper: (!speech.callee.is_empty()).then_some(urls.whisper),
            }
            .render()
        }
        Decision::Greet { .. } | Decision::Goodbye { .. } => Goodbye {
            say: voice.spoken(decision).into_iter().next(),
        }
        .render(),
        Decision::Recorded => Goodbye { say: None }.render(),
    };
    let body = rendered.unwrap_or_else(|_| {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Hangup/></Response>".to_owned()
    });
    HttpResponse::Ok().content_type("text/xml").body(body)
}

/// The TwiML of `/twilio/whisper`, run on the dialled party's leg when they answer: what
/// [`BridgeSpeech::callee`] holds (the consent, the whisper), then the parties are connected.
/// Nothing to say: an empty `<Response/>`, which connects them at once.
pub fn whisper(said: Vec<Spoken>) -> HttpResponse {
    let body = WhisperTwiml { say: said }.render().unwrap_or_else(|_| {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>".to_owned()
    });
    HttpResponse::Ok().content_type("text/xml").body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::flow::{Bridging, Dialled, Route};
    use crate::domain::PhoneNumber;

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

    async fn body(r: HttpResponse) -> String {
        let bytes = actix_web::body::to_bytes(r.into_body()).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
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
            URLS,
            None,
            &SETTINGS,
        ))
        .await;
        assert!(xml.contains(r#"timeout="45" timeLimit="3600">"#), "{xml}");
        assert!(xml.contains("<Number>+919812345678</Number>"), "{xml}");
        assert!(!xml.contains("<Say>") && !xml.contains("record="), "{xml}");
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
        let xml = body(twiml(&booking(bridging), &voice, URLS, None, &SETTINGS)).await;
        let consent = voice.consent();
        let say = xml
            .find(&format!("<Say>{}</Say>", consent.words().unwrap()))
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
        let xml = body(whisper(said)).await;
        assert!(xml.contains("<Say>one</Say>"), "{xml}");
        assert!(xml.contains("<Say>two &#38; three</Say>"), "{xml}");
        let empty = body(whisper(Vec::new())).await;
        assert!(!empty.contains("<Say>"), "{empty}");
        assert!(empty.contains("<Response>"), "{empty}");
    }
}
