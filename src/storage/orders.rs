//! Orders of the PIN flow: the PIN a courier keys in, and the customer it reaches.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::Db;
use crate::domain::{NewOrder, OrderStatus, Pin, PinChoice};

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_id: String,
    /// E.164.
    pub customer_number: String,
    pub pin: String,
    /// E.164; `None`: the PIN works on every virtual number.
    pub virtual_number: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// Unix milliseconds; set when the order was deactivated.
    pub deactivated_at: Option<i64>,
    /// E.164 numbers of the couriers allowed to use the PIN; empty: any caller.
    pub allowed_callers: Vec<String>,
}

impl Order {
    /// The order's status at `now_ms`.
    pub fn status(&self, now_ms: i64) -> OrderStatus {
        OrderStatus::at(now_ms, self.expires_at, self.deactivated_at)
    }
}

/// Why an order was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("an order with this order_id exists already")]
    OrderExists,
    #[error("this PIN is already active on this virtual number")]
    PinInUse,
    /// Active PINs of this length on this virtual number already fill the allowed share of
    /// the PIN space.
    #[error("too many active PINs of this length on this virtual number")]
    PinSpaceCrowded,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

const COLUMNS: &str = "order_id, customer_number, pin, virtual_number, created_at, expires_at,
     deactivated_at, allowed_callers";

