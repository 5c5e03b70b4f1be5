//! The IVR engine: a pure state machine over one call.
//!
//! A provider adapter turns each webhook into a [`CallEvent`]; the handler gathers the
//! [`Facts`] that storage knows (the active order matching the keyed PIN, ...); [`step`] returns
//! the call's next [`CallState`] and the [`Decision`] that the adapter renders in its own wire
//! format. No HTTP and no database here, so every rule is unit- and property-tested alone.

mod engine;
mod outcome;
mod prompt;

pub use engine::{decision_name, farewell, step};
pub use outcome::{DialStatus, Outcome};
pub use prompt::Prompt;

use crate::domain::{PhoneNumber, Pin};

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

/// Where a call stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Phase {
    /// Waiting for a valid PIN.
    #[default]
    CollectingPin,
    /// A valid PIN resolved this order; the call is bridged (or about to be) to its customer.
    Resolved { order_id: String },
    /// The caller used up the call's PIN attempts; no one is dialled.
    Exhausted,
}

/// Why the last PIN entry failed: it picks the next prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Digits that match no active order on this virtual number, or are not a PIN at all.
    WrongPin,
    /// The prompt timed out with nothing keyed.
    NoInput,
}

/// Everything the engine remembers about one call between two webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallState {
    /// PIN entries made so far, valid or not.
    pub attempts: u8,
    pub phase: Phase,
    pub last_failure: Option<Failure>,
}

/// What happened on the call, as the provider reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// The call came in: the first request of the call (Exotel's Greeting applet).
    Started,
    /// The provider asks what to prompt for (Exotel's Gather applet fetches its prompt first).
    PromptNeeded,
    /// The caller keyed digits; `pin` is `None` when they are not a well-formed PIN.
    Digits { pin: Option<Pin> },
    /// The prompt timed out with no key pressed.
    NoInput,
    /// The provider asks whom to dial now (Exotel's Connect applet).
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

/// What storage knows, looked up before the step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The virtual number the caller dialled, when it parsed; the caller ID of a bridge.
    pub virtual_number: Option<PhoneNumber>,
    /// For [`CallEvent::Digits`]: the active order whose PIN is those digits on this virtual
    /// number. For [`CallEvent::DialNeeded`]: the resolved order, if it is still active.
    pub order: Option<ActiveOrder>,
}

/// What the provider should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Speak a greeting; the provider's own flow goes on.
    Greet { prompt: Prompt },
    /// Speak the prompt and collect up to `max_digits` DTMF digits, ended by `finish_on_key`.
    AskForPin {
        prompt: Prompt,
        max_digits: u8,
        finish_on_key: char,
        timeout_secs: u8,
    },
    /// Dial `to`, showing `caller_id` (the virtual number) to the dialled party.
    Bridge {
        to: PhoneNumber,
        caller_id: Option<PhoneNumber>,
        order_id: String,
    },
    /// Say the prompt, then hang up (or dial no one, in Exotel's terms).
    Goodbye { prompt: Prompt },
    /// Nothing to say: an end-of-call event was recorded.
    Recorded,
}
