//! The call path's writes on a SQLite file, and its PIN lookup, run by the writer's own thread
//! on a connection of its own (rusqlite), with the statements of [`super::calls`],
//! [`super::attempts`], [`super::steps`] and [`super::orders`].
//!
//! Through `sqlx`, every SQLite statement is a round trip to the connection's worker thread
//! and back: two thread wake-ups per statement, which the load benchmark's profile showed to
//! cost more than SQLite's own work. The writer ([`crate::storage::writer`]) runs on a thread of its own
//! and calls SQLite directly: one wake-up per batch of writes, however many statements it
//! holds. Statements are prepared once and kept (rusqlite's statement cache). Both libraries
//! link the same SQLite (`libsqlite3-sys`), so their connections share the file's locks.
//!
//! Errors come back as `sqlx::Error`, as the pool's would: busy, locked, I/O and full-disk
//! failures as [`sqlx::Error::Io`] (so [`super::is_unavailable`] holds for them and the call
//! path answers as when the database is down), anything else as [`sqlx::Error::Protocol`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::time::Duration;

use super::attempts::{self, Budget, Counting, Spent, Weight};
use super::calls::{self, CallEnd, CallStep, EndValues, Indexed, StepValues};
use super::orders::{self, PinLookup, PinQuery, StoredOrder};
use super::steps;
use super::steps::NewStep;
use crate::domain::{CallState, Outcome};

/// A connection of the writer's own to the SQLite file.
pub struct Connection(rusqlite::Connection);

impl Connection {
    /// Opens `path` (it exists: the pool created and migrated it) with the settings of the
    /// pool's connections: `synchronous = NORMAL`, no automatic checkpoint (the pool's task
    /// checkpoints once a second, and this connection finishes each pass:
    /// [`Connection::finish_checkpoint`]), foreign keys on, and `busy_timeout` to wait for
    /// another connection's write. When the log starts over, its file is cut back to 64 MiB
    /// (`journal_size_limit`).
    ///
    /// The query planner's stability guarantee is on (`SQLITE_DBCONFIG_ENABLE_QPSG`): a plan
    /// never depends on a bound value. Without it, SQLite (3.51, as bundled) reads a bound
    /// `LIMIT` while planning, so the PIN lookup's statement ([`find_active_by_pin`], with its
    /// capped counts) was compiled again on every run; the profile showed that as 10 % of the
    /// server's time at maximum rate.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Self, super::Error> {
        let conn = rusqlite::Connection::open(path).map_err(to_sqlx)?;
        conn.busy_timeout(busy_timeout).map_err(to_sqlx)?;
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(to_sqlx)?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA journal_size_limit = 67108864;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(to_sqlx)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(Self(conn))
    }

    /// Bounds the database file to `max_bytes` on this connection, as the pool's connections
    /// are (`PINBRIDGE_SQLITE_MAX_SIZE_MB`): SQLite's `max_page_count` is kept per connection.
    /// Past it, a write that needs a new page fails with `SQLITE_FULL`, as on a full disk.
    pub fn limit_size(self, max_bytes: Option<u64>) -> Result<Self, super::Error> {
        if let Some(max_bytes) = max_bytes {
            let page_size: i64 = self
                .0
                .query_row("PRAGMA page_size", [], |row| row.get(0))
                .map_err(to_sqlx)?;
            let pages = super::max_pages(max_bytes, page_size);
            // A pragma that sets a value also answers it: a row to read, not a statement to
            // execute.
            self.0
                .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .map_err(to_sqlx)?;
        }
        Ok(self)
    }

    /// Runs `f` in one transaction that takes the write lock at once (`BEGIN IMMEDIATE`);
    /// commits when it succeeds, rolls back when it or the commit fails. `BEGIN` and `COMMIT`
    /// are prepared once and kept, like every other statement here: compiled for each
    /// transaction (as `rusqlite::Transaction` does), they were a tenth of the writer's work
    /// when each transaction held one webhook step's write.
    pub fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, super::Error>,
    ) -> Result<T, super::Error> {
        let conn = &self.0;
        execute(conn, "BEGIN IMMEDIATE", &[])?;
        let done = f(conn).and_then(|value| execute(conn, "COMMIT", &[]).map(|_| value));
        if done.is_err() && !conn.is_autocommit() {
            // Nothing to do when the rollback fails: the connection is closed or broken, and
            // SQLite rolls back what it did not commit.
            let _ = execute(conn, "ROLLBACK", &[]);
        }
        done
    }

    /// Copies into the database file what the write-ahead log holds beyond the background
    /// checkpoint's last pass (`PRAGMA wal_checkpoint(PASSIVE)`), so that this connection's
    /// next write starts the log over instead of growing it (see `checkpoint_every_second` in
    /// [`crate::storage`]). Called between two batches, right after a background pass, it
    /// has little to copy. Returns the frames in the log and the frames copied; a checkpoint
    /// already running elsewhere (`SQLITE_BUSY`) is an error, tried again after the next pass.
    pub fn finish_checkpoint(&self) -> Result<(i64, i64), super::Error> {
        self.0
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(to_sqlx)
            .and_then(|(busy, log, copied)| {
                if busy == 0 {
                    Ok((log, copied))
                } else {
                    Err(sqlx::Error::Protocol("a checkpoint is already running".into()).into())
                }
            })
    }

    /// The connection, for statements outside a transaction (each commits alone).
    pub fn alone(&self) -> &rusqlite::Connection {
        &self.0
    }
}

