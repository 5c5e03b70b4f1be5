//! NCCO answers: a JSON array of actions, `application/json`
//! (https://developer.vonage.com/voice/voice-api/ncco-reference; `reference/providers.md` §4).
//! Serialised with serde, so every text is JSON-escaped.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::call::ConnectOptions;
use crate::call::flow::Decision;
use crate::call::prompts::{Spoken, Voice};
use crate::config::{Voices, VonageVoice};

/// `talk.text`: "a maximum of 1,500 characters" (NCCO reference, "Talk").
pub const MAX_TALK_CHARS: usize = 1500;
/// `input.dtmf.maxDigits`: "default 4, max 20" (NCCO reference, "Input").
pub const MAX_DIGITS: u8 = 20;
/// `input.dtmf.timeOut`: "default 3, max 10" seconds (NCCO reference, "Input").
pub const MAX_INPUT_TIMEOUT_SECS: u8 = 10;
/// `connect.limit`: "default and max 7200" seconds (NCCO reference, "Connect").
pub const MAX_LIMIT_SECS: u64 = 7200;

/// One NCCO action.
#[derive(Debug, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
enum Action<'a> {
    Talk {
        text: String,
        /// The locale of the words (`hi-IN`): "if you do not specify a language then Vonage
        /// will default to an en-US voice" (text-to-speech guide).
        language: &'a str,
        /// Which of the locale's voices, from 0.
        style: u8,
        /// Only with an `input` next: "if true, the next non-talk action must be input".
        #[serde(rename = "bargeIn", skip_serializing_if = "std::ops::Not::not")]
        barge_in: bool,
    },
    /// Plays an audio file (an operator's audio greeting).
    Stream {
        #[serde(rename = "streamUrl")]
        stream_url: [String; 1],
        #[serde(rename = "bargeIn", skip_serializing_if = "std::ops::Not::not")]
        barge_in: bool,
    },
    Input {
        #[serde(rename = "type")]
        kind: [&'static str; 1],
        dtmf: DtmfSettings,
        #[serde(rename = "eventUrl")]
        event_url: [&'a str; 1],
        #[serde(rename = "eventMethod")]
        event_method: &'static str,
    },
    /// Records the rest of the call; the `record` event carries `recording_url`. `split:
    /// "conversation"` with `channels: 2` puts each party on a channel of its own (NCCO
    /// reference, "Record"; `@vonage/voice` `Record`: "split … always conversation", channels
    /// "1 to 32").
    Record {
        split: &'static str,
        channels: u8,
        #[serde(rename = "eventUrl")]
        event_url: [&'a str; 1],
        #[serde(rename = "eventMethod")]
        event_method: &'static str,
    },
    Connect {
        from: String,
        timeout: u64,
        limit: u64,
        #[serde(rename = "eventUrl")]
        event_url: [&'a str; 1],
        #[serde(rename = "eventMethod")]
        event_method: &'static str,
        endpoint: [Endpoint; 1],
    },
}

#[derive(Debug, Serialize)]
struct DtmfSettings {
    #[serde(rename = "maxDigits")]
    max_digits: u8,
    #[serde(rename = "submitOnHash")]
    submit_on_hash: bool,
    #[serde(rename = "timeOut")]
    time_out: u8,
}

#[derive(Debug, Serialize)]
struct Endpoint {
    #[serde(rename = "type")]
    kind: &'static str,
    number: String,
    /// The NCCO run on the dialled party's leg when they answer, before the parties are
    /// connected: the consent and the whisper (NCCO reference, "Connect", phone endpoint
    /// `onAnswer`).
    #[serde(rename = "onAnswer", skip_serializing_if = "Option::is_none")]
    on_answer: Option<OnAnswer>,
}

#[derive(Debug, Serialize)]
struct OnAnswer {
    url: String,
}

/// Where an NCCO sends Vonage next.
#[derive(Debug, Clone, Copy)]
pub struct Urls<'a> {
    /// The `input` action's `eventUrl`: `/vonage/pin`.
    pub pin: &'a str,
    /// The `connect` (and `record`) action's `eventUrl`: `/vonage/event`.
    pub event: &'a str,
    /// The phone endpoint's `onAnswer.url`: `/vonage/whisper`, naming the call
    /// (`?call=<conversation_uuid>`).
    pub whisper: &'a str,
}

/// A number as Vonage wants it in an NCCO: E.164 without the `+` (`447700900000`).
pub fn without_plus(number: &str) -> &str {
    let number = number.trim();
    number.strip_prefix('+').unwrap_or(number)
}

fn talk<'a>(words: &[String], voice: VonageVoice<'a>) -> Action<'a> {
    let joined = words.join(" ");
    let text = match joined.char_indices().nth(MAX_TALK_CHARS) {
        Some((cut, _)) => joined[..cut].to_owned(),
        None => joined,
    };
    Action::Talk {
        text,
        language: voice.locale,
        style: voice.style,
        barge_in: false,
    }
}

