//! The call steps (`call_steps`), written in batches in the background: a webhook's answer
//! does not wait for its own record, and one transaction stores many steps.
//!
//! Steps are diagnostics (the admin UI's call page, the dashboard's latency figures); the call
//! record itself is written on the webhook's path. Readers call [`StepLog::flush`] first, so
//! they see every step answered before they asked. A step is lost only when this process dies
//! before its batch is written (within milliseconds), or when the database refuses the batch
//! three times in a row (logged).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::storage::{self, Db};

/// Steps waiting beyond this are dropped (and counted in the log) rather than held in memory.
const BACKLOG: usize = 20_000;

/// The most steps written by one statement.
const BATCH: usize = 500;

/// One step as the webhook layer saw it; `detail` never holds a phone number or digits.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub provider: &'static str,
    pub call_sid: String,
    /// Unix milliseconds, when the step began.
    pub at: i64,
    pub applet: &'static str,
    pub event: &'static str,
    pub decision: &'static str,
    pub detail: Option<String>,
    /// Microseconds the step took.
    pub elapsed_us: i64,
}

enum Message {
    Step(StepRecord),
    /// Answered once every step sent before it is written (or given up).
    Flush(oneshot::Sender<()>),
}

/// The handle webhooks send their steps to; cheap to clone.
#[derive(Clone, Debug)]
pub struct StepLog {
    tx: mpsc::Sender<Message>,
    /// Steps dropped for a full backlog since the writer last said so.
    dropped: Arc<AtomicU64>,
}

impl StepLog {
    /// Starts the writer task on `db`. It ends when every handle is dropped.
    pub fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let dropped = Arc::new(AtomicU64::new(0));
        tokio::spawn(write_batches(db, rx, Arc::clone(&dropped)));
        Self { tx, dropped }
    }

    /// Queues a step; never waits. A full backlog (the database far behind) drops it; the
    /// writer logs how many, once per batch rather than once per step.
    pub fn record(&self, step: StepRecord) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(Message::Step(step)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until every step queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_batches(db: Db, mut rx: mpsc::Receiver<Message>, dropped: Arc<AtomicU64>) {
    let mut steps: Vec<StepRecord> = Vec::with_capacity(BATCH);
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Step(step) => steps.push(step),
                Message::Flush(done) => waiting.push(done),
            }
            next = if steps.len() < BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        write(&db, &steps).await;
        steps.clear();
        let lost = dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(
                steps = lost,
                "call steps not recorded: too many were waiting for the database"
            );
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes one batch, trying three times; a batch the database keeps refusing is dropped.
async fn write(db: &Db, steps: &[StepRecord]) {
    if steps.is_empty() {
        return;
    }
    let rows: Vec<storage::steps::NewStep<'_>> = steps
        .iter()
        .map(|s| storage::steps::NewStep {
            provider: s.provider,
            call_sid: &s.call_sid,
            at: s.at,
            applet: s.applet,
            event: s.event,
            decision: s.decision,
            detail: s.detail.as_deref(),
            elapsed_us: s.elapsed_us,
        })
        .collect();
    for attempt in 1..=3 {
        match storage::steps::record_many(db, &rows).await {
            Ok(()) => return,
            Err(e) if attempt < 3 => {
                tracing::debug!(error = %e, attempt, "writing call steps failed; retrying");
                tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, steps = rows.len(), "call steps not recorded");
            }
        }
    }
}
