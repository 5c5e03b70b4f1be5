//! Orders of the PIN flow: the PIN a courier keys in, and the customer it reaches.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};

use super::attempts::{Budget, Counting, EVERY_NUMBER};
use super::{Backend, Db};
use crate::domain::{NewOrder, OrderStatus, PhoneNumber, Pin, PinChoice};

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
    Database(#[from] super::Error),
}

const COLUMNS: &str = "order_id, customer_number, pin, virtual_number, created_at, expires_at,
     deactivated_at, allowed_callers";

fn from_row(row: &AnyRow) -> Result<Order, super::Error> {
    Ok(Order {
        order_id: row.try_get("order_id")?,
        customer_number: row.try_get("customer_number")?,
        pin: row.try_get("pin")?,
        virtual_number: row.try_get("virtual_number")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        deactivated_at: row.try_get("deactivated_at")?,
        allowed_callers: allowed_callers(row.try_get("allowed_callers")?),
    })
}

/// The `allowed_callers` column (comma-separated, or NULL) as a list.
pub(super) fn allowed_callers(column: Option<String>) -> Vec<String> {
    column
        .map(|s| {
            s.split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
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

/// Creates many orders in one write transaction: [`Import::begin`], [`Import::add`] with all
/// of `orders`, [`Import::finish`]. Refused rows are reported by index into `orders`.
///
/// Errors: the database's, which roll everything back.
pub async fn import(
    db: &Db,
    orders: &[NewOrder],
    skip_bad: bool,
    density: Density,
    now_ms: i64,
) -> Result<ImportReport, super::Error> {
    let mut import = Import::begin(db, skip_bad, density, now_ms, orders.len()).await?;
    let refused = import.add(orders).await?;
    let imported = import.finish().await?;
    Ok(ImportReport { imported, refused })
}

/// A bulk import in progress: one write transaction ([`Db::begin_write`]) fed with rows in
/// input order, in as many batches as the caller likes (a file can be stored while it is
/// still being parsed).
///
/// Each row is refused exactly when [`create`] would refuse it were the rows created one by
/// one in input order: an order id stored, or accepted earlier in the import
/// ([`CreateError::OrderExists`]); too many active PINs of its length that a guess on its
/// virtual number could hit, counting the rows accepted earlier
/// ([`CreateError::PinSpaceCrowded`]); a given PIN active on the same virtual number, on
/// every number, or (for a row without one) on any, stored or accepted earlier
/// ([`CreateError::PinInUse`]; a generated PIN is drawn again instead, up to 20 times).
/// Without `skip_bad`, the first refused row rolls everything back and ends the import; with
/// it, refused rows are reported and the others committed by [`Import::finish`]. Other
/// writers wait from [`Import::begin`] to the end.
///
/// The work is done in bulk, so that a million rows take seconds rather than the hours of
/// [`create`] per row: the active orders per virtual number and PIN length are counted once,
/// by one grouped query, and then in memory; each batch looks up its order ids, and the
/// PINs of its rows unless all active PINs were read at the start, with `in (...)` lists, is
/// checked in memory, and is inserted with multi-row inserts.
pub struct Import {
    /// `None` once the import is over: rolled back after a refusal without `skip_bad`.
    tx: Option<Transaction<'static, Any>>,
    skip_bad: bool,
    density: Density,
    now_ms: i64,
    chunks: Chunks,
    ledger: Ledger,
    /// Whether any order was stored when the import began; if none, no id needs looking up.
    orders_before: bool,
    /// The ids of the rows accepted so far.
    accepted_ids: HashSet<String>,
    imported: usize,
}

impl Import {
    /// Begins the write transaction and counts the active orders per virtual number and
    /// PIN length. `now_ms` (unix milliseconds) is every order's `created_at` and the instant
    /// at which orders are active.
    ///
    /// `expected_rows` is about how many rows will be added (more is fine; 0 when unknown).
    /// When no more orders than that are active, all their PINs are read at once here rather
    /// than looked up batch by batch: faster for a large import, and on PostgreSQL
    /// independent of the table's statistics, which a bulk load leaves stale until the next
    /// `ANALYZE` (without them, the look-ups scan the whole table).
    ///
    /// Errors: the database's.
    pub async fn begin(
        db: &Db,
        skip_bad: bool,
        density: Density,
        now_ms: i64,
        expected_rows: usize,
    ) -> Result<Self, super::Error> {
        let mut tx = db.begin_write().await?;
        let ledger = Ledger::load(&mut tx, now_ms, expected_rows).await?;
        let orders_before = sqlx::query("select 1 from orders limit 1")
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        Ok(Self {
            tx: Some(tx),
            skip_bad,
            density,
            now_ms,
            chunks: Chunks::new(db.backend()),
            ledger,
            orders_before,
            accepted_ids: HashSet::new(),
            imported: 0,
        })
    }

    /// Checks the next rows, `orders`, and inserts those accepted. Returns the refused rows,
    /// by index into `orders`, with why. Without `skip_bad`, the first refusal rolls
    /// everything back and is the only one returned; later calls then do nothing.
    ///
    /// Errors: the database's; the import must then be dropped, which rolls it back.
    pub async fn add(
        &mut self,
        orders: &[NewOrder],
    ) -> Result<Vec<(usize, CreateError)>, super::Error> {
        let Some(tx) = self.tx.as_mut() else {
            return Ok(Vec::new());
        };
        let stored_ids = if self.orders_before {
            stored_order_ids(tx, orders, self.chunks.lookup).await?
        } else {
            HashSet::new()
        };
        // The first draw of each generated PIN is looked up with the given PINs.
        let mut draws: Vec<Option<Pin>> = orders
            .iter()
            .map(|new| match new.pin {
                PinChoice::Given(_) => None,
                PinChoice::Generate { len } => Some(Pin::generate(len)),
            })
            .collect();
        let first_pins =
            orders
                .iter()
                .zip(&draws)
                .filter_map(|(new, draw)| match (&new.pin, draw) {
                    (PinChoice::Given(pin), _) | (_, Some(pin)) => Some(pin.as_ref()),
                    (PinChoice::Generate { .. }, None) => None,
                });
        self.ledger
            .look_up(tx, first_pins, self.now_ms, self.chunks.lookup)
            .await?;

        let mut refused = Vec::new();
        let mut accepted: Vec<(&NewOrder, Pin)> = Vec::with_capacity(orders.len());
        for (index, new) in orders.iter().enumerate() {
            let checked = if stored_ids.contains(new.order_id.as_str())
                || self.accepted_ids.contains(new.order_id.as_str())
            {
                Err(CreateError::OrderExists)
            } else {
                self.ledger
                    .admit(tx, new, draws[index].take(), self.density, self.now_ms)
                    .await
            };
            match checked {
                Ok(pin) => {
                    self.accepted_ids.insert(new.order_id.clone());
                    accepted.push((new, pin));
                }
                Err(CreateError::Database(e)) => return Err(e),
                Err(refusal) => {
                    refused.push((index, refusal));
                    if !self.skip_bad {
                        if let Some(tx) = self.tx.take() {
                            tx.rollback().await?;
                        }
                        return Ok(refused);
                    }
                }
            }
        }
        insert_many(tx, &accepted, self.now_ms, self.chunks.insert).await?;
        self.imported += accepted.len();
        Ok(refused)
    }

    /// Commits the import. Returns how many orders it stored: 0 when a refusal without
    /// `skip_bad` rolled it back.
    ///
    /// Errors: the database's.
    pub async fn finish(self) -> Result<usize, super::Error> {
        match self.tx {
            Some(tx) => {
                tx.commit().await?;
                Ok(self.imported)
            }
            None => Ok(0),
        }
    }

    /// Rolls the import back.
    ///
    /// Errors: the database's.
    pub async fn abandon(self) -> Result<(), super::Error> {
        match self.tx {
            Some(tx) => Ok(tx.rollback().await?),
            None => Ok(()),
        }
    }
}

/// How many values one statement of an import binds.
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

/// The ids among those of `orders` that are stored, in any status; `per_query` a statement.
async fn stored_order_ids(
    conn: &mut AnyConnection,
    orders: &[NewOrder],
    per_query: usize,
) -> Result<HashSet<String>, super::Error> {
    let ids: Vec<&str> = orders
        .iter()
        .map(|o| o.order_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
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
        for row in query.fetch_all(&mut *conn).await? {
            stored.insert(row.try_get("order_id")?);
        }
    }
    Ok(stored)
}

fn stored_ids_sql(ids: usize) -> String {
    format!(
        "select order_id from orders where order_id in ({})",
        placeholders(1, ids)
    )
}

/// Stores the accepted orders as [`create`] stores one, `per_statement` at a time.
async fn insert_many(
    conn: &mut AnyConnection,
    accepted: &[(&NewOrder, Pin)],
    now_ms: i64,
    per_statement: usize,
) -> Result<(), super::Error> {
    let full: Arc<str> = insert_sql(per_statement).into();
    for chunk in accepted.chunks(per_statement) {
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

/// What an import knows of the active orders, stored or accepted so far: how many there are
/// per PIN length and virtual number, and which hold each PIN looked up.
#[derive(Debug, Default)]
struct Ledger {
    /// Virtual numbers, interned: each has a small number of its own.
    number_ids: HashMap<String, u32>,
    /// Active orders per (virtual number, PIN length).
    on_number: HashMap<(u32, usize), i64>,
    /// Active orders valid on every number, per PIN length.
    on_every_number: HashMap<usize, i64>,
    /// Active orders per PIN length, wherever valid.
    of_len: HashMap<usize, i64>,
    /// The active orders holding each PIN looked up so far; a PIN not here was not looked up.
    holders: HashMap<String, Holders>,
    /// Whether `holders` has every order active when the import began (there were none, or
    /// all were read at once): then no PIN needs looking up.
    complete: bool,
}

/// The active orders holding any of `pins` PINs (`$2...`), active at `$1`.
fn holders_sql(pins: usize) -> String {
    format!(
        "select pin, virtual_number from orders
         where deactivated_at is null and expires_at > $1 and pin in ({})",
        placeholders(2, pins)
    )
}

/// The active orders that hold one PIN.
#[derive(Debug, Default)]
struct Holders {
    /// An order valid on every virtual number holds it.
    every_number: bool,
    /// The virtual numbers (interned) on which an order holds it.
    numbers: Vec<u32>,
}

impl Holders {
    /// Adds an order on `number` (interned; `None`: on every number).
    fn add(&mut self, number: Option<u32>) {
        match number {
            Some(id) => self.numbers.push(id),
            None => self.every_number = true,
        }
    }
}

impl Ledger {
    /// Counts the stored active orders per virtual number and PIN length, and reads all their
    /// PINs when there are no more than `expected_rows`.
    async fn load(
        conn: &mut AnyConnection,
        now_ms: i64,
        expected_rows: usize,
    ) -> Result<Self, super::Error> {
        let rows = sqlx::query(
            "select virtual_number, length(pin) as len, count(*) as n from orders
             where deactivated_at is null and expires_at > $1
             group by virtual_number, length(pin)",
        )
        .bind(now_ms)
        .fetch_all(&mut *conn)
        .await?;
        let mut ledger = Self::default();
        for row in rows {
            let number: Option<String> = row.try_get("virtual_number")?;
            let len = usize::try_from(row.try_get::<i64, _>("len")?).unwrap_or(usize::MAX);
            let n: i64 = row.try_get("n")?;
            let number = number.map(|vn| ledger.intern(&vn));
            ledger.count(number, len, n);
        }
        let active: i64 = ledger.of_len.values().sum();
        ledger.complete = usize::try_from(active).is_ok_and(|n| n <= expected_rows);
        if ledger.complete && active > 0 {
            let mut rows = sqlx::query(
                "select pin, virtual_number from orders
                 where deactivated_at is null and expires_at > $1",
            )
            .bind(now_ms)
            .fetch(&mut *conn);
            while let Some(row) = rows.try_next().await? {
                let pin: String = row.try_get("pin")?;
                let number: Option<String> = row.try_get("virtual_number")?;
                let number = number.map(|vn| ledger.intern(&vn));
                ledger.holders.entry(pin).or_default().add(number);
            }
        }
        Ok(ledger)
    }

    fn intern(&mut self, number: &str) -> u32 {
        if let Some(id) = self.number_ids.get(number) {
            return *id;
        }
        let id = u32::try_from(self.number_ids.len()).expect("fewer than 2^32 virtual numbers");
        self.number_ids.insert(number.to_owned(), id);
        id
    }

    fn count(&mut self, number: Option<u32>, len: usize, n: i64) {
        match number {
            Some(id) => *self.on_number.entry((id, len)).or_default() += n,
            None => *self.on_every_number.entry(len).or_default() += n,
        }
        *self.of_len.entry(len).or_default() += n;
    }

    /// Active PINs of `len` digits that a guess on `number` could hit, as
    /// [`active_pins_of_len`] counts them.
    fn active_of_len(&self, number: Option<u32>, len: usize) -> i64 {
        match number {
            Some(id) => {
                self.on_number.get(&(id, len)).copied().unwrap_or(0)
                    + self.on_every_number.get(&len).copied().unwrap_or(0)
            }
            None => self.of_len.get(&len).copied().unwrap_or(0),
        }
    }

    /// Loads the stored active holders of those of `pins` not looked up yet, `per_query` a
    /// statement.
    async fn look_up<'p>(
        &mut self,
        conn: &mut AnyConnection,
        pins: impl Iterator<Item = &'p str>,
        now_ms: i64,
        per_query: usize,
    ) -> Result<(), super::Error> {
        let mut new: Vec<&str> = Vec::new();
        for pin in pins {
            if !self.holders.contains_key(pin) {
                self.holders.insert(pin.to_owned(), Holders::default());
                new.push(pin);
            }
        }
        if self.complete {
            return Ok(());
        }
        let full: Arc<str> = holders_sql(per_query).into();
        for chunk in new.chunks(per_query) {
            let sql = if chunk.len() == per_query {
                full.clone()
            } else {
                holders_sql(chunk.len()).into()
            };
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms);
            for pin in chunk {
                query = query.bind(*pin);
            }
            for row in query.fetch_all(&mut *conn).await? {
                let pin: String = row.try_get("pin")?;
                let number: Option<String> = row.try_get("virtual_number")?;
                let number = number.map(|vn| self.intern(&vn));
                self.hold(&pin, number);
            }
        }
        Ok(())
    }

    /// Records that an active order on `number` (`None`: on every number) holds `pin`, which
    /// was looked up.
    fn hold(&mut self, pin: &str, number: Option<u32>) {
        self.holders
            .get_mut(pin)
            .expect("a PIN is looked up before it is held")
            .add(number);
    }

    /// Does an active order clash with `pin` on `number`, as [`pin_in_use`] decides? The PIN
    /// was looked up.
    fn clashes(&self, pin: &str, number: Option<u32>) -> bool {
        let holders = self
            .holders
            .get(pin)
            .expect("a PIN is looked up before it is checked");
        holders.every_number
            || match number {
                Some(id) => holders.numbers.contains(&id),
                None => !holders.numbers.is_empty(),
            }
    }

    /// Checks one row whose order id is new as [`create_in`] would, and counts it when it
    /// passes. `draw` is the first draw of a generated PIN, looked up already. Returns the
    /// order's PIN.
    async fn admit(
        &mut self,
        conn: &mut AnyConnection,
        new: &NewOrder,
        draw: Option<Pin>,
        density: Density,
        now_ms: i64,
    ) -> Result<Pin, CreateError> {
        let number = new
            .virtual_number
            .as_ref()
            .map(|vn| self.intern(vn.as_ref()));
        let len = match &new.pin {
            PinChoice::Given(pin) => pin.len(),
            PinChoice::Generate { len } => usize::from(*len),
        };
        let space = 10f64.powi(i32::try_from(len).unwrap_or(i32::MAX));
        if (self.active_of_len(number, len) + 1) as f64 > density.0 * space {
            return Err(CreateError::PinSpaceCrowded);
        }
        let pin = match (&new.pin, draw) {
            (PinChoice::Given(pin), _) if self.clashes(pin.as_ref(), number) => {
                return Err(CreateError::PinInUse);
            }
            (PinChoice::Given(pin), _) => pin.clone(),
            (PinChoice::Generate { len }, draw) => {
                let mut draw = draw.unwrap_or_else(|| Pin::generate(*len));
                let mut attempts = 1;
                loop {
                    self.look_up(conn, std::iter::once(draw.as_ref()), now_ms, 1)
                        .await?;
                    if !self.clashes(draw.as_ref(), number) {
                        break draw;
                    }
                    if attempts == 20 {
                        return Err(CreateError::PinInUse);
                    }
                    attempts += 1;
                    draw = Pin::generate(*len);
                }
            }
        };
        if new.expires_at_ms > now_ms {
            self.count(number, len, 1);
            self.hold(pin.as_ref(), number);
        }
        Ok(pin)
    }
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
    let allowed_callers = allowed_callers_column(&new.allowed_callers);
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

impl From<sqlx::Error> for CreateError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.into())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;

    const NOW: i64 = 1_000_000;
    const NUMBERS: [&str; 3] = ["+917314853246", "+918088919888", "+912249757100"];
    const PEOPLE: [&str; 3] = ["+919812345678", "+919988776655", "+917709562799"];
    /// The given PINs: guessable shapes, which `Pin::generate` never draws, so no generated
    /// PIN can change which rows are refused.
    const PINS: [&str; 6] = ["1111", "1234", "4321", "2222", "111111", "123456"];

    /// A row of a test import, as indices into the lists above.
    #[derive(Debug, Clone)]
    struct Row {
        id: usize,
        customer: usize,
        /// `None`: a generated PIN, of 4 digits or 6.
        pin: Option<usize>,
        generate_six: bool,
        number: Option<usize>,
        ttl: i64,
        callers: usize,
    }

    impl Row {
        fn order(&self) -> NewOrder {
            NewOrder {
                order_id: format!("OD-{}", self.id),
                customer: PhoneNumber::from_e164(PEOPLE[self.customer]).unwrap(),
                pin: match self.pin {
                    Some(p) => PinChoice::Given(Pin::parse(PINS[p], 1, 12).unwrap()),
                    None => PinChoice::Generate {
                        len: if self.generate_six { 6 } else { 4 },
                    },
                },
                virtual_number: self
                    .number
                    .map(|n| PhoneNumber::from_e164(NUMBERS[n]).unwrap()),
                expires_at_ms: NOW + self.ttl,
                allowed_callers: PEOPLE[..self.callers]
                    .iter()
                    .map(|p| PhoneNumber::from_e164(p).unwrap())
                    .collect(),
            }
        }
    }

    fn row() -> impl Strategy<Value = Row> {
        (
            0..10usize,
            0..PEOPLE.len(),
            proptest::option::weighted(0.7, 0..PINS.len()),
            any::<bool>(),
            proptest::option::weighted(0.7, 0..NUMBERS.len()),
            -20..50i64,
            0..3usize,
        )
            .prop_map(
                |(id, customer, pin, generate_six, number, ttl, callers)| Row {
                    id,
                    customer,
                    pin,
                    generate_six,
                    number,
                    ttl,
                    callers,
                },
            )
    }

    fn kind(e: &CreateError) -> &'static str {
        match e {
            CreateError::OrderExists => "order exists",
            CreateError::PinInUse => "PIN in use",
            CreateError::PinSpaceCrowded => "PIN space crowded",
            CreateError::Database(e) => panic!("database error: {e}"),
        }
    }

    /// Every stored order, by id, with a generated PIN shown as its length only.
    async fn stored(db: &Db) -> Vec<Order> {
        let mut all = search(db, "", "", 10_000).await.unwrap();
        all.sort_by(|a, b| a.order_id.cmp(&b.order_id));
        for o in &mut all {
            if !PINS.contains(&o.pin.as_str()) {
                o.pin = format!("generated, {} digits", o.pin.len());
            }
        }
        all
    }

    /// No two active orders of `db` share a PIN where a guess could reach both: on the same
    /// virtual number, or with one of them valid on every number.
    async fn assert_no_active_clash(db: &Db) {
        let all = search(db, "", "", 10_000).await.unwrap();
        let active: Vec<&Order> = all
            .iter()
            .filter(|o| o.status(NOW) == OrderStatus::Active)
            .collect();
        for (i, a) in active.iter().enumerate() {
            for b in &active[i + 1..] {
                let reach = a.virtual_number.is_none()
                    || b.virtual_number.is_none()
                    || a.virtual_number == b.virtual_number;
                assert!(
                    !(reach && a.pin == b.pin),
                    "{} and {} clash",
                    a.order_id,
                    b.order_id
                );
            }
        }
    }

    /// Stores `before` in `db`, deactivating those marked.
    async fn store_before(db: &Db, before: &[(Row, bool)]) {
        for (row, deactivated) in before {
            let new = row.order();
            if create(db, &new, Density(1.0), NOW - 10).await.is_ok() && *deactivated {
                deactivate(db, &new.order_id, NOW - 1).await.unwrap();
            }
        }
    }

    /// One case of the property test below.
    #[derive(Debug)]
    struct Case {
        /// Orders stored before the import, and whether each is then deactivated.
        before: Vec<(Row, bool)>,
        rows: Vec<Row>,
        /// Rows per [`Import::add`].
        batch: usize,
        /// Whether the active PINs are read at once rather than looked up.
        read_all: bool,
        skip_bad: bool,
        density: f64,
    }

    /// Imports the rows of `case` in bulk into `bulk` and one by one with [`create`] into
    /// `one_by_one`, both empty databases given `before` first, and checks that the same
    /// rows are refused for the same reasons and the same orders stored.
    async fn run(bulk: Db, one_by_one: Db, case: Case) {
        let Case {
            before,
            rows,
            batch,
            read_all,
            skip_bad,
            density,
        } = case;
        let density = Density(density);
        let orders: Vec<NewOrder> = rows.iter().map(Row::order).collect();

        store_before(&one_by_one, &before).await;
        let mut expected = Vec::new();
        for (index, new) in orders.iter().enumerate() {
            if let Err(e) = create(&one_by_one, new, density, NOW).await {
                expected.push((index, kind(&e)));
            }
        }

        store_before(&bulk, &before).await;
        let stored_before = stored(&bulk).await;
        let expected_rows = if read_all { usize::MAX } else { 0 };
        let mut import = Import::begin(&bulk, skip_bad, density, NOW, expected_rows)
            .await
            .unwrap();
        let mut refused = Vec::new();
        for (b, rows) in orders.chunks(batch).enumerate() {
            let refusals = import.add(rows).await.unwrap();
            refused.extend(refusals.iter().map(|(i, e)| (b * batch + i, kind(e))));
        }
        let imported = import.finish().await.unwrap();
        if skip_bad || expected.is_empty() {
            assert_eq!(refused, expected);
            assert_eq!(imported, orders.len() - expected.len());
            assert_eq!(stored(&bulk).await, stored(&one_by_one).await);
        } else {
            assert_eq!(refused, expected[..1]);
            assert_eq!(imported, 0);
            assert_eq!(stored(&bulk).await, stored_before);
        }
        assert_no_active_clash(&bulk).await;
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A bulk import, in one batch or several, refuses the rows, and stores the orders,
        /// that creating the rows one by one would: duplicate ids in the file and in the
        /// database, PINs clashing with stored orders or earlier rows, crowded PIN spaces,
        /// generated PINs, expired and deactivated orders, with and without `skip_bad`.
        #[test]
        fn a_bulk_import_decides_as_creating_row_by_row_would(
            before in proptest::collection::vec((row(), any::<bool>()), 0..16),
            rows in proptest::collection::vec(row(), 0..30),
            batch in prop_oneof![Just(usize::MAX), 1..8usize],
            read_all in any::<bool>(),
            skip_bad in any::<bool>(),
            density in proptest::sample::select(vec![0.0001, 0.0002, 0.0005, 0.01]),
        ) {
            let case = Case { before, rows, batch, read_all, skip_bad, density };
            static DBS: OnceLock<CaseDbs> = OnceLock::new();
            DBS.get_or_init(CaseDbs::new).run(|bulk, one_by_one| {
                run(bulk, one_by_one, case)
            });
        }
    }

    fn generated(id: &str, len: u8, number: Option<&str>) -> NewOrder {
        NewOrder {
            order_id: id.to_owned(),
            customer: PhoneNumber::from_e164(PEOPLE[0]).unwrap(),
            pin: PinChoice::Generate { len },
            virtual_number: number.map(|n| PhoneNumber::from_e164(n).unwrap()),
            expires_at_ms: NOW + 100,
            allowed_callers: Vec::new(),
        }
    }

    fn given(id: &str, pin: &str, number: Option<&str>) -> NewOrder {
        NewOrder {
            pin: PinChoice::Given(Pin::parse(pin, 1, 12).unwrap()),
            ..generated(id, 1, number)
        }
    }

    #[tokio::test]
    async fn generated_pins_avoid_stored_pins_and_earlier_rows_and_give_up_when_all_are_taken() {
        let db = crate::storage::test_db().await;
        // Half the one-digit PIN space, valid on every number.
        for d in 0..5 {
            create(
                &db,
                &given(&format!("S-{d}"), &d.to_string(), None),
                Density(2.0),
                NOW,
            )
            .await
            .unwrap();
        }
        let rows = [
            generated("G-1", 1, None),
            generated("G-2", 1, Some(NUMBERS[0])),
        ];
        let report = import(&db, &rows, false, Density(2.0), NOW).await.unwrap();
        assert!(report.refused.is_empty(), "{:?}", report.refused);
        let g1 = get(&db, "G-1").await.unwrap().unwrap().pin;
        let g2 = get(&db, "G-2").await.unwrap().unwrap().pin;
        assert!(
            g1.as_str() >= "5" && g2.as_str() >= "5" && g1 != g2,
            "{g1} {g2}"
        );

        // The rest of the space on every number, then one more generated PIN on the number of
        // G-2: nothing is left to draw there.
        let rest: Vec<NewOrder> = (5..10)
            .map(|d| d.to_string())
            .filter(|d| *d != g1 && *d != g2)
            .map(|d| given(&format!("S-{d}"), &d, None))
            .collect();
        let report = import(&db, &rest, false, Density(2.0), NOW).await.unwrap();
        assert_eq!(report.imported, 3);
        let report = import(
            &db,
            &[generated("G-3", 1, Some(NUMBERS[0]))],
            true,
            Density(2.0),
            NOW,
        )
        .await
        .unwrap();
        assert_eq!(report.imported, 0);
        assert!(matches!(report.refused[..], [(0, CreateError::PinInUse)]));
    }

    #[tokio::test]
    async fn expired_and_deactivated_orders_neither_crowd_nor_clash() {
        let db = crate::storage::test_db().await;
        let expired = NewOrder {
            expires_at_ms: NOW - 1,
            ..given("S-1", "1111", Some(NUMBERS[0]))
        };
        create(&db, &expired, Density(1.0), NOW - 10).await.unwrap();
        create(&db, &given("S-2", "2222", None), Density(1.0), NOW - 10)
            .await
            .unwrap();
        deactivate(&db, "S-2", NOW - 1).await.unwrap();
        // One active 4-digit PIN per number at most.
        let rows = [
            given("OD-1", "1111", Some(NUMBERS[0])),
            given("OD-2", "4321", Some(NUMBERS[0])),
            given("OD-3", "2222", Some(NUMBERS[1])),
            given("OD-4", "1234", None),
        ];
        let report = import(&db, &rows, true, Density(0.0001), NOW)
            .await
            .unwrap();
        let refused: Vec<(usize, &str)> =
            report.refused.iter().map(|(i, e)| (*i, kind(e))).collect();
        assert_eq!(
            refused,
            [(1, "PIN space crowded"), (3, "PIN space crowded")]
        );
        assert_eq!(report.imported, 2);
    }

    #[tokio::test]
    async fn an_import_larger_than_one_chunk_checks_and_stores_every_row() {
        let db = crate::storage::test_db().await;
        for i in [0, 499, 500, 1000, 1201] {
            let stored = given(&format!("OD-{i}"), &format!("9{i:04}"), Some(NUMBERS[2]));
            create(&db, &stored, Density(1.0), NOW).await.unwrap();
        }
        let rows: Vec<NewOrder> = (0..1202)
            .map(|i| {
                given(
                    &format!("OD-{i}"),
                    &format!("{:06}", i * 7),
                    Some(NUMBERS[i % 2]),
                )
            })
            .collect();
        let report = import(&db, &rows, true, Density(1.0), NOW).await.unwrap();
        let refused: Vec<usize> = report.refused.iter().map(|(i, _)| *i).collect();
        assert_eq!(refused, [0, 499, 500, 1000, 1201]);
        assert_eq!(report.imported, 1197);
        assert_eq!(search(&db, "", "", 5000).await.unwrap().len(), 1202);
        let o = get(&db, "OD-1199").await.unwrap().unwrap();
        assert_eq!(
            (o.pin.as_str(), o.virtual_number.as_deref()),
            ("008393", Some(NUMBERS[1]))
        );
    }
}