/// [`calls::start`] on `conn`.
pub fn start(
    conn: &rusqlite::Connection,
    provider: &str,
    call_sid: &str,
    caller: Option<&str>,
    virtual_number: Option<&str>,
    now_ms: i64,
) -> Result<bool, super::Error> {
    let (phase, attempts, outcome) = calls::start_values();
    let changed = execute(
        conn,
        calls::START,
        &[
            &provider,
            &call_sid,
            &caller,
            &virtual_number,
            &phase,
            &attempts,
            &outcome,
            &now_ms,
        ],
    )?;
    Ok(changed == 1)
}

/// [`calls::save_step`] on `conn`.
pub fn save_step(
    conn: &rusqlite::Connection,
    step: &CallStep<'_>,
    now_ms: i64,
) -> Result<(), super::Error> {
    let v = StepValues::of(step, now_ms);
    execute(
        conn,
        v.statement(),
        &[
            &step.provider,
            &step.call_sid,
            &step.caller,
            &step.virtual_number,
            &v.phase,
            &v.last_failure,
            &v.attempts,
            &v.order_id,
            &v.destination,
            &v.outcome,
            &v.now_ms,
            &v.route,
            &v.booking_id,
            &v.bridged_at,
        ],
    )?;
    Ok(())
}

/// [`calls::Indexed`] from the `returning` of [`calls::RECORD_END`].
fn indexed(row: &rusqlite::Row<'_>) -> rusqlite::Result<Indexed> {
    Ok(Indexed {
        virtual_number: row.get(0)?,
        order_id: row.get(1)?,
        destination: row.get(2)?,
        bridged_at: row.get(3)?,
    })
}

/// [`calls::FILL_INDEXED`] on `conn` when `wanted` differs from `now`.
fn fill_indexed(
    conn: &rusqlite::Connection,
    provider: &str,
    call_sid: &str,
    now: &Indexed,
    wanted: &Indexed,
) -> Result<(), super::Error> {
    if now == wanted {
        return Ok(());
    }
    execute(
        conn,
        calls::FILL_INDEXED,
        &[
            &provider,
            &call_sid,
            &wanted.virtual_number,
            &wanted.order_id,
            &wanted.destination,
            &wanted.bridged_at,
        ],
    )?;
    Ok(())
}

/// [`calls::record_end`] on `conn`.
#[allow(clippy::too_many_arguments)]
pub fn record_end(
    conn: &rusqlite::Connection,
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
        None => load_state(conn, provider, call_sid)?.unwrap_or_default(),
    };
    let v = EndValues::of(&state, end, now_ms);
    let now = query_row(
        conn,
        calls::RECORD_END,
        &[
            &provider,
            &call_sid,
            &caller,
            &virtual_number,
            &v.phase,
            &v.attempts,
            &v.order_id,
            &v.destination,
            &v.outcome.as_str(),
            &v.dial_call_status,
            &v.call_type,
            &v.dial_secs,
            &v.talk_secs,
            &v.recording_url,
            &v.legs,
            &v.provider_start_time,
            &v.now_ms,
            &v.route,
        ],
        indexed,
    )?;
    let wanted = now.after_end(virtual_number, &v);
    fill_indexed(conn, provider, call_sid, &now, &wanted)?;
    Ok(v.outcome)
}