/// What the caller hears, as NCCO actions: consecutive texts in one language joined in one
/// `talk` with that language's `language` and `style` ([`Voices::vonage`]), each audio
/// greeting a `stream`; texts in different languages are separate `talk`s. `barge_in` goes on
/// the last action only (the one before `input`). The one way an NCCO speaks, for prompts and
/// for what a bridge says.
fn speech<'a>(spoken: Vec<Spoken>, voices: &'a Voices, barge_in: bool) -> Vec<Action<'a>> {
    let mut actions = Vec::with_capacity(spoken.len());
    let mut words: Vec<String> = Vec::new();
    let mut voice: Option<VonageVoice<'a>> = None;
    for item in spoken {
        match item {
            Spoken::Text { words: t, language } => {
                let this = voices.vonage(&language);
                if let Some(before) = voice.filter(|v| *v != this) {
                    actions.push(talk(&std::mem::take(&mut words), before));
                }
                voice = Some(this);
                words.push(t);
            }
            Spoken::Audio { url, .. } => {
                if let Some(before) = voice.take() {
                    actions.push(talk(&std::mem::take(&mut words), before));
                }
                actions.push(Action::Stream {
                    stream_url: [url],
                    barge_in: false,
                });
            }
        }
    }
    if let Some(last) = voice {
        actions.push(talk(&words, last));
    } else if actions.is_empty() {
        actions.push(talk(&[], voices.vonage(crate::call::prompts::ENGLISH)));
    }
    if let Some(Action::Talk { barge_in: b, .. } | Action::Stream { barge_in: b, .. }) =
        actions.last_mut()
    {
        *b = barge_in;
    }
    actions
}

/// `connect.limit` for the configured longest conversation: capped at Vonage's 7200 s, which
/// is also what a zero (no limit of pinbridge's own) becomes.
pub fn conversation_limit(max_conversation_secs: u64) -> u64 {
    match max_conversation_secs {
        0 => MAX_LIMIT_SECS,
        secs => secs.min(MAX_LIMIT_SECS),
    }
}

