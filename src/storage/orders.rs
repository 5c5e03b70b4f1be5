//! Orders of the PIN flow: the PIN a courier keys in, and the customer it reaches. Stores
//! and looks up; which new orders are admitted, and with which PIN, is decided by
//! [`crate::import::admission`] over an [`OrderWrite`].

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::attempts::{Budget, Counting, EVERY_NUMBER};
use super::{Backend, Db};
use crate::domain::{NewOrder, OrderStatus, PhoneNumber, Pin};

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_id: String,
    pub customer_number: PhoneNumber,
    pub pin: String,
    /// `None`: the PIN works on every virtual number.
    pub virtual_number: Option<PhoneNumber>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// Unix milliseconds; set when the order was deactivated.
    pub deactivated_at: Option<i64>,
    /// The couriers allowed to use the PIN; empty: any caller.
    pub allowed_callers: Vec<PhoneNumber>,
}

impl Order {
    /// The order's status at `now_ms`.
    pub fn status(&self, now_ms: i64) -> OrderStatus {
        OrderStatus::at(now_ms, self.expires_at, self.deactivated_at)
    }
}

const COLUMNS: &str = "order_id, customer_number, pin, virtual_number, created_at, expires_at,
     deactivated_at, allowed_callers";

fn from_row(row: &AnyRow) -> Result<Order, super::Error> {
    StoredOrder {
        order_id: row.try_get("order_id")?,
        customer_number: row.try_get("customer_number")?,
        pin: row.try_get("pin")?,
        virtual_number: row.try_get("virtual_number")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        deactivated_at: row.try_get("deactivated_at")?,
        allowed_callers: row.try_get("allowed_callers")?,
    }
    .decode()
}

/// An order's columns as read, before their values are checked ([`StoredOrder::decode`]):
/// one shape for the pool's rows and the writer's own connection's ([`super::direct`]).
pub(super) struct StoredOrder {
    pub order_id: String,
    pub customer_number: String,
    pub pin: String,
    pub virtual_number: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub deactivated_at: Option<i64>,
    /// Comma-separated E.164 numbers, or NULL.
    pub allowed_callers: Option<String>,
}

