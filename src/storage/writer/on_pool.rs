//! The writer as a task writing through the pool: on PostgreSQL, on an in-memory SQLite
//! database, or when the writer's own SQLite connection did not open.

use std::sync::Arc;

use sqlx::AnyConnection;
use tokio::sync::mpsc;

use super::batch::{Batch, answer_shared};
use super::protocol::{CallWrite, Message, Reply, Written};
use super::step_log::StepQueue;
use crate::storage::steps::StepLog;
use crate::storage::{self, Db};

/// The writer as a task, writing through the pool. Every batch takes the waiting step-log
/// lines along.
pub(super) async fn run(db: Db, mut rx: mpsc::Receiver<Message>, queue: Arc<StepQueue>) {
    let mut batch = Batch::default();
    let mut steps = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.fill(first, &mut rx);
        // Reads come only to the writer on its own SQLite connection (`Writer::read`); they
        // are answered here all the same.
        for (read, reply) in batch.reads.drain(..) {
            let _ = reply.send(storage::call_facts::on_pool(&db, &read).await);
        }
        queue.take(&mut steps);
        apply_all(&db, std::mem::take(&mut batch.calls), &steps).await;
        steps.clear();
        batch.finish(&queue);
    }
    // Every handle is gone: what still waits is written before the task ends.
    queue.take(&mut steps);
    write_steps(&db, &steps).await;
}

/// Applies the writes and step-log lines of one batch and answers each write.
async fn apply_all(db: &Db, calls: Vec<(Box<CallWrite>, Reply)>, steps: &[StepLog]) {
    if calls.is_empty() {
        write_steps(db, steps).await;
        return;
    }
    if calls.len() == 1 && steps.is_empty() {
        // Nothing to share a transaction with, nothing to apply again alone if it fails.
        for (write, reply) in calls {
            let written = apply_alone(db, &write).await;
            db.write_health().note(&written);
            let _ = reply.send(written);
        }
        return;
    }
    let shared = in_one_transaction(db, &calls, steps).await;
    db.write_health().note(&shared);
    if let Some(calls) = answer_shared(calls, shared, steps.len()) {
        for (write, reply) in calls {
            let written = apply_alone(db, &write).await;
            db.write_health().note(&written);
            let _ = reply.send(written);
        }
        write_steps(db, steps).await;
    }
}

/// The writes and step-log lines of a batch in one transaction; each write's answer, in order.
async fn in_one_transaction(
    db: &Db,
    calls: &[(Box<CallWrite>, Reply)],
    steps: &[StepLog],
) -> Result<Vec<Written>, storage::Error> {
    let mut tx = db.begin_batch().await?;
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

/// One write in a transaction of its own: a write may be two statements (a call's end, whose
/// indexed columns may follow its upsert, [`storage::calls::record_end`]; a PIN entry), which
/// no other write may come between.
async fn apply_alone(db: &Db, write: &CallWrite) -> Result<Written, storage::Error> {
    let mut tx = db.begin_batch().await?;
    let written = apply_one(&mut tx, write).await?;
    tx.commit().await?;
    Ok(written)
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
async fn write_steps(db: &Db, steps: &[StepLog]) {
    if steps.is_empty() {
        return;
    }
    for attempt in 1..=2 {
        let written = match db.acquire().await {
            Ok(mut conn) => storage::steps::record_many(&mut conn, steps).await,
            Err(e) => Err(e),
        };
        db.write_health().note(&written);
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
