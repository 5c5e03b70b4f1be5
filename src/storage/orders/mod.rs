//! Orders of the PIN flow: the PIN a courier keys in, and the customer it reaches. Stores
//! and looks up; which new orders are admitted, and with which PIN, is decided by
//! [`crate::import::admission`] over an [`OrderWrite`].
//!
//! [`bulk`] holds the write transaction of a bulk import and its look-ups; [`pin`] the
//! check-pin lookup and the counts of active PINs.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::attempts::{Budget, Counting, EVERY_NUMBER};
use super::{Backend, Db};
use crate::domain::{NewOrder, OrderChange, OrderStatus, PhoneNumber, Pin};

mod bulk;
mod pin;

pub use bulk::{ActiveCount, HeldPin, OrderWrite};
pub(super) use pin::FIND_BY_PIN;
pub use pin::{
    PinCounts, PinLookup, PinQuery, active_pin_counts, all_active_pin_counts, find_active_by_pin,
};

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

/// Stores one order with `pin`, created at `now_ms`, as it is: no rule is checked (those are
/// [`crate::import::admission`]'s). For tests and tools that set up a database.
///
/// Errors: the database's.
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

/// The order with this id, in any status: the newest, when the id was given again after its
/// order was closed (the only one of them that can be active).
pub async fn get(db: &Db, order_id: &str) -> Result<Option<Order>, super::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from orders where order_id = $1
         order by created_at desc, case when deactivated_at is null then 1 else 0 end desc
         limit 1"
    ));
    sqlx::query(sql)
        .bind(order_id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Deactivates the order with this id (the newest, [`get`]): its PIN stops working at once. Returns the order as it is now, or
/// `None` when there is no such order. Deactivating twice keeps the first time.
pub async fn deactivate(
    db: &Db,
    order_id: &str,
    now_ms: i64,
) -> Result<Option<Order>, super::Error> {
    // Only the newest order of the id: an older one is closed already, and keeps how it was
    // closed (expired stays expired).
    sqlx::query(
        "update orders set deactivated_at = $1
         where order_id = $2 and deactivated_at is null
           and created_at = (select max(created_at) from orders where order_id = $2)",
    )
    .bind(now_ms)
    .bind(order_id)
    .execute(db.pool())
    .await?;
    get(db, order_id).await
}

/// What [`change`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The order, changed.
    Changed(Order),
    /// The order as it is: not active at the time of the change, so left as it was.
    NotActive(Order),
    /// No order has this id.
    Missing,
}

/// Applies `change` to the order with this id if it is active at `now_ms`: a closed order
/// keeps what it was closed with (the call log and its callbacks refer to it as it was).
/// What the call path keeps of the order in memory is the caller's to forget.
///
/// Errors: the database's.
pub async fn change(
    db: &Db,
    order_id: &str,
    change: &OrderChange,
    now_ms: i64,
) -> Result<Changed, super::Error> {
    let callers = change
        .allowed_callers
        .as_deref()
        .map(bulk::allowed_callers_column);
    let updated = sqlx::query(
        "update orders set
             customer_number = coalesce($1, customer_number),
             expires_at = coalesce($2, expires_at),
             allowed_callers = case when $3 = 1 then $4 else allowed_callers end
         where order_id = $5 and deactivated_at is null and expires_at > $6",
    )
    .bind(change.customer.as_ref().map(AsRef::<str>::as_ref))
    .bind(change.expires_at_ms)
    .bind(i64::from(callers.is_some()))
    .bind(callers.flatten())
    .bind(order_id)
    .bind(now_ms)
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(match get(db, order_id).await? {
        None => Changed::Missing,
        Some(order) if updated > 0 => Changed::Changed(order),
        Some(order) => Changed::NotActive(order),
    })
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

/// Which orders [`list`] returns: those in `status` at `now` (unix ms; any status when
/// `None`), on `virtual_number` and for `customer_number` (E.164) when given, created before
/// the cursor `before` (the `created_at` and `order_id` of the last order of the page before),
/// at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub virtual_number: Option<String>,
    pub customer_number: Option<String>,
    pub before: Option<(i64, String)>,
    pub limit: i64,
    pub now: i64,
}

/// The orders `filter` selects, newest first (by `created_at`, then `order_id`), read from
/// the index by creation (migration 0011).
pub async fn list(db: &Db, filter: &OrderFilter) -> Result<Vec<Order>, super::Error> {
    let mut conditions: Vec<String> = Vec::new();
    let mut texts: Vec<&str> = Vec::new();
    let mut numbers: Vec<i64> = Vec::new();
    // Placeholders are numbered in bind order: texts first, then numbers.
    let text_count = usize::from(filter.virtual_number.is_some())
        + usize::from(filter.customer_number.is_some())
        + usize::from(filter.before.is_some());
    let mut next_number = text_count;
    let mut number = |value: i64, numbers: &mut Vec<i64>| {
        numbers.push(value);
        next_number += 1;
        format!("${next_number}")
    };
    if let Some(vn) = &filter.virtual_number {
        texts.push(vn);
        conditions.push(format!("virtual_number = ${}", texts.len()));
    }
    if let Some(customer) = &filter.customer_number {
        texts.push(customer);
        conditions.push(format!("customer_number = ${}", texts.len()));
    }
    match filter.status {
        Some(OrderStatus::Active) => {
            let now = number(filter.now, &mut numbers);
            conditions.push(format!("deactivated_at is null and expires_at > {now}"));
        }
        Some(OrderStatus::Expired) => {
            let now = number(filter.now, &mut numbers);
            conditions.push(format!("deactivated_at is null and expires_at <= {now}"));
        }
        Some(OrderStatus::Deactivated) => conditions.push("deactivated_at is not null".into()),
        None => {}
    }
    if let Some((created_at, order_id)) = &filter.before {
        texts.push(order_id);
        let id = texts.len();
        let at = number(*created_at, &mut numbers);
        conditions.push(format!(
            "(created_at < {at} or (created_at = {at} and order_id < ${id}))"
        ));
    }
    let limit = number(filter.limit, &mut numbers);
    let filters = if conditions.is_empty() {
        String::new()
    } else {
        format!("where {}", conditions.join(" and "))
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from orders {filters}
         order by created_at desc, order_id desc limit {limit}"
    ));
    let mut query = sqlx::query(sql);
    for text in texts {
        query = query.bind(text);
    }
    for value in numbers {
        query = query.bind(value);
    }
    query
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
