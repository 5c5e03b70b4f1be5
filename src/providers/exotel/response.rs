//! Exotel's answers to each applet, rendered from a flow [`Decision`]
//! (`reference/exotel.md` §1.2 to §1.5).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;

use crate::call::ConnectOptions;
use crate::call::flow::{Decision, Prompt};
use crate::call::prompts::{Spoken, Voice};
use crate::config::ExotelNumberFormat;
use crate::domain::{PhoneNumber, Region};

fn text(body: String) -> HttpResponse {
    // Greeting: "MUST set the Content-Type HTTP header to 'text/plain' and nothing else".
    HttpResponse::Ok().content_type("text/plain").body(body)
}

/// Greeting applet ("Read text from URL"): the words to speak, `text/plain`; for an audio
/// greeting, its URL (Exotel plays a body that is a URL of an audio file).
/// A decision that is not a prompt is spoken as the welcome.
pub fn greeting(decision: &Decision, voice: &Voice) -> HttpResponse {
    let prompt = match decision {
        Decision::Greet { prompt }
        | Decision::AskForPin { prompt, .. }
        | Decision::Goodbye { prompt } => *prompt,
        Decision::Bridge { .. } | Decision::Recorded => Prompt::Welcome,
    };
    text(voice.say(prompt).body().to_owned())
}

/// A Gather prompt: `{"text": …}` or `{"audio_url": …}`.
#[derive(Serialize)]
#[serde(untagged)]
enum SpokenText {
    Text { text: String },
    Audio { audio_url: String },
}

impl From<Spoken> for SpokenText {
    fn from(spoken: Spoken) -> Self {
        match spoken {
            Spoken::Text { words: text, .. } => Self::Text { text },
            Spoken::Audio { url: audio_url, .. } => Self::Audio { audio_url },
        }
    }
}

/// The Programmable Gather answer (support article 3000084635).
#[derive(Serialize)]
struct GatherReply {
    gather_prompt: SpokenText,
    max_input_digits: u8,
    finish_on_key: String,
    input_timeout: u8,
    repeat_menu: u8,
    repeat_gather_prompt: SpokenText,
}

/// Gather applet (Programmable Gather): JSON with the prompt and how many digits to collect.
/// A goodbye (attempts used up) is spoken as a prompt that collects nothing. `max_attempts`
/// fills the "attempts left" of the repeated prompt on a call's first prompt.
pub fn gather(decision: &Decision, voice: &Voice, max_attempts: u8) -> HttpResponse {
    let reply = match decision {
        Decision::AskForPin {
            prompt,
            max_digits,
            finish_on_key,
            timeout_secs,
            ..
        } => {
            let attempts_left = match prompt {
                Prompt::WrongPin { attempts_left } | Prompt::NoInput { attempts_left } => {
                    *attempts_left
                }
                _ => max_attempts,
            };
            GatherReply {
                gather_prompt: voice.say(*prompt).into(),
                max_input_digits: *max_digits,
                finish_on_key: finish_on_key.to_string(),
                input_timeout: *timeout_secs,
                repeat_menu: 2,
                repeat_gather_prompt: voice.say(Prompt::NoInput { attempts_left }).into(),
            }
        }
        other => {
            let prompt = match other {
                Decision::Goodbye { prompt } | Decision::Greet { prompt } => *prompt,
                _ => Prompt::NoOneToDial,
            };
            let words = voice.say(prompt);
            GatherReply {
                gather_prompt: words.clone().into(),
                max_input_digits: 1,
                finish_on_key: "#".into(),
                input_timeout: 1,
                repeat_menu: 0,
                repeat_gather_prompt: words.into(),
            }
        }
    };
    HttpResponse::Ok().json(reply)
}

/// Passthru `check-pin` (sync): HTTP 302 sends the call back to Gather (ask again); HTTP 200
/// goes on to Connect, which dials the customer or no one (Passthru article 48283: "200 OK for
/// choice A and 302 Found for choice B"). A 302 needs no `Location`: it is a signal.
pub fn check_pin(decision: &Decision) -> HttpResponse {
    let status = match decision {
        Decision::AskForPin { .. } => StatusCode::FOUND,
        _ => StatusCode::OK,
    };
    HttpResponse::build(status)
        .content_type("text/plain")
        .finish()
}

/// How Exotel is told to dial `to`: E.164, or with `format` national, `0` and the national
/// number when `to` is of `region`'s country (`PINBRIDGE_EXOTEL_NUMBER_FORMAT`).
pub fn dial_number(to: &PhoneNumber, format: ExotelNumberFormat, region: Region) -> String {
    match format {
        ExotelNumberFormat::National => to.zero_national(region),
        ExotelNumberFormat::E164 => None,
    }
    .unwrap_or_else(|| to.to_string())
}

