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
