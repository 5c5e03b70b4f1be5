//! The IVR engine: a pure state machine over one call.
//!
//! Owns: every rule of the call's flow. Must not touch: anything with a side effect: no clock,
//! no I/O, no cache; the session passes in what it needs.
//!
//! A provider adapter turns each webhook into a [`CallEvent`]; the call session gathers the
//! [`Facts`] that storage knows (the active order matching the keyed PIN, ...); [`step`] returns
//! the call's next [`CallState`] and the [`Decision`] that the adapter renders in its own wire
//! format. No HTTP and no database here, so every rule is unit- and property-tested alone.

mod engine;
mod prompt;

pub use crate::domain::{CallState, DialStatus, Failure, Outcome, Phase, Route, Strangers};
pub use engine::{decision_name, farewell, has_pin_session, route_by_caller, step};
pub use prompt::Prompt;

use crate::domain::{CallOptions, PhoneNumber, Pin};

/// The limits a call is held to, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// PIN entries allowed per call (`PINBRIDGE_PIN_MAX_ATTEMPTS`).
    pub max_attempts: u8,
    /// Shortest PIN, in digits.
    pub pin_min_len: u8,
    /// Longest PIN, in digits; also the most digits a prompt collects.
    pub pin_max_len: u8,
    /// Seconds to wait for the caller's first key.
    pub input_timeout_secs: u8,
}

/// What happened on the call, as the provider reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// The call came in: the first request of the call (Exotel's Greeting applet).
    Started,
    /// The call came in to a provider that lets pinbridge drive the whole call (Twilio, Plivo,
    /// 8x8, Vonage): route it by its caller (booking, then callback), else start the PIN flow.
    Incoming,
    /// The provider asks what to prompt for (Exotel's Gather applet fetches its prompt first).
    PromptNeeded,
    /// The caller keyed digits; `pin` is `None` when they are not a well-formed PIN.
    Digits { pin: Option<Pin> },
    /// The prompt timed out with no key pressed.
    NoInput,
    /// The provider asks whom to dial now (Exotel's Connect applet). A call without a PIN
    /// session is routed by its caller: booking, then callback.
    DialNeeded,
    /// The bridged leg ended, or the call ended without one.
    Ended,
}

/// An active order as storage found it for this step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveOrder {
    pub order_id: String,
    /// The customer: the only number a PIN call may dial.
    pub customer: PhoneNumber,
}

/// The other party of the caller's active booking on the dialled virtual number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingPeer {
    pub booking_id: String,
    pub peer: PhoneNumber,
}

/// The last caller who reached this caller through the dialled virtual number, within the
/// callback window, while the order or booking behind that call is still active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackPeer {
    pub peer: PhoneNumber,
    /// The order or booking behind the call being answered: the callback lives as long as it.
    pub order_id: Option<String>,
    pub booking_id: Option<String>,
}

/// What storage knows, looked up before the step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The virtual number the caller dialled, when it parsed; the caller ID of a bridge.
    pub virtual_number: Option<PhoneNumber>,
    /// For [`CallEvent::Digits`]: the active order whose PIN is those digits on this virtual
    /// number. For [`CallEvent::DialNeeded`]: the resolved order, if it is still active.
    pub order: Option<ActiveOrder>,
    /// For a call without a PIN session: the caller's booking on this number.
    pub booking: Option<BookingPeer>,
    /// For a call without a PIN session and no booking: whom to call back.
    pub callback: Option<CallbackPeer>,
    /// PIN entry is refused for this caller (too many wrong PINs in the lockout window):
    /// every PIN counts as wrong, with the same answer as a wrong one.
    pub pins_locked: bool,
    /// The virtual number's guessing budget is spent and the caller is not known there: no
    /// PIN is taken, the caller is asked to try again later.
    pub pin_budget_spent: bool,
    /// For a call without a PIN session, no booking and no callback: what the virtual number
    /// answers such a caller.
    pub strangers: Strangers,
    /// `PINBRIDGE_FALLBACK_NUMBER`, when [`Facts::strangers`] is [`Strangers::Desk`], or
    /// [`Strangers::Webhook`] and the business chose the desk.
    pub desk: Option<PhoneNumber>,
    /// For [`Strangers::Webhook`]: whom the business chose for this caller, already checked
    /// against storage (an active party or order of this virtual number); `None` when it did
    /// not answer one in time, or named none that is.
    pub chosen: Option<Chosen>,
}

/// Whom the business chose for a caller with no route ([`Strangers::Webhook`]): always a
/// stored party or the desk, never a number its answer carried (toll-fraud rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    /// A party of an active booking on the dialled number.
    Party(BookingPeer),
    /// The customer of an active order of the dialled number.
    Order(ActiveOrder),
    /// The desk ([`Facts::desk`]).
    Desk,
}

/// What the provider should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Speak a greeting; the provider's own flow goes on.
    Greet { prompt: Prompt },
    /// Speak the prompt (after the welcome, if `welcome`) and collect up to `max_digits` DTMF
    /// digits, ended by `finish_on_key`.
    AskForPin {
        welcome: bool,
        prompt: Prompt,
        max_digits: u8,
        finish_on_key: char,
        timeout_secs: u8,
    },
    /// Dial `to`, showing `caller_id` (the virtual number) to the dialled party, as
    /// `bridging` says (limits, recording, whisper, language).
    Bridge {
        to: PhoneNumber,
        caller_id: Option<PhoneNumber>,
        route: Route,
        bridging: Bridging,
    },
    /// Say the prompt, then hang up (or dial no one, in Exotel's terms).
    Goodbye { prompt: Prompt },
    /// Nothing to say: an end-of-call event was recorded.
    Recorded,
}

/// Which party a bridge dials: the whisper they hear is chosen by it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialled {
    /// The customer of a PIN call, or whoever a callback dials.
    #[default]
    Any,
    /// A booking's party A (called by party B).
    PartyA,
    /// A booking's party B (called by party A).
    PartyB,
}

/// How a bridge is dialled beyond whom. The engine decides only whom; the call session fills
/// this in from storage after the step ([`crate::call::session`]), and the providers read it
/// with the settings: each `None` of `options` is the setting's
/// (`PINBRIDGE_MAX_RINGING_DURATION`, `PINBRIDGE_MAX_CONVERSATION_DURATION`,
/// `PINBRIDGE_RECORD_CALLS`, `PINBRIDGE_WHISPER`; the language: the virtual number's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bridging {
    /// The order's or booking's options, each unset one its virtual number's.
    pub options: CallOptions,
    /// What a whisper names: the order id, or the booking's reference (its id without one).
    pub reference: Option<String>,
    /// Which party is dialled.
    pub dialled: Dialled,
}