/// Connect applet, "Dial whom" from URL: the number to dial as `text/plain` (see
/// [`dial_number`]), or an empty body when there is no one to dial.
pub fn connect_text(
    decision: &Decision,
    format: ExotelNumberFormat,
    region: Region,
) -> HttpResponse {
    match decision {
        Decision::Bridge { to, .. } => text(dial_number(to, format, region)),
        _ => text(String::new()),
    }
}

#[derive(Serialize)]
struct Destination {
    numbers: Vec<String>,
}

/// The Programmable Connect answer (support article 3000096873).
#[derive(Serialize)]
struct ConnectReply {
    fetch_after_attempt: bool,
    destination: Destination,
    #[serde(skip_serializing_if = "Option::is_none")]
    outgoing_phone_number: Option<String>,
    record: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    recording_channels: Option<&'static str>,
    max_ringing_duration: u64,
    max_conversation_duration: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_call_playback: Option<Playback>,
}

/// `start_call_playback` (support article 3000106202): said when the call connects, to the
/// dialled party (`callee`) or to both parties (`both`); `text` for text-to-speech or
/// `audio_url`.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Playback {
    playback_to: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    value: String,
}

impl Playback {
    /// One playback for what the parties hear at the connect: Exotel takes one, so texts
    /// are joined; an audio greeting among them is played alone (the first one). `None` when
    /// there is nothing to say.
    fn of(said: &[Spoken], playback_to: &'static str) -> Option<Self> {
        if let Some(url) = said.iter().find_map(Spoken::audio) {
            return Some(Self {
                playback_to,
                kind: "audio_url",
                value: url.to_owned(),
            });
        }
        let words: Vec<&str> = said.iter().filter_map(Spoken::words).collect();
        (!words.is_empty()).then(|| Self {
            playback_to,
            kind: "text",
            value: words.join(" "),
        })
    }
}

/// Connect applet, Programmable Connect (JSON): `destination.numbers` holds the customer, or
/// nothing, which takes Exotel's "We didn't dial anyone" branch. `outgoing_phone_number` is
/// the dialled virtual number, so the customer sees it and can call it back.
/// `fetch_after_attempt` is false: Exotel must not ask again after a failed dial.
///
/// The bridge's limits are `max_ringing_duration` and `max_conversation_duration` (seconds).
/// Recorded: `record` with `recording_channels: "dual"` (each party on its own channel) and
/// the recording consent as `start_call_playback` to `both` parties when the call connects
/// (with the whisper after it, which the caller then hears too: Exotel takes one playback).
/// The whisper alone goes to the `callee`. Only this JSON form carries them: the text/plain
/// "Dial whom" answer ([`connect_text`]) is a number and nothing else.
pub fn connect_json(
    decision: &Decision,
    dialled: Option<&str>,
    voice: &Voice,
    options: &ConnectOptions,
    (format, region): (ExotelNumberFormat, Region),
) -> HttpResponse {
    let Decision::Bridge {
        to,
        caller_id,
        bridging,
        ..
    } = decision
    else {
        let reply = ConnectReply {
            fetch_after_attempt: false,
            destination: Destination {
                numbers: Vec::new(),
            },
            outgoing_phone_number: None,
            record: false,
            recording_channels: None,
            max_ringing_duration: options.max_ringing_secs,
            max_conversation_duration: options.max_conversation_secs,
            start_call_playback: None,
        };
        return HttpResponse::Ok().json(reply);
    };
    let speech = crate::providers::BridgeSpeech::new(bridging, voice, options);
    let outgoing = crate::providers::caller_id_text(caller_id.as_ref(), dialled);
    let connect = speech.connect;
    let playback_to = if connect.record { "both" } else { "callee" };
    let reply = ConnectReply {
        fetch_after_attempt: false,
        destination: Destination {
            numbers: vec![dial_number(to, format, region)],
        },
        outgoing_phone_number: (!outgoing.is_empty()).then_some(outgoing),
        record: connect.record,
        recording_channels: connect.record.then_some("dual"),
        max_ringing_duration: connect.max_ringing_secs,
        max_conversation_duration: connect.max_conversation_secs,
        start_call_playback: Playback::of(&speech.callee, playback_to),
    };
    HttpResponse::Ok().json(reply)
}

