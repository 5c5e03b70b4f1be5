//! Calls: the flow state kept between webhooks, and the call record the call log shows.
//!
//! One row per (provider, call id). Every step writes the row through (the database is the
//! source of truth, so the next step may land on another instance or after a restart). The
//! writes take a connection rather than the pool: the call path sends them to
//! the writer ([`super::Writer`]), which applies many in one transaction.

use std::sync::Arc;

use sqlx::AnyConnection;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use super::row::StoredRow;

mod call_log;
mod reconcile;

pub use call_log::{CallFilter, CallRecord, LogFilter, get, list, log};
pub use reconcile::{OpenCall, claim_open, open_calls, release};

use super::Db;
use crate::domain::{CallState, DialStatus, Failure, Outcome, Phase, Route};

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

/// A call's state after a step, as [`save_state`] writes it: with the bridge the step decided
/// (the number dialled, E.164, and why), at `at` (unix ms). Owned, so that the call path can
/// hand it to the writer ([`crate::storage::Writer::pin_entry`]) and go on.
#[derive(Debug, Clone)]
pub struct StateWrite {
    pub call: CallKey,
    pub state: CallState,
    pub bridge: Option<(String, Route)>,
    pub at: i64,
}

/// The end of a call as a provider reported it; every field as received.
#[derive(Debug, Clone, Default)]
pub struct CallEnd {
    pub dial_status: Option<DialStatus>,
    pub dial_call_status: Option<String>,
    pub call_type: Option<String>,
    /// Seconds from dialling the second leg to its end, ring time included.
    pub dial_secs: Option<i64>,
    /// Seconds of conversation.
    pub talk_secs: Option<i64>,
    pub recording_url: Option<String>,
    /// JSON array of the legs.
    pub legs_json: Option<String>,
    pub provider_start_time: Option<String>,
    /// What the provider says it dialled; kept only when pinbridge has no destination stored.
    pub dialled: Option<String>,
    /// The fallback number (E.164) when the call was bridged there because the database was
    /// unreachable: recorded as the destination, with route `fallback`, over what was stored.
    pub fallback_to: Option<String>,
    /// The outcome when it is decided without a dial status: the reconciler's
    /// [`Outcome::Unknown`]. `None` (every provider report): from the dial status and the
    /// call's phase ([`Outcome::of`]).
    pub outcome: Option<Outcome>,
}

fn phase_columns(phase: &Phase) -> (&'static str, Option<&str>) {
    match phase {
        Phase::CollectingPin => ("collecting_pin", None),
        Phase::Resolved { order_id } => ("resolved", Some(order_id)),
        Phase::Exhausted => ("exhausted", None),
    }
}

fn failure_column(f: Option<Failure>) -> Option<&'static str> {
    f.map(|f| match f {
        Failure::WrongPin => "wrong_pin",
        Failure::NoInput => "no_input",
        Failure::TryLater => "try_later",
    })
}

pub(crate) fn state_from_row(row: &impl StoredRow) -> Result<CallState, super::Error> {
    Ok(state_from_columns(
        &row.column::<String>("phase")?,
        row.column("order_id")?,
        row.column::<Option<String>>("last_failure")?.as_deref(),
        row.column("pin_attempts")?,
        row.column::<i64>("ended")? != 0,
    ))
}

/// A call's state from its columns as [`LOAD_STATE`] selects them.
pub(super) fn state_from_columns(
    phase: &str,
    order_id: Option<String>,
    last_failure: Option<&str>,
    attempts: i64,
    ended: bool,
) -> CallState {
    let phase = match (phase, order_id) {
        ("resolved", Some(order_id)) => Phase::Resolved { order_id },
        ("exhausted", _) => Phase::Exhausted,
        _ => Phase::CollectingPin,
    };
    let last_failure = match last_failure {
        Some("wrong_pin") => Some(Failure::WrongPin),
        Some("no_input") => Some(Failure::NoInput),
        Some("try_later") => Some(Failure::TryLater),
        _ => None,
    };
    CallState {
        attempts: u8::try_from(attempts).unwrap_or(u8::MAX),
        phase,
        last_failure,
        ended,
    }
}

/// A call's state by (`$1` provider, `$2` CallSid): phase, order_id, last_failure,
/// pin_attempts, and `ended`: 1 when its end was reported or it started before `$3` (unix
/// ms), longer ago than any call lasts, so that a request sent again after the call reaches
/// no one even when its end was never reported.
pub(crate) const LOAD_STATE: &str = "select phase, order_id, last_failure, pin_attempts,
                cast(case when ended_at is not null or started_at < $3 then 1 else 0 end
                     as bigint) as ended
         from calls where provider = $1 and call_sid = $2";

