//! Wrong PINs, counted per caller and per virtual number within a window, so that every
//! instance enforces the same limits (the abuse-resistance issue; DESIGN.md "Rules").

use sqlx::Row;

use super::Db;

/// Records one wrong PIN keyed by `caller` on `virtual_number` (both as keys: E.164 when they
/// parsed, else as received, else a placeholder; never empty).
pub async fn record_failure(
    db: &Db,
    caller: &str,
    virtual_number: &str,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("insert into pin_failures (caller, virtual_number, at) values ($1, $2, $3)")
        .bind(caller)
        .bind(virtual_number)
        .bind(now_ms)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Wrong PINs keyed by `caller` since `since_ms`.
pub async fn caller_failures(db: &Db, caller: &str, since_ms: i64) -> Result<i64, sqlx::Error> {
    let row = sqlx::query("select count(*) as n from pin_failures where caller = $1 and at >= $2")
        .bind(caller)
        .bind(since_ms)
        .fetch_one(db.pool())
        .await?;
    row.try_get("n")
}

/// Wrong PINs keyed on `virtual_number` by all callers since `since_ms`.
pub async fn number_failures(
    db: &Db,
    virtual_number: &str,
    since_ms: i64,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "select count(*) as n from pin_failures where virtual_number = $1 and at >= $2",
    )
    .bind(virtual_number)
    .bind(since_ms)
    .fetch_one(db.pool())
    .await?;
    row.try_get("n")
}
