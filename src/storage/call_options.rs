//! How a bridge is dialled, as a virtual number, an order or a booking sets it (migration
//! 0014): read for a bridge and for the admin API, changed by the admin API and UI. NULL
//! columns inherit ([`CallOptions`]).

use sqlx::Row;

use super::Db;
use super::row::StoredRow;
use crate::domain::{CallOptions, CallOptionsChange};

/// Whose options: each names its table and the key column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A number of the pool, by its E.164 `number`.
    VirtualNumber,
    /// An order, by its `order_id` (the newest order of the id).
    Order,
    /// A booking, by its `booking_id`.
    Booking,
}

impl Owner {
    /// The table and the key column (fixed strings: never from a request).
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Self::VirtualNumber => ("virtual_numbers", "number"),
            Self::Order => ("orders", "order_id"),
            Self::Booking => ("bookings", "booking_id"),
        }
    }
}

/// What a bridge is dialled with, from storage: the order's or booking's own options, and for
/// a booking the reference a whisper names and its party A.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeOptions {
    /// The order's or booking's options (the number's are kept in memory: see [`numbers`]).
    pub own: CallOptions,
    /// A booking's reference (`None` for an order, or a booking without one).
    pub reference: Option<String>,
    /// A booking's party A (E.164), to tell which party a bridge dials.
    pub party_a: Option<String>,
}

/// The options of a row that has the columns of migration 0014 (and a `language`).
pub(super) fn from_row(row: &impl StoredRow) -> Result<CallOptions, super::Error> {
    Ok(decode(StoredOptions {
        language: row.column("language")?,
        ring_timeout_secs: row.column("ring_timeout_secs")?,
        max_conversation_secs: row.column("max_conversation_secs")?,
        record: row.column("record")?,
        whisper: row.column("whisper")?,
    }))
}

/// The option columns ([`OPTION_COLUMNS`]) as read, from the pool's rows or the writer's own
/// connection's.
#[derive(Debug, Clone, Default)]
pub(super) struct StoredOptions {
    pub language: Option<String>,
    pub ring_timeout_secs: Option<i64>,
    pub max_conversation_secs: Option<i64>,
    pub record: Option<i64>,
    pub whisper: Option<i64>,
}

/// The options the columns hold: a value out of range reads as unset.
pub(super) fn decode(stored: StoredOptions) -> CallOptions {
    let secs = |s: Option<i64>| s.and_then(|s| u32::try_from(s).ok());
    CallOptions {
        language: stored.language.filter(|l| !l.is_empty()),
        ring_timeout_secs: secs(stored.ring_timeout_secs),
        max_conversation_secs: secs(stored.max_conversation_secs),
        record: stored.record.map(|v| v != 0),
        whisper: stored.whisper.map(|v| v != 0),
    }
}

pub(super) const OPTION_COLUMNS: &str =
    "language, ring_timeout_secs, max_conversation_secs, record, whisper";

/// The options `owner` `key` sets, `None` when there is no such row. For an order id given
/// again after its order was closed, the newest order's.
///
/// Errors: the database's.
pub async fn get(db: &Db, owner: Owner, key: &str) -> Result<Option<CallOptions>, super::Error> {
    let (table, column) = owner.table();
    let newest = if owner == Owner::Order {
        " order by created_at desc limit 1"
    } else {
        ""
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "select {OPTION_COLUMNS} from {table} where {column} = $1{newest}"
    ));
    sqlx::query(sql)
        .bind(key)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Applies `change` to `owner` `key` (for an order, its newest row) and returns the options
/// as they are now, `None` when there is no such row. A virtual number's language is the one
/// the greetings page sets too; a change to a virtual number's options is announced to the
/// greetings' book of every instance ([`super::changes`]).
///
/// Errors: the database's.
pub async fn change(
    db: &Db,
    owner: Owner,
    key: &str,
    change: &CallOptionsChange,
) -> Result<Option<CallOptions>, super::Error> {
    if !change.is_empty() {
        let (table, column) = owner.table();
        let newest = if owner == Owner::Order {
            " and created_at = (select max(created_at) from orders where order_id = $9)"
        } else {
            ""
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "update {table} set
                 ring_timeout_secs = case when $1 = 1 then $2 else ring_timeout_secs end,
                 max_conversation_secs = case when $3 = 1 then $4 else max_conversation_secs end,
                 record = case when $5 = 1 then $6 else record end,
                 whisper = case when $7 = 1 then $8 else whisper end,
                 language = case when $10 = 1 then $11 else language end
             where {column} = $9{newest}"
        ));
        let set = |present: bool| i64::from(present);
        sqlx::query(sql)
            .bind(set(change.ring_timeout_secs.is_some()))
            .bind(change.ring_timeout_secs.flatten().map(i64::from))
            .bind(set(change.max_conversation_secs.is_some()))
            .bind(change.max_conversation_secs.flatten().map(i64::from))
            .bind(set(change.record.is_some()))
            .bind(change.record.flatten().map(i64::from))
            .bind(set(change.whisper.is_some()))
            .bind(change.whisper.flatten().map(i64::from))
            .bind(key)
            .bind(set(change.language.is_some()))
            .bind(change.language.clone().flatten())
            .execute(db.pool())
            .await?;
        if owner == Owner::VirtualNumber {
            super::changes::announce(db).await;
        }
    }
    get(db, owner, key).await
}

