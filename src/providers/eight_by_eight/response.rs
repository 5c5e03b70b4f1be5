//! Callflow answers to a Voice Call Action request: HTTP 200 with
//! `{"clientActionId": "…", "callflow": [{"action": …, "params": {…}}, …]}`
//! (8x8Cloud/public-developer-docs `docs/connect/docs/voice/ivr/call-action-handling.md` and
//! `number-masking/call-action-handling.md`; `reference/providers.md` §3.3).

use actix_web::HttpResponse;
use serde::Serialize;

use super::PIN_PROMPT_ACTION_ID;
use crate::call::flow::Decision;
use crate::call::prompts::{Spoken, Voice};
use crate::config::Voices;

/// The `clientActionId` of a bridge (`makeCall`).
pub const BRIDGE_ACTION_ID: &str = "pinbridge-bridge";
/// The `clientActionId` of a `say` then `hangup`.
pub const GOODBYE_ACTION_ID: &str = "pinbridge-goodbye";
/// The `clientActionId` of a bare `hangup`.
pub const HANGUP_ACTION_ID: &str = "pinbridge-hangup";

/// `sayAndCapture` takes at most 25 digits ("maxDigits … Defaults to 25"; with
/// `completeOnHash` false it "must be provided and > 0 and < 26").
pub const MAX_DIGITS_LIMIT: u8 = 25;
/// 8x8's default `overallTimeout`, in ms ("Optional. Defaults to 30000"): the floor of ours.
pub const DEFAULT_OVERALL_TIMEOUT_MS: u32 = 30_000;
/// Time added to `overallTimeout` per digit the prompt may collect, in ms.
const PER_DIGIT_MS: u32 = 1_000;

/// What a callflow needs besides the decision.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// The call's prompts (brand, language, operators' greetings).
    pub voice: &'a Voice,
    /// The `voiceProfile` of each language's words in `say` and `sayAndCapture` (mandatory
    /// in both): [`Voices::eight_by_eight`].
    pub voices: &'a Voices,
    /// `PINBRIDGE_PIN_MIN_LENGTH`: the `minDigits` of the PIN prompt.
    pub pin_min_length: u8,
    /// How bridges are dialled (the settings): `callRecording` on `makeCall` when recorded (it
    /// must also be enabled on the 8x8 account). The ring time, the longest conversation and
    /// the whisper have no `makeCall` parameter.
    pub connect: &'a crate::call::ConnectOptions,
}

/// The JSON body of a VCA answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallflowAnswer {
    /// Echoed by 8x8 in the next VCA request of the session.
    pub client_action_id: &'static str,
    pub callflow: Vec<Action>,
}

/// One callflow action: `{"action": "say", "params": {…}}`, or `{"action": "hangup"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", content = "params", rename_all = "camelCase")]
pub enum Action {
    Say(Say),
    PlayFile(PlayFile),
    SayAndCapture(SayAndCapture),
    MakeCall(MakeCall),
    /// "Disconnects all active calls. This will terminate the session, triggering the session
    /// summary webhook."
    Hangup,
}

/// `say`: text to speech.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Say {
    pub text: String,
    pub voice_profile: String,
}

/// `playFile`: play an audio file (wav or mp3) from a URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlayFile {
    pub file_url: String,
}

/// `sayAndCapture`: speak the prompt, capture DTMF, report it in the next VCA request as
/// `eventData.dtmf`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SayAndCapture {
    pub prompt_message: String,
    pub voice_profile: String,
    /// The caller ends the entry with `#`.
    pub complete_on_hash: bool,
    /// "If provided, maxDigits is mandatory" (status -1003 otherwise).
    pub min_digits: u8,
    pub max_digits: u8,
    /// ms. "If provided, overallTimeout is mandatory. Must be less than overallTimeout."
    pub digit_timeout: u32,
    /// ms; "the time allowed for the user to complete entering all digits".
    pub overall_timeout: u32,
    /// 1: 8x8 must not re-prompt by itself; pinbridge counts PIN attempts and chooses the next
    /// prompt.
    pub no_of_tries: u8,
}

/// `makeCall`: bridge the caller to `destination`, showing `source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MakeCall {
    /// "This should be the Virtual Number allocated to your sub-account", E.164.
    pub source: String,
    /// "Number of the called party in E.164 format".
    pub destination: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub call_recording: bool,
}

