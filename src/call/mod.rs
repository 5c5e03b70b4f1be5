//! The call: the pure flow engine ([`flow`]), the session that feeds it what storage knows and
//! keeps the call's state ([`session`]), and what callers hear ([`greetings`], [`prompts`]).
//! No HTTP and no SQL here: providers call in, storage is called.

pub mod flow;
pub mod greetings;
pub mod pending;
pub mod prompts;
pub mod session;

/// How a bridge is dialled, on every provider: from the settings (`PINBRIDGE_RECORD_CALLS`,
/// `PINBRIDGE_MAX_RINGING_DURATION`, `PINBRIDGE_MAX_CONVERSATION_DURATION`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// Ask the provider to record the bridged call.
    pub record: bool,
    /// How long the dialled party's phone rings, seconds.
    pub max_ringing_secs: u64,
    /// The longest bridged conversation, seconds.
    pub max_conversation_secs: u64,
}
