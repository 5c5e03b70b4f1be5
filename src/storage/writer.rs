//! The writes of the call path, applied by one task, many to a transaction (group commit).
//!
//! Every webhook step that changes a call writes its row before it answers: the next step may
//! land on another instance, or after a restart. Sent here, the writes of concurrent steps
//! share one transaction: one commit instead of one each, and on SQLite, which lets one
//! connection write at a time, no connection waits for another's write lock (SQLite's busy
//! handler sleeps a millisecond and more at each try). A write's future resolves once its
//! transaction committed. When a shared transaction fails for a reason other than the database
//! being unreachable, its writes are applied again one by one, so that one bad write fails only
//! its own step.
//!
//! On a SQLite file the writer is a thread of its own calling SQLite directly
//! ([`storage::direct`]), so that one batch costs one wake-up of one thread; it then also
//! answers the check-pin lookup ([`Writer::find_active_by_pin`]), at the start of each batch,
//! inside the batch's transaction when it has one, so that the lookup reads what every earlier
//! batch committed. On PostgreSQL it is a task writing through the pool.
//!
//! The step log (diagnostics for the admin UI's call page and the dashboard; on a SQLite file
//! appended to each call's record: [`storage::steps`]) rides along: queued without waiting,
//! written in the next transaction; on the SQLite thread, in the first transaction after
//! [`STEPS_EVERY`] or once [`BATCH`] of them wait, so that the steps of a call in progress are
//! mostly appended to its record in one statement. They wait in a queue of their own
//! ([`StepQueue`]), not in the writer's channel, so that logging a step never wakes the
//! writer. Readers call [`Writer::flush`] first, so they see every step answered before they
//! asked. A step's log entry is lost only when this process dies before it is written (within
//! [`STEPS_EVERY`]), or when the database refuses it (unreachable, or twice in a row; logged).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use crate::domain::{CallState, Outcome, Route};
use crate::storage::attempts::{Budget, Counting, Spent, Weight};
use crate::storage::calls::{CallEnd, CallStep};
use crate::storage::orders::{PinLookup, PinQuery};
use crate::storage::{self, Db};

/// Messages (call writes, lookups) waiting beyond this wait for room; step records waiting
/// beyond this are dropped (and counted in the log) rather than held in memory.
const BACKLOG: usize = 20_000;

/// The most call writes in one transaction; on the SQLite thread, step records are written as
/// soon as this many wait.
const BATCH: usize = 500;

/// Step records wait at most this long for a transaction to ride in (a tick sends a flush
/// this often).
const STEPS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

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

/// A call as its writes name it: `provider:CallSid` and the parties as stored (E.164 when
/// they parsed, else as received). Shared with the request's own values
/// ([`crate::domain::CallSid::shared`], [`crate::domain::PhoneNumber::shared`]), not copied:
/// copies were three allocations a write, freed on the writer's thread.
#[derive(Debug, Clone)]
pub struct CallKey {
    pub provider: &'static str,
    pub call_sid: Arc<str>,
    pub caller: Option<Arc<str>>,
    pub virtual_number: Option<Arc<str>>,
}

/// One write of the call path; see the functions of [`storage::calls`] and
/// [`storage::attempts`] each applies.
#[derive(Debug)]
enum CallWrite {
    /// [`storage::calls::start`].
    Start { call: CallKey, at: i64 },
    /// [`storage::calls::save_step`].
    Step(StateWrite),
    /// [`storage::calls::record_end`].
    End {
        call: CallKey,
        state: Option<CallState>,
        end: CallEnd,
        at: i64,
    },
    /// [`storage::attempts::record_failure`], then [`storage::attempts::failures`] within
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

/// What a [`CallWrite`] returns.
#[derive(Debug)]
enum Written {
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

type Reply = oneshot::Sender<Result<Written, storage::Error>>;

type LookupReply = oneshot::Sender<Result<PinLookup, storage::Error>>;

enum Message {
    Call(Box<CallWrite>, Reply),
    /// Answered before the writes of the batch it arrives in.
    Lookup(Box<PinQuery>, LookupReply),
    /// Answered once every step record sent before it is written (or given up).
    Flush(oneshot::Sender<()>),
}

/// A wrong PIN, as [`Writer::wrong_pin`] records it: keyed by `caller` on `virtual_number`
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

/// A call's state after a step, as [`Writer::save_step`] writes it: with the bridge it
/// decided (the number dialled, E.164, and why), at `at` (unix ms).
#[derive(Debug)]
pub struct StateWrite {
    pub call: CallKey,
    pub state: CallState,
    pub bridge: Option<(String, Route)>,
    pub at: i64,
}

impl StateWrite {
    /// The [`CallStep`] [`storage::calls::save_step`] writes.
    fn call_step(&self) -> CallStep<'_> {
        CallStep {
            provider: self.call.provider,
            call_sid: &self.call.call_sid,
            caller: self.call.caller.as_deref(),
            virtual_number: self.call.virtual_number.as_deref(),
            state: &self.state,
            bridge: self.bridge.as_ref().map(|(to, route)| (to.as_str(), route)),
        }
    }
}

/// The step records waiting to be written, in the order they were queued; the writer takes
/// them when it writes a batch ([`StepQueue::take`]). At most [`BACKLOG`]: beyond that a
/// record is dropped and counted.
#[derive(Debug, Default)]
struct StepQueue {
    waiting: Mutex<Vec<StepRecord>>,
    /// Step records dropped for a full queue since the writer last said so.
    dropped: AtomicU64,
}

impl StepQueue {
    fn push(&self, step: StepRecord) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if waiting.len() < BACKLOG {
            waiting.push(step);
        } else {
            drop(waiting);
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Moves every waiting record to the end of `into`.
    fn take(&self, into: &mut Vec<StepRecord>) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if into.is_empty() {
            std::mem::swap(&mut *waiting, into);
        } else {
            into.append(&mut waiting);
        }
    }

