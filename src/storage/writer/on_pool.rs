//! The writer as a task writing through the pool: on PostgreSQL, on an in-memory SQLite
//! database, or when the writer's own SQLite connection did not open. On PostgreSQL the call
//! path's reads are answered by tasks of their own ([`run_reads`]).
//!
//! Each task keeps one connection of the pool between its batches ([`Link`]) on PostgreSQL:
//! `sqlx` checks a pooled connection with a round trip when it is taken (`test_before_acquire`)
//! and again when it is given back, so a statement through the pool cost three round trips
//! where one does the work; the profile showed the server's time going to sending and waking
//! for them.

use std::sync::Arc;

use sqlx::AnyConnection;
use sqlx::pool::PoolConnection;
use tokio::sync::{Mutex, mpsc};

use super::batch::{Batch, answer_shared};
use super::protocol::{CallWrite, Message, ReadReply, Reply, Written};
use super::step_log::StepQueue;
use crate::storage::call_facts::{self, CallRead};
use crate::storage::steps::StepLog;
use crate::storage::{self, Backend, Db};

/// A task's connection of the pool: kept between uses when `keep` (PostgreSQL with room in the
/// pool, [`super::Writer::start`]), else taken for each use and given back. A connection whose
/// database was unavailable is given back (and closed by the pool while writes fail: see
/// [`Db::connect`]), so the next use takes a new one.
pub(super) struct Link {
    db: Db,
    keep: bool,
    conn: Option<PoolConnection<sqlx::Any>>,
    /// When the kept connection was last used.
    used: std::time::Instant,
}

/// A kept connection unused for this long is checked before its next use, as the pool checks
/// the connections it hands out, so that one cut while idle (a database restart) is replaced
/// before a call's step needs it.
const CHECK_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl Link {
    pub(super) fn new(db: Db, keep: bool) -> Self {
        Self {
            db,
            keep,
            conn: None,
            used: std::time::Instant::now(),
        }
    }

    /// The connection: the kept one, else one taken from the pool.
    async fn conn(&mut self) -> Result<&mut AnyConnection, storage::Error> {
        if self.used.elapsed() >= CHECK_AFTER
            && let Some(kept) = &mut self.conn
            && sqlx::Connection::ping(&mut **kept).await.is_err()
        {
            self.conn = None;
        }
        self.used = std::time::Instant::now();
        if self.conn.is_none() {
            self.conn = Some(self.db.acquire().await?);
        }
        match &mut self.conn {
            Some(conn) => Ok(&mut **conn),
            None => Err(storage::Error::Internal("no connection taken".into())),
        }
    }

    /// Waits for `next` (the task's next message). When the pool begins to close meanwhile
    /// (the server stops), the kept connection is given back at once and none is kept from
    /// then on: closing the pool waits for every connection.
    async fn wait<T>(&mut self, next: impl std::future::Future<Output = T>) -> T {
        if !self.keep {
            return next.await;
        }
        let closing = self.db.pool().close_event();
        tokio::pin!(next);
        tokio::select! {
            value = &mut next => value,
            () = closing => {
                self.keep = false;
                self.conn = None;
                next.await
            }
        }
    }

    /// After a use that ended with `result`: gives the connection back unless it is kept and
    /// the database answered.
    fn settle<T>(&mut self, result: &Result<T, storage::Error>) {
        if !self.keep || result.as_ref().is_err_and(storage::Error::is_unavailable) {
            self.conn = None;
        }
    }

    /// Begins a write transaction on the connection (SQLite takes its write lock at once,
    /// as [`Db::begin_batch`] does).
    async fn begin(&mut self) -> Result<sqlx::Transaction<'_, sqlx::Any>, storage::Error> {
        let backend = self.db.backend();
        let conn = self.conn().await?;
        Ok(match backend {
            Backend::Sqlite => sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await?,
            Backend::Postgres => sqlx::Connection::begin(conn).await?,
        })
    }
}

/// The writer as a task, writing through `link`. Every batch takes the waiting step-log lines
/// along.
pub(super) async fn run(mut link: Link, mut rx: mpsc::Receiver<Message>, queue: Arc<StepQueue>) {
    let mut batch = Batch::default();
    let mut steps = Vec::new();
    while let Some(first) = link.wait(rx.recv()).await {
        batch.fill(first, &mut rx);
        // Reads come only to the writer on its own SQLite connection (`Writer::read`); they
        // are answered here all the same.
        for (read, reply) in batch.reads.drain(..) {
            let _ = reply.send(answer(&mut link, &read).await);
        }
        queue.take(&mut steps);
        apply_all(&mut link, std::mem::take(&mut batch.calls), &steps).await;
        steps.clear();
        batch.finish(&queue);
    }
    // Every handle is gone: what still waits is written before the task ends.
    queue.take(&mut steps);
    write_steps(&mut link, &steps).await;
}

/// The reads waiting for the tasks that answer them on PostgreSQL ([`run_reads`]).
pub(super) type Reads = Mutex<mpsc::Receiver<(Box<CallRead>, ReadReply)>>;

/// One of the tasks answering the call path's reads on PostgreSQL, each on a connection it
/// keeps ([`Link`]): it takes what waits (up to [`super::BATCH`]) when its turn comes, lets
/// the next task wait meanwhile, and answers them one after the other.
pub(super) async fn run_reads(mut link: Link, reads: Arc<Reads>) {
    let mut waiting = Vec::new();
    loop {
        // Waiting for its turn is waiting too: the kept connection goes back if the pool
        // closes meanwhile.
        let taken = link
            .wait(async {
                reads
                    .lock()
                    .await
                    .recv_many(&mut waiting, super::BATCH)
                    .await
            })
            .await;
        if taken == 0 {
            break;
        }
        for (read, reply) in waiting.drain(..) {
            let _ = reply.send(answer(&mut link, &read).await);
        }
    }
}

