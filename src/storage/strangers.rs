//! What each virtual number answers a caller with no route on it ([`Strangers`], migration
//! 0017): read at a call's first step, set by the admin API.

use std::collections::HashMap;

use sqlx::Row;

use super::Db;
use crate::domain::Strangers;

/// What `virtual_number` (E.164) answers a caller with no route; [`Strangers::Pin`] for a
/// number outside the pool, or a value this build does not know.
///
/// Errors: the database's.
pub async fn of(db: &Db, virtual_number: &str) -> Result<Strangers, super::Error> {
    let row = sqlx::query("select strangers from virtual_numbers where number = $1")
        .bind(virtual_number)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(row) => Strangers::parse(&row.try_get::<String, _>("strangers")?).unwrap_or_default(),
        None => Strangers::default(),
    })
}

/// The numbers whose answer is not [`Strangers::Pin`], with it: for lists of the pool.
///
/// Errors: the database's.
pub async fn all(db: &Db) -> Result<HashMap<String, Strangers>, super::Error> {
    sqlx::query("select number, strangers from virtual_numbers where strangers <> 'pin'")
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|row| {
            let answer: String = row.try_get("strangers")?;
            Ok((
                row.try_get("number")?,
                Strangers::parse(&answer).unwrap_or_default(),
            ))
        })
        .collect()
}

/// Sets what `virtual_number` answers a caller with no route. Returns `false` when the
/// number is not in the pool.
///
/// Errors: the database's.
pub async fn set(db: &Db, virtual_number: &str, answer: Strangers) -> Result<bool, super::Error> {
    let updated = sqlx::query("update virtual_numbers set strangers = $1 where number = $2")
        .bind(answer.as_str())
        .bind(virtual_number)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(updated > 0)
}
