//! The step log: the steps of each call's flow, what was asked, what was decided, how long
//! pinbridge took. Written in batches by the writer ([`crate::storage::Writer`]); read by the
//! admin UI's call page and the dashboard's latency figures.
//!
//! Where they are written depends on the engine (migration 0008):
//!
//! - On a SQLite file the writer appends them to the call's own record (`calls.steps`: one
//!   JSON object per line, [`lines_by_call`], [`APPEND_STEPS`]). SQLite rewrites a row in its
//!   page and touches only the indexes whose columns changed, so the steps of concurrent calls
//!   land on the pages their calls' own writes touch anyway. As rows of `call_steps`, whose
//!   index is keyed by the CallSid (which looks random), every call's steps dirtied an index
//!   page of their own in each commit and each checkpoint.
//! - Through the pool (PostgreSQL) they are rows of `call_steps` ([`record_many`]).
//!   PostgreSQL writes a new version of a row at each update, with new entries in each of the
//!   call table's indexes when the page has no room: appended to the record, the steps made
//!   the load benchmark's check-pin several times slower at 2,000 steps a second.
//!
//! Readers take both ([`for_call`]).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Db;

/// One line of the step log: a webhook step as the call path saw it, queued to the writer
/// ([`crate::storage::Writer::record`]) after the webhook answered. `detail` never holds a
/// phone number or digits. Serialised (without the call, which the line's record names) as a
/// line of `calls.steps`.
#[derive(Debug, Clone, Serialize)]
pub struct StepLog {
    #[serde(skip)]
    pub provider: &'static str,
    #[serde(skip)]
    pub call_sid: String,
    /// Unix milliseconds, when the step began.
    pub at: i64,
    pub applet: &'static str,
    pub event: &'static str,
    pub decision: &'static str,
    pub detail: Option<String>,
    /// Microseconds the step took.
    pub elapsed_us: i64,
}

/// One step as stored: a line of `calls.steps`, or a row of `call_steps`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Step {
    pub at: i64,
    pub applet: String,
    pub event: String,
    pub decision: String,
    pub detail: Option<String>,
    pub elapsed_us: i64,
}

/// One call's step-log lines, ready to append to its record: the call, the time of its first
/// step here (unix ms), and the steps as lines of `calls.steps`, each ending in `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CallLines<'a> {
    pub provider: &'a str,
    pub call_sid: &'a str,
    pub first_at: i64,
    pub lines: String,
}

/// Groups `steps` by call, in the order each call first appears; each call's steps keep
/// their order. Errors: a step that JSON can not encode (none can: every field is a string
/// or an integer).
pub(super) fn lines_by_call(steps: &[StepLog]) -> Result<Vec<CallLines<'_>>, super::Error> {
    let mut calls: Vec<CallLines<'_>> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for step in steps {
        let i = *index
            .entry((step.provider, &step.call_sid))
            .or_insert_with(|| {
                calls.push(CallLines {
                    provider: step.provider,
                    call_sid: &step.call_sid,
                    first_at: step.at,
                    lines: String::new(),
                });
                calls.len() - 1
            });
        let line = serde_json::to_string(step).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let lines = &mut calls[i].lines;
        lines.push_str(&line);
        lines.push('\n');
    }
    Ok(calls)
}

/// Appends one call's lines to its record: `$1` provider, `$2` CallSid, `$3` the lines. A
/// call without a record (its first write failed, and the database answered again since) gets
/// one, in a new call's state ([`super::calls::start_values`]: `$4` phase, `$5` PIN attempts,
/// `$6` outcome), started at its first step here (`$7`, unix ms): the steps are kept.
pub(super) const APPEND_STEPS: &str = "insert into calls (provider, call_sid, steps, phase, pin_attempts, outcome, started_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $7)
         on conflict (provider, call_sid) do update set steps = coalesce(calls.steps, '') || excluded.steps";

/// The insert of call steps into `call_steps`, without its values: (provider, call_sid, at,
/// applet, event, decision, detail, elapsed_us).
const INSERT_STEPS: &str = "insert into call_steps (provider, call_sid, at, applet, event, decision, detail, elapsed_us) values ";