impl StoredOrder {
    /// The order, its numbers read back as [`PhoneNumber`]s.
    ///
    /// Errors: [`super::Error::Damaged`] when a number is not E.164: such a row dials no one.
    pub(super) fn decode(self) -> Result<Order, super::Error> {
        Ok(Order {
            order_id: self.order_id,
            customer_number: super::stored_number("orders.customer_number", &self.customer_number)?,
            pin: self.pin,
            virtual_number: self
                .virtual_number
                .map(|vn| super::stored_number("orders.virtual_number", &vn))
                .transpose()?,
            created_at: self.created_at,
            expires_at: self.expires_at,
            deactivated_at: self.deactivated_at,
            allowed_callers: self
                .allowed_callers
                .iter()
                .flat_map(|s| s.split(','))
                .filter(|c| !c.is_empty())
                .map(|c| super::stored_number("orders.allowed_callers", c))
                .collect::<Result<_, _>>()?,
        })
    }
}

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
    pub async fn begin(db: &Db) -> Result<Self, super::Error> {
        Ok(Self {
            tx: db.begin_write().await?,
            chunks: Chunks::new(db.backend()),
        })
    }

    /// Commits what was inserted.
    ///
    /// Errors: the database's.
    pub async fn commit(self) -> Result<(), super::Error> {
        Ok(self.tx.commit().await?)
    }

    /// Rolls back what was inserted.
    ///
    /// Errors: the database's.
    pub async fn rollback(self) -> Result<(), super::Error> {
        Ok(self.tx.rollback().await?)
    }

    /// Whether any order is stored, in any status.
    ///
    /// Errors: the database's.
    pub async fn any_stored(&mut self) -> Result<bool, super::Error> {
        Ok(sqlx::query("select 1 from orders limit 1")
            .fetch_optional(&mut *self.tx)
            .await?
            .is_some())
    }

    /// Whether an order with this id is stored, in any status.
    ///
    /// Errors: the database's.
    pub async fn exists(&mut self, order_id: &str) -> Result<bool, super::Error> {
        Ok(sqlx::query("select 1 from orders where order_id = $1")
            .bind(order_id)
            .fetch_optional(&mut *self.tx)
            .await?
            .is_some())
    }

    /// The ids among `ids` that are stored, in any status.
    ///
    /// Errors: the database's.
    pub async fn stored_ids(&mut self, ids: &[&str]) -> Result<HashSet<String>, super::Error> {
        let per_query = self.chunks.lookup;
        let mut stored = HashSet::new();
        let full: Arc<str> = stored_ids_sql(per_query).into();
        for chunk in ids.chunks(per_query) {
            let sql = if chunk.len() == per_query {
                full.clone()
            } else {
                stored_ids_sql(chunk.len()).into()
            };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
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
    pub async fn active_counts(&mut self, now_ms: i64) -> Result<Vec<ActiveCount>, super::Error> {
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
    pub async fn all_held_pins(&mut self, now_ms: i64) -> Result<Vec<HeldPin>, super::Error> {
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
    ) -> Result<Vec<HeldPin>, super::Error> {
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
    ) -> Result<i64, super::Error> {
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
    ) -> Result<bool, super::Error> {
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
    /// Errors: the database's (an order id stored already among them).
    pub async fn insert(
        &mut self,
        orders: &[(&NewOrder, Pin)],
        now_ms: i64,
    ) -> Result<(), super::Error> {
        insert_many(&mut self.tx, orders, now_ms, self.chunks.insert).await
    }
}

fn held_pin(row: &AnyRow) -> Result<HeldPin, super::Error> {
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
                insert: 50,
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

fn stored_ids_sql(ids: usize) -> String {
    format!(
        "select order_id from orders where order_id in ({})",
        placeholders(1, ids)
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
) -> Result<(), super::Error> {
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
                .bind(allowed_callers_column(&new.allowed_callers));
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// `insert into orders ... values (...), ...` for `rows` orders, all created at `$1`.
fn insert_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|r| {
            let n = 2 + r * 6;
            format!(
                "(${}, ${}, ${}, ${}, $1, ${}, ${})",
                n,
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "insert into orders (order_id, customer_number, pin, virtual_number, created_at,
                             expires_at, allowed_callers)
         values {values}"
    )
}

/// The `allowed_callers` column: comma-separated E.164 numbers; `None`: any caller.
fn allowed_callers_column(callers: &[PhoneNumber]) -> Option<String> {
    (!callers.is_empty()).then(|| {
        callers
            .iter()
            .map(|c| c.as_ref())
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Stores one order with `pin`, created at `now_ms`, as it is: no rule is checked (those are
/// [`crate::import::admission`]'s). For tests and tools that set up a database.
///
/// Errors: the database's (the order id stored already).
pub async fn insert(db: &Db, new: &NewOrder, pin: Pin, now_ms: i64) -> Result<Order, super::Error> {
    let mut write = OrderWrite::begin(db).await?;
    write.insert(&[(new, pin)], now_ms).await?;
    write.commit().await?;
    get(db, &new.order_id)
        .await?
        .ok_or_else(|| super::Error::Internal("an order just inserted is missing".into()))
}

/// Active PINs of `len` digits that a guess on `virtual_number` could hit (those on it and
/// those valid on every number); for `None`, active PINs of that length anywhere.
async fn active_pins_of_len(
    conn: &mut AnyConnection,
    len: usize,
    virtual_number: Option<&str>,
    now_ms: i64,
) -> Result<i64, super::Error> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let row = match virtual_number {
        Some(vn) => {
            sqlx::query(
                "select count(*) as n from orders
                 where length(pin) = $1 and deactivated_at is null and expires_at > $2
                   and (virtual_number = $3 or virtual_number is null)",
            )
            .bind(len)
            .bind(now_ms)
            .bind(vn)
            .fetch_one(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(
                "select count(*) as n from orders
                 where length(pin) = $1 and deactivated_at is null and expires_at > $2",
            )
            .bind(len)
            .bind(now_ms)
            .fetch_one(&mut *conn)
            .await?
        }
    };
    Ok(row.try_get("n")?)
}

/// Is `pin` active on `virtual_number` (an order there, or an order valid on every number)?
/// For `None`, is it active anywhere?
async fn pin_in_use(
    conn: &mut AnyConnection,
    pin: &str,
    virtual_number: Option<&str>,
    now_ms: i64,
) -> Result<bool, super::Error> {
    let row = match virtual_number {
        Some(vn) => {
            sqlx::query(
                "select 1 from orders
                 where pin = $1 and deactivated_at is null and expires_at > $2
                   and (virtual_number = $3 or virtual_number is null)
                 limit 1",
            )
            .bind(pin)
            .bind(now_ms)
            .bind(vn)
            .fetch_optional(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(
                "select 1 from orders
                 where pin = $1 and deactivated_at is null and expires_at > $2
                 limit 1",
            )
            .bind(pin)
            .bind(now_ms)
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    Ok(row.is_some())
}

/// The order with this id, in any status.
pub async fn get(db: &Db, order_id: &str) -> Result<Option<Order>, super::Error> {
    let sql = sqlx::AssertSqlSafe(format!("select {COLUMNS} from orders where order_id = $1"));
    sqlx::query(sql)
        .bind(order_id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Deactivates an order: its PIN stops working at once. Returns the order as it is now, or
/// `None` when there is no such order. Deactivating twice keeps the first time.
pub async fn deactivate(
    db: &Db,
    order_id: &str,
    now_ms: i64,
) -> Result<Option<Order>, super::Error> {
    sqlx::query(
        "update orders set deactivated_at = $1 where order_id = $2 and deactivated_at is null",
    )
    .bind(now_ms)
    .bind(order_id)
    .execute(db.pool())
    .await?;
    get(db, order_id).await
}

/// What a keyed PIN needs, read in one statement ([`find_active_by_pin`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PinLookup {
    /// Wrong PINs keyed by the caller within the window ([`super::attempts::Counting`]).
    pub caller_failures: i64,
    /// What the dialled number's guessing budget has spent now (millionths; 0 when it has
    /// none), and [`super::attempts::EVERY_NUMBER`]'s.
    pub number_spent: i64,
    pub every_spent: i64,
    /// The caller is known on the dialled number: trusted by an operator, or bridged through
    /// it with a PIN (a courier) within the known-caller window. Only looked up while a budget is spent (else
    /// `false`: it changes nothing then).
    pub known: bool,
    /// The active order with the PIN on the dialled virtual number, or valid on every number.
    pub order: Option<Order>,
}

/// [`find_active_by_pin`]'s statement: `$1` PIN, `$2` now (ms), `$3` virtual number, `$4`
/// caller key, `$5` since (ms), `$6` number key, `$7` the cap of the caller's count
/// ([`Counting`]), `$8` the budget's refill a day and `$9` its capacity ([`Budget`]), `$10`
/// the caller (E.164, or NULL), `$11` since when a bridge makes a caller known (ms). One row:
/// `caller_failures`, `number_spent`, `every_spent`, `known`, then the order's columns
/// ([`COLUMNS`], NULL when none matched).
pub(super) static FIND_BY_PIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let columns = COLUMNS
        .split(',')
        .map(|c| format!("o.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let spent = |scope: &str| {
        let now = super::attempts::spent_now_sql("spent", "updated_at", "$2", "$8");
        format!("coalesce((select {now} from pin_budgets where scope = {scope}), 0)")
    };
    // `o.virtual_number = NULL` is never true: without a virtual number only orders valid on
    // every number match. Whether the caller is known is read only while a budget is spent.
    format!(
        "select f.caller_failures, f.number_spent, f.every_spent,
                cast(case when f.number_spent >= $9 or f.every_spent >= $9 then
                    (case when exists (select 1 from trusted_callers where number = $10)
                            or exists (select 1 from calls where caller = $10
                                          and virtual_number = $3 and bridged_at >= $11
                                          and route = 'pin')
                          then 1 else 0 end)
                     else 0 end as bigint) as known,
                {columns}
         from (select
                 (select count(*) from (select 1 from pin_failures
                                        where caller = $4 and at >= $5 limit $7) c)
                     as caller_failures,
                 {number} as number_spent,
                 {every} as every_spent) f
         left join orders o
           on o.pin = $1 and o.deactivated_at is null and o.expires_at > $2
          and (o.virtual_number = $3 or o.virtual_number is null)
         limit 1",
        number = spent("$6"),
        every = spent(&format!("'{EVERY_NUMBER}'")),
    )
});

/// The check-pin lookup ([`find_active_by_pin`]): the keyed PIN, the virtual number and the
/// caller (E.164, `None` when they did not parse), the attempt-limit keys of the caller and
/// the number, the time (unix ms) of now, which of the caller's wrong PINs count, the
/// guessing budget, and since when (unix ms) a bridge through the number makes a caller known.
#[derive(Debug, Clone)]
pub struct PinQuery {
    pub pin: String,
    pub virtual_number: Option<String>,
    pub caller: Option<String>,
    pub caller_key: String,
    pub number_key: String,
    pub now: i64,
    pub counting: Counting,
    pub budget: Budget,
    pub known_since: i64,
}

/// The caller's wrong PINs, the budgets' spending and the active order for a keyed PIN, in
/// one round trip ([`FIND_BY_PIN`]): the order with the PIN active at `q.now` on the virtual
/// number or valid on every number (with `q.virtual_number` `None`, the dialled number did
/// not parse, only the latter).
pub async fn find_active_by_pin(db: &Db, q: &PinQuery) -> Result<PinLookup, super::Error> {
    let sql = sqlx::AssertSqlSafe(FIND_BY_PIN.as_str());
    let row = sqlx::query(sql)
        .bind(&q.pin)
        .bind(q.now)
        .bind(q.virtual_number.as_deref())
        .bind(&q.caller_key)
        .bind(q.counting.since)
        .bind(&q.number_key)
        .bind(q.counting.caller_cap)
        .bind(q.budget.refill_per_day)
        .bind(q.budget.capacity)
        .bind(q.caller.as_deref())
        .bind(q.known_since)
        .fetch_one(db.pool())
        .await?;
    let found: Option<String> = row.try_get("order_id")?;
    Ok(PinLookup {
        caller_failures: row.try_get("caller_failures")?,
        number_spent: row.try_get::<i64, _>("number_spent")?.max(0),
        every_spent: row.try_get::<i64, _>("every_spent")?.max(0),
        known: row.try_get::<i64, _>("known")? != 0,
        order: found.map(|_| from_row(&row)).transpose()?,
    })
}

/// The active PINs of each length (digits) on one virtual number, or valid on every number:
/// what a guess of that length can hit there ([`active_pin_counts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinCounts(std::collections::BTreeMap<usize, i64>);

impl PinCounts {
    /// The active PINs of `len` digits.
    pub fn of_len(&self, len: usize) -> i64 {
        self.0.get(&len).copied().unwrap_or(0)
    }

    /// True when no order is active there.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (length, active PINs of it), shortest first.
    pub fn iter(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        self.0.iter().map(|(len, n)| (*len, *n))
    }
}

/// The PINs of the orders active at `now_ms` on `virtual_number` (E.164), or, for `None`,
/// valid on every number, counted by length; read from the partial index of active orders
/// by number (migration 0010), without the orders' rows.
pub async fn active_pin_counts(
    db: &Db,
    virtual_number: Option<&str>,
    now_ms: i64,
) -> Result<PinCounts, super::Error> {
    const ON_NUMBER: &str = "select cast(length(pin) as bigint) as len, count(*) as n from orders
         where virtual_number = $1 and deactivated_at is null and expires_at > $2
         group by length(pin)";
    const EVERYWHERE: &str = "select cast(length(pin) as bigint) as len, count(*) as n from orders
         where virtual_number is null and deactivated_at is null and expires_at > $1
         group by length(pin)";
    let rows = match virtual_number {
        Some(vn) => {
            sqlx::query(ON_NUMBER)
                .bind(vn)
                .bind(now_ms)
                .fetch_all(db.pool())
                .await?
        }
        None => {
            sqlx::query(EVERYWHERE)
                .bind(now_ms)
                .fetch_all(db.pool())
                .await?
        }
    };
    rows.iter()
        .map(|row| {
            let len: i64 = row.try_get("len")?;
            Ok((usize::try_from(len).unwrap_or(0), row.try_get("n")?))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map(PinCounts)
        .map_err(Into::into)
}

/// The order with this id if it is active at `now_ms`.
pub async fn find_active_by_id(
    db: &Db,
    order_id: &str,
    now_ms: i64,
) -> Result<Option<Order>, super::Error> {
    Ok(get(db, order_id)
        .await?
        .filter(|o| o.status(now_ms) == OrderStatus::Active))
}

/// Orders whose id or PIN is `text`, or whose customer or virtual number is `number` (E.164,
/// or `text` as written when it is not a number), newest first; with both empty, the newest
/// orders. At most `limit`.
pub async fn search(
    db: &Db,
    text: &str,
    number: &str,
    limit: i64,
) -> Result<Vec<Order>, super::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from orders
         where ($1 = '' and $2 = '')
            or ($1 <> '' and (order_id = $1 or pin = $1))
            or ($2 <> '' and (customer_number = $2 or virtual_number = $2))
         order by created_at desc, order_id
         limit $3"
    ));
    sqlx::query(sql)
        .bind(text)
        .bind(number)
        .bind(limit)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Two databases and a runtime kept for all the cases of one property test, since creating a
/// database on PostgreSQL takes a while; each case starts with no orders.
#[cfg(test)]
pub(crate) struct CaseDbs {
    runtime: tokio::runtime::Runtime,
    dbs: [Db; 2],
}

#[cfg(test)]
impl CaseDbs {
    pub(crate) fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dbs = runtime.block_on(async {
            [
                crate::storage::test_db().await,
                crate::storage::test_db().await,
            ]
        });
        Self { runtime, dbs }
    }

    /// Runs one case on the two databases, emptied of orders.
    pub(crate) fn run<F: std::future::Future>(&self, case: impl FnOnce(Db, Db) -> F) -> F::Output {
        self.runtime.block_on(async {
            for db in &self.dbs {
                sqlx::query("delete from orders")
                    .execute(db.pool())
                    .await
                    .unwrap();
            }
            case(self.dbs[0].clone(), self.dbs[1].clone()).await
        })
    }
}