/// The stored state of a call, if it has one; a call started before `started_before` (unix
/// ms) reads as ended ([`LOAD_STATE`]). `db` is the pool or a connection.
pub async fn load_state<'c>(
    db: impl Executor<'c, Database = Any>,
    provider: &str,
    call_sid: &str,
    started_before: i64,
) -> Result<Option<CallState>, super::Error> {
    sqlx::query(LOAD_STATE)
        .bind(provider)
        .bind(call_sid)
        .bind(started_before)
        .fetch_optional(db)
        .await?
        .as_ref()
        .map(state_from_row)
        .transpose()
}

/// Inserts a new call's record unless it has one: `$1` provider, `$2` CallSid, `$3` caller,
/// `$4` virtual number, `$5` phase, `$6` PIN attempts, `$7` outcome, `$8` now (ms).
pub(super) const START: &str =
    "insert into calls (provider, call_sid, caller, virtual_number, phase, pin_attempts,
                            outcome, started_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $8)
         on conflict (provider, call_sid) do nothing";

/// The state columns of a new call: (phase, PIN attempts, outcome).
pub(super) fn start_values() -> (&'static str, i64, &'static str) {
    let state = CallState::default();
    let (phase, _) = phase_columns(&state.phase);
    let outcome = Outcome::of(&state.phase, None, false);
    (phase, i64::from(state.attempts), outcome.as_str())
}

/// Creates the record of a call on its first step (a new call's state, no bridge), unless the
/// call has one: a repeated first step changes nothing. True when it created the record.
pub async fn start(
    conn: &mut AnyConnection,
    provider: &str,
    call_sid: &str,
    caller: Option<&str>,
    virtual_number: Option<&str>,
    now_ms: i64,
) -> Result<bool, super::Error> {
    let (phase, attempts, outcome) = start_values();
    let done = sqlx::query(START)
        .bind(provider)
        .bind(call_sid)
        .bind(caller)
        .bind(virtual_number)
        .bind(phase)
        .bind(attempts)
        .bind(outcome)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The statement that writes a call's state after a step, with `$indexed` (more `set`
/// clauses, or none) in its update: [`SAVE_STATE`] and [`SAVE_STATE_INDEXED`]. Neither has a
/// `returning` clause: SQLite gathers what one returns in a temporary table of its own,
/// created and dropped at every run. What the row's indexed columns become is written in SQL
/// instead ([`Indexed`]). Without it, a PIN step took 5,150 fewer instructions (157,893 to
/// 152,743 in `scripts/instructions.py`).
macro_rules! save_state_sql {
    ($indexed:literal) => {
        concat!(
            "insert into calls (provider, call_sid, caller, virtual_number, phase, last_failure,
                            pin_attempts, order_id, destination, outcome, route, booking_id,
                            bridged_at, started_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13, $14, $11, $11)
         on conflict (provider, call_sid) do update set",
            $indexed,
            "
             caller = coalesce(calls.caller, excluded.caller),
             virtual_number = coalesce(calls.virtual_number, excluded.virtual_number),
             phase = excluded.phase,
             last_failure = excluded.last_failure,
             pin_attempts = excluded.pin_attempts,
             route = coalesce(excluded.route, calls.route),
             booking_id = coalesce(excluded.booking_id, calls.booking_id),
             outcome = case when calls.ended_at is null then excluded.outcome else calls.outcome end,
             updated_at = excluded.updated_at"
        )
    };
}

/// Writes a call's state after a step: `$1` provider, `$2` CallSid, `$3` caller, `$4` virtual
/// number, then [`StateRow`] `$5` to `$14` in their order. A new call's row gets every
/// column; an existing row keeps its virtual number once known, and its order, destination
/// and bridge time: this statement is for a step that brings none of them
/// ([`StateRow::statement`]). Its virtual number is in `calls_callback`, whose entries
/// only bridged calls have (a partial index), so setting it costs an index write only in a
/// bridged call's later steps, which seldom write.
pub(super) const SAVE_STATE: &str = save_state_sql!("");

/// [`SAVE_STATE`] for a step that brings an order, a destination or a bridge time
/// ([`StateRow::statement`]): its update also takes them over what the row holds. It
/// replaced [`SAVE_STATE`] followed by a second statement on the row, [`FILL_INDEXED`], in
/// every PIN call (at check-pin).
pub(super) const SAVE_STATE_INDEXED: &str = save_state_sql!(
    "
             order_id = coalesce(excluded.order_id, calls.order_id),
             destination = coalesce(excluded.destination, calls.destination),
             bridged_at = coalesce(excluded.bridged_at, calls.bridged_at),"
);

