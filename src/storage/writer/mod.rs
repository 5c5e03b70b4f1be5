//! The writes of the call path, applied by one task, many to a transaction (group commit).
//! Private to storage: the call path holds a [`Writer`] (`storage::Writer`) and sends it what
//! to write.
//!
//! Every webhook step that changes a call writes its row before it answers: the next step may
//! land on another instance, or after a restart. Sent here, the writes of concurrent steps
//! share one transaction: one commit instead of one each, and on SQLite, which lets one
//! connection write at a time, no connection waits for another's write lock (SQLite's busy
//! handler sleeps a millisecond and more at each try). A write's future resolves once its
//! transaction committed. When a shared transaction fails for a reason other than the database
//! being unreachable, its writes are applied again one by one, so that one bad write fails only
//! its own step ([`batch`]).
//!
//! On a SQLite file the writer is a thread of its own calling SQLite directly ([`on_thread`],
//! with the statements of [`direct`]), so that one batch costs one wake-up of one thread; it
//! then also answers the call path's reads ([`Writer::read`], [`storage::call_facts`]): the
//! call's state, the order a keyed PIN names, the caller's route. They are answered at the
//! start of each batch, inside the batch's transaction when it has one, so that they read what
//! every earlier batch committed, on the connection whose page cache every write keeps warm:
//! through the pool, each read was a hand-off to a connection's worker thread and back, and a
//! connection that had not written since found its cache stale and read its pages again. On
//! PostgreSQL it is a task writing through the pool ([`on_pool`]), and reads go through the
//! pool directly.
//!
//! The step log (diagnostics for the admin UI's call page and the dashboard; on a SQLite file
//! appended to each call's record: [`storage::steps`]) rides along ([`step_log`]): queued
//! without waiting, written in the next transaction; on the SQLite thread, in the first
//! transaction after [`step_log::STEPS_EVERY`] or once [`BATCH`] of them wait, so that the
//! steps of a call in progress are mostly appended to its record in one statement. They wait
//! in a queue of their own, not in the writer's channel, so that logging a step never wakes
//! the writer. Readers call [`Writer::flush`] first, so they see every step answered before
//! they asked. A step's log entry is lost only when this process dies before it is written
//! (within [`step_log::STEPS_EVERY`]), or when the database refuses it (unreachable, or twice
//! in a row; logged).

mod batch;
mod direct;
mod on_pool;
mod on_thread;
mod protocol;
mod step_log;

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::domain::{CallState, Outcome, Route};
use crate::storage::attempts::Spent;
use crate::storage::call_facts::{CallRead, CallerFacts, CallerQuery, Fact};
use crate::storage::calls::{CallEnd, CallKey, StateWrite};
use crate::storage::orders::{PinLookup, PinQuery};
use crate::storage::steps::StepLog;
use crate::storage::{self, Db};
pub use protocol::WrongPin;
use protocol::{CallWrite, Message, Written, unexpected};
use step_log::{StepQueue, flush_steps_every};

/// Messages (call writes, reads) waiting beyond this wait for room; step-log lines waiting
/// beyond this are dropped (and counted in the log) rather than held in memory.
const BACKLOG: usize = 20_000;

/// The most call writes in one transaction; on the SQLite thread, step-log lines are written
/// as soon as this many wait.
const BATCH: usize = 500;

/// The handle the call path sends its writes to; cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Message>,
    /// True when this is the thread on its own SQLite connection, which also answers the call
    /// path's reads ([`Writer::read`]).
    direct: bool,
    steps: Arc<StepQueue>,
}