    fn len(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Logs how many records were dropped since the last call, if any.
    fn report_dropped(&self) {
        let lost = self.dropped.swap(0, Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!(
                steps = lost,
                "call steps not recorded: too many were waiting for the database"
            );
        }
    }
}

/// The handle the call path sends its writes to; cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    tx: mpsc::Sender<Message>,
    /// True when this is the thread on its own SQLite connection, which also serves the
    /// check-pin lookup ([`Writer::find_active_by_pin`]).
    direct: bool,
    steps: Arc<StepQueue>,
}

impl Writer {
    /// Starts the writer on `db`. On a SQLite file it is a thread of its own with its own
    /// connection ([`storage::direct`]); otherwise (PostgreSQL, an in-memory SQLite
    /// database, or when that connection can not be opened) a task on the pool. It ends when
    /// every handle is dropped.
    pub fn start(db: Db) -> Self {
        let steps = Arc::new(StepQueue::default());
        let direct = db.sqlite_file().and_then(|(path, busy_timeout)| {
            storage::direct::Connection::open(path, busy_timeout)
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
                .spawn(move || run_direct(conn, &db, rx, &queue));
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
        tokio::spawn(run(db, rx, Arc::clone(&steps)));
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

    /// Writes a call's state after a step, with the bridge it decided
    /// ([`storage::calls::save_step`]).
    pub async fn save_step(
        &self,
        call: CallKey,
        state: CallState,
        bridge: Option<(String, Route)>,
        at: i64,
    ) -> Result<(), storage::Error> {
        match self
            .apply(CallWrite::Step(StateWrite {
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
    /// ([`storage::calls::save_step`]). Returns what the wrong PIN counted.
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

    /// The check-pin lookup: on the writer's own SQLite connection when it has one (answered
    /// at the start of its next batch, without a hand-off to a pool connection's thread),
    /// else on `db`'s pool.
    pub async fn find_active_by_pin(
        &self,
        db: &Db,
        query: PinQuery,
    ) -> Result<PinLookup, storage::Error> {
        if !self.direct {
            return storage::orders::find_active_by_pin(db, &query).await;
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Message::Lookup(Box::new(query), reply))
            .await
            .map_err(|_| storage::Error::WriterGone)?;
        answer.await.map_err(|_| storage::Error::WriterGone)?
    }

    /// Queues a step record; never waits, never wakes the writer. A full queue (the database
    /// far behind) drops it; the writer logs how many, once per batch rather than once per
    /// step.
    pub fn record(&self, step: StepRecord) {
        self.steps.push(step);
    }

    /// Waits until every step record queued before this call is written.
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

/// Asks the writer to write the waiting step records every [`STEPS_EVERY`], until every
/// [`Writer`] handle is gone.
async fn flush_steps_every(tx: mpsc::WeakSender<Message>) {
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

/// A write answered with another write's result: a bug, reported as a protocol error.
fn unexpected(written: &Written) -> storage::Error {
    storage::Error::Internal(format!("the writer answered {written:?} to another write"))
}

/// The messages of one batch: everything waiting when the writer woke, up to [`BATCH`].
#[derive(Default)]
struct Batch {
    lookups: Vec<(Box<PinQuery>, LookupReply)>,
    calls: Vec<(Box<CallWrite>, Reply)>,
    waiting: Vec<oneshot::Sender<()>>,
}

impl Batch {
    /// Adds `first` and whatever else is waiting in `rx`, up to [`BATCH`] of a kind.
    fn fill(&mut self, first: Message, rx: &mut mpsc::Receiver<Message>) {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Call(write, reply) => self.calls.push((write, reply)),
                Message::Flush(done) => self.waiting.push(done),
                Message::Lookup(query, reply) => self.lookups.push((query, reply)),
            }
            next = if self.calls.len() < BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
    }

    /// After the batch is written: logs the step records dropped meanwhile, answers the
    /// flushes.
    fn finish(&mut self, steps: &StepQueue) {
        steps.report_dropped();
        for done in self.waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// The writer as a task, writing through the pool. Every batch takes the waiting step
/// records along.
async fn run(db: Db, mut rx: mpsc::Receiver<Message>, queue: Arc<StepQueue>) {
    let mut batch = Batch::default();
    let mut steps = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.fill(first, &mut rx);
        // Lookups come only to the direct writer ([`Writer::find_active_by_pin`]); they are
        // answered here all the same.
        for (query, reply) in batch.lookups.drain(..) {
            let _ = reply.send(storage::orders::find_active_by_pin(&db, &query).await);
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

/// The writer as a thread, writing on its own SQLite connection.
fn run_direct(
    mut conn: storage::direct::Connection,
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
            &mut batch.lookups,
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

/// Applies the writes and step records of one batch and answers each write.
async fn apply_all(db: &Db, calls: Vec<(Box<CallWrite>, Reply)>, steps: &[StepRecord]) {
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

/// How a batch's shared transaction ended, as its writes are answered: each its own result
/// when it committed; all the same error when the database was unavailable (trying the step
/// records again would only hold the next writes up); applied again one by one when it failed
/// for another reason.
enum SharedEnd<T> {
    Committed(T),
    Unavailable(storage::Error),
    Failed,
}

impl<T> SharedEnd<T> {
    /// Classifies (and logs) the end of a shared transaction of `writes` writes and `steps`
    /// step records.
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
fn answer_shared(
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
fn like(e: &storage::Error) -> storage::Error {
    match e {
        storage::Error::WriterGone => storage::Error::WriterGone,
        other => {
            storage::Error::Unavailable(sqlx::Error::Io(std::io::Error::other(other.to_string())))
        }
    }
}

async fn in_one_transaction(
    db: &Db,
    calls: &[(Box<CallWrite>, Reply)],
    steps: &[StepRecord],
) -> Result<Vec<Written>, storage::Error> {
    let mut tx = db.begin_batch().await?;
    let mut written = Vec::with_capacity(calls.len());
    for (write, _) in calls {
        written.push(apply_one(&mut tx, write).await?);
    }
    if !steps.is_empty() {
        storage::steps::record_many(&mut tx, &step_rows(steps)).await?;
    }
    tx.commit().await?;
    Ok(written)
}

/// One write in a transaction of its own: a write may be two statements (a call's indexed
/// columns follow its upsert, [`storage::calls::save_step`]), which no other write may come
/// between.
async fn apply_alone(db: &Db, write: &CallWrite) -> Result<Written, storage::Error> {
    let mut tx = db.begin_batch().await?;
    let written = apply_one(&mut tx, write).await?;
    tx.commit().await?;
    Ok(written)
}

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
        CallWrite::Step(step) => storage::calls::save_step(conn, &step.call_step(), step.at)
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
            if let Some(step) = state {
                storage::calls::save_step(conn, &step.call_step(), step.at).await?;
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

/// [`apply_all`] on the writer's own SQLite connection, and the batch's `lookups` answered
/// first, in its transaction when it has one ([`answer_lookups`]). Each transaction's outcome
/// is noted in `health`.
fn apply_all_direct(
    conn: &mut storage::direct::Connection,
    health: &storage::health::WriteHealth,
    lookups: &mut Vec<(Box<PinQuery>, LookupReply)>,
    calls: Vec<(Box<CallWrite>, Reply)>,
    steps: &[StepRecord],
) {
    if calls.is_empty() && steps.is_empty() {
        // A batch of lookups and flushes only: no transaction to take the write lock for.
        answer_lookups(conn.alone(), lookups);
        return;
    }
    let rows = step_rows(steps);
    if calls.len() == 1 && steps.is_empty() {
        for (write, reply) in calls {
            let written = conn.in_transaction(|tx| {
                answer_lookups(tx, lookups);
                apply_direct(tx, &write)
            });
            health.note(&written);
            let _ = reply.send(written);
        }
        // When the transaction did not begin, the lookups are still waiting.
        answer_lookups(conn.alone(), lookups);
        return;
    }
    let shared = conn.in_transaction(|tx| {
        answer_lookups(tx, lookups);
        let written = calls
            .iter()
            .map(|(write, _)| apply_direct(tx, write))
            .collect::<Result<Vec<_>, _>>()?;
        storage::direct::record_steps(tx, &rows)?;
        Ok(written)
    });
    answer_lookups(conn.alone(), lookups);
    health.note(&shared);
    match SharedEnd::of(shared, calls.len(), steps.len()) {
        SharedEnd::Committed(written) => {
            for ((_, reply), written) in calls.into_iter().zip(written) {
                let _ = reply.send(Ok(written));
            }
        }
        SharedEnd::Unavailable(e) => {
            for (_, reply) in calls {
                let _ = reply.send(Err(like(&e)));
            }
        }
        SharedEnd::Failed => {
            for (write, reply) in calls {
                let written = conn.in_transaction(|tx| apply_direct(tx, &write));
                health.note(&written);
                let _ = reply.send(written);
            }
            let recorded = storage::direct::record_steps(conn.alone(), &rows);
            health.note(&recorded);
            if let Err(e) = recorded {
                tracing::warn!(error = %e, steps = rows.len(), "call steps not recorded");
            }
        }
    }
}

/// Answers the check-pin lookups waiting in `lookups` ([`storage::direct::find_active_by_pin`])
/// and empties it. Run first in a batch's write transaction, they read what every earlier
/// batch committed, as alone they would, and share that transaction's locks: alone, each
/// lookup is a read transaction of its own, two `fcntl` calls on the shared-memory file.
fn answer_lookups(conn: &rusqlite::Connection, lookups: &mut Vec<(Box<PinQuery>, LookupReply)>) {
    for (q, reply) in lookups.drain(..) {
        let _ = reply.send(storage::direct::find_active_by_pin(conn, &q));
    }
}

/// [`apply_one`] on the writer's own SQLite connection; callers run it in a transaction (see
/// [`apply_alone`]).
fn apply_direct(conn: &rusqlite::Connection, write: &CallWrite) -> Result<Written, storage::Error> {
    use storage::direct;
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
        CallWrite::Step(step) => {
            direct::save_step(conn, &step.call_step(), step.at).map(|()| Written::Saved)
        }
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
            if let Some(step) = state {
                direct::save_step(conn, &step.call_step(), step.at)?;
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

fn step_rows(steps: &[StepRecord]) -> Vec<storage::steps::NewStep<'_>> {
    steps
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
        .collect()
}

/// Writes step records on their own, trying twice unless the database is unreachable; records
/// it refuses are dropped (and logged): the writer does not stall the call path's writes for
/// diagnostics.
async fn write_steps(db: &Db, steps: &[StepRecord]) {
    if steps.is_empty() {
        return;
    }
    let rows = step_rows(steps);
    for attempt in 1..=2 {
        let written = match db.acquire().await {
            Ok(mut conn) => storage::steps::record_many(&mut conn, &rows).await,
            Err(e) => Err(e),
        };
        db.write_health().note(&written);
        match written {
            Ok(()) => return,
            Err(e) if attempt < 2 && !e.is_unavailable() => {
                tracing::debug!(error = %e, "writing call steps failed; retrying");
            }
            Err(e) => {
                tracing::warn!(error = %e, steps = rows.len(), "call steps not recorded");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// The default guessing budget: a day's, with an hour's burst.
    fn test_budget() -> Budget {
        Budget::new(1.0, std::time::Duration::from_secs(3600))
    }

    use super::*;

    fn step(n: i64) -> StepRecord {
        StepRecord {
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

    /// A migrated SQLite file in a new directory with one order, `ORD-1`: PIN 4321 on
    /// +917314850001, active until 10,000 (unix ms); and the writer's own connection to it.
    async fn one_order() -> (
        tempfile::TempDir,
        Db,
        crate::domain::PhoneNumber,
        storage::direct::Connection,
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
        let conn =
            storage::direct::Connection::open(path, std::time::Duration::from_millis(50)).unwrap();
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
            ((Box::new(query), reply), answer)
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
        let found = |mut answer: oneshot::Receiver<Result<PinLookup, storage::Error>>| {
            answer
                .try_recv()
                .unwrap()
                .unwrap()
                .order
                .map(|o| o.order_id)
        };

        // With two writes and their steps: one shared transaction.
        let (first, first_answer) = start(1);
        let (second, second_answer) = start(2);
        apply_all_direct(
            &mut conn,
            &health,
            &mut lookups,
            vec![first, second],
            &[step(1)],
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
        let holder =
            storage::direct::Connection::open(path, std::time::Duration::from_millis(50)).unwrap();
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
        let holder =
            storage::direct::Connection::open(path, std::time::Duration::from_millis(50)).unwrap();
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

    #[test]
    fn the_step_queue_keeps_order_and_drops_beyond_its_backlog() {
        let queue = StepQueue::default();
        for n in 0..3 {
            queue.push(step(n));
        }
        let mut held = vec![step(-1)];
        queue.take(&mut held);
        let ats: Vec<i64> = held.iter().map(|s| s.at).collect();
        assert_eq!(ats, [-1, 0, 1, 2]);
        assert_eq!(queue.len(), 0);

        for n in 0..(BACKLOG as i64 + 5) {
            queue.push(step(n));
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
