//! The prompts a caller can hear, independent of how a provider speaks them.

/// One prompt of the PIN flow. Its text comes from `templates/prompts/` (see
/// [`crate::call::prompts`]), rendered with the brand and the values carried here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Greeting at the start of the call.
    Welcome,
    /// First request for the PIN.
    EnterPin,
    /// The last PIN was not recognised; `attempts_left` more may be made.
    WrongPin { attempts_left: u8 },
    /// Nothing was keyed; `attempts_left` more may be made.
    NoInput { attempts_left: u8 },
    /// The call used up its PIN attempts.
    AttemptsUsedUp,
    /// There is no one to dial (order ended, or nothing resolved).
    NoOneToDial,
    /// The virtual number's guessing budget is spent and the caller is not known there: no
    /// PIN is taken now ([`crate::storage::attempts`]).
    TryLater,
}
