//! One batch of the writer's work: the messages waiting when it woke ([`Batch`]), and how the
//! writes sharing its transaction are answered when it ends ([`SharedEnd`]).

use tokio::sync::{mpsc, oneshot};

use super::BATCH;
use super::protocol::{CallWrite, Message, ReadReply, Reply, Written};
use super::step_log::StepQueue;
use crate::storage;
use crate::storage::call_facts::CallRead;

/// The messages of one batch: everything waiting when the writer woke, up to [`BATCH`].
#[derive(Default)]
pub(super) struct Batch {
    pub(super) reads: Vec<(Box<CallRead>, ReadReply)>,
    pub(super) calls: Vec<(Box<CallWrite>, Reply)>,
    pub(super) waiting: Vec<oneshot::Sender<()>>,
}

impl Batch {
    /// Adds `first` and whatever else is waiting in `rx`, up to [`BATCH`] of a kind.
    pub(super) fn fill(&mut self, first: Message, rx: &mut mpsc::Receiver<Message>) {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Call(write, reply) => self.calls.push((write, reply)),
                Message::Flush(done) => self.waiting.push(done),
                Message::Read(read, reply) => self.reads.push((read, reply)),
            }
            next = if self.calls.len() < BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
    }

    /// After the batch is written: logs the step-log lines dropped meanwhile, answers the
    /// flushes.
    pub(super) fn finish(&mut self, steps: &StepQueue) {
        steps.report_dropped();
        for done in self.waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// How a batch's shared transaction ended, as its writes are answered: each its own result
/// when it committed; all the same error when the database was unavailable (trying the step-log
/// lines again would only hold the next writes up); applied again one by one when it failed
/// for another reason.
enum SharedEnd<T> {
    Committed(T),
    Unavailable(storage::Error),
    Failed,
}

impl<T> SharedEnd<T> {
    /// Classifies (and logs) the end of a shared transaction of `writes` writes and `steps`
    /// step-log lines.
    fn of(shared: Result<T, storage::Error>, writes: usize, steps: usize) -> Self {
        match shared {
            Ok(value) => Self::Committed(value),
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, steps, "call steps not recorded");
                Self::Unavailable(e)
            }
            Err(e) => {
                tracing::debug!(error = %e, writes, "a shared write failed; writing one by one");
                Self::Failed
            }
        }
    }
}

/// Answers the writes of a batch from its shared transaction's result ([`SharedEnd`]). Gives
/// the writes back when they are to be applied one by one.
pub(super) fn answer_shared(
    calls: Vec<(Box<CallWrite>, Reply)>,
    shared: Result<Vec<Written>, storage::Error>,
    steps: usize,
) -> Option<Vec<(Box<CallWrite>, Reply)>> {
    match SharedEnd::of(shared, calls.len(), steps) {
        SharedEnd::Committed(written) => {
            for ((_, reply), written) in calls.into_iter().zip(written) {
                let _ = reply.send(Ok(written));
            }
            None
        }
        SharedEnd::Unavailable(e) => {
            for (_, reply) in calls {
                let _ = reply.send(Err(like(&e)));
            }
            None
        }
        SharedEnd::Failed => Some(calls),
    }
}

/// The error every write of a batch gets when the database was unreachable: of the same kind
/// ([`storage::Error::is_unavailable`] holds for it), since an error can not be cloned.
pub(super) fn like(e: &storage::Error) -> storage::Error {
    match e {
        storage::Error::WriterGone => storage::Error::WriterGone,
        other => {
            storage::Error::Unavailable(sqlx::Error::Io(std::io::Error::other(other.to_string())))
        }
    }
}