/// The columns of a call row that the call path's indexes hold besides its key and start:
/// `calls_callback` (virtual number, destination, bridged at) and `calls_order_id`.
///
/// A write names them in its `set` only when one of them may change: a step that brings
/// them ([`SAVE_STATE_INDEXED`]); a call's end ([`RECORD_END`]) returns them, and
/// [`FILL_INDEXED`] follows when what it returned differs from what the end wants.
/// SQLite rewrites an index entry for every column an `UPDATE` sets, whether or not the value
/// changes; setting them on every step made these two indexes most of the pages each commit
/// wrote at maximum rate in the load benchmark (on PostgreSQL an unchanged value costs
/// nothing, and the extra statement runs only when a value does change).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Indexed {
    pub virtual_number: Option<String>,
    pub order_id: Option<String>,
    pub destination: Option<String>,
    pub bridged_at: Option<i64>,
}

impl Indexed {
    /// The values as a call's end leaves them: the virtual number and the destination kept
    /// once known, except that a bridge to the fallback number records that number.
    pub(super) fn after_end(&self, virtual_number: Option<&str>, v: &EndValues<'_>) -> Self {
        let destination = if v.route == Some(Route::Fallback.as_str()) {
            v.destination.map(str::to_owned)
        } else {
            self.destination
                .clone()
                .or(v.destination.map(str::to_owned))
        };
        Self {
            virtual_number: self
                .virtual_number
                .clone()
                .or(virtual_number.map(str::to_owned)),
            destination,
            ..self.clone()
        }
    }

    fn from_row(row: &AnyRow) -> Result<Self, super::Error> {
        Ok(Self {
            virtual_number: row.try_get("virtual_number")?,
            order_id: row.try_get("order_id")?,
            destination: row.try_get("destination")?,
            bridged_at: row.try_get("bridged_at")?,
        })
    }
}

/// Sets a call's [`Indexed`] columns: `$1` provider, `$2` CallSid, `$3` virtual number, `$4`
/// order id, `$5` destination, `$6` bridged at (ms).
pub(super) const FILL_INDEXED: &str = "update calls
         set virtual_number = $3, order_id = $4, destination = $5, bridged_at = $6
         where provider = $1 and call_sid = $2";

/// [`FILL_INDEXED`] when `wanted` differs from what the row holds (`now`).
async fn fill_indexed(
    conn: &mut AnyConnection,
    provider: &str,
    call_sid: &str,
    now: &Indexed,
    wanted: &Indexed,
) -> Result<(), super::Error> {
    if now == wanted {
        return Ok(());
    }
    sqlx::query(FILL_INDEXED)
        .bind(provider)
        .bind(call_sid)
        .bind(wanted.virtual_number.as_deref())
        .bind(wanted.order_id.as_deref())
        .bind(wanted.destination.as_deref())
        .bind(wanted.bridged_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// A [`StateWrite`] as the columns of its call's row: the values [`SAVE_STATE`] binds after
/// the call's key, `$5` to `$14`.
pub(super) struct StateRow<'a> {
    pub phase: &'static str,
    pub last_failure: Option<&'static str>,
    pub attempts: i64,
    pub order_id: Option<&'a str>,
    pub destination: Option<&'a str>,
    pub outcome: &'static str,
    pub now_ms: i64,
    pub route: Option<&'static str>,
    pub booking_id: Option<&'a str>,
    pub bridged_at: Option<i64>,
}

impl<'a> StateRow<'a> {
    /// The statement that writes this state: [`SAVE_STATE_INDEXED`] when it has an order, a
    /// destination or a bridge time, which it takes over what the row holds; else
    /// [`SAVE_STATE`], which leaves them alone.
    pub(super) fn statement(&self) -> &'static str {
        if self.order_id.is_some() || self.destination.is_some() || self.bridged_at.is_some() {
            SAVE_STATE_INDEXED
        } else {
            SAVE_STATE
        }
    }

    pub(super) fn of(write: &'a StateWrite) -> Self {
        let (phase, phase_order) = phase_columns(&write.state.phase);
        let route = write.bridge.as_ref().map(|(_, route)| route);
        Self {
            phase,
            last_failure: failure_column(write.state.last_failure),
            attempts: i64::from(write.state.attempts),
            order_id: phase_order.or_else(|| route.and_then(Route::order_id)),
            destination: write.bridge.as_ref().map(|(to, _)| to.as_str()),
            outcome: Outcome::of(&write.state.phase, None, false).as_str(),
            now_ms: write.at,
            route: route.map(Route::as_str),
            booking_id: route.and_then(Route::booking_id),
            bridged_at: write.bridge.as_ref().map(|_| write.at),
        }
    }
}

