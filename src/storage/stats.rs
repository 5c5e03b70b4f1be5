//! Aggregates for the admin dashboard. Portable SQL only: times are bucketed by integer
//! division of unix milliseconds, which SQLite and PostgreSQL compute alike (UTC buckets).

use sqlx::Row;

use super::Db;

/// Calls started in one time bucket with one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketCount {
    /// The bucket's start, unix milliseconds.
    pub start_ms: i64,
    pub outcome: String,
    pub calls: i64,
}

/// Calls started at or after `since_ms`, counted per `bucket_ms`-wide bucket and outcome.
pub async fn calls_by_bucket(
    db: &Db,
    since_ms: i64,
    bucket_ms: i64,
) -> Result<Vec<BucketCount>, sqlx::Error> {
    sqlx::query(
        "select started_at / $1 as bucket, outcome, count(*) as n from calls
         where started_at >= $2
         group by started_at / $1, outcome",
    )
    .bind(bucket_ms.max(1))
    .bind(since_ms)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|row| {
        Ok(BucketCount {
            start_ms: row.try_get::<i64, _>("bucket")? * bucket_ms.max(1),
            outcome: row.try_get("outcome")?,
            calls: row.try_get("n")?,
        })
    })
    .collect()
}

/// Bridged calls (someone was dialled) since `since_ms`, and how many of them connected.
pub async fn bridged_and_connected(db: &Db, since_ms: i64) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "select count(*) as bridged,
                cast(coalesce(sum(case when outcome = 'connected' then 1 else 0 end), 0) as bigint)
                    as connected
         from calls where started_at >= $1 and bridged_at is not null",
    )
    .bind(since_ms)
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get("bridged")?, row.try_get("connected")?))
}

/// PIN entries (attempts of calls started since `since_ms`) and wrong PINs recorded since then.
pub async fn pin_entries_and_failures(db: &Db, since_ms: i64) -> Result<(i64, i64), sqlx::Error> {
    let entries = sqlx::query(
        "select cast(coalesce(sum(pin_attempts), 0) as bigint) as n from calls
         where started_at >= $1",
    )
    .bind(since_ms)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    let failures = sqlx::query("select count(*) as n from pin_failures where at >= $1")
        .bind(since_ms)
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    Ok((entries, failures))
}

/// Callers with at least `limit` wrong PINs since `since_ms`: those locked out now.
pub async fn locked_callers(db: &Db, since_ms: i64, limit: i64) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "select count(*) as n from
           (select caller from pin_failures where at >= $1
            group by caller having count(*) >= $2) locked",
    )
    .bind(since_ms)
    .bind(limit.max(1))
    .fetch_one(db.pool())
    .await?
    .try_get("n")
}

/// Steps since `since_ms`: how many, and the elapsed microseconds at each quantile asked
/// (0.5 for the median, 0.99 for p99); `None` without steps.
pub async fn step_latency(
    db: &Db,
    since_ms: i64,
    quantiles: &[f64],
) -> Result<(i64, Vec<Option<i64>>), sqlx::Error> {
    let count: i64 = sqlx::query("select count(*) as n from call_steps where at >= $1")
        .bind(since_ms)
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    let mut out = Vec::with_capacity(quantiles.len());
    for q in quantiles {
        if count == 0 {
            out.push(None);
            continue;
        }
        // Nearest rank: the smallest value with at least q of the steps at or below it.
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as i64).clamp(1, count);
        let value: i64 = sqlx::query(
            "select elapsed_us from call_steps where at >= $1
             order by elapsed_us limit 1 offset $2",
        )
        .bind(since_ms)
        .bind(rank - 1)
        .fetch_one(db.pool())
        .await?
        .try_get("elapsed_us")?;
        out.push(Some(value));
    }
    Ok((count, out))
}