/// The callflow for a decision:
/// - `AskForPin`: one `sayAndCapture`, the spoken words joined by a space, and nothing after
///   it: "Don't put `hangup` right after `sayAndCapture` in the same callflow, or the captured
///   DTMF is ignored" (`reference/providers.md` §3.3). Its `voiceProfile` is that of the
///   words' language; when the welcome is in another language than the PIN prompt (one of
///   them fell back to another language), the welcome is a `say` of its own, with its own
///   profile, before the `sayAndCapture` (see [`speech`]);
/// - `Bridge`: `makeCall` from the virtual number (`dialled`, the request's raw
///   `destination`, when it did not parse) to the party to dial;
/// - `Greet`/`Goodbye`: `say` (with the profile of its words' language) then `hangup`;
///   `Recorded`: `hangup`.
pub fn callflow(
    decision: &Decision,
    dialled: Option<&str>,
    options: Options<'_>,
) -> CallflowAnswer {
    // `sayAndCapture` has no audio form: an audio greeting is spoken as the default text.
    let spoken = options.voice.spoken_text(decision);
    match decision {
        Decision::AskForPin {
            max_digits,
            finish_on_key,
            timeout_secs,
            ..
        } => {
            let max_digits = (*max_digits).clamp(1, MAX_DIGITS_LIMIT);
            let (digit_timeout, overall_timeout) = timeouts_ms(*timeout_secs, max_digits);
            let mut callflow = speech(spoken, options.voices);
            let (prompt_message, voice_profile) = match callflow.pop() {
                Some(Action::Say(Say {
                    text,
                    voice_profile,
                })) => (text, voice_profile),
                _ => (
                    String::new(),
                    options
                        .voices
                        .eight_by_eight(crate::call::prompts::ENGLISH)
                        .to_owned(),
                ),
            };
            callflow.push(Action::SayAndCapture(SayAndCapture {
                prompt_message,
                voice_profile,
                complete_on_hash: *finish_on_key == '#',
                min_digits: options.pin_min_length.clamp(1, max_digits),
                max_digits,
                digit_timeout,
                overall_timeout,
                no_of_tries: 1,
            }));
            CallflowAnswer {
                client_action_id: PIN_PROMPT_ACTION_ID,
                callflow,
            }
        }
        Decision::Bridge {
            to,
            caller_id,
            bridging,
            ..
        } => {
            let bridge =
                crate::providers::BridgeSpeech::new(bridging, options.voice, options.connect);
            let mut callflow = speech(bridge.caller, options.voices);
            callflow.push(Action::MakeCall(MakeCall {
                source: crate::providers::caller_id_text(caller_id.as_ref(), dialled),
                destination: to.to_string(),
                call_recording: bridge.connect.record,
            }));
            CallflowAnswer {
                client_action_id: BRIDGE_ACTION_ID,
                callflow,
            }
        }
        Decision::Greet { .. } | Decision::Goodbye { .. } if !spoken.is_empty() => {
            // `say` for words, `playFile` for an audio greeting, then `hangup`.
            let mut callflow = speech(options.voice.spoken(decision), options.voices);
            callflow.push(Action::Hangup);
            CallflowAnswer {
                client_action_id: GOODBYE_ACTION_ID,
                callflow,
            }
        }
        Decision::Greet { .. } | Decision::Goodbye { .. } | Decision::Recorded => CallflowAnswer {
            client_action_id: HANGUP_ACTION_ID,
            callflow: vec![Action::Hangup],
        },
    }
}

/// What `spoken` says, as callflow actions: consecutive words in one language joined by
/// spaces in one `say` with that language's `voiceProfile` ([`Voices::eight_by_eight`]), each
/// audio greeting a `playFile`. The one way a callflow speaks, for prompts and for what a
/// bridge says; the PIN prompt turns its last `say` into the `sayAndCapture`.
pub fn speech(spoken: Vec<Spoken>, voices: &Voices) -> Vec<Action> {
    let mut out: Vec<Action> = Vec::with_capacity(spoken.len());
    for item in spoken {
        match item {
            Spoken::Text { words, language } => {
                let profile = voices.eight_by_eight(&language);
                match out.last_mut() {
                    Some(Action::Say(say)) if say.voice_profile == profile => {
                        say.text.push(' ');
                        say.text.push_str(&words);
                    }
                    _ => out.push(Action::Say(Say {
                        text: words,
                        voice_profile: profile.to_owned(),
                    })),
                }
            }
            Spoken::Audio { url: file_url, .. } => {
                out.push(Action::PlayFile(PlayFile { file_url }))
            }
        }
    }
    out
}

