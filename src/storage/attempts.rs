//! Wrong PINs, counted per caller and per virtual number within a window, so that every
//! instance enforces the same limits (the abuse-resistance issue; DESIGN.md "Rules").

use sqlx::AnyConnection;
use sqlx::{Any, Executor, Row};

/// Inserts one wrong PIN: `$1` caller key, `$2` virtual number key, `$3` now (ms).
pub(super) const RECORD_FAILURE: &str =
    "insert into pin_failures (caller, virtual_number, at) values ($1, $2, $3)";

/// Counts wrong PINs since `$3` (ms): (by_caller: keyed by `$1`, at most `$4`; on_number:
/// keyed on `$2`, at most `$5`). See [`Counting`].
pub(super) const FAILURES: &str = "select (select count(*) from (select 1 from pin_failures
                                   where caller = $1 and at >= $3 limit $4) c) as by_caller,
            (select count(*) from (select 1 from pin_failures
                                   where virtual_number = $2 and at >= $3 limit $5) n)
                as on_number";

/// Which wrong PINs count, and how far: those since `since` (unix ms), up to `caller_cap` by
/// one caller and `number_cap` on one virtual number. A cap is its limit plus two
/// ([`Counting::new`]): enough to tell "within the limit", "just crossed it" (limit + 1) and
/// "past it", while a flood of wrong PINs on one number (at maximum rate in the load
/// benchmark, a thousand within the hour) never makes a check-pin count them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counting {
    pub since: i64,
    pub caller_cap: i64,
    pub number_cap: i64,
}

impl Counting {
    /// Wrong PINs since `since` (unix ms), counted up to two past `caller_max` and
    /// `number_max` (`PINBRIDGE_CALLER_MAX_FAILURES`, `PINBRIDGE_NUMBER_MAX_FAILURES`).
    pub fn new(since: i64, caller_max: u32, number_max: u32) -> Self {
        Self {
            since,
            caller_cap: i64::from(caller_max) + 2,
            number_cap: i64::from(number_max) + 2,
        }
    }

    /// The same without the count on the virtual number: its cap is 0, so it reads 0. For the
    /// check-pin lookup when PIN entry is not locked per number (`PINBRIDGE_NUMBER_LOCKOUT`
    /// off, the default), the one use it has there. On a number under a flood of wrong PINs
    /// every lookup counted up to the cap: in the load benchmark (one wrong PIN in ten calls,
    /// 20 numbers), 202 index entries a check-pin, about a tenth of a PIN step's server time.
    pub fn caller_only(self) -> Self {
        Self {
            number_cap: 0,
            ..self
        }
    }
}

/// Records one wrong PIN keyed by `caller` on `virtual_number` (both as keys: E.164 when they
/// parsed, else as received, else a placeholder; never empty).
pub async fn record_failure(
    conn: &mut AnyConnection,
    caller: &str,
    virtual_number: &str,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(RECORD_FAILURE)
        .bind(caller)
        .bind(virtual_number)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

/// Wrong PINs within `counting`: (keyed by `caller`, keyed on `virtual_number` by all
/// callers), each at most its cap; `db` is the pool or a connection.
pub async fn failures<'c>(
    db: impl Executor<'c, Database = Any>,
    caller: &str,
    virtual_number: &str,
    counting: Counting,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(FAILURES)
        .bind(caller)
        .bind(virtual_number)
        .bind(counting.since)
        .bind(counting.caller_cap)
        .bind(counting.number_cap)
        .fetch_one(db)
        .await?;
    Ok((row.try_get("by_caller")?, row.try_get("on_number")?))
}
