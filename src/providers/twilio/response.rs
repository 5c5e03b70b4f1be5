//! TwiML answers (https://www.twilio.com/docs/voice/twiml), rendered from askama templates in
//! `templates/twilio/`; every text is XML-escaped there.

use actix_web::HttpResponse;
use askama::Template;

use crate::call::ConnectOptions;
use crate::call::flow::Decision;
use crate::call::prompts::{Spoken, Voice};

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
    caller_id: &'a str,
    to: &'a str,
    action: &'a str,
    timeout: u64,
    time_limit: u64,
    record: bool,
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
}

/// The TwiML for a decision:
/// - `AskForPin`: `<Gather input="dtmf">` with the prompt(s), then a `<Redirect>` to the same
///   action for accounts where an empty Gather falls through;
/// - `Bridge`: `<Dial callerId="virtual number"><Number>`;
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
