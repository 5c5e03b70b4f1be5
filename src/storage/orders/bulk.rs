//! The write transaction of a bulk import ([`OrderWrite`]): the look-ups that deciding on
//! new orders needs, and inserts cut into statements of a size that suits the engine.

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::{Any, AnyConnection, Row, Transaction};

use super::*;

/// Active orders of one PIN length on one virtual number, as [`OrderWrite::active_counts`]
/// counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCount {
    /// E.164 as stored, a key only; `None`: orders valid on every virtual number.
    pub virtual_number: Option<String>,
    /// PIN length, in digits.
    pub pin_len: usize,
    pub orders: i64,
}

/// An active order's PIN and where it works, as [`OrderWrite::holders`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPin {
    pub pin: String,
    /// E.164 as stored, a key only; `None`: valid on every virtual number.
    pub virtual_number: Option<String>,
}

/// A write transaction on the orders ([`Db::begin_write`]: other writers wait until it
/// ends), with the look-ups that deciding on new orders needs and the inserts. Dropped
/// without [`OrderWrite::commit`], it rolls back.
///
/// Look-ups and inserts of many values are cut into statements of a size that suits the
/// engine ([`Chunks`]), so that a million orders take seconds.
pub struct OrderWrite {
    tx: Transaction<'static, Any>,
    chunks: Chunks,
}

impl OrderWrite {
    /// Begins the transaction.
    ///
    /// Errors: the database's.
    pub async fn begin(db: &Db) -> Result<Self, crate::storage::Error> {
        Ok(Self {
            tx: db.begin_write().await?,
            chunks: Chunks::new(db.backend()),
        })
    }

    /// Commits what was inserted.
    ///
    /// Errors: the database's.
    pub async fn commit(self) -> Result<(), crate::storage::Error> {
        Ok(self.tx.commit().await?)
    }

    /// Rolls back what was inserted.
    ///
    /// Errors: the database's.
    pub async fn rollback(self) -> Result<(), crate::storage::Error> {
        Ok(self.tx.rollback().await?)
    }

    /// Whether any order is active at `now_ms`.
    ///
    /// Errors: the database's.
    pub async fn any_active(&mut self, now_ms: i64) -> Result<bool, crate::storage::Error> {
        Ok(sqlx::query(
            "select 1 from orders where deactivated_at is null and expires_at > $1 limit 1",
        )
        .bind(now_ms)
        .fetch_optional(&mut *self.tx)
        .await?
        .is_some())
    }

    /// Whether an order with this id is active at `now_ms`. An id belongs to one active order
    /// at a time; once that one is closed (deactivated or expired), the id may be given again
    /// and the closed order is kept beside the new one (migration 0012).
    ///
    /// Errors: the database's.
    pub async fn active_exists(
        &mut self,
        order_id: &str,
        now_ms: i64,
    ) -> Result<bool, crate::storage::Error> {
        Ok(sqlx::query(
            "select 1 from orders
             where order_id = $1 and deactivated_at is null and expires_at > $2",
        )
        .bind(order_id)
        .bind(now_ms)
        .fetch_optional(&mut *self.tx)
        .await?
        .is_some())
    }

