//! A call's own writes on the writer's connection: its record started, its state after a
//! step, its end, and its step log appended to it.

use super::bind::{execute, query_row, run, to_sqlx};
use crate::domain::{CallState, Outcome};
use crate::storage::Error;
use crate::storage::calls::{self, CallEnd, EndValues, Indexed, StateRow, StateWrite};
use crate::storage::steps::{self, StepLog};

/// [`calls::start`] on `conn`.
pub fn start(
    conn: &rusqlite::Connection,
    provider: &str,
    call_sid: &str,
    caller: Option<&str>,
    virtual_number: Option<&str>,
    now_ms: i64,
) -> Result<bool, Error> {
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

/// [`calls::save_state`] on `conn`.
pub fn save_state(conn: &rusqlite::Connection, write: &StateWrite) -> Result<(), Error> {
    let call = &write.call;
    let v = StateRow::of(write);
    execute(
        conn,
        v.statement(),
        &[
            &call.provider,
            &&*call.call_sid,
            &call.caller.as_deref(),
            &call.virtual_number.as_deref(),
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
) -> Result<(), Error> {
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
) -> Result<Outcome, Error> {
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
) -> Result<Option<CallState>, Error> {
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
        Err(Error::Statement(sqlx::Error::RowNotFound)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Step-log lines on the writer's SQLite connection: appended to their calls' records, one prepared
/// [`steps::APPEND_STEPS`] a call (where [`steps::record_many`], through the pool, writes
/// rows of `call_steps`: see [`steps`]).
pub fn record_steps(conn: &rusqlite::Connection, steps: &[StepLog]) -> Result<(), Error> {
    if steps.is_empty() {
        return Ok(());
    }
    let (phase, attempts, outcome) = calls::start_values();
    let mut append = conn.prepare_cached(steps::APPEND_STEPS).map_err(to_sqlx)?;
    for call in steps::lines_by_call(steps)? {
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

#[cfg(test)]
mod tests {
    use super::super::Connection;
    use super::super::guards::record_failure;
    use super::super::tests::file_db;
    use super::*;
    use crate::domain::{DialStatus, Phase, Route};
    use crate::storage::attempts::{Budget, Counting, Spent, Weight};
    use crate::storage::calls::CallKey;

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
        let write = state_write("CA1", vn, &resolved, Some(("+919800000001", &route)), 2_000);
        let spent = conn
            .in_transaction(|tx| {
                save_state(tx, &write)?;
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

        let steps: Vec<StepLog> = [(1_000, "greeting"), (2_000, "check-pin")]
            .into_iter()
            .map(|(at, applet)| StepLog {
                provider: "exotel",
                call_sid: "CA1".into(),
                at,
                applet,
                event: "started",
                decision: "greet",
                detail: Some("prompt: welcome".into()),
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

    /// The state of Exotel call `call_sid` from +919812345678 at `at` (unix ms), with the
    /// bridge decided, if any.
    fn state_write(
        call_sid: &str,
        virtual_number: Option<&str>,
        state: &CallState,
        bridge: Option<(&str, &Route)>,
        at: i64,
    ) -> StateWrite {
        StateWrite {
            call: CallKey {
                provider: "exotel",
                call_sid: call_sid.into(),
                caller: Some("+919812345678".into()),
                virtual_number: virtual_number.map(Into::into),
            },
            state: state.clone(),
            bridge: bridge.map(|(to, route)| (to.to_owned(), route.clone())),
            at,
        }
    }

    /// [`save_state`] directly, or [`calls::save_state`] through the pool.
    async fn save(direct: Option<&Connection>, pool: &mut sqlx::AnyConnection, write: &StateWrite) {
        match direct {
            Some(conn) => save_state(conn.alone(), write).unwrap(),
            None => calls::save_state(pool, write).await.unwrap(),
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
            let step = |virtual_number, state, bridge, at| {
                state_write(call_sid, virtual_number, state, bridge, at)
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
            save(direct, &mut pool, &step(None, &collecting, None, 1_000)).await;
            assert_eq!(
                indexed_of(&mut pool, call_sid).await,
                at(None, None, None, None)
            );
            save(direct, &mut pool, &step(Some(vn), &collecting, None, 1_500)).await;
            let known = at(Some(vn), None, None, None);
            assert_eq!(indexed_of(&mut pool, call_sid).await, known, "{call_sid}");
            save(direct, &mut pool, &step(Some(vn), &resolved, None, 2_000)).await;
            let found = at(Some(vn), Some("ORD-1"), None, None);
            assert_eq!(indexed_of(&mut pool, call_sid).await, found, "{call_sid}");
            // The bridge: on the writer's connection, one statement changes the row (the
            // step's own, not a second to fill in the indexed columns).
            let bridge = Some(("+919800000001", &route));
            let changes_before = direct.map(|c| c.0.total_changes());
            save(direct, &mut pool, &step(Some(vn), &resolved, bridge, 3_000)).await;
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
            let other = step(Some("+917314859999"), &resolved, None, 4_000);
            save(direct, &mut pool, &other).await;
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
}