/// The most steps one insert statement writes: it binds 8 values a step, and PostgreSQL
/// takes at most 65,535 in a statement.
const STEPS_PER_STATEMENT: usize = 500;

/// Writes steps as rows of `call_steps`, [`STEPS_PER_STATEMENT`] to a statement (through the
/// pool; see the module's documentation).
pub async fn record_many(
    conn: &mut sqlx::AnyConnection,
    steps: &[StepLog],
) -> Result<(), super::Error> {
    for chunk in steps.chunks(STEPS_PER_STATEMENT) {
        insert_steps(conn, chunk).await?;
    }
    Ok(())
}

/// Writes `steps` (at most [`STEPS_PER_STATEMENT`]) in one statement.
async fn insert_steps(
    conn: &mut sqlx::AnyConnection,
    steps: &[StepLog],
) -> Result<(), super::Error> {
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
            .bind(step.call_sid.as_str())
            .bind(step.at)
            .bind(step.applet)
            .bind(step.event)
            .bind(step.decision)
            .bind(step.detail.as_deref())
            .bind(step.elapsed_us);
    }
    query.execute(conn).await?;
    Ok(())
}

/// [`APPEND_STEPS`] through the pool, as the SQLite writer runs it on its own connection
/// (`writer::direct::record_steps`): for tests, on either engine.
#[cfg(test)]
pub(crate) async fn append_through_pool(
    conn: &mut sqlx::AnyConnection,
    steps: &[StepLog],
) -> Result<(), super::Error> {
    let (phase, attempts, outcome) = super::calls::start_values();
    for call in lines_by_call(steps)? {
        sqlx::query(APPEND_STEPS)
            .bind(call.provider)
            .bind(call.call_sid)
            .bind(&call.lines)
            .bind(phase)
            .bind(attempts)
            .bind(outcome)
            .bind(call.first_at)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The steps in `calls.steps` text. A line that does not parse (the column edited by hand) is
/// left out and logged with where it failed and why in kind, never with the error's message,
/// which can quote the line's values.
pub fn parse_lines(text: &str) -> Vec<Step> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| match serde_json::from_str(line) {
            Ok(step) => Some(step),
            Err(e) => {
                tracing::warn!(
                    category = ?e.classify(),
                    column = e.column(),
                    "a stored call step does not parse; left out"
                );
                None
            }
        })
        .collect()
}

