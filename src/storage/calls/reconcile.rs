//! The calls left open: those whose end report never came, as the reconciler
//! (`crate::call::reconcile`) finds them, claims them and puts them back (migration 0016).
//!
//! A call is claimed with a conditional update of its `reconcile_at`: of several instances
//! on one PostgreSQL that picked the same call, one update matches the row and the others,
//! which wait for its lock and then read the new `reconcile_at`, match none. The call's end
//! itself is written by the same statement as a provider's end report
//! ([`super::record_end`], through the writer).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::super::Db;

/// A call without an end, as the reconciler reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCall {
    /// `exotel`, `twilio`, ... as stored.
    pub provider: String,
    /// The provider's id of the call (CallSid, CallUUID).
    pub call_sid: String,
    /// As stored: E.164 when it parsed.
    pub caller: Option<String>,
    /// As stored: E.164 when it parsed.
    pub virtual_number: Option<String>,
    /// `collecting_pin`, `resolved` or `exhausted`.
    pub phase: String,
    /// The number the call was bridged to, once bridged.
    pub destination: Option<String>,
    /// When the call was bridged, unix ms.
    pub bridged_at: Option<i64>,
    /// When the call started, unix ms.
    pub started_at: i64,
    /// Failed look-ups of the call at its provider in a row.
    pub reconcile_errors: i64,
    /// True when a reconciler has looked at the call before.
    pub looked_at: bool,
}

impl OpenCall {
    /// True when the call was bridged to someone (its dialled leg may tell how it ended).
    pub fn bridged(&self) -> bool {
        self.destination.is_some() || self.bridged_at.is_some()
    }
}

/// The oldest open calls: `$1` started before (ms), `$2` now (ms), `$3` how many. Read in
/// the partial index `calls_open`, which holds only calls without an end.
pub(crate) const OPEN_CALLS: &str = "select provider, call_sid, caller, virtual_number, phase,
                destination, bridged_at, started_at, reconcile_errors,
                cast(case when reconcile_at is null then 0 else 1 end as bigint) as looked_at
         from calls
         where ended_at is null and started_at < $1
           and (reconcile_at is null or reconcile_at <= $2)
         order by started_at
         limit $3";

/// Claims a call: `$1` provider, `$2` CallSid, `$3` the claim's end (ms), `$4` now (ms).
const CLAIM: &str = "update calls set reconcile_at = $3
         where provider = $1 and call_sid = $2 and ended_at is null
           and (reconcile_at is null or reconcile_at <= $4)";

/// Puts a call back: `$1` provider, `$2` CallSid, `$3` when it may be looked at again (ms),
/// `$4` its failed look-ups in a row.
const RELEASE: &str = "update calls set reconcile_at = $3, reconcile_errors = $4
         where provider = $1 and call_sid = $2 and ended_at is null";

fn open_call(row: &AnyRow) -> Result<OpenCall, sqlx::Error> {
    Ok(OpenCall {
        provider: row.try_get("provider")?,
        call_sid: row.try_get("call_sid")?,
        caller: row.try_get("caller")?,
        virtual_number: row.try_get("virtual_number")?,
        phase: row.try_get("phase")?,
        destination: row.try_get("destination")?,
        bridged_at: row.try_get("bridged_at")?,
        started_at: row.try_get("started_at")?,
        reconcile_errors: row.try_get("reconcile_errors")?,
        looked_at: row.try_get::<i64, _>("looked_at")? != 0,
    })
}

/// At most `limit` calls without an end that started before `started_before` (unix ms) and
/// that no reconciler holds or put back until after `now_ms`, oldest first.
///
/// Errors: the database's.
pub async fn open_calls(
    db: &Db,
    started_before: i64,
    now_ms: i64,
    limit: i64,
) -> Result<Vec<OpenCall>, crate::storage::Error> {
    let rows = sqlx::query(OPEN_CALLS)
        .bind(started_before)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(db.pool())
        .await?;
    Ok(rows.iter().map(open_call).collect::<Result<_, _>>()?)
}

/// Claims an open call for this reconciler until `until_ms` (unix ms): true when this call
/// of all claimed it; false when it has ended meanwhile or another reconciler holds it.
///
/// Errors: the database's.
pub async fn claim_open(
    db: &Db,
    provider: &str,
    call_sid: &str,
    now_ms: i64,
    until_ms: i64,
) -> Result<bool, crate::storage::Error> {
    let done = sqlx::query(CLAIM)
        .bind(provider)
        .bind(call_sid)
        .bind(until_ms)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Puts back a claimed call still open, to be looked at again from `next_ms` (unix ms), with
/// `errors` failed look-ups in a row. Nothing when it has ended meanwhile.
///
/// Errors: the database's.
pub async fn release(
    db: &Db,
    provider: &str,
    call_sid: &str,
    next_ms: i64,
    errors: i64,
) -> Result<(), crate::storage::Error> {
    sqlx::query(RELEASE)
        .bind(provider)
        .bind(call_sid)
        .bind(next_ms)
        .bind(errors)
        .execute(db.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::test_plan;

    async fn db_with_open_call() -> Db {
        let db = crate::storage::sqlite_test_db().await;
        let mut conn = db.pool().acquire().await.unwrap();
        super::super::start(&mut conn, "exotel", "CA1", None, None, 1_000)
            .await
            .unwrap();
        db
    }

    #[tokio::test]
    async fn a_call_is_claimed_once_until_its_claim_ends_and_an_ended_call_never() {
        let db = db_with_open_call().await;
        let open = open_calls(&db, 2_000, 5_000, 10).await.unwrap();
        assert_eq!(open.len(), 1);
        assert!(!open[0].looked_at);
        assert!(
            claim_open(&db, "exotel", "CA1", 5_000, 9_000)
                .await
                .unwrap()
        );
        assert!(
            !claim_open(&db, "exotel", "CA1", 5_000, 9_000)
                .await
                .unwrap()
        );
        assert!(open_calls(&db, 2_000, 8_999, 10).await.unwrap().is_empty());
        release(&db, "exotel", "CA1", 7_000, 2).await.unwrap();
        let again = open_calls(&db, 2_000, 7_000, 10).await.unwrap();
        assert_eq!((again[0].reconcile_errors, again[0].looked_at), (2, true));
        assert!(
            claim_open(&db, "exotel", "CA1", 7_000, 9_000)
                .await
                .unwrap()
        );

        let mut conn = db.pool().acquire().await.unwrap();
        super::super::record_end(
            &mut conn,
            "exotel",
            "CA1",
            None,
            None,
            None,
            &super::super::CallEnd::default(),
            9_500,
        )
        .await
        .unwrap();
        drop(conn);
        assert!(open_calls(&db, 2_000, 20_000, 10).await.unwrap().is_empty());
        assert!(
            !claim_open(&db, "exotel", "CA1", 20_000, 30_000)
                .await
                .unwrap()
        );
    }

    /// Only calls without an end are in `calls_open`; the reconciler must read them there,
    /// not walk every call ever kept.
    #[tokio::test]
    async fn open_calls_are_read_in_their_partial_index() {
        let db = db_with_open_call().await;
        let plan = test_plan(&db, OPEN_CALLS).await;
        assert!(plan.contains("calls_open"), "{plan}");
    }
}