impl Writer {
    /// Starts the writer on `db`. On a SQLite file it is a thread of its own with its own
    /// connection ([`direct`]); otherwise (PostgreSQL, an in-memory SQLite database, or when
    /// that connection can not be opened) a task on the pool. It ends when every handle is
    /// dropped.
    pub fn start(db: Db) -> Self {
        let steps = Arc::new(StepQueue::default());
        let direct = db.sqlite_file().and_then(|(path, busy_timeout)| {
            direct::Connection::open(path, busy_timeout)
                .and_then(|conn| conn.limit_size(db.sqlite_max_bytes()))
                .inspect_err(|e| {
                    tracing::warn!(error = %e, "the writer's SQLite connection did not open; writing through the pool");
                })
                .ok()
        });
        if let Some(conn) = direct {
            let (tx, rx) = mpsc::channel(BACKLOG);
            tokio::spawn(flush_steps_every(tx.downgrade()));
            let queue = Arc::clone(&steps);
            let db = db.clone();
            let spawned = std::thread::Builder::new()
                .name("pinbridge-writer".into())
                .spawn(move || on_thread::run_direct(conn, &db, rx, &queue));
            match spawned {
                Ok(_) => {
                    return Self {
                        tx,
                        direct: true,
                        steps,
                    };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the writer's thread did not start; writing through the pool");
                }
            }
        }
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(flush_steps_every(tx.downgrade()));
        tokio::spawn(on_pool::run(db, rx, Arc::clone(&steps)));
        Self {
            tx,
            direct: false,
            steps,
        }
    }

    /// Creates a call's record unless it has one; true when it did
    /// ([`storage::calls::start`]).
    pub async fn start_call(&self, call: CallKey, at: i64) -> Result<bool, storage::Error> {
        match self.apply(CallWrite::Start { call, at }).await? {
            Written::Started(created) => Ok(created),
            other => Err(unexpected(&other)),
        }
    }

