//! The writer as a thread of its own on a SQLite file, calling SQLite directly on its own
//! connection ([`direct`]): one wake-up of one thread for a batch, however many writes it
//! holds. It also answers the call path's reads, first in each batch.

use tokio::sync::mpsc;

use super::BATCH;
use super::batch::{Batch, answer_shared};
use super::direct;
use super::protocol::{CallWrite, Message, ReadReply, Reply, Written};
use super::step_log::StepQueue;
use crate::storage::call_facts::CallRead;
use crate::storage::steps::StepLog;
use crate::storage::{self, Db};

/// The writer as a thread, writing on its own SQLite connection.
pub(super) fn run_direct(
    mut conn: direct::Connection,
    db: &Db,
    mut rx: mpsc::Receiver<Message>,
    queue: &StepQueue,
) {
    let mut batch = Batch::default();
    let mut steps = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        batch.fill(first, &mut rx);
        if !batch.waiting.is_empty() || queue.len() >= BATCH {
            queue.take(&mut steps);
        }
        apply_all_direct(
            &mut conn,
            db.write_health(),
            &mut batch.reads,
            std::mem::take(&mut batch.calls),
            &steps,
        );
        steps.clear();
        batch.finish(queue);
        if db.take_checkpoint_passed() {
            match conn.finish_checkpoint() {
                Ok((log, copied)) => tracing::trace!(log, copied, "checkpoint finished"),
                Err(e) => tracing::debug!(error = %e, "checkpoint not finished; next time"),
            }
        }
    }
    // Every handle is gone: what still waits is written before the thread ends.
    queue.take(&mut steps);
    apply_all_direct(
        &mut conn,
        db.write_health(),
        &mut Vec::new(),
        Vec::new(),
        &steps,
    );
}

/// The writes and step-log lines of one batch on the writer's own SQLite connection, as the
/// pool's writer applies them ([`super::on_pool`]): in one transaction, or one by one when
/// that failed for a reason other than the database being unavailable. The batch's `reads`
/// are answered first, in its transaction when it has one ([`answer_reads`]). Each
/// transaction's outcome is noted in `health`.
pub(super) fn apply_all_direct(
    conn: &mut direct::Connection,
    health: &storage::health::WriteHealth,
    reads: &mut Vec<(Box<CallRead>, ReadReply)>,
    calls: Vec<(Box<CallWrite>, Reply)>,
    steps: &[StepLog],
) {
    if calls.is_empty() && steps.is_empty() {
        // A batch of reads and flushes only: no transaction to take the write lock for.
        answer_reads(conn.alone(), reads);
        return;
    }
    if calls.len() == 1 && steps.is_empty() {
        for (write, reply) in calls {
            let written = conn.in_transaction(|tx| {
                answer_reads(tx, reads);
                apply_direct(tx, &write)
            });
            health.note(&written);
            let _ = reply.send(written);
        }
        // When the transaction did not begin, the reads are still waiting.
        answer_reads(conn.alone(), reads);
        return;
    }
    let shared = conn.in_transaction(|tx| {
        answer_reads(tx, reads);
        let written = calls
            .iter()
            .map(|(write, _)| apply_direct(tx, write))
            .collect::<Result<Vec<_>, _>>()?;
        direct::record_steps(tx, steps)?;
        Ok(written)
    });
    answer_reads(conn.alone(), reads);
    health.note(&shared);
    if let Some(calls) = answer_shared(calls, shared, steps.len()) {
        for (write, reply) in calls {
            let written = conn.in_transaction(|tx| apply_direct(tx, &write));
            health.note(&written);
            let _ = reply.send(written);
        }
        let recorded = direct::record_steps(conn.alone(), steps);
        health.note(&recorded);
        if let Err(e) = recorded {
            tracing::warn!(error = %e, steps = steps.len(), "call steps not recorded");
        }
    }
}

/// Answers the reads waiting in `reads` ([`direct::read`]) and empties it. Run first in a
/// batch's write transaction, they read what every earlier batch committed, as alone they
/// would, and share that transaction's locks: alone, each read is a read transaction of its
/// own, two `fcntl` calls on the shared-memory file.
fn answer_reads(conn: &rusqlite::Connection, reads: &mut Vec<(Box<CallRead>, ReadReply)>) {
    for (read, reply) in reads.drain(..) {
        let _ = reply.send(direct::read(conn, &read));
    }
}

