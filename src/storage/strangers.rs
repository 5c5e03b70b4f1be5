//! What each virtual number answers a caller with no route on it ([`Strangers`], migration
//! 0017): read at a call's first step, set by the admin API.

use std::collections::HashMap;

use sqlx::Row;

use super::Db;
use super::row::StoredRow;
use crate::domain::Strangers;

/// What `virtual_number` (E.164) answers a caller with no route; [`Strangers::Pin`] for a
/// number outside the pool, or a value this build does not know.
///
/// Errors: the database's.
pub async fn of(db: &Db, virtual_number: &str) -> Result<Strangers, super::Error> {
    let row = sqlx::query(OF)
        .bind(virtual_number)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref()
        .map(from_row)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// What `$1` (E.164) answers strangers: [`of`]'s statement, decoded by [`from_row`].
pub(crate) const OF: &str = "select strangers from virtual_numbers where number = $1";

/// What a number answers strangers, as [`OF`] selects it (a value this build does not know
/// reads as [`Strangers::Pin`]).
pub(crate) fn from_row(row: &impl StoredRow) -> Result<Strangers, super::Error> {
    Ok(Strangers::parse(&row.column::<String>("strangers")?).unwrap_or_default())
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

/// The number of party A (`party_a`) or B of the booking `booking_id`, when that booking is
/// active at `now_ms` (unix ms) on `virtual_number` (E.164): whom a caller the business chose
/// for it ([`Strangers::Webhook`]) is bridged to. `None` otherwise.
///
/// Errors: the database's; [`super::Error::Damaged`] when the stored number is not E.164.
pub async fn chosen_party(
    db: &Db,
    booking_id: &str,
    party_a: bool,
    virtual_number: &str,
    now_ms: i64,
) -> Result<Option<crate::domain::PhoneNumber>, super::Error> {
    let column = if party_a { "party_a" } else { "party_b" };
    let row = sqlx::query(
        "select party_a, party_b from bookings
         where booking_id = $1 and virtual_number = $2 and closed_at is null and expires_at > $3",
    )
    .bind(booking_id)
    .bind(virtual_number)
    .bind(now_ms)
    .fetch_optional(db.pool())
    .await?;
    // A pending booking's party B is stored empty (migration 0020): no one to dial yet.
    let number = row
        .map(|r| r.try_get::<String, _>(column))
        .transpose()?
        .filter(|n| !n.is_empty());
    number.map(|n| super::stored_number(column, &n)).transpose()
}

/// The order `order_id` when it is active at `now_ms` and its PIN works on `virtual_number`
/// (it names that number, or none): whose customer a caller the business chose it for is
/// bridged to. A booking's party PIN is not an order here.
///
/// Errors: the database's.
pub async fn chosen_order(
    db: &Db,
    order_id: &str,
    virtual_number: &str,
    now_ms: i64,
) -> Result<Option<super::orders::Order>, super::Error> {
    Ok(super::orders::get(db, order_id).await?.filter(|o| {
        o.status(now_ms) == crate::domain::OrderStatus::Active
            && o.virtual_number
                .as_ref()
                .is_none_or(|vn| vn.as_ref() == virtual_number)
    }))
}