fn from_row(row: &AnyRow) -> Result<Order, sqlx::Error> {
    Ok(Order {
        order_id: row.try_get("order_id")?,
        customer_number: row.try_get("customer_number")?,
        pin: row.try_get("pin")?,
        virtual_number: row.try_get("virtual_number")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        deactivated_at: row.try_get("deactivated_at")?,
        allowed_callers: row
            .try_get::<Option<String>, _>("allowed_callers")?
            .map(|s| {
                s.split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The largest share of a PIN length's space that active PINs on one virtual number may fill
/// (`PINBRIDGE_PIN_MAX_DENSITY`). With `n` active PINs of length `L`, one random guess hits
/// with probability `n / 10^L`; capping `n` caps that chance.
#[derive(Debug, Clone, Copy)]
pub struct Density(pub f64);

/// Creates one order in its own transaction.
///
/// Errors: [`CreateError::OrderExists`]; [`CreateError::PinInUse`] when the given PIN is
/// active on the same virtual number, or on any for an order without one (a generated PIN is
/// drawn again instead, up to 20 times); [`CreateError::PinSpaceCrowded`] past `density`.
pub async fn create(
    db: &Db,
    new: &NewOrder,
    density: Density,
    now_ms: i64,
) -> Result<Order, CreateError> {
    let mut tx = db.begin_write().await?;
    let order = create_in(&mut tx, new, density, now_ms).await?;
    tx.commit().await?;
    Ok(order)
}

/// How an import went, row by row.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Orders stored.
    pub imported: usize,
    /// (index into the input, why) for each row not stored.
    pub refused: Vec<(usize, CreateError)>,
}

/// Creates many orders in one transaction. With `skip_bad` false, the first refused row
/// rolls everything back and is the only one reported; with `skip_bad` true, refused rows
/// are reported and the others committed.
pub async fn import(
    db: &Db,
    orders: &[NewOrder],
    skip_bad: bool,
    density: Density,
    now_ms: i64,
) -> Result<ImportReport, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let mut report = ImportReport::default();
    for (index, new) in orders.iter().enumerate() {
        match create_in(&mut tx, new, density, now_ms).await {
            Ok(_) => report.imported += 1,
            Err(CreateError::Database(e)) => return Err(e),
            Err(refusal) => {
                report.refused.push((index, refusal));
                if !skip_bad {
                    tx.rollback().await?;
                    report.imported = 0;
                    return Ok(report);
                }
            }
        }
    }
    tx.commit().await?;
    Ok(report)
}

async fn create_in(
    conn: &mut AnyConnection,
    new: &NewOrder,
    density: Density,
    now_ms: i64,
) -> Result<Order, CreateError> {
    let exists = sqlx::query("select 1 from orders where order_id = $1")
        .bind(&new.order_id)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_some() {
        return Err(CreateError::OrderExists);
    }
    let virtual_number = new.virtual_number.as_ref().map(|n| n.as_ref().to_owned());
    let len = match &new.pin {
        PinChoice::Given(pin) => pin.len(),
        PinChoice::Generate { len } => usize::from(*len),
    };
    let active = active_pins_of_len(conn, len, virtual_number.as_deref(), now_ms).await?;
    let space = 10f64.powi(i32::try_from(len).unwrap_or(i32::MAX));
    if (active + 1) as f64 > density.0 * space {
        return Err(CreateError::PinSpaceCrowded);
    }
    let allowed_callers = (!new.allowed_callers.is_empty()).then(|| {
        new.allowed_callers
            .iter()
            .map(|c| c.as_ref())
            .collect::<Vec<_>>()
            .join(",")
    });
    for _ in 0..20 {
        let pin = match &new.pin {
            PinChoice::Given(pin) => pin.clone(),
            PinChoice::Generate { len } => Pin::generate(*len),
        };
        if pin_in_use(conn, pin.as_ref(), virtual_number.as_deref(), now_ms).await? {
            match new.pin {
                PinChoice::Given(_) => return Err(CreateError::PinInUse),
                PinChoice::Generate { .. } => continue,
            }
        }
        let order = Order {
            order_id: new.order_id.clone(),
            customer_number: new.customer.as_ref().to_owned(),
            pin: pin.as_ref().to_owned(),
            virtual_number,
            created_at: now_ms,
            expires_at: new.expires_at_ms,
            deactivated_at: None,
            allowed_callers: new.allowed_callers.iter().map(|c| c.to_string()).collect(),
        };
        sqlx::query(
            "insert into orders (order_id, customer_number, pin, virtual_number, created_at,
                                 expires_at, allowed_callers)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&order.order_id)
        .bind(&order.customer_number)
        .bind(&order.pin)
        .bind(&order.virtual_number)
        .bind(order.created_at)
        .bind(order.expires_at)
        .bind(&allowed_callers)
        .execute(&mut *conn)
        .await?;
        return Ok(order);
    }
    Err(CreateError::PinInUse)
}

/// Active PINs of `len` digits that a guess on `virtual_number` could hit (those on it and
/// those valid on every number); for `None`, active PINs of that length anywhere.
async fn active_pins_of_len(
    conn: &mut AnyConnection,
    len: usize,
    virtual_number: Option<&str>,
    now_ms: i64,
) -> Result<i64, sqlx::Error> {
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
    row.try_get("n")
}

/// Is `pin` active on `virtual_number` (an order there, or an order valid on every number)?
/// For `None`, is it active anywhere?
async fn pin_in_use(
    conn: &mut AnyConnection,
    pin: &str,
    virtual_number: Option<&str>,
    now_ms: i64,
) -> Result<bool, sqlx::Error> {
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
pub async fn get(db: &Db, order_id: &str) -> Result<Option<Order>, sqlx::Error> {
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
) -> Result<Option<Order>, sqlx::Error> {
    sqlx::query(
        "update orders set deactivated_at = $1 where order_id = $2 and deactivated_at is null",
    )
    .bind(now_ms)
    .bind(order_id)
    .execute(db.pool())
    .await?;
    get(db, order_id).await
}

/// The active order whose PIN is `pin` on `virtual_number` (or on every number). With
/// `virtual_number` `None` (the dialled number did not parse), only orders valid on every
/// number match.
pub async fn find_active_by_pin(
    db: &Db,
    pin: &str,
    virtual_number: Option<&str>,
    now_ms: i64,
) -> Result<Option<Order>, sqlx::Error> {
    let row = match virtual_number {
        Some(vn) => {
            let sql = sqlx::AssertSqlSafe(format!(
                "select {COLUMNS} from orders
                 where pin = $1 and deactivated_at is null and expires_at > $2
                   and (virtual_number = $3 or virtual_number is null)
                 limit 1"
            ));
            sqlx::query(sql)
                .bind(pin)
                .bind(now_ms)
                .bind(vn)
                .fetch_optional(db.pool())
                .await?
        }
        None => {
            let sql = sqlx::AssertSqlSafe(format!(
                "select {COLUMNS} from orders
                 where pin = $1 and deactivated_at is null and expires_at > $2
                   and virtual_number is null
                 limit 1"
            ));
            sqlx::query(sql)
                .bind(pin)
                .bind(now_ms)
                .fetch_optional(db.pool())
                .await?
        }
    };
    row.as_ref().map(from_row).transpose()
}

/// The order with this id if it is active at `now_ms`.
pub async fn find_active_by_id(
    db: &Db,
    order_id: &str,
    now_ms: i64,
) -> Result<Option<Order>, sqlx::Error> {
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
) -> Result<Vec<Order>, sqlx::Error> {
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