/// Applies one write on the writer's own SQLite connection; callers run it in a transaction.
fn apply_direct(conn: &rusqlite::Connection, write: &CallWrite) -> Result<Written, storage::Error> {
    match write {
        CallWrite::Start { call, at } => direct::start(
            conn,
            call.provider,
            &call.call_sid,
            call.caller.as_deref(),
            call.virtual_number.as_deref(),
            *at,
        )
        .map(Written::Started),
        CallWrite::State(write) => direct::save_state(conn, write).map(|()| Written::Saved),
        CallWrite::End {
            call,
            state,
            end,
            at,
        } => direct::record_end(
            conn,
            call.provider,
            &call.call_sid,
            call.caller.as_deref(),
            call.virtual_number.as_deref(),
            state.as_ref(),
            end,
            *at,
        )
        .map(Written::Ended),
        CallWrite::WrongPin(w) => direct::record_failure(
            conn,
            &w.caller,
            &w.virtual_number,
            w.at,
            w.weight,
            w.budget,
            w.counting,
        )
        .map(Written::Failures),
        CallWrite::PinEntry { wrong_pin, state } => {
            let spent = wrong_pin
                .as_ref()
                .map(|w| {
                    direct::record_failure(
                        conn,
                        &w.caller,
                        &w.virtual_number,
                        w.at,
                        w.weight,
                        w.budget,
                        w.counting,
                    )
                })
                .transpose()?;
            if let Some(write) = state {
                direct::save_state(conn, write)?;
            }
            Ok(Written::PinEntry(spent))
        }
        CallWrite::Claim {
            provider,
            token,
            until,
            now,
        } => direct::claim(conn, provider, token, *until, *now).map(Written::Claimed),
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::WrongPin;
    use super::super::step_log::logged;
    use super::*;
    use crate::domain::CallState;
    use crate::storage::attempts::{Budget, Counting, Spent, Weight};
    use crate::storage::call_facts::{CallRead, Fact};
    use crate::storage::calls::{CallKey, StateWrite};
    use crate::storage::orders::PinQuery;
    use tokio::sync::oneshot;

    /// The default guessing budget: a day's, with an hour's burst.
    fn test_budget() -> Budget {
        Budget::new(1.0, std::time::Duration::from_secs(3600))
    }

    /// A migrated SQLite file in a new directory with one order, `ORD-1`: PIN 4321 on
    /// +917314850001, active until 10,000 (unix ms); and the writer's own connection to it.
    async fn one_order() -> (
        tempfile::TempDir,
        Db,
        crate::domain::PhoneNumber,
        direct::Connection,
    ) {
        use crate::domain::{NewOrder, PhoneNumber, Pin, PinChoice, Region};
        use crate::storage::{PoolSettings, orders};

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/writer.db", dir.path().display());
        let db = Db::connect(&url, &PoolSettings::single()).await.unwrap();
        db.migrate().await.unwrap();
        let india = Region::parse("IN").unwrap();
        let vn = PhoneNumber::parse("+917314850001", india).unwrap();
        let new = NewOrder {
            order_id: "ORD-1".into(),
            customer: PhoneNumber::parse("09812345678", india).unwrap(),
            pin: PinChoice::Given(Pin::parse("4321", 4, 8).unwrap()),
            virtual_number: Some(vn.clone()),
            expires_at_ms: 10_000,
            allowed_callers: Vec::new(),
        };
        orders::insert(&db, &new, Pin::parse("4321", 4, 8).unwrap(), 1_000)
            .await
            .unwrap();
        let (path, _) = db.sqlite_file().unwrap();
        let conn = direct::Connection::open(path, std::time::Duration::from_millis(50)).unwrap();
        (dir, db, vn, conn)
    }

    /// A check-pin lookup waiting with writes is answered in their transaction; with none, or
    /// when that transaction can not begin (another connection holds the write lock), alone.
    /// Either way it reads what was committed, and every write gets its own answer.
    #[tokio::test]
    async fn lookups_are_answered_with_the_writes_of_their_batch_or_alone() {
        let (dir, _db, vn, mut conn) = one_order().await;
        let health = storage::health::WriteHealth::default();
        let path = &dir.path().join("writer.db");

        let lookup = |pin: &str, caller: &str, now: i64| {
            let (reply, answer) = oneshot::channel();
            let query = PinQuery {
                pin: pin.into(),
                virtual_number: Some(vn.as_ref().into()),
                caller: Some(caller.into()),
                caller_key: caller.into(),
                number_key: vn.as_ref().into(),
                now,
                counting: Counting::new(0, 10),
                budget: test_budget(),
                known_since: 0,
            };
            ((Box::new(CallRead::Pin(query)), reply), answer)
        };
        let (right, right_answer) = lookup("4321", "+919800000002", 2_000);
        let (wrong, wrong_answer) = lookup("9999", "+919800000002", 2_000);
        let mut lookups = vec![right, wrong];
        let start = |n: u32| {
            let (reply, answer) = oneshot::channel();
            let call = CallKey {
                provider: "exotel",
                call_sid: format!("CA{n}").into(),
                caller: Some("+919800000002".into()),
                virtual_number: Some(vn.as_ref().into()),
            };
            (
                (Box::new(CallWrite::Start { call, at: 2_000 }), reply),
                answer,
            )
        };
        let found = |mut answer: oneshot::Receiver<Result<Fact, storage::Error>>| match answer
            .try_recv()
            .unwrap()
            .unwrap()
        {
            Fact::Pin(lookup) => lookup.order.map(|o| o.order_id),
            _ => panic!("a PIN lookup answered with another fact"),
        };

        // With two writes and their steps: one shared transaction.
        let (first, first_answer) = start(1);
        let (second, second_answer) = start(2);
        apply_all_direct(
            &mut conn,
            &health,
            &mut lookups,
            vec![first, second],
            &[logged(1)],
        );
        assert!(lookups.is_empty());
        assert_eq!(found(right_answer).as_deref(), Some("ORD-1"));
        assert_eq!(found(wrong_answer), None);
        for mut answer in [first_answer, second_answer] {
            assert!(matches!(
                answer.try_recv().unwrap(),
                Ok(Written::Started(true))
            ));
        }

        // The write lock held elsewhere: the write fails, the lookup is still answered.
        let holder = direct::Connection::open(path, std::time::Duration::from_millis(50)).unwrap();
        holder.alone().execute_batch("BEGIN IMMEDIATE").unwrap();
        let (pending, answer) = lookup("4321", "+919800000003", 2_000);
        let mut lookups = vec![pending];
        let (third, mut third_answer) = start(3);
        apply_all_direct(&mut conn, &health, &mut lookups, vec![third], &[]);
        assert!(lookups.is_empty());
        assert_eq!(found(answer).as_deref(), Some("ORD-1"));
        assert!(third_answer.try_recv().unwrap().is_err());
        holder.alone().execute_batch("ROLLBACK").unwrap();

        // Lookups alone: no transaction.
        let (pending, answer) = lookup("4321", "+919800000004", 20_000);
        let mut lookups = vec![pending];
        apply_all_direct(&mut conn, &health, &mut lookups, Vec::new(), &[]);
        assert_eq!(found(answer), None, "expired at 10,000");
    }

    /// A PIN entry's writes (the wrong PIN with its count, the call's new state) commit
    /// together in their batch; with the write lock held elsewhere neither is written.
    #[tokio::test]
    async fn a_pin_entrys_wrong_pin_and_state_commit_together_or_not_at_all() {
        use crate::domain::Phase;

        let (dir, db, vn, mut conn) = one_order().await;
        let health = storage::health::WriteHealth::default();
        let path = &dir.path().join("writer.db");
        let key = |n: u32| CallKey {
            provider: "exotel",
            call_sid: format!("CK{n}").into(),
            caller: Some("+919800000002".into()),
            virtual_number: Some(vn.as_ref().into()),
        };
        let entry = |n: u32| {
            let (reply, answer) = oneshot::channel();
            let write = CallWrite::PinEntry {
                wrong_pin: Some(WrongPin {
                    caller: "+919800000002".into(),
                    virtual_number: vn.as_ref().into(),
                    at: 2_000,
                    weight: Weight {
                        number: 1,
                        every: 0,
                    },
                    budget: test_budget(),
                    counting: Counting::new(0, 10),
                }),
                state: Some(StateWrite {
                    call: key(n),
                    state: CallState {
                        attempts: 1,
                        last_failure: Some(crate::domain::Failure::WrongPin),
                        ..CallState::default()
                    },
                    bridge: None,
                    at: 2_000,
                }),
            };
            ((Box::new(write), reply), answer)
        };
        let attempts = |n: u32| {
            let db = db.clone();
            async move {
                storage::calls::load_state(db.pool(), "exotel", &format!("CK{n}"), 0)
                    .await
                    .unwrap()
                    .map(|s| (s.attempts, s.phase))
            }
        };

        let (first, mut first_answer) = entry(1);
        let (second, mut second_answer) = entry(2);
        apply_all_direct(
            &mut conn,
            &health,
            &mut Vec::new(),
            vec![first, second],
            &[],
        );
        assert!(matches!(
            first_answer.try_recv().unwrap(),
            Ok(Written::PinEntry(Some(Spent { by_caller: 1, .. })))
        ));
        assert!(matches!(
            second_answer.try_recv().unwrap(),
            Ok(Written::PinEntry(Some(Spent { by_caller: 2, .. })))
        ));
        assert_eq!(attempts(1).await, Some((1, Phase::CollectingPin)));

        // The write lock held elsewhere: neither the wrong PIN nor the state is written.
        let holder = direct::Connection::open(path, std::time::Duration::from_millis(50)).unwrap();
        holder.alone().execute_batch("BEGIN IMMEDIATE").unwrap();
        let (third, mut third_answer) = entry(3);
        apply_all_direct(&mut conn, &health, &mut Vec::new(), vec![third], &[]);
        assert!(third_answer.try_recv().unwrap().is_err());
        holder.alone().execute_batch("ROLLBACK").unwrap();
        assert_eq!(attempts(3).await, None, "no state written");
        let counted =
            storage::attempts::caller_failures(db.pool(), "+919800000002", Counting::new(0, 10))
                .await
                .unwrap();
        assert_eq!(counted, 2, "no wrong PIN written");
    }
}
