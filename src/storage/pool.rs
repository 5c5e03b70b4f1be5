//! The virtual-number pool.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;

/// A virtual number of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualNumber {
    /// E.164.
    pub number: String,
    pub provider: String,
    /// Only given to bookings that name it.
    pub reserved: bool,
    /// Unix milliseconds; set when drained.
    pub drained_at: Option<i64>,
    pub created_at: i64,
    /// Bookings active on it now.
    pub active_bookings: i64,
    /// How its bridges are dialled (migration 0014); its `language` is its greetings'.
    pub options: crate::domain::CallOptions,
}

/// Why a number was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("this virtual number is in the pool already")]
    Exists,
    #[error(transparent)]
    Database(#[from] super::Error),
}

const SELECT: &str = "select v.number, v.provider, v.reserved, v.drained_at, v.created_at,
        v.language, v.ring_timeout_secs, v.max_conversation_secs, v.record, v.whisper,
        (select count(*) from bookings b
          where b.virtual_number = v.number and b.closed_at is null and b.expires_at > $1)
        as active_bookings
    from virtual_numbers v";

fn from_row(row: &AnyRow) -> Result<VirtualNumber, super::Error> {
    Ok(VirtualNumber {
        number: row.try_get("number")?,
        provider: row.try_get("provider")?,
        reserved: row.try_get::<i64, _>("reserved")? != 0,
        drained_at: row.try_get("drained_at")?,
        created_at: row.try_get("created_at")?,
        active_bookings: row.try_get("active_bookings")?,
        options: super::call_options::from_row(row)?,
    })
}

/// Adds a number (E.164) to the pool.
pub async fn add(
    db: &Db,
    number: &str,
    provider: &str,
    reserved: bool,
    now_ms: i64,
) -> Result<VirtualNumber, AddError> {
    let mut tx = db.begin_write().await?;
    let exists = sqlx::query("select 1 from virtual_numbers where number = $1")
        .bind(number)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        return Err(AddError::Exists);
    }
    sqlx::query(
        "insert into virtual_numbers (number, provider, reserved, created_at) values ($1, $2, $3, $4)",
    )
    .bind(number)
    .bind(provider)
    .bind(i64::from(reserved))
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(VirtualNumber {
        number: number.to_owned(),
        provider: provider.to_owned(),
        reserved,
        drained_at: None,
        created_at: now_ms,
        active_bookings: 0,
        options: crate::domain::CallOptions::default(),
    })
}

/// Every number of the pool with its count of active bookings, in number order.
pub async fn list(db: &Db, now_ms: i64) -> Result<Vec<VirtualNumber>, super::Error> {
    let sql = sqlx::AssertSqlSafe(format!("{SELECT} order by v.number"));
    sqlx::query(sql)
        .bind(now_ms)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Which numbers [`page`] returns: drained ones or those not drained (`Some(true)`,
/// `Some(false)`; all when `None`), of `provider` when given, added before the cursor
/// `before` (the `created_at` and number of the last one of the page before), at most
/// `limit`; each with its count of bookings active at `now` (unix ms).
#[derive(Debug, Clone, Default)]
pub struct NumberFilter {
    pub drained: Option<bool>,
    pub provider: Option<String>,
    pub before: Option<(i64, String)>,
    pub limit: i64,
    pub now: i64,
}

/// The numbers `filter` selects, newest first (by `created_at`, then number), read from the
/// index by creation (migration 0012).
///
/// Errors: the database's.
pub async fn page(db: &Db, filter: &NumberFilter) -> Result<Vec<VirtualNumber>, super::Error> {
    let mut c = super::keyset::Conditions::default();
    // `SELECT` counts the active bookings at `$1`.
    c.int(filter.now);
    match filter.drained {
        Some(true) => c.push("v.drained_at is not null".into()),
        Some(false) => c.push("v.drained_at is null".into()),
        None => {}
    }
    if let Some(provider) = &filter.provider {
        let provider = c.text(provider);
        c.push(format!("v.provider = {provider}"));
    }
    if let Some(before) = &filter.before {
        c.before("v.created_at", "v.number", before);
    }
    c.query(SELECT, "v.created_at", "v.number", filter.limit)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// One number of the pool.
pub async fn get(
    db: &Db,
    number: &str,
    now_ms: i64,
) -> Result<Option<VirtualNumber>, super::Error> {
    let sql = sqlx::AssertSqlSafe(format!("{SELECT} where v.number = $2"));
    sqlx::query(sql)
        .bind(now_ms)
        .bind(number)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Drains a number: no new bookings get it; bookings on it go on until they end. Returns the
/// number as it is now, or `None` when it is not in the pool. Draining twice keeps the first time.
pub async fn drain(
    db: &Db,
    number: &str,
    now_ms: i64,
) -> Result<Option<VirtualNumber>, super::Error> {
    sqlx::query(
        "update virtual_numbers set drained_at = $1 where number = $2 and drained_at is null",
    )
    .bind(now_ms)
    .bind(number)
    .execute(db.pool())
    .await?;
    get(db, number, now_ms).await
}

impl From<sqlx::Error> for AddError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.into())
    }
}