/// `digitTimeout` and `overallTimeout` in ms for a prompt that waits `timeout_secs` (at least
/// 1 s) for a key and collects up to `max_digits`: the overall timeout leaves a second per
/// digit on top, and never less than 8x8's default, so it is always greater than the digit
/// timeout as 8x8 requires.
pub fn timeouts_ms(timeout_secs: u8, max_digits: u8) -> (u32, u32) {
    let digit = u32::from(timeout_secs.max(1)) * 1_000;
    let overall =
        (digit + u32::from(max_digits.max(1)) * PER_DIGIT_MS).max(DEFAULT_OVERALL_TIMEOUT_MS);
    (digit, overall)
}

/// HTTP 200 with the answer as JSON.
pub fn json(answer: &CallflowAnswer) -> HttpResponse {
    HttpResponse::Ok().json(answer)
}

/// HTTP 200 with no body: the acknowledgement VCS and VSS expect ("Your endpoint should respond
/// with 200 OK status").
pub fn acknowledged() -> HttpResponse {
    HttpResponse::Ok().finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::flow::{Prompt, Route};
    use crate::domain::{PhoneNumber, Region};
    use serde_json::{Value, json};

    fn options() -> Options<'static> {
        Options {
            voice: Box::leak(Box::new(Voice::plain("Swift Couriers", 3))),
            voices: Box::leak(Box::new(Voices::default())),
            pin_min_length: 4,
            connect: &SETTINGS,
        }
    }

    const SETTINGS: crate::call::ConnectOptions = crate::call::ConnectOptions {
        record: false,
        whisper: false,
        max_ringing_secs: 45,
        max_conversation_secs: 3600,
    };
    const RECORDED: crate::call::ConnectOptions = crate::call::ConnectOptions {
        record: true,
        ..SETTINGS
    };

    fn render(decision: &Decision, dialled: Option<&str>, options: Options<'_>) -> Value {
        serde_json::to_value(callflow(decision, dialled, options)).unwrap()
    }

    fn ask(max_digits: u8) -> Decision {
        Decision::AskForPin {
            welcome: true,
            prompt: Prompt::EnterPin,
            max_digits,
            finish_on_key: '#',
            timeout_secs: 6,
        }
    }

    #[test]
    fn the_pin_prompt_is_one_say_and_capture_with_the_documented_rules() {
        let v = render(&ask(12), None, options());
        assert_eq!(v["clientActionId"], PIN_PROMPT_ACTION_ID);
        let flow = v["callflow"].as_array().unwrap();
        assert_eq!(flow.len(), 1, "no hangup after sayAndCapture");
        assert_eq!(flow[0]["action"], "sayAndCapture");
        let p = &flow[0]["params"];
        assert_eq!(
            p["promptMessage"],
            "Welcome to Swift Couriers. Please enter your order PIN, followed by the hash key."
        );
        assert_eq!(p["voiceProfile"], "en-US-BenjaminRUS");
        assert_eq!(p["completeOnHash"], true);
        assert_eq!(p["minDigits"], 4);
        assert_eq!(p["maxDigits"], 12);
        assert_eq!(p["noOfTries"], 1);
        assert_eq!(p["digitTimeout"], 6000);
        assert!(p["overallTimeout"].as_u64() > p["digitTimeout"].as_u64());
    }

    #[test]
    fn digit_limits_stay_within_what_8x8_accepts() {
        let p = &render(&ask(40), None, options())["callflow"][0]["params"];
        assert_eq!(p["maxDigits"], 25);
        let short = Options {
            pin_min_length: 6,
            ..options()
        };
        let p = &render(&ask(4), None, short)["callflow"][0]["params"];
        assert_eq!(
            (p["minDigits"].as_u64(), p["maxDigits"].as_u64()),
            (Some(4), Some(4))
        );
    }

    #[test]
    fn the_overall_timeout_always_exceeds_the_digit_timeout() {
        for secs in [0, 1, 6, 30, 60, 255] {
            for digits in [0, 1, 4, 12, 25] {
                let (digit, overall) = timeouts_ms(secs, digits);
                assert!(digit >= 1_000);
                assert!(overall > digit, "{secs} s, {digits} digits");
                assert!(overall >= DEFAULT_OVERALL_TIMEOUT_MS);
            }
        }
    }

    #[test]
    fn a_bridge_is_a_make_call_from_the_virtual_number() {
        let region = Region::parse("IN").unwrap();
        let bridge = |caller_id: Option<PhoneNumber>| Decision::Bridge {
            to: PhoneNumber::parse("+919812345678", region).unwrap(),
            caller_id,
            route: Route::Pin {
                order_id: "OD-1".into(),
            },
            bridging: crate::call::flow::Bridging::default(),
        };
        let vn = PhoneNumber::parse("07314853246", region).unwrap();
        assert_eq!(
            render(&bridge(Some(vn)), Some("raw"), options()),
            json!({"clientActionId": BRIDGE_ACTION_ID, "callflow": [{"action": "makeCall",
                "params": {"source": "+917314853246", "destination": "+919812345678"}}]})
        );
        let recorded = Options {
            connect: &RECORDED,
            ..options()
        };
        let v = render(&bridge(None), Some("+65987654321"), recorded);
        // The consent is said to the caller first, then the recorded bridge.
        assert_eq!(v["callflow"][0]["action"], "say");
        assert_eq!(
            v["callflow"][0]["params"]["text"],
            Voice::plain("Swift Couriers", 3).consent().words().unwrap()
        );
        assert_eq!(v["callflow"][1]["params"]["source"], "+65987654321");
        assert_eq!(v["callflow"][1]["params"]["callRecording"], true);
        // A booking that turns recording off wins over the setting.
        let mut off = bridge(None);
        if let Decision::Bridge { bridging, .. } = &mut off {
            bridging.options.record = Some(false);
        }
        let v = render(&off, None, recorded);
        assert_eq!(v["callflow"].as_array().unwrap().len(), 1);
        assert!(v["callflow"][0]["params"].get("callRecording").is_none());
    }

    #[test]
    fn a_goodbye_says_then_hangs_up() {
        let v = render(
            &Decision::Goodbye {
                prompt: Prompt::NoOneToDial,
            },
            None,
            options(),
        );
        let flow = v["callflow"].as_array().unwrap();
        assert_eq!(flow.len(), 2);
        assert_eq!(flow[0]["action"], "say");
        assert!(
            flow[0]["params"]["text"]
                .as_str()
                .unwrap()
                .starts_with("Sorry")
        );
        assert_eq!(flow[0]["params"]["voiceProfile"], "en-US-BenjaminRUS");
        assert_eq!(flow[1], json!({"action": "hangup"}));
        assert_eq!(
            render(&Decision::Recorded, None, options())["callflow"],
            json!([{"action": "hangup"}])
        );
    }

    #[test]
    fn a_hindi_numbers_whole_pin_call_has_the_hindi_voice_profile() {
        use crate::providers::hindi;
        let voice = hindi::voice();
        let options = Options {
            voice: &voice,
            ..options()
        };
        let mut spoken = 0;
        for decision in hindi::pin_call() {
            let v = render(&decision, Some(hindi::NUMBER), options);
            for action in v["callflow"].as_array().unwrap() {
                let text = match action["action"].as_str() {
                    Some("say") => &action["params"]["text"],
                    Some("sayAndCapture") => &action["params"]["promptMessage"],
                    _ => continue,
                };
                assert_eq!(action["params"]["voiceProfile"], "hi-IN-SwaraNeural", "{v}");
                assert!(
                    text.as_str()
                        .unwrap()
                        .chars()
                        .any(|c| ('\u{0900}'..='\u{097F}').contains(&c)),
                    "Hindi words: {v}"
                );
                spoken += 1;
            }
        }
        assert_eq!(
            spoken, 6,
            "the welcome joins the PIN prompt in one sayAndCapture"
        );
    }

    #[test]
    fn a_welcome_in_another_language_is_a_say_of_its_own_before_the_capture() {
        let (voice, settings) = crate::providers::hindi::tamil();
        let options = Options {
            voice: &voice,
            voices: &settings.voices,
            ..options()
        };
        let v = render(&ask(12), None, options);
        let flow = v["callflow"].as_array().unwrap();
        assert_eq!(flow.len(), 2, "{v}");
        assert_eq!(
            flow[0],
            json!({"action": "say", "params": {"text": "Vanakkam", "voiceProfile": "ta-IN-PallaviNeural"}})
        );
        assert_eq!(flow[1]["action"], "sayAndCapture");
        assert_eq!(flow[1]["params"]["voiceProfile"], "en-US-BenjaminRUS");
        assert!(
            flow[1]["params"]["promptMessage"]
                .as_str()
                .unwrap()
                .starts_with("Please enter your order PIN")
        );
    }
}