/// [`calls::load_state`] on `conn`.
fn load_state(
    conn: &rusqlite::Connection,
    provider: &str,
    call_sid: &str,
) -> Result<Option<CallState>, super::Error> {
    let state = query_row(
        conn,
        calls::LOAD_STATE,
        &[&provider, &call_sid, &i64::MIN],
        |row| {
            Ok(calls::state_from_columns(
                &row.get::<_, String>(0)?,
                row.get(1)?,
                row.get::<_, Option<String>>(2)?.as_deref(),
                row.get(3)?,
                row.get::<_, i64>(4)? != 0,
            ))
        },
    );
    match state {
        Ok(state) => Ok(Some(state)),
        Err(super::Error::Statement(sqlx::Error::RowNotFound)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`super::seen::claim`] on `conn`.
pub fn claim(
    conn: &rusqlite::Connection,
    provider: &str,
    token: &str,
    until: i64,
    now: i64,
) -> Result<bool, super::Error> {
    Ok(execute(conn, super::seen::CLAIM, &[&provider, &token, &until, &now])? == 1)
}

/// [`attempts::record_failure`] on `conn`.
#[allow(clippy::too_many_arguments)]
pub fn record_failure(
    conn: &rusqlite::Connection,
    caller: &str,
    virtual_number: &str,
    now_ms: i64,
    weight: Weight,
    budget: Budget,
    counting: Counting,
) -> Result<Spent, super::Error> {
    execute(
        conn,
        attempts::RECORD_FAILURE,
        &[
            &caller,
            &virtual_number,
            &now_ms,
            &weight.number,
            &weight.every,
        ],
    )?;
    let spend = |scope: &str, amount: i64| {
        if amount <= 0 {
            return Ok(0);
        }
        query_row(
            conn,
            attempts::SPEND.as_str(),
            &[&scope, &amount, &now_ms, &budget.refill_per_day],
            |row| row.get(0),
        )
    };
    let number = spend(virtual_number, weight.number)?;
    let every = spend(attempts::EVERY_NUMBER, weight.every)?;
    let by_caller = query_row(
        conn,
        attempts::CALLER_FAILURES,
        &[&caller, &counting.since, &counting.caller_cap],
        |row| row.get(0),
    )?;
    Ok(Spent {
        by_caller,
        number,
        every,
    })
}

/// [`orders::find_active_by_pin`] on `conn`.
pub fn find_active_by_pin(
    conn: &rusqlite::Connection,
    q: &PinQuery,
) -> Result<PinLookup, super::Error> {
    query_row(
        conn,
        &orders::FIND_BY_PIN,
        &[
            &q.pin,
            &q.now,
            &q.virtual_number,
            &q.caller_key,
            &q.counting.since,
            &q.number_key,
            &q.counting.caller_cap,
            &q.budget.refill_per_day,
            &q.budget.capacity,
            &q.caller,
            &q.known_since,
        ],
        // By position, in the statement's order: the counts and the budgets, then the order's
        // columns. `the_pin_lookup_finds_what_the_pools_finds` reads the same lookup by name
        // through the pool.
        |row| {
            let order_id: Option<String> = row.get(4)?;
            let order = match order_id {
                None => None,
                Some(order_id) => Some(StoredOrder {
                    order_id,
                    customer_number: row.get(5)?,
                    pin: row.get(6)?,
                    virtual_number: row.get(7)?,
                    created_at: row.get(8)?,
                    expires_at: row.get(9)?,
                    deactivated_at: row.get(10)?,
                    allowed_callers: row.get(11)?,
                }),
            };
            let lookup = PinLookup {
                caller_failures: row.get(0)?,
                number_spent: row.get::<_, i64>(1)?.max(0),
                every_spent: row.get::<_, i64>(2)?.max(0),
                known: row.get::<_, i64>(3)? != 0,
                order: None,
            };
            Ok((lookup, order))
        },
    )
    .and_then(|(lookup, order)| {
        Ok(PinLookup {
            order: order.map(StoredOrder::decode).transpose()?,
            ..lookup
        })
    })
}

/// Steps on the writer's SQLite connection: appended to their calls' records, one prepared
/// [`steps::APPEND_STEPS`] a call (where [`steps::record_many`], through the pool, writes
/// rows of `call_steps`: see [`steps`]).
pub fn record_steps(conn: &rusqlite::Connection, rows: &[NewStep<'_>]) -> Result<(), super::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let (phase, attempts, outcome) = calls::start_values();
    let mut append = conn.prepare_cached(steps::APPEND_STEPS).map_err(to_sqlx)?;
    for call in steps::by_call(rows)? {
        run(
            &mut append,
            steps::APPEND_STEPS,
            &[
                &call.provider,
                &call.call_sid,
                &call.lines,
                &phase,
                &attempts,
                &outcome,
                &call.first_at,
            ],
        )?;
    }
    Ok(())
}

/// A statement's SQL as [`PARAMETER_VALUES`] keys it: its address and length.
type SqlKey = (usize, usize);

thread_local! {
    /// For each statement run here, by the address of its SQL (every statement here is a
    /// `'static` string, so an address names one text for the life of the process): the value
    /// (`n - 1` of `$n`) bound to each of its parameters, in SQLite's order. Read from SQLite
    /// once a statement, by [`parameter_values`].
    static PARAMETER_VALUES: RefCell<HashMap<SqlKey, Box<[usize]>>> =
        RefCell::new(HashMap::new());
}

/// The value bound to each parameter of `statement`, in SQLite's order: `n - 1` for `$n`,
/// by the number in its name, whatever order the parameters first appear in. The name of the
/// first parameter not named `$n` is the error.
fn parameter_values(statement: &rusqlite::Statement<'_>) -> Result<Box<[usize]>, String> {
    (1..=statement.parameter_count())
        .map(|index| {
            let name = statement.parameter_name(index).unwrap_or_default();
            name.strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1))
                .ok_or_else(|| name.to_owned())
        })
        .collect()
}

/// Binds `values[n - 1]` to each parameter `$n` of `statement`, prepared from `sql`, as
/// `sqlx` binds the same statements ([`parameter_values`]). Reading each parameter's name
/// back from SQLite at every run (a walk of the statement's list of names, then a C string's
/// length and UTF-8 check) was 2 % of a PIN step's instructions; the order is read once a
/// statement and kept ([`PARAMETER_VALUES`]). A parameter without a value, or not named `$n`,
/// is an error.
fn bind_numbered(
    statement: &mut rusqlite::Statement<'_>,
    sql: &'static str,
    values: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    if statement.parameter_count() == 0 {
        return Ok(());
    }
    let key: SqlKey = (sql.as_ptr() as usize, sql.len());
    PARAMETER_VALUES.with_borrow_mut(|known| {
        let order = match known.entry(key) {
            Entry::Occupied(kept) => kept.into_mut(),
            Entry::Vacant(new) => new.insert(
                parameter_values(statement).map_err(rusqlite::Error::InvalidParameterName)?,
            ),
        };
        for (index, &n) in order.iter().enumerate() {
            let value = values
                .get(n)
                .ok_or_else(|| rusqlite::Error::InvalidParameterName(format!("${}", n + 1)))?;
            statement.raw_bind_parameter(index + 1, value)?;
        }
        Ok(())
    })
}

/// Runs `statement`, prepared from `sql`, once with `values` ([`bind_numbered`]); the rows
/// it changed.
fn run(
    statement: &mut rusqlite::Statement<'_>,
    sql: &'static str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<usize, super::Error> {
    bind_numbered(statement, sql, values)
        .and_then(|()| statement.raw_execute())
        .map_err(to_sqlx)
}

/// Runs `sql` (prepared once, kept) with `values`; the rows it changed.
fn execute(
    conn: &rusqlite::Connection,
    sql: &'static str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<usize, super::Error> {
    let mut statement = conn.prepare_cached(sql).map_err(to_sqlx)?;
    run(&mut statement, sql, values)
}

/// Runs `sql` (prepared once, kept) with `values` and reads its first row with `read`;
/// [`super::Error::Statement`] of [`sqlx::Error::RowNotFound`] without one.
fn query_row<T>(
    conn: &rusqlite::Connection,
    sql: &'static str,
    values: &[&dyn rusqlite::ToSql],
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<T, super::Error> {
    let mut statement = conn.prepare_cached(sql).map_err(to_sqlx)?;
    bind_numbered(&mut statement, sql, values).map_err(to_sqlx)?;
    let mut rows = statement.raw_query();
    match rows.next().map_err(to_sqlx)? {
        Some(row) => read(row).map_err(to_sqlx),
        None => Err(sqlx::Error::RowNotFound.into()),
    }
}

/// A rusqlite error as the `sqlx::Error` the pool would have returned; see the module's
/// documentation.
fn to_sqlx(e: rusqlite::Error) -> super::Error {
    use rusqlite::ErrorCode::{
        CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, ReadOnly, SystemIoFailure,
    };
    let e = match e.sqlite_error_code() {
        Some(
            DatabaseBusy | DatabaseLocked | SystemIoFailure | DiskFull | CannotOpen | ReadOnly,
        ) => sqlx::Error::Io(std::io::Error::other(format!("SQLite: {e}"))),
        _ => sqlx::Error::Protocol(format!("SQLite: {e}")),
    };
    e.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DialStatus, Phase, Route};
    use crate::storage::{Db, PoolSettings};

    async fn file_db(dir: &tempfile::TempDir) -> Db {
        let url = format!("sqlite://{}/direct.db", dir.path().display());
        let db = Db::connect(&url, &PoolSettings::single()).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    /// Values go to parameters by the number in their names, not by where they first
    /// appear; a parameter without a value is refused.
    #[test]
    fn values_are_bound_by_the_number_of_their_parameter() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = "select $3, $1 || $2, $1";
        let got: (i64, String, String) = query_row(&conn, sql, &[&"a", &"b", &7], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
        assert_eq!(got, (7, "ab".to_owned(), "a".to_owned()));
        let short = query_row(&conn, sql, &[&"a", &"b"], |row| row.get::<_, i64>(0));
        assert!(
            matches!(&short, Err(super::super::Error::Statement(sqlx::Error::Protocol(m))) if m.contains("$3")),
            "{short:?}"
        );
        let none = query_row(&conn, "select 1 where $1 = 2", &[&1], |row| {
            row.get::<_, i64>(0)
        });
        assert!(
            matches!(
                none,
                Err(super::super::Error::Statement(sqlx::Error::RowNotFound))
            ),
            "{none:?}"
        );
        // The order read from the first statement is kept for it alone: run again after
        // another, it binds as before.
        let again: (i64, String, String) = query_row(&conn, sql, &[&"c", &"d", &8], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
        assert_eq!(again, (8, "cd".to_owned(), "c".to_owned()));
    }

    /// Frames in the write-ahead log now, as a passive checkpoint on `conn` reports them.
    fn log_frames(conn: &Connection) -> i64 {
        conn.finish_checkpoint().unwrap().0
    }

    #[tokio::test]
    async fn finishing_the_background_checkpoint_lets_the_log_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, timeout) = db.sqlite_file().expect("a file database");
        let mut conn = Connection::open(path, timeout).unwrap();
        let write = |conn: &mut Connection, from: i64| {
            conn.in_transaction(|tx| {
                for i in from..from + 200 {
                    let sid = format!("CA{i}");
                    start(tx, "exotel", &sid, Some("+919812345678"), None, i)?;
                }
                Ok(())
            })
            .unwrap();
        };
        write(&mut conn, 0);
        // The background pass (on the pool), then writes it does not see.
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(db.pool())
            .await
            .unwrap();
        for from in (1_000..11_000).step_by(1_000) {
            write(&mut conn, from);
        }
        let (log, copied) = conn.finish_checkpoint().unwrap();
        assert!(log > 0);
        assert_eq!(copied, log, "the second pass copies what the first left");
        let grown = log;

        // The next write starts the log over: it holds only that write's frames, a tenth of
        // the eleven writes before.
        write(&mut conn, 20_000);
        let after = log_frames(&conn);
        assert!(
            after * 3 < grown,
            "{after} frames after starting over, {grown} before"
        );
    }

    #[tokio::test]
    async fn the_writes_read_back_through_the_pool_as_the_pools_own_would() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, timeout) = db.sqlite_file().expect("a file database");
        let mut conn = Connection::open(path, timeout).unwrap();

        let caller = Some("+919812345678");
        let vn = Some("+917314850001");
        assert!(start(conn.alone(), "exotel", "CA1", caller, vn, 1_000).unwrap());
        assert!(!start(conn.alone(), "exotel", "CA1", caller, vn, 1_001).unwrap());
        let resolved = CallState {
            attempts: 2,
            phase: Phase::Resolved {
                order_id: "ORD-1".into(),
            },
            last_failure: None,
            ended: false,
        };
        let route = Route::Pin {
            order_id: "ORD-1".into(),
        };
        let step = CallStep {
            provider: "exotel",
            call_sid: "CA1",
            caller,
            virtual_number: vn,
            state: &resolved,
            bridge: Some(("+919800000001", &route)),
        };
        let spent = conn
            .in_transaction(|tx| {
                save_step(tx, &step, 2_000)?;
                record_failure(
                    tx,
                    "+919812345678",
                    "+917314850001",
                    1_500,
                    Weight {
                        number: 5_000,
                        every: 0,
                    },
                    Budget::new(1.0, std::time::Duration::from_secs(3600)),
                    Counting::new(0, 10),
                )
            })
            .unwrap();
        assert_eq!(
            spent,
            Spent {
                by_caller: 1,
                number: 5_000,
                every: 0
            }
        );
        let end = CallEnd {
            dial_status: Some(DialStatus::Completed),
            dial_call_status: Some("completed".into()),
            talk_secs: Some(37),
            ..CallEnd::default()
        };
        // No state given: it is read from the row the step wrote.
        let outcome =
            record_end(conn.alone(), "exotel", "CA1", caller, vn, None, &end, 3_000).unwrap();
        assert_eq!(outcome, Outcome::of(&resolved.phase, end.dial_status, true));

        let record = calls::get(&db, "exotel", "CA1").await.unwrap().unwrap();
        assert_eq!(record.order_id.as_deref(), Some("ORD-1"));
        assert_eq!(record.destination.as_deref(), Some("+919800000001"));
        assert_eq!(record.route.as_deref(), Some("pin"));
        assert_eq!(record.pin_attempts, 2);
        assert_eq!(record.outcome, outcome);
        assert_eq!(record.talk_secs, Some(37));
        assert_eq!((record.started_at, record.ended_at), (1_000, Some(3_000)));

        let steps: Vec<NewStep<'_>> = [(1_000, "greeting"), (2_000, "check-pin")]
            .into_iter()
            .map(|(at, applet)| NewStep {
                provider: "exotel",
                call_sid: "CA1",
                at,
                applet,
                event: "started",
                decision: "greet",
                detail: Some("prompt: welcome"),
                elapsed_us: 250,
            })
            .collect();
        conn.in_transaction(|tx| record_steps(tx, &steps)).unwrap();
        let stored = steps::for_call(&db, "exotel", "CA1").await.unwrap();
        assert_eq!(
            stored
                .iter()
                .map(|s| (s.at, s.applet.as_str()))
                .collect::<Vec<_>>(),
            [(1_000, "greeting"), (2_000, "check-pin")]
        );
        assert_eq!(stored[0].detail.as_deref(), Some("prompt: welcome"));
        let after = calls::get(&db, "exotel", "CA1").await.unwrap().unwrap();
        assert_eq!(
            after.outcome, record.outcome,
            "the steps change nothing else"
        );
    }

    /// [`save_step`] directly, or [`calls::save_step`] through the pool.
    async fn save(
        direct: Option<&Connection>,
        pool: &mut sqlx::AnyConnection,
        step: &CallStep<'_>,
        at: i64,
    ) {
        match direct {
            Some(conn) => save_step(conn.alone(), step, at).unwrap(),
            None => calls::save_step(pool, step, at).await.unwrap(),
        }
    }

    /// [`record_end`] directly, or [`calls::record_end`] through the pool.
    async fn end(
        direct: Option<&Connection>,
        pool: &mut sqlx::AnyConnection,
        call_sid: &str,
        end: &CallEnd,
        at: i64,
    ) {
        let (caller, vn) = (Some("+919812345678"), Some("+917314850001"));
        match direct {
            Some(conn) => {
                record_end(conn.alone(), "exotel", call_sid, caller, vn, None, end, at).unwrap();
            }
            None => {
                calls::record_end(pool, "exotel", call_sid, caller, vn, None, end, at)
                    .await
                    .unwrap();
            }
        }
    }

    /// (virtual number, order id, destination, bridged at) of a call.
    async fn indexed_of(
        pool: &mut sqlx::AnyConnection,
        call_sid: &str,
    ) -> (Option<String>, Option<String>, Option<String>, Option<i64>) {
        sqlx::query_as(
            "select virtual_number, order_id, destination, bridged_at from calls
             where provider = 'exotel' and call_sid = $1",
        )
        .bind(call_sid)
        .fetch_one(pool)
        .await
        .unwrap()
    }

    /// The columns an index holds are written only when they change (`calls::Indexed`), and
    /// come out of each write as the rules say, on the writer's connection and on the pool's.
    #[tokio::test]
    async fn the_indexed_columns_follow_each_write_directly_and_through_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, timeout) = db.sqlite_file().expect("a file database");
        let conn = Connection::open(path, timeout).unwrap();
        let mut pool = db.acquire().await.unwrap();

        let vn = "+917314850001";
        let collecting = CallState::default();
        let resolved = CallState {
            attempts: 1,
            phase: Phase::Resolved {
                order_id: "ORD-1".into(),
            },
            last_failure: None,
            ended: false,
        };
        let route = Route::Pin {
            order_id: "ORD-1".into(),
        };
        for (call_sid, direct) in [("CA-direct", Some(&conn)), ("CA-pool", None)] {
            let step = |virtual_number, state, bridge| CallStep {
                provider: "exotel",
                call_sid,
                caller: Some("+919812345678"),
                virtual_number,
                state,
                bridge,
            };
            let at = |v: Option<&str>, o: Option<&str>, d: Option<&str>, b: Option<i64>| {
                (
                    v.map(str::to_owned),
                    o.map(str::to_owned),
                    d.map(str::to_owned),
                    b,
                )
            };
            // A first step without the dialled number; a later one fills it in, and one with
            // the order keeps it.
            save(direct, &mut pool, &step(None, &collecting, None), 1_000).await;
            assert_eq!(
                indexed_of(&mut pool, call_sid).await,
                at(None, None, None, None)
            );
            save(direct, &mut pool, &step(Some(vn), &collecting, None), 1_500).await;
            let known = at(Some(vn), None, None, None);
            assert_eq!(indexed_of(&mut pool, call_sid).await, known, "{call_sid}");
            save(direct, &mut pool, &step(Some(vn), &resolved, None), 2_000).await;
            let found = at(Some(vn), Some("ORD-1"), None, None);
            assert_eq!(indexed_of(&mut pool, call_sid).await, found, "{call_sid}");
            // The bridge: on the writer's connection, one statement changes the row (the
            // step's own, not a second to fill in the indexed columns).
            let bridge = Some(("+919800000001", &route));
            let changes_before = direct.map(|c| c.0.total_changes());
            save(direct, &mut pool, &step(Some(vn), &resolved, bridge), 3_000).await;
            if let (Some(c), Some(before)) = (direct, changes_before) {
                assert_eq!(
                    c.0.total_changes() - before,
                    1,
                    "rows changed by the bridge"
                );
            }
            let bridged = at(Some(vn), Some("ORD-1"), Some("+919800000001"), Some(3_000));
            assert_eq!(indexed_of(&mut pool, call_sid).await, bridged, "{call_sid}");
            // A step without a bridge, on another number, changes none of them.
            let other = step(Some("+917314859999"), &resolved, None);
            save(direct, &mut pool, &other, 4_000).await;
            assert_eq!(indexed_of(&mut pool, call_sid).await, bridged, "{call_sid}");
            // The end keeps the destination pinbridge stored over what the provider dialled,
            let dialled = CallEnd {
                dialled: Some("+919800000002".into()),
                ..CallEnd::default()
            };
            end(direct, &mut pool, call_sid, &dialled, 5_000).await;
            assert_eq!(indexed_of(&mut pool, call_sid).await, bridged, "{call_sid}");
            // but a bridge to the fallback number records that number.
            let fallback = CallEnd {
                fallback_to: Some("+919800000009".into()),
                ..CallEnd::default()
            };
            end(direct, &mut pool, call_sid, &fallback, 6_000).await;
            let fell_back = at(Some(vn), Some("ORD-1"), Some("+919800000009"), Some(3_000));
            assert_eq!(
                indexed_of(&mut pool, call_sid).await,
                fell_back,
                "{call_sid}"
            );
        }
        // A call first seen at its end, which names what was dialled.
        let dialled = CallEnd {
            dialled: Some("+919800000002".into()),
            ..CallEnd::default()
        };
        end(Some(&conn), &mut pool, "CA-end-only", &dialled, 7_000).await;
        let only = indexed_of(&mut pool, "CA-end-only").await;
        assert_eq!(only.2.as_deref(), Some("+919800000002"));
    }

    #[tokio::test]
    async fn the_pin_lookup_finds_what_the_pools_finds() {
        use crate::domain::{NewOrder, PhoneNumber, Pin, PinChoice, Region};
        use crate::storage::orders;
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, timeout) = db.sqlite_file().unwrap();
        let conn = Connection::open(path, timeout).unwrap();
        let india = Region::parse("IN").unwrap();
        let vn = PhoneNumber::parse("+917314850001", india).unwrap();
        let new = NewOrder {
            order_id: "ORD-7".into(),
            customer: PhoneNumber::parse("09812345678", india).unwrap(),
            pin: PinChoice::Given(Pin::parse("4321", 4, 8).unwrap()),
            virtual_number: Some(vn.clone()),
            expires_at_ms: 10_000,
            allowed_callers: vec![PhoneNumber::parse("+919800000002", india).unwrap()],
        };
        orders::insert(&db, &new, Pin::parse("4321", 4, 8).unwrap(), 1_000)
            .await
            .unwrap();
        let caller = "+919800000002";
        let budget = Budget::new(1.0, std::time::Duration::from_secs(3600));
        // The direct lookup, checked against the pool's with the same arguments.
        let both = async |pin: &str, number: Option<&str>, now: i64, counting: Counting| {
            let q = PinQuery {
                pin: pin.to_owned(),
                virtual_number: number.map(str::to_owned),
                caller: Some(caller.to_owned()),
                caller_key: caller.to_owned(),
                number_key: vn.as_ref().to_owned(),
                now,
                counting,
                budget,
                known_since: 0,
            };
            let direct = find_active_by_pin(conn.alone(), &q).unwrap();
            let pooled = orders::find_active_by_pin(&db, &q).await.unwrap();
            assert_eq!(direct, pooled, "{pin} {number:?} {now} {counting:?}");
            direct
        };
        let all = Counting::new(0, 10);
        let guess = Weight {
            number: 5_000,
            every: 0,
        };
        record_failure(conn.alone(), caller, vn.as_ref(), 1_500, guess, budget, all).unwrap();
        for (pin, number, now) in [
            ("4321", Some(vn.as_ref()), 2_000),
            ("4321", None, 2_000),
            ("4321", Some(vn.as_ref()), 20_000),
            ("9999", Some(vn.as_ref()), 2_000),
        ] {
            both(pin, number, now, all).await;
        }
        let found = both("4321", Some(vn.as_ref()), 2_000, all).await;
        assert_eq!(
            (
                found.caller_failures,
                found.number_spent,
                found.every_spent,
                found.known
            ),
            (1, budget.spent_at(5_000, 1_500, 2_000), 0, false)
        );

        // The caller's count stops two past its limit, on both paths alike; the budget leaks.
        let capped = Counting::new(0, 1);
        let mut spent = Spent::default();
        for at in 1_600..1_610 {
            spent = record_failure(conn.alone(), caller, vn.as_ref(), at, guess, budget, capped)
                .unwrap();
        }
        // Eleven guesses of 5,000, less what leaked back over the 109 ms they took.
        assert_eq!(spent.by_caller, 3);
        assert!((54_990..=55_000).contains(&spent.number), "{spent:?}");
        let direct = both("4321", None, 1_609, capped).await;
        assert_eq!(
            (direct.caller_failures, direct.number_spent),
            (3, spent.number)
        );
        assert!(
            !direct.known && budget.is_spent(direct.number_spent),
            "spent, and the caller not known"
        );
        let hour_later = both("4321", Some(vn.as_ref()), 3_601_609, capped).await;
        assert_eq!(
            hour_later.number_spent,
            budget.spent_at(spent.number, 1_609, 3_601_609)
        );
        let by_caller = attempts::caller_failures(db.pool(), caller, all)
            .await
            .unwrap();
        assert_eq!(by_caller, 11);

        // While the budget is spent, a trusted caller is known, on both paths alike.
        sqlx::query("insert into trusted_callers (number, label, created_at) values ($1, 'x', 0)")
            .bind(caller)
            .execute(db.pool())
            .await
            .unwrap();
        let trusted = both("4321", Some(vn.as_ref()), 2_000, all).await;
        assert!(trusted.known);
        let order = trusted.order.expect("the active order");
        assert_eq!(order.order_id, "ORD-7");
        assert_eq!(
            order.allowed_callers,
            [PhoneNumber::from_e164(caller).unwrap()]
        );
    }

    /// A failed transaction leaves nothing behind and the connection ready for the next:
    /// whether the work in it failed, or `BEGIN` did (another connection held the lock).
    #[tokio::test]
    async fn a_failed_transaction_is_rolled_back_and_the_next_one_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, _) = db.sqlite_file().unwrap();
        let mut conn = Connection::open(path, Duration::from_millis(50)).unwrap();
        let count = |conn: &Connection| -> i64 {
            conn.alone()
                .query_row("select count(*) from calls", [], |r| r.get(0))
                .unwrap()
        };
        let failed = conn.in_transaction(|tx| {
            start(tx, "exotel", "CA1", None, None, 1)?;
            Err::<(), _>(sqlx::Error::Protocol("the work failed".into()).into())
        });
        assert!(failed.is_err());
        assert!(conn.alone().is_autocommit(), "rolled back");
        assert_eq!(
            count(&conn),
            0,
            "the first write of the failed transaction is gone"
        );

        let holder = Connection::open(path, Duration::from_millis(50)).unwrap();
        holder.0.execute_batch("begin immediate").unwrap();
        let locked = conn.in_transaction(|tx| start(tx, "exotel", "CA2", None, None, 1));
        assert!(
            locked.unwrap_err().is_unavailable(),
            "BEGIN IMMEDIATE waited for the lock in vain"
        );
        assert!(conn.alone().is_autocommit());
        holder.0.execute_batch("rollback").unwrap();

        let created = conn.in_transaction(|tx| start(tx, "exotel", "CA3", None, None, 1));
        assert!(created.unwrap());
        assert_eq!(count(&conn), 1);
    }

    #[tokio::test]
    async fn a_write_lock_held_too_long_is_reported_as_the_database_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, _) = db.sqlite_file().unwrap();
        let mut holder = Connection::open(path, Duration::from_millis(50)).unwrap();
        let writer = Connection::open(path, Duration::from_millis(50)).unwrap();
        let held = holder
            .0
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate);
        let _held = held.unwrap();
        let e = start(writer.alone(), "exotel", "CA2", None, None, 1).unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
    }

    #[tokio::test]
    async fn a_wrong_statement_is_not_mistaken_for_an_unavailable_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, timeout) = db.sqlite_file().unwrap();
        let conn = Connection::open(path, timeout).unwrap();
        let e = conn
            .alone()
            .execute("insert into no_such_table values (1)", [])
            .map_err(to_sqlx)
            .unwrap_err();
        assert!(!e.is_unavailable(), "{e:?}");
    }
}
