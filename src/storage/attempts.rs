//! Wrong PINs, counted per caller and per virtual number within a window, so that every
//! instance enforces the same limits (the abuse-resistance issue; DESIGN.md "Rules").

use sqlx::AnyConnection;
use sqlx::{Any, Executor, Row};

/// Inserts one wrong PIN: `$1` caller key, `$2` virtual number key, `$3` now (ms).
pub(super) const RECORD_FAILURE: &str =
    "insert into pin_failures (caller, virtual_number, at) values ($1, $2, $3)";

/// Counts wrong PINs since `$3` (ms): (by_caller: keyed by `$1`, on_number: keyed on `$2`).
pub(super) const FAILURES: &str =
    "select (select count(*) from pin_failures where caller = $1 and at >= $3) as by_caller,
            (select count(*) from pin_failures where virtual_number = $2 and at >= $3)
                as on_number";

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

/// Wrong PINs since `since_ms`: (keyed by `caller`, keyed on `virtual_number` by all
/// callers); `db` is the pool or a connection.
pub async fn failures<'c>(
    db: impl Executor<'c, Database = Any>,
    caller: &str,
    virtual_number: &str,
    since_ms: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(FAILURES)
        .bind(caller)
        .bind(virtual_number)
        .bind(since_ms)
        .fetch_one(db)
        .await?;
    Ok((row.try_get("by_caller")?, row.try_get("on_number")?))
}