/// The virtual numbers that set any option (language, limits, recording, whisper), with their
/// options: what calls through them are dialled with, kept in memory by the greetings' book.
///
/// Errors: the database's.
pub async fn numbers(db: &Db) -> Result<Vec<(String, CallOptions)>, super::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select number, {OPTION_COLUMNS} from virtual_numbers
         where language is not null or ring_timeout_secs is not null
            or max_conversation_secs is not null or record is not null or whisper is not null"
    ));
    sqlx::query(sql)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|row| Ok((row.try_get("number")?, from_row(row)?)))
        .collect()
}

/// [`for_bridge`]'s statement for a booking: its options, `reference` and `party_a`, by `$1`
/// its id.
pub(crate) static BOOKING_BRIDGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("select {OPTION_COLUMNS}, reference, party_a from bookings where booking_id = $1")
});

/// [`for_bridge`]'s statement for an order: the options of the newest order of `$1` its id.
pub(crate) static ORDER_BRIDGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "select {OPTION_COLUMNS} from orders where order_id = $1 order by created_at desc limit 1"
    )
});

/// A booking's bridge from a row of [`BOOKING_BRIDGE`].
///
/// Errors: a column missing or of another type.
pub(crate) fn booking_bridge_from_row(row: &impl StoredRow) -> Result<BridgeOptions, super::Error> {
    Ok(BridgeOptions {
        own: from_row(row)?,
        reference: row.column("reference")?,
        party_a: Some(row.column("party_a")?),
    })
}

/// An order's bridge from a row of [`ORDER_BRIDGE`].
///
/// Errors: a column missing or of another type.
pub(crate) fn order_bridge_from_row(row: &impl StoredRow) -> Result<BridgeOptions, super::Error> {
    Ok(BridgeOptions {
        own: from_row(row)?,
        ..BridgeOptions::default()
    })
}

/// What a bridge for the booking `booking_id`, else the order `order_id`, is dialled with, in
/// one read through the pool (the call path reads it through the writer:
/// [`super::call_facts::CallRead::Bridge`]). Rows that are missing read as no options.
///
/// Errors: the database's.
pub async fn for_bridge(
    db: &Db,
    order_id: Option<&str>,
    booking_id: Option<&str>,
) -> Result<BridgeOptions, super::Error> {
    let (sql, key, decode): (&'static str, _, fn(&_) -> _) = match (booking_id, order_id) {
        (Some(booking_id), _) => (&BOOKING_BRIDGE, booking_id, booking_bridge_from_row),
        (None, Some(order_id)) => (&ORDER_BRIDGE, order_id, order_bridge_from_row),
        (None, None) => return Ok(BridgeOptions::default()),
    };
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(decode)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The options of many rows of `owner` at once (a page of a list): by key and `created_at`
/// (an order id given again names several orders). Rows that are missing are left out.
///
/// Errors: the database's.
pub async fn many(
    db: &Db,
    owner: Owner,
    keys: &[&str],
) -> Result<std::collections::HashMap<(String, i64), CallOptions>, super::Error> {
    let mut out = std::collections::HashMap::with_capacity(keys.len());
    if keys.is_empty() {
        return Ok(out);
    }
    let (table, column) = owner.table();
    let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
    let sql = sqlx::AssertSqlSafe(format!(
        "select {column} as k, created_at, {OPTION_COLUMNS} from {table}
         where {column} in ({})",
        placeholders.join(", ")
    ));
    let mut q = sqlx::query(sql);
    for key in keys {
        q = q.bind(*key);
    }
    for row in q.fetch_all(db.pool()).await? {
        out.insert(
            (row.try_get("k")?, row.try_get("created_at")?),
            from_row(&row)?,
        );
    }
    Ok(out)
}
