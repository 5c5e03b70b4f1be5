//! Call ends that could not be written while the database was unreachable, kept in memory
//! until it answers again ([`super::Sessions::flush_pending_ends`]), so that a call which
//! ended during an outage still gets its record (outcome, durations, recording).
//!
//! Providers do not resend an end report that was answered (Exotel's call-end Passthru,
//! Twilio's status callback), so this process keeps it. It is lost only if the process dies
//! before the database comes back; the number waiting shows in the log when the first is
//! queued, and at every thousandth.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::Inbound;
use crate::storage::calls::CallEnd;

/// The most call ends kept; past it the oldest is dropped (and logged).
const CAPACITY: usize = 100_000;

/// One call end waiting.
pub(super) struct Pending {
    pub(super) call: Inbound,
    pub(super) end: CallEnd,
    /// When the end was reported, unix ms: the record keeps this time, not the write's.
    pub(super) at: i64,
}

/// The call ends waiting for the database, oldest first. The lock is never held across a
/// write.
#[derive(Default)]
pub(super) struct PendingEnds {
    queue: Mutex<VecDeque<Pending>>,
}

impl PendingEnds {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Pending>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a call end reported at `at` (unix ms) for a later write.
    pub(super) fn push(&self, call: Inbound, end: CallEnd, at: i64) {
        let mut queue = self.queue();
        if queue.len() >= CAPACITY
            && let Some(dropped) = queue.pop_front()
        {
            tracing::error!(provider = dropped.call.provider, call.sid = %dropped.call.call_sid.for_log(), "too many call ends waiting for the database; the oldest is dropped");
        }
        queue.push_back(Pending { call, end, at });
        // The first, then every thousandth: an outage under load must not flood the log.
        if queue.len() == 1 || queue.len().is_multiple_of(1000) {
            tracing::warn!(
                waiting = queue.len(),
                "call end kept in memory until the database answers"
            );
        }
    }

    /// The oldest call end, taken out of the queue.
    pub(super) fn pop(&self) -> Option<Pending> {
        self.queue().pop_front()
    }

    /// Puts back a call end whose write failed, first in the queue.
    pub(super) fn put_back(&self, pending: Pending) {
        self.queue().push_front(pending);
    }

    /// How many call ends wait.
    pub(super) fn len(&self) -> usize {
        self.queue().len()
    }

    /// True when none waits.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