/// The NCCO actions for a decision:
/// - `AskForPin`: `talk` (the prompts joined by a space, `bargeIn` so a key stops the speech;
///   one `talk` per language, each with its `language` and `style`: see [`speech`]),
///   then `input` of `type ["dtmf"]` with `maxDigits` ≤ 20, `submitOnHash` when the flow ends
///   entries with `#`, `timeOut` ≤ 10 s, posting to `/vonage/pin`. The answer to that post is a
///   new NCCO that replaces this one.
/// - `Bridge`: `connect` to a `phone` endpoint, `from` the virtual number (caller ID), with the
///   ring `timeout` and the conversation `limit` (≤ 7200 s), events to `/vonage/event`. When
///   recorded, the consent `talk` first, then a `record` action (two channels). With the
///   consent or the whisper for the dialled party, the endpoint's `onAnswer.url` is
///   `/vonage/whisper`, whose NCCO Vonage plays to them when they answer.
/// - `Greet`, `Goodbye`: `talk`; "when all the actions in the NCCO are complete, the call
///   ends". `Recorded`: an empty NCCO.
///
/// `dialled` is the `to` of the request, the caller ID when the virtual number did not parse.
pub fn ncco<'a>(
    decision: &Decision,
    voice: &Voice,
    voices: &'a Voices,
    urls: Urls<'a>,
    dialled: Option<&str>,
    connect: &ConnectOptions,
) -> Vec<impl Serialize + use<'a>> {
    match decision {
        Decision::AskForPin {
            max_digits,
            finish_on_key,
            timeout_secs,
            ..
        } => {
            let mut actions = speech(voice.spoken(decision), voices, true);
            actions.push(Action::Input {
                kind: ["dtmf"],
                dtmf: DtmfSettings {
                    max_digits: (*max_digits).clamp(1, MAX_DIGITS),
                    submit_on_hash: *finish_on_key == '#',
                    time_out: (*timeout_secs).clamp(1, MAX_INPUT_TIMEOUT_SECS),
                },
                event_url: [urls.pin],
                event_method: "POST",
            });
            actions
        }
        Decision::Bridge {
            to,
            caller_id,
            bridging,
            ..
        } => {
            let from = without_plus(&crate::providers::caller_id_text(
                caller_id.as_ref(),
                dialled,
            ))
            .to_owned();
            let bridge = crate::providers::BridgeSpeech::new(bridging, voice, connect);
            let connect = bridge.connect;
            let mut actions = Vec::with_capacity(3);
            if !bridge.caller.is_empty() {
                actions.extend(speech(bridge.caller, voices, false));
            }
            if connect.record {
                actions.push(Action::Record {
                    split: "conversation",
                    channels: 2,
                    event_url: [urls.event],
                    event_method: "POST",
                });
            }
            actions.push(Action::Connect {
                from,
                timeout: connect.max_ringing_secs,
                limit: conversation_limit(connect.max_conversation_secs),
                event_url: [urls.event],
                event_method: "POST",
                endpoint: [Endpoint {
                    kind: "phone",
                    number: without_plus(to.as_ref()).to_owned(),
                    on_answer: (!bridge.callee.is_empty()).then(|| OnAnswer {
                        url: urls.whisper.to_owned(),
                    }),
                }],
            });
            actions
        }
        Decision::Greet { .. } | Decision::Goodbye { .. } => {
            speech(voice.spoken(decision), voices, false)
        }
        Decision::Recorded => Vec::new(),
    }
}

/// The NCCO for a decision (see [`ncco`]) as a `200 application/json` answer.
pub fn answer(
    decision: &Decision,
    voice: &Voice,
    voices: &Voices,
    urls: Urls<'_>,
    dialled: Option<&str>,
    connect: &ConnectOptions,
) -> HttpResponse {
    HttpResponse::Ok().json(ncco(decision, voice, voices, urls, dialled, connect))
}

