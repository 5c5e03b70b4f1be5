//! Alternate numbers of a booking's parties (migration 0021): a party calling from one of
//! them is bridged as from its own phone, and the allocation rule counts them as the party's
//! numbers.

use std::collections::BTreeSet;

use sqlx::{AnyConnection, Row};

use super::{Db, stored_number};
use crate::domain::PhoneNumber;

/// [`held`]'s statement: `$1` a number (E.164), `$2` now (ms), `$3` a booking to leave out
/// (`''`: none). The virtual numbers of the active bookings that have it as a party's number
/// or alternate.
const HELD: &str = "select virtual_number from bookings
         where party_a = $1 and closed_at is null and expires_at > $2 and booking_id <> $3
         union all
         select virtual_number from bookings
         where party_b = $1 and closed_at is null and expires_at > $2 and booking_id <> $3
         union all
         select b.virtual_number from booking_alternates x cross join bookings b
         where b.booking_id = x.booking_id and x.number = $1 and b.closed_at is null and b.expires_at > $2
           and b.booking_id <> $3";

/// The virtual numbers held at `now_ms` by any of `numbers` (E.164), as a party's number or
/// an alternate, in active bookings other than `except` (a booking id; `""`: none). The
/// allocation rule: no number of a new booking's parties may hold its virtual number.
///
/// Errors: the database's.
pub(super) async fn held(
    conn: &mut AnyConnection,
    numbers: &[&str],
    except: &str,
    now_ms: i64,
) -> Result<BTreeSet<String>, super::Error> {
    let mut held = BTreeSet::new();
    for number in numbers {
        let rows = sqlx::query(HELD)
            .bind(*number)
            .bind(now_ms)
            .bind(except)
            .fetch_all(&mut *conn)
            .await?;
        for row in rows {
            held.insert(row.try_get::<String, _>("virtual_number")?);
        }
    }
    Ok(held)
}

/// Every alternate number (E.164) of `booking_id`, either side, read in the caller's
/// transaction.
///
/// Errors: the database's.
pub(super) async fn numbers_of(
    conn: &mut AnyConnection,
    booking_id: &str,
) -> Result<Vec<String>, super::Error> {
    let rows = sqlx::query("select number from booking_alternates where booking_id = $1")
        .bind(booking_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("number")?))
        .collect()
}

/// Stores `numbers` (E.164) as alternates of party A (`party_a`) or B of `booking_id`.
///
/// Errors: the database's.
pub(super) async fn insert(
    conn: &mut AnyConnection,
    booking_id: &str,
    party_a: bool,
    numbers: &[PhoneNumber],
) -> Result<(), super::Error> {
    for number in numbers {
        sqlx::query(
            "insert into booking_alternates (booking_id, party, number) values ($1, $2, $3)",
        )
        .bind(booking_id)
        .bind(if party_a { "a" } else { "b" })
        .bind(number.as_ref())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The alternates of party A, then of party B, of `booking_id`, each in the order stored.
///
/// Errors: the database's; [`super::Error::Damaged`] when a stored number is not E.164.
pub async fn of(
    db: &Db,
    booking_id: &str,
) -> Result<(Vec<PhoneNumber>, Vec<PhoneNumber>), super::Error> {
    let rows = sqlx::query(
        "select party, number from booking_alternates where booking_id = $1 order by number",
    )
    .bind(booking_id)
    .fetch_all(db.pool())
    .await?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for row in rows {
        let number = stored_number(
            "booking_alternates.number",
            &row.try_get::<String, _>("number")?,
        )?;
        match row.try_get::<String, _>("party")?.as_str() {
            "a" => a.push(number),
            _ => b.push(number),
        }
    }
    Ok((a, b))
}

/// Why [`replace`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// No booking has this id.
    #[error("no booking with this booking_id")]
    Missing,
    /// The booking is expired or closed.
    #[error("this booking is not active")]
    NotActive,
    /// An alternate holds the booking's virtual number in another active booking.
    #[error(
        "an alternate number already holds this booking's virtual number in another active booking"
    )]
    Conflict,
    #[error(transparent)]
    Database(#[from] super::Error),
}

impl From<sqlx::Error> for ReplaceError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.into())
    }
}

/// Replaces the alternates of the active booking `booking_id`: party A's with `a` when
/// given, party B's with `b` when given, checked against the allocation rule (no alternate
/// may hold the booking's virtual number in another active booking) in one write
/// transaction.
///
/// Errors: [`ReplaceError`].
pub async fn replace(
    db: &Db,
    booking_id: &str,
    a: Option<&[PhoneNumber]>,
    b: Option<&[PhoneNumber]>,
    now_ms: i64,
) -> Result<(), ReplaceError> {
    let mut tx = db.begin_write().await?;
    let row = sqlx::query(
        "select virtual_number, closed_at, expires_at from bookings where booking_id = $1",
    )
    .bind(booking_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ReplaceError::Missing)?;
    let closed: Option<i64> = row.try_get("closed_at")?;
    let expires: i64 = row.try_get("expires_at")?;
    if closed.is_some() || expires <= now_ms {
        return Err(ReplaceError::NotActive);
    }
    let virtual_number: String = row.try_get("virtual_number")?;
    for (party_a, numbers) in [(true, a), (false, b)] {
        let Some(numbers) = numbers else { continue };
        let texts: Vec<&str> = numbers.iter().map(AsRef::as_ref).collect();
        if held(&mut tx, &texts, booking_id, now_ms)
            .await?
            .contains(&virtual_number)
        {
            return Err(ReplaceError::Conflict);
        }
        sqlx::query("delete from booking_alternates where booking_id = $1 and party = $2")
            .bind(booking_id)
            .bind(if party_a { "a" } else { "b" })
            .execute(&mut *tx)
            .await?;
        insert(&mut tx, booking_id, party_a, numbers).await?;
    }
    tx.commit().await?;
    Ok(())
}
