//! Trusted callers: numbers an operator vouches for (the fleet's couriers). A virtual number's
//! spent guessing budget never stops them, only their own wrong-PIN limit does; the budget
//! reads the table itself. One row per number (E.164), with the operator's label.

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Backend, Db};
use crate::domain::{NewTrustedCaller, PhoneNumber};

/// A trusted caller as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCaller {
    pub number: PhoneNumber,
    /// The operator's name for the caller.
    pub label: Option<String>,
    /// Unix milliseconds of the first registration; adding the number again keeps it.
    pub created_at: i64,
}

/// Whether [`add`] registered a new number or updated the label of one registered already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The number was not registered: it is now, created at the time given.
    New,
    /// The number was registered: its label is replaced, its creation time kept.
    Updated,
}

/// What [`add_many`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddedMany {
    /// Numbers registered now.
    pub new: usize,
    /// Numbers registered already, whose label was replaced.
    pub updated: usize,
}

fn from_row(row: &AnyRow) -> Result<TrustedCaller, super::Error> {
    Ok(TrustedCaller {
        number: super::stored_number(
            "trusted_callers.number",
            &row.try_get::<String, _>("number")?,
        )?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Registers `caller` as trusted (created at `now_ms`, unix milliseconds), or, when its number
/// is registered already, replaces its label (with none when `caller.label` is `None`) and
/// keeps its creation time. Returns the stored record and which of the two happened.
///
/// Errors: the database's.
pub async fn add(
    db: &Db,
    caller: &NewTrustedCaller,
    now_ms: i64,
) -> Result<(TrustedCaller, Added), super::Error> {
    let mut tx = db.begin_write().await?;
    let existing = find(&mut tx, caller.number.as_ref()).await?;
    let added = match existing {
        None => {
            // An upsert: on PostgreSQL another request may add the same number meanwhile.
            sqlx::query(sqlx::AssertSqlSafe(upsert_sql(1)))
                .bind(now_ms)
                .bind(caller.number.as_ref())
                .bind(caller.label.as_deref())
                .execute(&mut *tx)
                .await?;
            Added::New
        }
        Some(_) => {
            sqlx::query("update trusted_callers set label = $2 where number = $1")
                .bind(caller.number.as_ref())
                .bind(caller.label.as_deref())
                .execute(&mut *tx)
                .await?;
            Added::Updated
        }
    };
    tx.commit().await?;
    let record = TrustedCaller {
        number: caller.number.clone(),
        label: caller.label.clone(),
        created_at: existing.map_or(now_ms, |e| e.created_at),
    };
    Ok((record, added))
}

async fn find(
    conn: &mut AnyConnection,
    number: &str,
) -> Result<Option<TrustedCaller>, super::Error> {
    sqlx::query("select number, label, created_at from trusted_callers where number = $1")
        .bind(number)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Registers many trusted callers in one write transaction, each as [`add`] does: all of them
/// or, on a database error, none. A number given twice takes the later row's label.
///
/// Errors: the database's, which roll everything back.
pub async fn add_many(
    db: &Db,
    callers: &[NewTrustedCaller],
    now_ms: i64,
) -> Result<AddedMany, super::Error> {
    // The last row of each number, in input order: one statement may not touch a row twice
    // (PostgreSQL refuses `on conflict do update` on a key its own rows repeat).
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(callers.len());
    for (i, c) in callers.iter().enumerate() {
        last.insert(c.number.as_ref(), i);
    }
    let rows: Vec<&NewTrustedCaller> = callers
        .iter()
        .enumerate()
        .filter(|(i, c)| last.get(c.number.as_ref()) == Some(i))
        .map(|(_, c)| c)
        .collect();
    let chunk = rows_per_statement(db.backend());
    let mut tx = db.begin_write().await?;
    let mut registered = 0;
    for part in rows.chunks(chunk) {
        registered += stored_numbers(&mut tx, part).await?.len();
        let mut query = sqlx::query(sqlx::AssertSqlSafe(upsert_sql(part.len()))).bind(now_ms);
        for c in part {
            query = query.bind(c.number.as_ref()).bind(c.label.as_deref());
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(AddedMany {
        new: rows.len() - registered,
        updated: registered,
    })
}

/// Rows per statement of [`add_many`]: two values a row, well under SQLite's 999 parameters of
/// old builds and PostgreSQL's 65,535.
fn rows_per_statement(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 200,
        Backend::Postgres => 1000,
    }
}

/// The numbers among `callers` that are registered already.
async fn stored_numbers(
    conn: &mut AnyConnection,
    callers: &[&NewTrustedCaller],
) -> Result<HashSet<String>, super::Error> {
    let placeholders = (1..=callers.len())
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("select number from trusted_callers where number in ({placeholders})");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for c in callers {
        query = query.bind(c.number.as_ref());
    }
    query
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| row.try_get("number"))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// `insert ... on conflict update` of `rows` callers: `$1` the creation time, then number and
/// label per row. Built from placeholders only.
fn upsert_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|r| format!("(${}, ${}, $1)", 2 + 2 * r, 3 + 2 * r))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "insert into trusted_callers (number, label, created_at) values {values}
         on conflict (number) do update set label = excluded.label"
    )
}

/// Unregisters `number`. True when it was registered.
///
/// Errors: the database's.
pub async fn remove(db: &Db, number: &PhoneNumber) -> Result<bool, super::Error> {
    let done = sqlx::query("delete from trusted_callers where number = $1")
        .bind(number.as_ref())
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The registration of `number`, if it has one.
///
/// Errors: the database's.
pub async fn get(db: &Db, number: &PhoneNumber) -> Result<Option<TrustedCaller>, super::Error> {
    let mut conn = db.acquire().await?;
    find(&mut conn, number.as_ref()).await
}

/// Whether `number` (E.164, as [`PhoneNumber`] writes it) is registered as trusted.
///
/// Errors: the database's.
pub async fn is_trusted(db: &Db, number: &str) -> Result<bool, super::Error> {
    Ok(
        sqlx::query("select 1 as one from trusted_callers where number = $1")
            .bind(number)
            .fetch_optional(db.pool())
            .await?
            .is_some(),
    )
}

/// One page of the trusted callers in the order of their numbers (E.164, as text): `limit` of
/// them after skipping `offset`. The primary key serves the order, so a page costs no sort.
///
/// Errors: the database's.
pub async fn list(db: &Db, limit: i64, offset: i64) -> Result<Vec<TrustedCaller>, super::Error> {
    sqlx::query(
        "select number, label, created_at from trusted_callers
         order by number limit $1 offset $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// How many numbers are registered as trusted.
///
/// Errors: the database's.
pub async fn count(db: &Db) -> Result<i64, super::Error> {
    sqlx::query("select count(*) as n from trusted_callers")
        .fetch_one(db.pool())
        .await?
        .try_get("n")
        .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Region;
    use crate::storage::test_db;

    fn caller(number: &str, label: Option<&str>) -> NewTrustedCaller {
        NewTrustedCaller::parse(number, label, Region::parse("IN").unwrap()).unwrap()
    }

    #[tokio::test]
    async fn adding_a_number_again_replaces_its_label_and_keeps_its_creation_time() {
        let db = test_db().await;
        let (first, added) = add(&db, &caller("09812345678", Some("Ravi")), 1_000)
            .await
            .unwrap();
        assert_eq!(added, Added::New);
        assert_eq!(first.number.as_ref(), "+919812345678");
        let (again, added) = add(&db, &caller("+91 98123 45678", Some("Ravi K")), 2_000)
            .await
            .unwrap();
        assert_eq!(added, Added::Updated);
        assert_eq!(again.created_at, 1_000);
        let stored = get(&db, &caller("09812345678", None).number).await.unwrap();
        assert_eq!(stored, Some(again));
        assert_eq!(count(&db).await.unwrap(), 1);
        assert!(is_trusted(&db, "+919812345678").await.unwrap());
        assert!(!is_trusted(&db, "+919812345679").await.unwrap());
    }

    #[tokio::test]
    async fn removing_a_number_untrusts_it_and_says_whether_it_was_there() {
        let db = test_db().await;
        let ravi = caller("09812345678", None);
        add(&db, &ravi, 1).await.unwrap();
        assert!(remove(&db, &ravi.number).await.unwrap());
        assert!(!remove(&db, &ravi.number).await.unwrap());
        assert!(!is_trusted(&db, ravi.number.as_ref()).await.unwrap());
    }

    #[tokio::test]
    async fn a_bulk_add_counts_new_and_updated_numbers_and_keeps_the_last_label_of_a_repeat() {
        let db = test_db().await;
        add(&db, &caller("09812345670", Some("old")), 1)
            .await
            .unwrap();
        // More rows than one statement takes, so the chunks' counts add up.
        let mut many: Vec<NewTrustedCaller> = (0..450)
            .map(|i| caller(&format!("098123{i:05}"), Some("fleet")))
            .collect();
        many.push(caller("09812345670", Some("first")));
        many.push(caller("09812345670", Some("second")));
        let done = add_many(&db, &many, 5).await.unwrap();
        assert_eq!(
            done,
            AddedMany {
                new: 450,
                updated: 1
            }
        );
        assert_eq!(count(&db).await.unwrap(), 451);
        let repeated = get(&db, &caller("09812345670", None).number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(repeated.label.as_deref(), Some("second"));
        assert_eq!(repeated.created_at, 1);
    }

    #[tokio::test]
    async fn pages_follow_the_numbers_in_order() {
        let db = test_db().await;
        for n in ["09812345673", "09812345671", "09812345672"] {
            add(&db, &caller(n, None), 1).await.unwrap();
        }
        let first = list(&db, 2, 0).await.unwrap();
        let second = list(&db, 2, 2).await.unwrap();
        let numbers: Vec<&str> = first
            .iter()
            .chain(&second)
            .map(|c| c.number.as_ref())
            .collect();
        assert_eq!(numbers, ["+919812345671", "+919812345672", "+919812345673"]);
    }
}