/// The NCCO of `/vonage/whisper` (a phone endpoint's `onAnswer`), played to the dialled party
/// when they answer: what [`crate::providers::BridgeSpeech::callee`] holds, as `talk` and
/// `stream` actions. Nothing to say: an empty NCCO, and the parties are connected.
pub fn whisper(said: Vec<Spoken>, voices: &Voices) -> HttpResponse {
    let actions = if said.is_empty() {
        Vec::new()
    } else {
        speech(said, voices, false)
    };
    HttpResponse::Ok().json(actions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::flow::{Prompt, Route};
    use crate::domain::PhoneNumber;
    use serde_json::{Value, json};

    const URLS: Urls<'static> = Urls {
        pin: "https://masking.example.com/vonage/pin",
        event: "https://masking.example.com/vonage/event",
        whisper: "https://masking.example.com/vonage/whisper?call=CON-1",
    };
    const CONNECT: ConnectOptions = ConnectOptions {
        record: false,
        whisper: false,
        max_ringing_secs: 45,
        max_conversation_secs: 3600,
    };

    fn render(decision: &Decision, dialled: Option<&str>, connect: &ConnectOptions) -> Value {
        serde_json::to_value(ncco(
            decision,
            &Voice::plain("Swift Couriers", 3),
            &Voices::default(),
            URLS,
            dialled,
            connect,
        ))
        .unwrap()
    }

    fn ask(max_digits: u8, timeout_secs: u8) -> Decision {
        Decision::AskForPin {
            welcome: true,
            prompt: Prompt::EnterPin,
            max_digits,
            finish_on_key: '#',
            timeout_secs,
        }
    }

    #[test]
    fn ask_for_pin_is_talk_then_dtmf_input_posting_to_pin() {
        let got = render(&ask(6, 5), None, &CONNECT);
        let spoken = Voice::plain("Swift Couriers", 3)
            .spoken_text(&ask(6, 5))
            .iter()
            .filter_map(Spoken::words)
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            got,
            json!([
                {"action": "talk", "text": spoken, "language": "en-IN", "style": 0, "bargeIn": true},
                {"action": "input", "type": ["dtmf"],
                 "dtmf": {"maxDigits": 6, "submitOnHash": true, "timeOut": 5},
                 "eventUrl": ["https://masking.example.com/vonage/pin"], "eventMethod": "POST"}
            ])
        );
        assert!(spoken.starts_with("Welcome to Swift Couriers."), "{spoken}");
    }

    #[test]
    fn vonages_input_limits_are_respected() {
        let got = render(&ask(32, 30), None, &CONNECT);
        assert_eq!(got[1]["dtmf"]["maxDigits"], 20);
        assert_eq!(got[1]["dtmf"]["timeOut"], 10);
        let got = render(&ask(0, 0), None, &CONNECT);
        assert_eq!(got[1]["dtmf"]["maxDigits"], 1);
        assert_eq!(got[1]["dtmf"]["timeOut"], 1);
    }

    fn bridge(caller_id: Option<&str>) -> Decision {
        Decision::Bridge {
            to: PhoneNumber::from_e164("+919812345678").unwrap(),
            caller_id: caller_id.and_then(PhoneNumber::from_e164),
            route: Route::Pin {
                order_id: "OD-1".into(),
            },
            bridging: crate::call::flow::Bridging::default(),
        }
    }

    #[test]
    fn a_bridge_connects_a_phone_endpoint_from_the_virtual_number() {
        let got = render(
            &bridge(Some("+917314853246")),
            Some("917314853246"),
            &CONNECT,
        );
        assert_eq!(
            got,
            json!([{"action": "connect", "from": "917314853246", "timeout": 45, "limit": 3600,
                    "eventUrl": ["https://masking.example.com/vonage/event"], "eventMethod": "POST",
                    "endpoint": [{"type": "phone", "number": "919812345678"}]}])
        );
    }

    #[test]
    fn the_caller_id_falls_back_to_the_dialled_number_and_the_limit_is_capped() {
        let long = ConnectOptions {
            record: true,
            whisper: false,
            max_ringing_secs: 30,
            max_conversation_secs: 86_400,
        };
        let got = render(&bridge(None), Some("+44 20"), &long);
        assert_eq!(
            got[0],
            json!({
                "action": "talk",
                "text": Voice::plain("Swift Couriers", 3).consent().words().unwrap(),
                "language": "en-IN",
                "style": 0
            })
        );
        assert_eq!(
            got[1],
            json!({"action": "record", "split": "conversation", "channels": 2, "eventUrl": ["https://masking.example.com/vonage/event"], "eventMethod": "POST"})
        );
        assert_eq!(got[2]["from"], "44 20");
        assert_eq!(got[2]["limit"], 7200);
        assert_eq!(got[2]["timeout"], 30);
        assert_eq!(
            got[2]["endpoint"][0]["onAnswer"]["url"],
            "https://masking.example.com/vonage/whisper?call=CON-1"
        );
        assert_eq!(conversation_limit(0), 7200);
        assert_eq!(conversation_limit(60), 60);
    }

    #[test]
    fn goodbye_is_a_talk_without_barge_in_and_recorded_is_empty() {
        let got = render(
            &Decision::Goodbye {
                prompt: Prompt::AttemptsUsedUp,
            },
            None,
            &CONNECT,
        );
        let arr = got.as_array().unwrap();
        assert_eq!(arr.len(), 1);
        assert_eq!(arr[0]["action"], "talk");
        assert!(arr[0].get("bargeIn").is_none());
        assert!(arr[0]["text"].as_str().unwrap().contains("Swift Couriers"));
        assert_eq!(render(&Decision::Recorded, None, &CONNECT), json!([]));
    }

    #[test]
    fn talk_text_is_json_escaped_and_capped() {
        let brand = "Tom & \"Jerry\" <Express>\n".repeat(100);
        let v = serde_json::to_value(ncco(
            &Decision::Goodbye {
                prompt: Prompt::NoOneToDial,
            },
            &Voice::plain(&brand, 3),
            &Voices::default(),
            URLS,
            None,
            &CONNECT,
        ))
        .unwrap();
        let text = v[0]["text"].as_str().unwrap();
        assert!(text.contains("Tom & \"Jerry\" <Express>"));
        assert_eq!(text.chars().count(), MAX_TALK_CHARS);
    }

    #[test]
    fn a_hindi_numbers_whole_pin_call_talks_with_the_hindi_voice() {
        use crate::providers::hindi;
        let voice = hindi::voice();
        let voices = Voices::default();
        let mut talks = 0;
        for decision in hindi::pin_call() {
            let v = serde_json::to_value(ncco(
                &decision,
                &voice,
                &voices,
                URLS,
                Some(hindi::NUMBER),
                &CONNECT,
            ))
            .unwrap();
            let actions = v.as_array().unwrap();
            let talk: Vec<&Value> = actions.iter().filter(|a| a["action"] == "talk").collect();
            assert_eq!(talk.len(), 1, "one language, one talk: {v}");
            assert_eq!(talk[0]["language"], "hi-IN", "{v}");
            assert_eq!(talk[0]["style"], 0, "{v}");
            let text = talk[0]["text"].as_str().unwrap();
            assert!(
                text.chars().any(|c| ('\u{0900}'..='\u{097F}').contains(&c)),
                "Hindi words: {v}"
            );
            talks += 1;
        }
        assert_eq!(talks, 6);
    }

    #[test]
    fn prompts_in_two_languages_are_two_talks_each_with_its_own_voice() {
        let (voice, settings) = crate::providers::hindi::tamil();
        let v = serde_json::to_value(ncco(
            &ask(6, 5),
            &voice,
            &settings.voices,
            URLS,
            None,
            &CONNECT,
        ))
        .unwrap();
        assert_eq!(v[0]["action"], "talk");
        assert_eq!(
            (&v[0]["text"], &v[0]["language"], &v[0]["style"]),
            (&json!("Vanakkam"), &json!("ta-IN"), &json!(1))
        );
        assert!(v[0].get("bargeIn").is_none(), "{v}");
        assert_eq!(v[1]["action"], "talk");
        assert_eq!(
            (&v[1]["language"], &v[1]["bargeIn"]),
            (&json!("en-IN"), &json!(true))
        );
        assert!(v[1]["text"].as_str().unwrap().contains("order PIN"), "{v}");
        assert_eq!(v[2]["action"], "input");
    }
}