/// The steps of one call, in time order (steps of the same millisecond in the order they were
/// written): those in its record and those in `call_steps` (see the module's documentation).
pub async fn for_call(db: &Db, provider: &str, call_sid: &str) -> Result<Vec<Step>, super::Error> {
    let mut steps = sqlx::query(
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
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let text: Option<String> =
        sqlx::query("select steps from calls where provider = $1 and call_sid = $2")
            .bind(provider)
            .bind(call_sid)
            .fetch_optional(db.pool())
            .await?
            .map(|row| row.try_get("steps"))
            .transpose()?
            .flatten();
    if let Some(text) = text {
        steps.extend(parse_lines(&text));
    }
    steps.sort_by_key(|s| s.at);
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(call_sid: &str, at: i64, applet: &'static str) -> StepLog {
        StepLog {
            provider: "exotel",
            call_sid: call_sid.to_owned(),
            at,
            applet,
            event: "prompt_needed",
            decision: "ask_for_pin",
            detail: Some("prompt: enter_pin".into()),
            elapsed_us: at * 10,
        }
    }

    /// Steps are grouped by call in the order each call first appears, each call's in order,
    /// and read back as written.
    #[test]
    fn steps_are_grouped_by_call_and_read_back_as_written() {
        let steps = [
            step("CA-b", 5, "greeting"),
            step("CA-a", 3, "greeting"),
            step("CA-b", 7, "gather"),
            step("CA-a", 4, "gather"),
        ];
        let calls = lines_by_call(&steps).unwrap();
        assert_eq!(
            calls
                .iter()
                .map(|c| (c.call_sid, c.first_at))
                .collect::<Vec<_>>(),
            [("CA-b", 5), ("CA-a", 3)]
        );
        let b = parse_lines(&calls[0].lines);
        assert_eq!(
            b.iter()
                .map(|s| (s.at, s.applet.as_str()))
                .collect::<Vec<_>>(),
            [(5, "greeting"), (7, "gather")]
        );
        assert_eq!(b[1].detail.as_deref(), Some("prompt: enter_pin"));
        assert_eq!(b[1].elapsed_us, 70);
        assert_eq!(calls[0].lines.lines().count(), 2);
    }

    /// More steps than one statement takes are written in several, every one of them.
    #[tokio::test]
    async fn more_steps_than_one_statement_takes_are_all_written() {
        let db = crate::storage::test_db().await;
        let n = STEPS_PER_STATEMENT * 2 + 7;
        let steps: Vec<StepLog> = (0..n)
            .map(|i| step("CA-many", i as i64, "gather"))
            .collect();
        let mut conn = db.acquire().await.unwrap();
        record_many(&mut conn, &steps).await.unwrap();
        drop(conn);
        let stored = for_call(&db, "exotel", "CA-many").await.unwrap();
        assert_eq!(stored.len(), n);
        assert_eq!(stored.last().map(|s| s.at), Some(n as i64 - 1));
    }

    /// A line that does not parse is left out; the others are kept.
    #[test]
    fn a_damaged_line_is_left_out() {
        let good = lines_by_call(&[step("CA-1", 9, "gather")])
            .unwrap()
            .remove(0)
            .lines;
        let text = format!("{{\"at\":1,\n{good}\n");
        let parsed = parse_lines(&text);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].at, 9);
    }

    /// The warning for a damaged line never quotes it: a value typed wrong (here a phone
    /// number where the time goes) would be in serde's message.
    #[test]
    fn a_damaged_line_is_logged_without_its_values() {
        let lines = crate::telemetry::Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .finish();
        let parsed = tracing::subscriber::with_default(subscriber, || {
            parse_lines("{\"at\":\"+919812345678\",\"applet\":\"gather\"}\n")
        });
        assert!(parsed.is_empty());
        let text = lines.text();
        assert!(text.contains("does not parse"), "{text}");
        assert!(!text.contains("9812345678"), "{text}");
    }

    /// Steps appended to a call's record leave its other columns as they were; a call without
    /// a record gets one; steps in `call_steps` are read too, all in time order.
    #[tokio::test]
    async fn appended_steps_keep_the_record_and_merge_with_older_ones() {
        let db = crate::storage::test_db().await;
        let mut conn = db.acquire().await.unwrap();
        crate::storage::calls::start(
            &mut conn,
            "exotel",
            "CA-kept",
            Some("+917709562799"),
            None,
            1,
        )
        .await
        .unwrap();
        record_many(&mut conn, &[step("CA-kept", 2, "greeting")])
            .await
            .unwrap();
        append_through_pool(
            &mut conn,
            &[step("CA-kept", 4, "check-pin"), step("CA-new", 8, "gather")],
        )
        .await
        .unwrap();
        append_through_pool(&mut conn, &[step("CA-kept", 3, "gather")])
            .await
            .unwrap();
        drop(conn);
        let kept = for_call(&db, "exotel", "CA-kept").await.unwrap();
        assert_eq!(
            kept.iter()
                .map(|s| (s.at, s.applet.as_str()))
                .collect::<Vec<_>>(),
            [(2, "greeting"), (3, "gather"), (4, "check-pin")]
        );
        let record = crate::storage::calls::get(&db, "exotel", "CA-kept")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.caller.as_deref(), Some("+917709562799"));
        assert_eq!((record.started_at, record.updated_at), (1, 1));
        let new = crate::storage::calls::get(&db, "exotel", "CA-new")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((new.started_at, new.outcome.as_str()), (8, "in_progress"));
        assert_eq!(for_call(&db, "exotel", "CA-new").await.unwrap().len(), 1);
        assert!(for_call(&db, "exotel", "CA-none").await.unwrap().is_empty());
    }
}