/// Writes a call's state after a step, creating the call record on its first step.
/// A call that already ended keeps its outcome.
pub async fn save_state(conn: &mut AnyConnection, write: &StateWrite) -> Result<(), super::Error> {
    let call = &write.call;
    let v = StateRow::of(write);
    sqlx::query(v.statement())
        .bind(call.provider)
        .bind(&*call.call_sid)
        .bind(call.caller.as_deref())
        .bind(call.virtual_number.as_deref())
        .bind(v.phase)
        .bind(v.last_failure)
        .bind(v.attempts)
        .bind(v.order_id)
        .bind(v.destination)
        .bind(v.outcome)
        .bind(v.now_ms)
        .bind(v.route)
        .bind(v.booking_id)
        .bind(v.bridged_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// [`find_callback`]'s statement: `$1` virtual number, `$2` the number dialled, `$3` since
/// (ms), `$4` now (ms). A call's order is the one of its id created before the call was
/// bridged: an id given again after its order closed does not bring back the callbacks of the
/// old order's calls (migration 0012). And it is still that order's customer who calls back:
/// once the order's customer is changed (`PATCH /api/v1/orders/{id}`), the old number reaches
/// no one.
pub(crate) const CALLBACK: &str = "select c.caller, c.order_id, c.booking_id
         from calls c
         left join orders o on o.order_id = c.order_id and o.created_at <= c.bridged_at
                           and o.customer_number = c.destination
         left join bookings b on b.booking_id = c.booking_id
         where c.virtual_number = $1 and c.destination = $2 and c.bridged_at >= $3
           and c.caller is not null
           and ((o.order_id is not null and o.deactivated_at is null and o.expires_at > $4)
             or (b.booking_id is not null and b.closed_at is null and b.expires_at > $4))
         order by c.bridged_at desc
         limit 1";

/// The last call bridged on `virtual_number` to `dialled` since `since_ms`, whose order or
/// booking is still active at `now_ms`: (its caller as stored, its order id, its booking id).
/// The reverse call flow dials that caller back (seed 003, "Reverse Call flow logic").
pub async fn find_callback(
    db: &Db,
    virtual_number: &str,
    dialled: &str,
    since_ms: i64,
    now_ms: i64,
) -> Result<Option<(String, Option<String>, Option<String>)>, super::Error> {
    sqlx::query(CALLBACK)
        .bind(virtual_number)
        .bind(dialled)
        .bind(since_ms)
        .bind(now_ms)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(callback_from_row)
        .transpose()
}

/// Whom to call back, as [`CALLBACK`] selects it: (the earlier caller as stored, its order
/// id, its booking id).
pub(crate) fn callback_from_row(
    row: &impl StoredRow,
) -> Result<(String, Option<String>, Option<String>), super::Error> {
    Ok((
        row.column("caller")?,
        row.column("order_id")?,
        row.column("booking_id")?,
    ))
}

/// Records a call's end: `$1` provider, `$2` CallSid, `$3` caller, `$4` virtual number, then
/// [`EndValues`] `$5` to `$18` in their order. Like [`SAVE_STATE`], it sets only unindexed
/// columns of an existing row and returns the [`Indexed`] ones ([`Indexed::after_end`]).
pub(super) const RECORD_END: &str = "insert into calls (provider, call_sid, caller, virtual_number, phase, pin_attempts,
                            order_id, destination, outcome, dial_call_status, call_type, dial_secs,
                            talk_secs, recording_url, legs, provider_start_time, started_at,
                            updated_at, ended_at, route)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $17, $18)
         on conflict (provider, call_sid) do update set
             caller = coalesce(calls.caller, excluded.caller),
             route = coalesce(excluded.route, calls.route),
             outcome = case when excluded.dial_call_status is null and calls.dial_call_status is not null
                            then calls.outcome else excluded.outcome end,
             dial_call_status = coalesce(excluded.dial_call_status, calls.dial_call_status),
             call_type = coalesce(excluded.call_type, calls.call_type),
             dial_secs = coalesce(excluded.dial_secs, calls.dial_secs),
             talk_secs = coalesce(excluded.talk_secs, calls.talk_secs),
             recording_url = coalesce(excluded.recording_url, calls.recording_url),
             legs = coalesce(excluded.legs, calls.legs),
             provider_start_time = coalesce(calls.provider_start_time, excluded.provider_start_time),
             updated_at = excluded.updated_at,
             ended_at = coalesce(calls.ended_at, excluded.ended_at)
         returning virtual_number, order_id, destination, bridged_at";

