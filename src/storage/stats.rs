//! Aggregates for the admin dashboard. Portable SQL only: times are bucketed by integer
//! division of unix milliseconds since a bucket origin the caller chooses (a local hour or
//! midnight), which SQLite and PostgreSQL compute alike.

use futures_util::TryStreamExt;
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

/// Calls started at or after `since_ms`, counted per `bucket_ms`-wide bucket and outcome; the
/// buckets start at `since_ms` (bucket `n` holds `since_ms + n * bucket_ms` up to the next).
pub async fn calls_by_bucket(
    db: &Db,
    since_ms: i64,
    bucket_ms: i64,
) -> Result<Vec<BucketCount>, super::Error> {
    sqlx::query(
        "select (started_at - $2) / $1 as bucket, outcome, count(*) as n from calls
         where started_at >= $2
         group by (started_at - $2) / $1, outcome",
    )
    .bind(bucket_ms.max(1))
    .bind(since_ms)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|row| {
        Ok(BucketCount {
            start_ms: since_ms + row.try_get::<i64, _>("bucket")? * bucket_ms.max(1),
            outcome: row.try_get("outcome")?,
            calls: row.try_get("n")?,
        })
    })
    .collect()
}

/// Whether pinbridge has been used yet: any call recorded, any order or any booking created
/// (the dashboard of a new install says what to set up first).
pub async fn in_use(db: &Db) -> Result<bool, super::Error> {
    let row = sqlx::query(
        "select (select count(*) from (select 1 as x from calls limit 1) c)
              + (select count(*) from (select 1 as x from orders limit 1) o)
              + (select count(*) from (select 1 as x from bookings limit 1) b) as n",
    )
    .fetch_one(db.pool())
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// Bridged calls (someone was dialled) since `since_ms`, and how many of them connected.
pub async fn bridged_and_connected(db: &Db, since_ms: i64) -> Result<(i64, i64), super::Error> {
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
pub async fn pin_entries_and_failures(db: &Db, since_ms: i64) -> Result<(i64, i64), super::Error> {
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
pub async fn locked_callers(db: &Db, since_ms: i64, limit: i64) -> Result<i64, super::Error> {
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
    .map_err(Into::into)
}

/// How long before the time asked a call may have started and still have steps after it: the
/// steps in call records are found by their call's start (indexed), and a call's steps come
/// within its life. Longer calls' later steps are left out.
const LONGEST_CALL_MS: i64 = 24 * 3600 * 1000;

/// Steps since `since_ms`: how many, and the elapsed microseconds at each quantile asked
/// (0.5 for the median, 0.99 for p99; nearest rank); `None` without steps. Reads the steps in
/// the records of calls started at most [`LONGEST_CALL_MS`] before `since_ms` (one at a time),
/// and those in `call_steps` ([`super::steps`] tells which engine writes where).
pub async fn step_latency(
    db: &Db,
    since_ms: i64,
    quantiles: &[f64],
) -> Result<(i64, Vec<Option<i64>>), super::Error> {
    let mut elapsed: Vec<i64> = sqlx::query("select elapsed_us from call_steps where at >= $1")
        .bind(since_ms)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|row| row.try_get("elapsed_us"))
        .collect::<Result<_, _>>()?;
    let mut records =
        sqlx::query("select steps from calls where started_at >= $1 and steps is not null")
            .bind(since_ms.saturating_sub(LONGEST_CALL_MS))
            .fetch(db.pool());
    while let Some(row) = records.try_next().await? {
        let text: String = row.try_get("steps")?;
        elapsed.extend(
            super::steps::parse_lines(&text)
                .iter()
                .filter(|step| step.at >= since_ms)
                .map(|step| step.elapsed_us),
        );
    }
    elapsed.sort_unstable();
    let out = quantiles
        .iter()
        .map(|q| {
            // Nearest rank: the smallest value with at least q of the steps at or below it.
            let rank = (q.clamp(0.0, 1.0) * elapsed.len() as f64).ceil() as usize;
            elapsed
                .get(rank.clamp(1, elapsed.len().max(1)) - 1)
                .copied()
        })
        .collect();
    Ok((i64::try_from(elapsed.len()).unwrap_or(i64::MAX), out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::steps::{StepLog, append_through_pool, record_many};

    fn step(call_sid: &str, at: i64, elapsed_us: i64) -> StepLog {
        StepLog {
            provider: "exotel",
            call_sid: call_sid.to_owned(),
            at,
            applet: "gather",
            event: "prompt_needed",
            decision: "ask_for_pin",
            detail: None,
            elapsed_us,
        }
    }

    /// The figures count the steps since the time asked, in call records and in `call_steps`
    /// alike, and none before it.
    #[tokio::test]
    async fn step_latency_counts_the_steps_since_the_time_asked_wherever_they_are() {
        let db = crate::storage::test_db().await;
        assert_eq!(
            step_latency(&db, 1_000, &[0.5]).await.unwrap(),
            (0, vec![None])
        );
        let mut conn = db.acquire().await.unwrap();
        // A call started before the time asked, with steps on both sides of it.
        append_through_pool(
            &mut conn,
            &[step("CA-1", 900, 7_000), step("CA-1", 1_000, 100)],
        )
        .await
        .unwrap();
        record_many(
            &mut conn,
            &[step("CA-2", 2_000, 300), step("CA-2", 2_001, 200)],
        )
        .await
        .unwrap();
        sqlx::query("insert into call_steps (provider, call_sid, at, applet, event, decision, detail, elapsed_us) values ('exotel', 'CA-0', 1500, 'gather', 'prompt_needed', 'ask_for_pin', null, 400), ('exotel', 'CA-0', 10, 'greeting', 'started', 'greet', null, 9000)")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        let (count, figures) = step_latency(&db, 1_000, &[0.5, 0.99, 0.0]).await.unwrap();
        // 100, 200, 300, 400: the median is the second, p99 the last, q = 0 the first.
        assert_eq!(count, 4);
        assert_eq!(figures, vec![Some(200), Some(400), Some(100)]);
    }
}
