//! Call ends that could not be written while the database was unreachable, kept in memory and
//! written once it answers again, so that a call which ended during an outage still gets its
//! record (outcome, durations, recording).
//!
//! Providers do not resend an end report that was answered (Exotel's call-end Passthru, Twilio's
//! status callback), so this process keeps it. It is lost only if the process dies before the
//! database comes back; the number waiting shows in the log when the first is queued, and at
//! every thousandth.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use crate::call::session::{Inbound, Sessions};
use crate::storage::calls::CallEnd;

/// The most call ends kept; past it the oldest is dropped (and logged).
const CAPACITY: usize = 100_000;

/// How often the queue is retried while it holds anything.
const RETRY_EVERY: Duration = Duration::from_secs(1);

struct Pending {
    call: Inbound,
    end: CallEnd,
    /// When the end was reported, unix ms: the record keeps this time, not the write's.
    at: i64,
}

/// The call ends waiting for the database, oldest first.
#[derive(Default)]
pub struct PendingEnds {
    queue: Mutex<VecDeque<Pending>>,
}

impl std::fmt::Debug for PendingEnds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingEnds")
            .field("len", &self.len())
            .finish()
    }
}

impl PendingEnds {
    /// Keeps a call end reported at `at` (unix ms) for a later write.
    pub fn push(&self, call: Inbound, end: CallEnd, at: i64) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
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

    /// How many call ends wait.
    pub fn len(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when none waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the waiting call ends in order, stopping at the first that fails (it stays
    /// first). Returns how many were written. The lock is never held across a write.
    /// With `sms`, a call that went unanswered gets its SMS as if its end had been written
    /// when it came ([`crate::outbound::sms::text_if_unanswered`]).
    pub async fn flush(
        &self,
        sessions: &Sessions,
        sms: Option<&std::sync::Arc<crate::outbound::sms::UnansweredSms>>,
    ) -> usize {
        let mut written = 0;
        loop {
            let Some(next) = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
            else {
                return written;
            };
            match sessions.end(&next.call, &next.end, next.at).await {
                Ok(outcome) => {
                    crate::outbound::sms::text_if_unanswered(
                        sms,
                        next.call.provider,
                        &next.call.call_sid,
                        outcome,
                    );
                    written += 1;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "call ends still waiting for the database");
                    self.queue
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_front(next);
                    return written;
                }
            }
        }
    }

    /// Retries the queue once a second until `sessions`' database is closed.
    pub fn spawn_flusher(
        self: std::sync::Arc<Self>,
        sessions: Sessions,
        sms: Option<std::sync::Arc<crate::outbound::sms::UnansweredSms>>,
    ) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETRY_EVERY);
            loop {
                tick.tick().await;
                if sessions.is_closed() {
                    break;
                }
                if self.is_empty() {
                    continue;
                }
                let written = self.flush(&sessions, sms.as_ref()).await;
                if written > 0 {
                    tracing::info!(
                        written,
                        waiting = self.len(),
                        "call ends kept during a database outage written"
                    );
                }
            }
        });
    }
}