/// The values [`RECORD_END`] binds after the call's key, `$5` to `$18`.
pub(super) struct EndValues<'a> {
    pub phase: &'static str,
    pub attempts: i64,
    pub order_id: Option<&'a str>,
    pub destination: Option<&'a str>,
    pub outcome: Outcome,
    pub dial_call_status: Option<&'a str>,
    pub call_type: Option<&'a str>,
    pub dial_secs: Option<i64>,
    pub talk_secs: Option<i64>,
    pub recording_url: Option<&'a str>,
    pub legs: Option<&'a str>,
    pub provider_start_time: Option<&'a str>,
    pub now_ms: i64,
    pub route: Option<&'static str>,
}

impl<'a> EndValues<'a> {
    pub(super) fn of(state: &'a CallState, end: &'a CallEnd, now_ms: i64) -> Self {
        let (phase, order_id) = phase_columns(&state.phase);
        Self {
            phase,
            attempts: i64::from(state.attempts),
            order_id,
            destination: end.fallback_to.as_deref().or(end.dialled.as_deref()),
            outcome: end
                .outcome
                .unwrap_or_else(|| Outcome::of(&state.phase, end.dial_status, true)),
            dial_call_status: end.dial_call_status.as_deref(),
            call_type: end.call_type.as_deref(),
            dial_secs: end.dial_secs,
            talk_secs: end.talk_secs,
            recording_url: end.recording_url.as_deref(),
            legs: end.legs_json.as_deref(),
            provider_start_time: end.provider_start_time.as_deref(),
            now_ms,
            route: end.fallback_to.as_ref().map(|_| Route::Fallback.as_str()),
        }
    }
}

/// Records the end of a call and its outcome. A repeated delivery leaves one record with
/// the same values; a call never seen before (a flow without pinbridge's earlier steps) gets
/// a record of its own. A report without a dial status (the caller's leg ended) never
/// overwrites one with it (the dialled leg's result), whatever order they arrive in.
/// `state` is the call's state when the caller knows it (this process's cache); else it is
/// read on `conn`.
#[allow(clippy::too_many_arguments)]
pub async fn record_end(
    conn: &mut AnyConnection,
    provider: &str,
    call_sid: &str,
    caller: Option<&str>,
    virtual_number: Option<&str>,
    state: Option<&CallState>,
    end: &CallEnd,
    now_ms: i64,
) -> Result<Outcome, super::Error> {
    let state = match state {
        Some(state) => state.clone(),
        None => load_state(&mut *conn, provider, call_sid, i64::MIN)
            .await?
            .unwrap_or_default(),
    };
    let v = EndValues::of(&state, end, now_ms);
    let row = sqlx::query(RECORD_END)
        .bind(provider)
        .bind(call_sid)
        .bind(caller)
        .bind(virtual_number)
        .bind(v.phase)
        .bind(v.attempts)
        .bind(v.order_id)
        .bind(v.destination)
        .bind(v.outcome.as_str())
        .bind(v.dial_call_status)
        .bind(v.call_type)
        .bind(v.dial_secs)
        .bind(v.talk_secs)
        .bind(v.recording_url)
        .bind(v.legs)
        .bind(v.provider_start_time)
        .bind(v.now_ms)
        .bind(v.route)
        .fetch_one(&mut *conn)
        .await?;
    let now = Indexed::from_row(&row)?;
    let wanted = now.after_end(virtual_number, &v);
    fill_indexed(conn, provider, call_sid, &now, &wanted).await?;
    Ok(v.outcome)
}

/// Stores where the recording of the call `call_sid` of `provider` is (a provider's recording
/// callback, which may come after the call's end was recorded). Changes nothing else: the
/// call's outcome and its end stay as reported. Returns whether the call is known.
///
/// Errors: the database's.
pub async fn set_recording_url(
    db: &Db,
    provider: &str,
    call_sid: &str,
    url: &str,
) -> Result<bool, super::Error> {
    let done =
        sqlx::query("update calls set recording_url = $1 where provider = $2 and call_sid = $3")
            .bind(url)
            .bind(provider)
            .bind(call_sid)
            .execute(db.pool())
            .await?
            .rows_affected();
    Ok(done > 0)
}
