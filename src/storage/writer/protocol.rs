//! What the call path and the writer say to each other: the writes ([`CallWrite`]), their
//! answers ([`Written`]), and the messages that carry them ([`Message`]).

use tokio::sync::oneshot;

use crate::domain::{CallState, Outcome};
use crate::storage;
use crate::storage::attempts::{Budget, Counting, Spent, Weight};
use crate::storage::call_facts::{CallRead, Fact};
use crate::storage::calls::{CallEnd, CallKey, StateWrite};

/// One write of the call path; see the functions of [`storage::calls`] and
/// [`storage::attempts`] each applies.
#[derive(Debug)]
pub(super) enum CallWrite {
    /// [`storage::calls::start`].
    Start { call: CallKey, at: i64 },
    /// [`storage::calls::save_state`].
    State(StateWrite),
    /// [`storage::calls::record_end`].
    End {
        call: CallKey,
        state: Option<CallState>,
        end: CallEnd,
        at: i64,
    },
    /// [`storage::attempts::record_failure`], then [`storage::attempts::caller_failures`] within
    /// `counting`.
    WrongPin(WrongPin),
    /// [`storage::seen::claim`].
    Claim {
        provider: &'static str,
        token: String,
        until: i64,
        now: i64,
    },
    /// What a PIN entry writes, in order: the wrong PIN (if it was one), then the call's state
    /// (if it changed). One write, so that both commit together or not at all.
    PinEntry {
        wrong_pin: Option<WrongPin>,
        state: Option<StateWrite>,
    },
}

/// What a [`CallWrite`] returns, as the writer answers it.
#[derive(Debug)]
pub(super) enum Written {
    Started(bool),
    Saved,
    Ended(Outcome),
    /// The caller's wrong PINs and the budgets spent, after one more.
    Failures(Spent),
    /// True when the token was not claimed before.
    Claimed(bool),
    /// A PIN entry's writes: what the wrong PIN counted, when there was one.
    PinEntry(Option<Spent>),
}

/// Where the writer answers a [`CallWrite`].
pub(super) type Reply = oneshot::Sender<Result<Written, storage::Error>>;

/// Where the writer answers a read of the call path.
pub(super) type ReadReply = oneshot::Sender<Result<Fact, storage::Error>>;

/// What the call path sends the writer: a write, a read, or a wait for the step log.
pub(super) enum Message {
    Call(Box<CallWrite>, Reply),
    /// Answered before the writes of the batch it arrives in.
    Read(Box<CallRead>, ReadReply),
    /// Answered once every step-log line queued before it is written (or given up).
    Flush(oneshot::Sender<()>),
}

/// A wrong PIN, as [`super::Writer::wrong_pin`] records it: keyed by `caller` on `virtual_number`
/// at `at` (unix ms), spending `weight` from the budgets, the caller's counted within
/// `counting` ([`storage::attempts::record_failure`]).
#[derive(Debug)]
pub struct WrongPin {
    pub caller: String,
    pub virtual_number: String,
    pub at: i64,
    pub weight: Weight,
    pub budget: Budget,
    pub counting: Counting,
}

/// A write answered with another write's result: a bug, reported as a protocol error.
pub(super) fn unexpected(written: &Written) -> storage::Error {
    storage::Error::Internal(format!("the writer answered {written:?} to another write"))
}