    /// The ids among `ids` of orders active at `now_ms` ([`Self::active_exists`]).
    ///
    /// Errors: the database's.
    pub async fn active_ids(
        &mut self,
        ids: &[&str],
        now_ms: i64,
    ) -> Result<HashSet<String>, crate::storage::Error> {
        let per_query = self.chunks.lookup;
        let mut stored = HashSet::new();
        let full: Arc<str> = active_ids_sql(per_query).into();
        for chunk in ids.chunks(per_query) {
            let sql = if chunk.len() == per_query {
                full.clone()
            } else {
                active_ids_sql(chunk.len()).into()
            };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                stored.insert(row.try_get("order_id")?);
            }
        }
        Ok(stored)
    }

    /// The orders active at `now_ms`, counted per virtual number and PIN length.
    ///
    /// Errors: the database's.
    pub async fn active_counts(
        &mut self,
        now_ms: i64,
    ) -> Result<Vec<ActiveCount>, crate::storage::Error> {
        let rows = sqlx::query(
            "select virtual_number, length(pin) as len, count(*) as n from orders
             where deactivated_at is null and expires_at > $1
             group by virtual_number, length(pin)",
        )
        .bind(now_ms)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ActiveCount {
                    virtual_number: row.try_get("virtual_number")?,
                    pin_len: usize::try_from(row.try_get::<i64, _>("len")?).unwrap_or(usize::MAX),
                    orders: row.try_get("n")?,
                })
            })
            .collect()
    }

    /// The PIN of every order active at `now_ms`, and where it works.
    ///
    /// Errors: the database's.
    pub async fn all_held_pins(
        &mut self,
        now_ms: i64,
    ) -> Result<Vec<HeldPin>, crate::storage::Error> {
        sqlx::query(
            "select pin, virtual_number from orders
             where deactivated_at is null and expires_at > $1",
        )
        .bind(now_ms)
        .fetch_all(&mut *self.tx)
        .await?
        .iter()
        .map(held_pin)
        .collect()
    }

    /// The orders active at `now_ms` that hold any of `pins`, and where each works.
    ///
    /// Errors: the database's.
    pub async fn holders(
        &mut self,
        pins: &[&str],
        now_ms: i64,
    ) -> Result<Vec<HeldPin>, crate::storage::Error> {
        let per_query = self.chunks.lookup;
        let mut held = Vec::new();
        let full: Arc<str> = holders_sql(per_query).into();
        for chunk in pins.chunks(per_query) {
            let sql = if chunk.len() == per_query {
                full.clone()
            } else {
                holders_sql(chunk.len()).into()
            };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms);
            for pin in chunk {
                query = query.bind(*pin);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                held.push(held_pin(&row)?);
            }
        }
        Ok(held)
    }

    /// Active PINs of `len` digits at `now_ms` that a guess on `virtual_number` could hit
    /// (those on it and those valid on every number); for `None`, active PINs of that length
    /// anywhere.
    ///
    /// Errors: the database's.
    pub async fn active_pins_of_len(
        &mut self,
        len: usize,
        virtual_number: Option<&PhoneNumber>,
        now_ms: i64,
    ) -> Result<i64, crate::storage::Error> {
        active_pins_of_len(&mut self.tx, len, virtual_number.map(AsRef::as_ref), now_ms).await
    }

    /// Is `pin` active at `now_ms` on `virtual_number` (an order there, or an order valid on
    /// every number)? For `None`, is it active anywhere?
    ///
    /// Errors: the database's.
    pub async fn pin_in_use(
        &mut self,
        pin: &Pin,
        virtual_number: Option<&PhoneNumber>,
        now_ms: i64,
    ) -> Result<bool, crate::storage::Error> {
        pin_in_use(
            &mut self.tx,
            pin.as_ref(),
            virtual_number.map(AsRef::as_ref),
            now_ms,
        )
        .await
    }

    /// Stores `orders`, each with its PIN, all created at `now_ms`.
    ///
    /// Errors: the database's.
    pub async fn insert(
        &mut self,
        orders: &[(&NewOrder, Pin)],
        now_ms: i64,
    ) -> Result<(), crate::storage::Error> {
        insert_many(&mut self.tx, orders, now_ms, self.chunks.insert).await
    }

    /// Ties the active keyed PIN `order_id`, just inserted, to the booking `booking_id`: it
    /// is then that booking's party PIN (migration 0017), not an order of the orders API.
    ///
    /// Errors: the database's.
    pub async fn tie_to_booking(
        &mut self,
        order_id: &str,
        booking_id: &str,
    ) -> Result<(), crate::storage::Error> {
        sqlx::query(
            "update orders set booking_id = $1 where order_id = $2 and deactivated_at is null",
        )
        .bind(booking_id)
        .bind(order_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

fn held_pin(row: &AnyRow) -> Result<HeldPin, crate::storage::Error> {
    Ok(HeldPin {
        pin: row.try_get("pin")?,
        virtual_number: row.try_get("virtual_number")?,
    })
}

/// How many values one statement of an [`OrderWrite`] binds.
#[derive(Debug, Clone, Copy)]
struct Chunks {
    /// Values per `in (...)` look-up.
    lookup: usize,
    /// Orders per multi-row insert.
    insert: usize,
}

impl Chunks {
    /// SQLite (through sqlx) finds each `$n` parameter by a linear search of the statement's
    /// parameters, so binding `p` of them costs `p²`: statements of 100 to 300 parameters
    /// measured fastest, and stay under the 999 of SQLite builds before 3.32 (the bundled
    /// one allows 32766). PostgreSQL pays a round trip per statement instead, and allows
    /// 65535 parameters.
    fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self {
                lookup: 100,
                insert: 36,
            },
            Backend::Postgres => Self {
                lookup: 1000,
                insert: 1000,
            },
        }
    }
}

/// `$first, $first+1, ...`: `count` placeholders, for SQL built from placeholders only.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The ids among `ids` (`$2...`) of orders active at `$1`.
fn active_ids_sql(ids: usize) -> String {
    format!(
        "select order_id from orders
         where deactivated_at is null and expires_at > $1 and order_id in ({})",
        placeholders(2, ids)
    )
}

/// The active orders holding any of `pins` PINs (`$2...`), active at `$1`.
fn holders_sql(pins: usize) -> String {
    format!(
        "select pin, virtual_number from orders
         where deactivated_at is null and expires_at > $1 and pin in ({})",
        placeholders(2, pins)
    )
}

/// Stores the orders, `per_statement` at a time.
async fn insert_many(
    conn: &mut AnyConnection,
    orders: &[(&NewOrder, Pin)],
    now_ms: i64,
    per_statement: usize,
) -> Result<(), crate::storage::Error> {
    let full: Arc<str> = insert_sql(per_statement).into();
    for chunk in orders.chunks(per_statement) {
        let sql = if chunk.len() == per_statement {
            full.clone()
        } else {
            insert_sql(chunk.len()).into()
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms);
        for (new, pin) in chunk {
            query = query
                .bind(new.order_id.as_str())
                .bind(new.customer.as_ref())
                .bind(pin.as_ref())
                .bind(new.virtual_number.as_ref().map(AsRef::<str>::as_ref))
                .bind(new.expires_at_ms)
                .bind(allowed_callers_column(&new.allowed_callers))
                .bind(super::id_hex(&new.order_id))
                .bind(super::digits_reversed(new.customer.as_ref()));
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `insert into orders ... values (...), ...` for `rows` orders, all created at `$1`.
fn insert_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|r| {
            let n = 2 + r * 8;
            format!(
                "(${}, ${}, ${}, ${}, $1, ${}, ${}, ${}, ${})",
                n,
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "insert into orders (order_id, customer_number, pin, virtual_number, created_at,
                             expires_at, allowed_callers, order_id_hex,
                             customer_digits_reversed)
         values {values}"
    )
}

/// The `allowed_callers` column: comma-separated E.164 numbers; `None`: any caller.
pub(super) fn allowed_callers_column(callers: &[PhoneNumber]) -> Option<String> {
    (!callers.is_empty()).then(|| {
        callers
            .iter()
            .map(|c| c.as_ref())
            .collect::<Vec<_>>()
            .join(",")
    })
}
