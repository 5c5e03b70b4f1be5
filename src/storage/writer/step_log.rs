//! The step log's way to the database: lines queued without waiting ([`StepQueue`]), written
//! in the writer's next transaction, and a tick ([`flush_steps_every`]) so that none waits
//! longer than [`STEPS_EVERY`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

use super::BACKLOG;
use super::protocol::Message;
use crate::storage::steps::StepLog;

/// Step-log lines wait at most this long for a transaction to ride in (a tick sends a flush
/// this often).
pub(super) const STEPS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The step-log lines waiting to be written, in the order they were queued; the writer takes
/// them when it writes a batch ([`StepQueue::take`]). At most [`BACKLOG`]: beyond that a
/// line is dropped and counted.
#[derive(Debug, Default)]
pub(super) struct StepQueue {
    waiting: Mutex<Vec<StepLog>>,
    /// Step-log lines dropped for a full queue since the writer last said so.
    dropped: AtomicU64,
}

impl StepQueue {
    pub(super) fn push(&self, step: StepLog) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if waiting.len() < BACKLOG {
            waiting.push(step);
        } else {
            drop(waiting);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Moves every waiting line to the end of `into`.
    pub(super) fn take(&self, into: &mut Vec<StepLog>) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if into.is_empty() {
            std::mem::swap(&mut *waiting, into);
        } else {
            into.append(&mut waiting);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Logs how many lines were dropped since the last call, if any.
    pub(super) fn report_dropped(&self) {
        let lost = self.dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(
                steps = lost,
                "call steps not recorded: too many were waiting for the database"
            );
        }
    }
}

/// Asks the writer to write the waiting step-log lines every [`STEPS_EVERY`], until every
/// [`super::Writer`] handle is gone.
pub(super) async fn flush_steps_every(tx: mpsc::WeakSender<Message>) {
    let mut tick = tokio::time::interval(STEPS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(tx) = tx.upgrade() else { return };
        let (done, _) = oneshot::channel();
        // A full queue holds writes that will carry the steps soon enough.
        let _ = tx.try_send(Message::Flush(done));
    }
}

/// A step-log line of call `CA{n}` at `n` (unix ms), for tests.
#[cfg(test)]
pub(super) fn logged(n: i64) -> StepLog {
    StepLog {
        provider: "exotel",
        call_sid: format!("CA{n}"),
        at: n,
        applet: "greeting",
        event: "started",
        decision: "greet",
        detail: None,
        elapsed_us: 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_queue_keeps_order_and_drops_beyond_its_backlog() {
        let queue = StepQueue::default();
        for n in 0..3 {
            queue.push(logged(n));
        }
        let mut held = vec![logged(-1)];
        queue.take(&mut held);
        let ats: Vec<i64> = held.iter().map(|s| s.at).collect();
        assert_eq!(ats, [-1, 0, 1, 2]);
        assert_eq!(queue.len(), 0);

        for n in 0..(BACKLOG as i64 + 5) {
            queue.push(logged(n));
        }
        assert_eq!(queue.len(), BACKLOG);
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 5);
        queue.report_dropped();
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 0);
        let mut taken = Vec::new();
        queue.take(&mut taken);
        assert_eq!(taken.len(), BACKLOG);
        assert_eq!(taken.last().map(|s| s.at), Some(BACKLOG as i64 - 1));
    }
}