/// Answers one read on `link`.
async fn answer(link: &mut Link, read: &CallRead) -> Result<call_facts::Fact, storage::Error> {
    let found = match link.conn().await {
        Ok(conn) => call_facts::on_connection(conn, read).await,
        Err(e) => Err(e),
    };
    link.settle(&found);
    found
}

/// Applies the writes and step-log lines of one batch and answers each write.
async fn apply_all(link: &mut Link, calls: Vec<(Box<CallWrite>, Reply)>, steps: &[StepLog]) {
    let db = link.db.clone();
    let health = db.write_health();
    if calls.is_empty() {
        write_steps(link, steps).await;
        return;
    }
    if calls.len() == 1 && steps.is_empty() {
        // Nothing to share a transaction with, nothing to apply again alone if it fails.
        for (write, reply) in calls {
            let written = apply_alone(link, &write).await;
            health.note(&written);
            let _ = reply.send(written);
        }
        return;
    }
    let shared = in_one_transaction(link, &calls, steps).await;
    health.note(&shared);
    if let Some(calls) = answer_shared(calls, shared, steps.len()) {
        for (write, reply) in calls {
            let written = apply_alone(link, &write).await;
            health.note(&written);
            let _ = reply.send(written);
        }
        write_steps(link, steps).await;
    }
}

/// The writes and step-log lines of a batch in one transaction; each write's answer, in order.
async fn in_one_transaction(
    link: &mut Link,
    calls: &[(Box<CallWrite>, Reply)],
    steps: &[StepLog],
) -> Result<Vec<Written>, storage::Error> {
    let written = async {
        let mut tx = link.begin().await?;
        let mut written = Vec::with_capacity(calls.len());
        for (write, _) in calls {
            written.push(apply_one(&mut tx, write).await?);
        }
        if !steps.is_empty() {
            storage::steps::record_many(&mut tx, steps).await?;
        }
        tx.commit().await?;
        Ok(written)
    }
    .await;
    link.settle(&written);
    written
}

/// One write in a transaction of its own: a write may be two statements (a call's end, whose
/// indexed columns may follow its upsert, [`storage::calls::record_end`]; a PIN entry), which
/// no other write may come between.
async fn apply_alone(link: &mut Link, write: &CallWrite) -> Result<Written, storage::Error> {
    let written = async {
        let mut tx = link.begin().await?;
        let written = apply_one(&mut tx, write).await?;
        tx.commit().await?;
        Ok(written)
    }
    .await;
    link.settle(&written);
    written
}

/// Applies one write on `conn`, in the caller's transaction.
async fn apply_one(conn: &mut AnyConnection, write: &CallWrite) -> Result<Written, storage::Error> {
    match write {
        CallWrite::Start { call, at } => storage::calls::start(
            conn,
            call.provider,
            &call.call_sid,
            call.caller.as_deref(),
            call.virtual_number.as_deref(),
            *at,
        )
        .await
        .map(Written::Started),
        CallWrite::State(write) => storage::calls::save_state(conn, write)
            .await
            .map(|()| Written::Saved),
        CallWrite::End {
            call,
            state,
            end,
            at,
        } => storage::calls::record_end(
            conn,
            call.provider,
            &call.call_sid,
            call.caller.as_deref(),
            call.virtual_number.as_deref(),
            state.as_ref(),
            end,
            *at,
        )
        .await
        .map(Written::Ended),
        CallWrite::WrongPin(w) => storage::attempts::record_failure(
            conn,
            &w.caller,
            &w.virtual_number,
            w.at,
            w.weight,
            w.budget,
            w.counting,
        )
        .await
        .map(Written::Failures),
        CallWrite::PinEntry { wrong_pin, state } => {
            let mut spent = None;
            if let Some(w) = wrong_pin {
                spent = Some(
                    storage::attempts::record_failure(
                        &mut *conn,
                        &w.caller,
                        &w.virtual_number,
                        w.at,
                        w.weight,
                        w.budget,
                        w.counting,
                    )
                    .await?,
                );
            }
            if let Some(write) = state {
                storage::calls::save_state(conn, write).await?;
            }
            Ok(Written::PinEntry(spent))
        }
        CallWrite::Claim {
            provider,
            token,
            until,
            now,
        } => storage::seen::claim(conn, provider, token, *until, *now)
            .await
            .map(Written::Claimed),
    }
}

/// Writes step-log lines on their own, trying twice unless the database is unreachable; lines
/// it refuses are dropped (and logged): the writer does not stall the call path's writes for
/// diagnostics.
async fn write_steps(link: &mut Link, steps: &[StepLog]) {
    if steps.is_empty() {
        return;
    }
    for attempt in 1..=2 {
        let written = match link.conn().await {
            Ok(conn) => storage::steps::record_many(conn, steps).await,
            Err(e) => Err(e),
        };
        link.settle(&written);
        link.db.write_health().note(&written);
        match written {
            Ok(()) => return,
            Err(e) if attempt < 2 && !e.is_unavailable() => {
                tracing::debug!(error = %e, "writing call steps failed; retrying");
            }
            Err(e) => {
                tracing::warn!(error = %e, steps = steps.len(), "call steps not recorded");
                return;
            }
        }
    }
}
