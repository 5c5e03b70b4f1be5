//! The steps of each call's flow (`call_steps`): what was asked, what was decided, how long
//! pinbridge took. Written in batches by [`crate::writer`]; read by the admin UI's call page
//! and the dashboard's latency figures.

use sqlx::Row;

use super::Db;

/// One step as written after a webhook answered. `detail` never holds a phone number or digits.
#[derive(Debug, Clone)]
pub struct NewStep<'a> {
    pub provider: &'a str,
    pub call_sid: &'a str,
    /// Unix milliseconds, when the step began.
    pub at: i64,
    pub applet: &'a str,
    pub event: &'a str,
    pub decision: &'a str,
    pub detail: Option<&'a str>,
    /// Microseconds the step took.
    pub elapsed_us: i64,
}

/// One step as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub at: i64,
    pub applet: String,
    pub event: String,
    pub decision: String,
    pub detail: Option<String>,
    pub elapsed_us: i64,
}

/// The insert of call steps, without its values: (provider, call_sid, at, applet, event,
/// decision, detail, elapsed_us).
pub(super) const INSERT_STEPS: &str = "insert into call_steps (provider, call_sid, at, applet, event, decision, detail, elapsed_us) values ";

/// The most steps one insert statement writes: it binds 8 values a step, and PostgreSQL
/// takes at most 65,535 in a statement.
const STEPS_PER_STATEMENT: usize = 500;

/// Writes steps, [`STEPS_PER_STATEMENT`] to a statement.
pub async fn record_many(
    conn: &mut sqlx::AnyConnection,
    steps: &[NewStep<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in steps.chunks(STEPS_PER_STATEMENT) {
        insert_steps(conn, chunk).await?;
    }
    Ok(())
}

/// Writes `steps` (at most [`STEPS_PER_STATEMENT`]) in one statement.
async fn insert_steps(
    conn: &mut sqlx::AnyConnection,
    steps: &[NewStep<'_>],
) -> Result<(), sqlx::Error> {
    if steps.is_empty() {
        return Ok(());
    }
    let mut sql = String::from(INSERT_STEPS);
    for i in 0..steps.len() {
        let b = i * 8;
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8
        ));
    }
    // Placeholders only: every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for step in steps {
        query = query
            .bind(step.provider)
            .bind(step.call_sid)
            .bind(step.at)
            .bind(step.applet)
            .bind(step.event)
            .bind(step.decision)
            .bind(step.detail)
            .bind(step.elapsed_us);
    }
    query.execute(conn).await?;
    Ok(())
}

/// The steps of one call, in time order.
pub async fn for_call(db: &Db, provider: &str, call_sid: &str) -> Result<Vec<Step>, sqlx::Error> {
    sqlx::query(
        "select at, applet, event, decision, detail, elapsed_us from call_steps
         where provider = $1 and call_sid = $2
         order by at",
    )
    .bind(provider)
    .bind(call_sid)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|row| {
        Ok(Step {
            at: row.try_get("at")?,
            applet: row.try_get("applet")?,
            event: row.try_get("event")?,
            decision: row.try_get("decision")?,
            detail: row.try_get("detail")?,
            elapsed_us: row.try_get("elapsed_us")?,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More steps than one statement takes are written in several, every one of them.
    #[tokio::test]
    async fn more_steps_than_one_statement_takes_are_all_written() {
        let db = crate::storage::test_db().await;
        let n = STEPS_PER_STATEMENT * 2 + 7;
        let steps: Vec<NewStep<'_>> = (0..n)
            .map(|i| NewStep {
                provider: "exotel",
                call_sid: "CA-many",
                at: i as i64,
                applet: "gather",
                event: "prompt_needed",
                decision: "ask_for_pin",
                detail: None,
                elapsed_us: 3,
            })
            .collect();
        let mut conn = db.acquire().await.unwrap();
        record_many(&mut conn, &steps).await.unwrap();
        drop(conn);
        let stored = for_call(&db, "exotel", "CA-many").await.unwrap();
        assert_eq!(stored.len(), n);
        assert_eq!(stored.last().map(|s| s.at), Some(n as i64 - 1));
    }
}