/// Passthru `call-end` and other records: 200 with an empty body.
pub fn recorded() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::flow::{Bridging, Route};
    use crate::domain::PhoneNumber;
    use serde_json::Value;

    #[test]
    fn the_national_form_is_0_and_the_national_number_for_the_regions_country_only() {
        let india = Region::parse("IN").unwrap();
        let mobile = PhoneNumber::parse("+919812345678", india).unwrap();
        let landline = PhoneNumber::parse("+918047115777", india).unwrap();
        let abroad = PhoneNumber::parse("+14155550123", india).unwrap();
        let national = ExotelNumberFormat::National;
        assert_eq!(dial_number(&mobile, national, india), "09812345678");
        assert_eq!(dial_number(&landline, national, india), "08047115777");
        assert_eq!(dial_number(&abroad, national, india), "+14155550123");
        assert_eq!(
            dial_number(&mobile, ExotelNumberFormat::E164, india),
            "+919812345678"
        );
        // Read back, the national form is the same number.
        assert_eq!(PhoneNumber::parse("09812345678", india).unwrap(), mobile);
    }

    fn e164_in() -> (ExotelNumberFormat, Region) {
        (ExotelNumberFormat::E164, Region::parse("IN").unwrap())
    }

    const SETTINGS: ConnectOptions = ConnectOptions {
        record: false,
        whisper: false,
        max_ringing_secs: 45,
        max_conversation_secs: 3600,
    };

    fn bridge(bridging: Bridging) -> Decision {
        Decision::Bridge {
            to: PhoneNumber::from_e164("+919812345678").unwrap(),
            caller_id: PhoneNumber::from_e164("+917314853246"),
            route: Route::Pin {
                order_id: "OD-1234".into(),
            },
            bridging,
        }
    }

    async fn json(r: HttpResponse) -> Value {
        let bytes = actix_web::body::to_bytes(r.into_body()).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn the_settings_limits_and_no_recording_or_playback_by_default() {
        let voice = Voice::plain("Swift Couriers", 3);
        let v = json(connect_json(
            &bridge(Bridging::default()),
            None,
            &voice,
            &SETTINGS,
            e164_in(),
        ))
        .await;
        assert_eq!(v["max_ringing_duration"], 45);
        assert_eq!(v["max_conversation_duration"], 3600);
        assert_eq!(v["record"], false);
        assert!(v.get("recording_channels").is_none());
        assert!(v.get("start_call_playback").is_none());
    }

    #[tokio::test]
    async fn a_recorded_whispered_order_gets_its_limits_dual_channels_and_the_consent_to_both() {
        let voice = Voice::plain("Swift Couriers", 3);
        let mut bridging = Bridging {
            reference: Some("OD-1234".into()),
            ..Bridging::default()
        };
        bridging.options.ring_timeout_secs = Some(20);
        bridging.options.max_conversation_secs = Some(900);
        bridging.options.record = Some(true);
        bridging.options.whisper = Some(true);
        let v = json(connect_json(
            &bridge(bridging.clone()),
            None,
            &voice,
            &SETTINGS,
            e164_in(),
        ))
        .await;
        assert_eq!(v["max_ringing_duration"], 20);
        assert_eq!(v["max_conversation_duration"], 900);
        assert_eq!(v["record"], true);
        assert_eq!(v["recording_channels"], "dual");
        let playback = &v["start_call_playback"];
        assert_eq!(playback["playback_to"], "both");
        assert_eq!(playback["type"], "text");
        let said = playback["value"].as_str().unwrap();
        assert!(said.starts_with(voice.consent().words().unwrap()), "{said}");
        assert!(
            said.contains("1 2 3 4"),
            "the whisper names the order: {said}"
        );
        // The whisper alone is for the dialled party only.
        bridging.options.record = None;
        let v = json(connect_json(
            &bridge(bridging),
            None,
            &voice,
            &SETTINGS,
            e164_in(),
        ))
        .await;
        assert_eq!(v["start_call_playback"]["playback_to"], "callee");
        assert!(
            !v["start_call_playback"]["value"]
                .as_str()
                .unwrap()
                .contains(voice.consent().words().unwrap())
        );
    }

    #[tokio::test]
    async fn no_one_to_dial_carries_no_recording_and_no_playback() {
        let voice = Voice::plain("Swift Couriers", 3);
        let recorded = ConnectOptions {
            record: true,
            whisper: true,
            ..SETTINGS
        };
        let v = json(connect_json(
            &Decision::Recorded,
            None,
            &voice,
            &recorded,
            e164_in(),
        ))
        .await;
        assert_eq!(v["destination"]["numbers"], serde_json::json!([]));
        assert_eq!(v["record"], false);
        assert!(v.get("start_call_playback").is_none());
    }
}