    /// Writes a call's state after a step, with the bridge it decided (the number dialled,
    /// E.164, and why), at `at` (unix ms) ([`storage::calls::save_state`]).
    pub async fn save_state(
        &self,
        call: CallKey,
        state: CallState,
        bridge: Option<(String, Route)>,
        at: i64,
    ) -> Result<(), storage::Error> {
        match self
            .apply(CallWrite::State(StateWrite {
                call,
                state,
                bridge,
                at,
            }))
            .await?
        {
            Written::Saved => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Records a call's end reported at `at` ([`storage::calls::record_end`]); `state` is the
    /// call's state when this process knows it, else it is read in the transaction.
    pub async fn end_call(
        &self,
        call: CallKey,
        state: Option<CallState>,
        end: CallEnd,
        at: i64,
    ) -> Result<Outcome, storage::Error> {
        match self
            .apply(CallWrite::End {
                call,
                state,
                end,
                at,
            })
            .await?
        {
            Written::Ended(outcome) => Ok(outcome),
            other => Err(unexpected(&other)),
        }
    }

    /// Records a wrong PIN ([`storage::attempts::record_failure`]) and returns the caller's
    /// wrong PINs within its window, this one included (at most its cap), and what the
    /// budgets have spent now.
    pub async fn wrong_pin(&self, wrong: WrongPin) -> Result<Spent, storage::Error> {
        match self.apply(CallWrite::WrongPin(wrong)).await? {
            Written::Failures(spent) => Ok(spent),
            other => Err(unexpected(&other)),
        }
    }

    /// Writes what a PIN entry decided, in one transaction: the wrong PIN, if it was one
    /// ([`storage::attempts::record_failure`]), then the call's state, if it changed
    /// ([`storage::calls::save_state`]). Returns what the wrong PIN counted.
    pub async fn pin_entry(
        &self,
        wrong_pin: Option<WrongPin>,
        state: Option<StateWrite>,
    ) -> Result<Option<Spent>, storage::Error> {
        if wrong_pin.is_none() && state.is_none() {
            return Ok(None);
        }
        match self.apply(CallWrite::PinEntry { wrong_pin, state }).await? {
            Written::PinEntry(spent) => Ok(spent),
            other => Err(unexpected(&other)),
        }
    }

    /// Claims a signed request's one-time token for `provider` until `until` (unix ms): true
    /// when no request carried it before, false for a replay ([`storage::seen::claim`]).
    pub async fn claim_token(
        &self,
        provider: &'static str,
        token: String,
        until: i64,
        now: i64,
    ) -> Result<bool, storage::Error> {
        match self
            .apply(CallWrite::Claim {
                provider,
                token,
                until,
                now,
            })
            .await?
        {
            Written::Claimed(fresh) => Ok(fresh),
            other => Err(unexpected(&other)),
        }
    }

    /// Answers one read of the call path ([`storage::call_facts`]): on the writer's own SQLite
    /// connection when it has one (at the start of its next batch, without a hand-off to a
    /// pool connection's thread), else on `db`'s pool.
    ///
    /// Errors: the database's; [`storage::Error::WriterGone`] when the writer stopped.
    pub async fn read(&self, db: &Db, read: CallRead) -> Result<Fact, storage::Error> {
        if !self.direct {
            return storage::call_facts::on_pool(db, &read).await;
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Read(Box::new(read), reply))
            .await
            .map_err(|_| storage::Error::WriterGone)?;
        answer.await.map_err(|_| storage::Error::WriterGone)?
    }

    /// The stored state of `provider`'s call `call_sid` ([`CallRead::State`]).
    pub async fn load_state(
        &self,
        db: &Db,
        provider: &'static str,
        call_sid: &str,
        started_before: i64,
    ) -> Result<Option<CallState>, storage::Error> {
        let read = CallRead::State {
            provider,
            call_sid: call_sid.to_owned(),
            started_before,
        };
        match self.read(db, read).await? {
            Fact::State(state) => Ok(state),
            other => Err(read_unexpected(&other)),
        }
    }

    /// The check-pin lookup ([`CallRead::Pin`]).
    pub async fn find_active_by_pin(
        &self,
        db: &Db,
        query: PinQuery,
    ) -> Result<PinLookup, storage::Error> {
        match self.read(db, CallRead::Pin(query)).await? {
            Fact::Pin(lookup) => Ok(lookup),
            other => Err(read_unexpected(&other)),
        }
    }

    /// The caller's route on the number it dialled ([`CallRead::Caller`]).
    pub async fn caller_facts(
        &self,
        db: &Db,
        query: CallerQuery,
    ) -> Result<CallerFacts, storage::Error> {
        match self.read(db, CallRead::Caller(query)).await? {
            Fact::Caller(facts) => Ok(facts),
            other => Err(read_unexpected(&other)),
        }
    }

    /// What `virtual_number` (E.164) answers a caller with no route
    /// ([`CallRead::Strangers`]).
    pub async fn strangers(
        &self,
        db: &Db,
        virtual_number: &str,
    ) -> Result<crate::domain::Strangers, storage::Error> {
        let read = CallRead::Strangers {
            virtual_number: virtual_number.to_owned(),
        };
        match self.read(db, read).await? {
            Fact::Strangers(answer) => Ok(answer),
            other => Err(read_unexpected(&other)),
        }
    }

    /// How a bridge to the booking `booking_id`, else the order `order_id`, is dialled
    /// ([`CallRead::Bridge`]).
    pub async fn bridge_options(
        &self,
        db: &Db,
        order_id: Option<&str>,
        booking_id: Option<&str>,
    ) -> Result<crate::storage::call_options::BridgeOptions, storage::Error> {
        let read = CallRead::Bridge {
            order_id: order_id.map(str::to_owned),
            booking_id: booking_id.map(str::to_owned),
        };
        match self.read(db, read).await? {
            Fact::Bridge(options) => Ok(options),
            other => Err(read_unexpected(&other)),
        }
    }

    /// Queues a line of the step log; never waits, never wakes the writer. A full queue (the database
    /// far behind) drops it; the writer logs how many, once per batch rather than once per
    /// step.
    pub fn record(&self, step: StepLog) {
        self.steps.push(step);
    }

    /// Waits until every step-log line queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    async fn apply(&self, write: CallWrite) -> Result<Written, storage::Error> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Call(Box::new(write), reply))
            .await
            .map_err(|_| storage::Error::WriterGone)?;
        answer.await.map_err(|_| storage::Error::WriterGone)?
    }
}

/// A read answered with another read's fact: a bug, reported as a protocol error (naming
/// the fact's kind only: a caller's facts hold phone numbers).
fn read_unexpected(fact: &Fact) -> storage::Error {
    let kind = match fact {
        Fact::State(_) => "a call's state",
        Fact::Pin(_) => "a PIN lookup",
        Fact::Caller(_) => "a caller's route",
        Fact::Strangers(_) => "what a number answers strangers",
        Fact::Bridge(_) => "how a bridge is dialled",
    };
    storage::Error::Internal(format!("the writer answered {kind} to another read"))
}
