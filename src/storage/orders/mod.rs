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
    /// How its bridges are dialled (language, limits, recording, whisper); unset: the
    /// virtual number's, else the settings.
    pub options: crate::domain::CallOptions,
}

impl Order {
    /// The order's status at `now_ms`.
    pub fn status(&self, now_ms: i64) -> OrderStatus {
        OrderStatus::at(now_ms, self.expires_at, self.deactivated_at)
    }
}

const COLUMNS: &str = "order_id, customer_number, pin, virtual_number, created_at, expires_at,
     deactivated_at, allowed_callers, language, ring_timeout_secs, max_conversation_secs, record,
     whisper";

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
        options: super::call_options::StoredOptions {
            language: row.try_get("language")?,
            ring_timeout_secs: row.try_get("ring_timeout_secs")?,
            max_conversation_secs: row.try_get("max_conversation_secs")?,
            record: row.try_get("record")?,
            whisper: row.try_get("whisper")?,
        },
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
    pub options: super::call_options::StoredOptions,
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
            options: super::call_options::decode(self.options),
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

/// Counts the active PINs of `$1` digits at `$2` (unix ms) on the number `$3` and those valid
/// on every number. Two counts, each a search of `orders_active_by_number`: with
/// `virtual_number = $3 or virtual_number is null` in one, SQLite scanned the whole index.
const PINS_OF_LEN_ON_NUMBER: &str = "select (select count(*) from orders
          where length(pin) = $1 and expires_at > $2 and virtual_number = $3
            and deactivated_at is null)
      + (select count(*) from orders
          where length(pin) = $1 and expires_at > $2 and virtual_number is null
            and deactivated_at is null) as n";

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
            sqlx::query(PINS_OF_LEN_ON_NUMBER)
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
/// order was closed (the only one of them that can be active). A booking's party PIN
/// (migration 0017) is not an order here: the orders API and pages never show one.
pub async fn get(db: &Db, order_id: &str) -> Result<Option<Order>, super::Error> {
    Ok(get_keyed(db, order_id)
        .await?
        .filter(|(_, booking_id)| booking_id.is_none())
        .map(|(order, _)| order))
}

/// The keyed PIN with this id as [`get`] finds it, an order or a booking's party PIN, with
/// the booking it belongs to.
async fn get_keyed(
    db: &Db,
    order_id: &str,
) -> Result<Option<(Order, Option<String>)>, super::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS}, booking_id from orders where order_id = $1
         order by created_at desc, case when deactivated_at is null then 1 else 0 end desc
         limit 1"
    ));
    sqlx::query(sql)
        .bind(order_id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(|row| Ok((from_row(row)?, row.try_get("booking_id")?)))
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
         where order_id = $2 and deactivated_at is null and booking_id is null
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
    let customer = change.customer.as_ref().map(AsRef::<str>::as_ref);
    // A new customer brings its search key along (migration 0013).
    let updated = sqlx::query(
        "update orders set
             customer_number = coalesce($1, customer_number),
             customer_digits_reversed = coalesce($7, customer_digits_reversed),
             expires_at = coalesce($2, expires_at),
             allowed_callers = case when $3 = 1 then $4 else allowed_callers end
         where order_id = $5 and deactivated_at is null and expires_at > $6
           and booking_id is null",
    )
    .bind(customer)
    .bind(change.expires_at_ms)
    .bind(i64::from(callers.is_some()))
    .bind(callers.flatten())
    .bind(order_id)
    .bind(now_ms)
    .bind(customer.map(digits_reversed))
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
    // A booking's party PIN is found here too: its call dials after it like an order's.
    Ok(get_keyed(db, order_id)
        .await?
        .map(|(order, _)| order)
        .filter(|o| o.status(now_ms) == OrderStatus::Active))
}

/// What a search of the orders page matches: an order matches when any part given matches
/// (order id prefix, customer number suffix, PIN, number). Empty parts are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderSearch {
    /// The start of the order id, as typed (`OD-12`).
    pub order_id_prefix: Option<String>,
    /// The last digits of the customer's number (`5678`); digits only.
    pub customer_suffix: Option<String>,
    /// The whole PIN.
    pub pin: Option<String>,
    /// A whole number (E.164): the customer's or the virtual number.
    pub number: Option<String>,
}

/// Which orders [`list`] returns: those in `status` at `now` (unix ms; any status when
/// `None`), on `virtual_number` and for `customer_number` (E.164) when given, matching
/// `search` when given, created before the cursor `before` (the `created_at` and `order_id`
/// of the last order of the page before), at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub virtual_number: Option<String>,
    pub customer_number: Option<String>,
    pub search: Option<OrderSearch>,
    pub before: Option<(i64, String)>,
    pub limit: i64,
    pub now: i64,
}

/// The values of a statement being built, and their `$n` placeholders in bind order.
#[derive(Default)]
struct Binds(Vec<Bind>);

enum Bind {
    Text(String),
    Number(i64),
}

impl Binds {
    fn text(&mut self, value: impl Into<String>) -> String {
        self.0.push(Bind::Text(value.into()));
        format!("${}", self.0.len())
    }

    fn number(&mut self, value: i64) -> String {
        self.0.push(Bind::Number(value));
        format!("${}", self.0.len())
    }

    fn query(self, sql: String) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for bind in self.0 {
            query = match bind {
                Bind::Text(t) => query.bind(t),
                Bind::Number(n) => query.bind(n),
            };
        }
        query
    }
}

/// `column` starting with `prefix` (over the alphabet `0-9a-f`), as a range an index reads:
/// `column >= prefix and column < the next prefix`.
fn starts_with(column: &str, prefix: &str, binds: &mut Binds) -> String {
    let from = binds.text(prefix);
    match next_prefix(prefix) {
        Some(to) => {
            let to = binds.text(to);
            format!("({column} >= {from} and {column} < {to})")
        }
        None => format!("{column} >= {from}"),
    }
}

/// The smallest string over `0-9a-f` greater than every string that starts with `prefix`:
/// its last character that is not `f`, plus one; `None` for `ff...f` (no bound).
fn next_prefix(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '0'..='8' | 'a'..='e' => char::from(last as u8 + 1),
            '9' => 'a',
            _ => continue,
        };
        chars.push(next);
        return Some(chars.into_iter().collect());
    }
    None
}

/// The `order_id_hex` key of an order id (migration 0013): its UTF-8 bytes in lower-case hex.
pub(super) fn id_hex(order_id: &str) -> String {
    hex::encode(order_id.as_bytes())
}

/// The `customer_digits_reversed` key of a number (migration 0013): its digits, last first.
pub(super) fn digits_reversed(number: &str) -> String {
    number.chars().rev().filter(char::is_ascii_digit).collect()
}

/// The `where` clause of `filter`, without the cursor and limit, its values added to `binds`.
/// With `walk_creation`, the search's columns are read as expressions (`column || ''`), which
/// no index answers: the engine then walks the index by creation, newest first, and stops at
/// the page's end, which for a search that matches many orders is far quicker than reading
/// every match from the search keys' indexes and sorting them.
fn conditions(filter: &OrderFilter, binds: &mut Binds, walk_creation: bool) -> Vec<String> {
    let column = |name: &str| {
        if walk_creation {
            format!("({name} || '')")
        } else {
            name.to_owned()
        }
    };
    // Bookings' party PINs (migration 0017) are not orders.
    let mut conditions: Vec<String> = vec!["booking_id is null".into()];
    if let Some(vn) = &filter.virtual_number {
        conditions.push(format!("virtual_number = {}", binds.text(vn.as_str())));
    }
    if let Some(customer) = &filter.customer_number {
        conditions.push(format!(
            "customer_number = {}",
            binds.text(customer.as_str())
        ));
    }
    match filter.status {
        Some(OrderStatus::Active) => {
            let now = binds.number(filter.now);
            conditions.push(format!("deactivated_at is null and expires_at > {now}"));
        }
        Some(OrderStatus::Expired) => {
            let now = binds.number(filter.now);
            conditions.push(format!("deactivated_at is null and expires_at <= {now}"));
        }
        Some(OrderStatus::Deactivated) => conditions.push("deactivated_at is not null".into()),
        None => {}
    }
    if let Some(search) = &filter.search {
        let mut any: Vec<String> = Vec::new();
        if let Some(prefix) = search.order_id_prefix.as_deref().filter(|p| !p.is_empty()) {
            any.push(starts_with(&column("order_id_hex"), &id_hex(prefix), binds));
        }
        if let Some(suffix) = search.customer_suffix.as_deref() {
            let reversed = digits_reversed(suffix);
            if !reversed.is_empty() {
                any.push(starts_with(
                    &column("customer_digits_reversed"),
                    &reversed,
                    binds,
                ));
            }
        }
        if let Some(pin) = &search.pin {
            any.push(format!("{} = {}", column("pin"), binds.text(pin.as_str())));
        }
        if let Some(number) = &search.number {
            let n = binds.text(number.as_str());
            any.push(format!("{} = {n}", column("customer_number")));
            any.push(format!("{} = {n}", column("virtual_number")));
        }
        if any.is_empty() {
            // A search for nothing finds nothing.
            any.push("1 = 0".into());
        }
        conditions.push(format!("({})", any.join(" or ")));
    }
    conditions
}

fn where_clause(conditions: &[String]) -> String {
    format!("where {}", conditions.join(" and "))
}

/// The orders `filter` selects, newest first (by `created_at`, then `order_id`), read from
/// the index by creation (migration 0011), or, for a search, from the search keys' indexes
/// (migration 0013).
pub async fn list(db: &Db, filter: &OrderFilter) -> Result<Vec<Order>, super::Error> {
    // A search that matches many orders finds a page of them soonest by walking the orders
    // newest first; one that matches few, by reading its matches from the search keys.
    let walk_creation = filter.search.is_some() && count(db, filter).await? > BROAD_SEARCH;
    let (sql, binds) = list_sql(filter, walk_creation);
    binds
        .query(sql)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Matches past which a search reads the orders newest first rather than its matches from
/// the search keys' indexes. Measured on 200,000 orders (docs/performance.md): 10,000 matches
/// read and sorted take about 10 ms; walking the orders until a page of them is found takes
/// under 1 ms when one order in twenty matches.
const BROAD_SEARCH: i64 = 10_000;

/// The statement of [`list`] and its values ([`conditions`] for `walk_creation`).
fn list_sql(filter: &OrderFilter, walk_creation: bool) -> (String, Binds) {
    let mut binds = Binds::default();
    let mut conditions = conditions(filter, &mut binds, walk_creation);
    if let Some((created_at, order_id)) = &filter.before {
        let at = binds.number(*created_at);
        let id = binds.text(order_id.as_str());
        conditions.push(format!(
            "(created_at < {at} or (created_at = {at} and order_id < {id}))"
        ));
    }
    let limit = binds.number(filter.limit);
    let sql = format!(
        "select {COLUMNS} from orders {}
         order by created_at desc, order_id desc limit {limit}",
        where_clause(&conditions)
    );
    (sql, binds)
}

/// How many orders `filter` selects, whatever its cursor and limit.
pub async fn count(db: &Db, filter: &OrderFilter) -> Result<i64, super::Error> {
    let mut binds = Binds::default();
    let conditions = conditions(filter, &mut binds, false);
    let sql = format!(
        "select count(*) as n from orders {}",
        where_clause(&conditions)
    );
    Ok(binds.query(sql).fetch_one(db.pool()).await?.try_get("n")?)
}

/// Writes the search keys of migration 0013 for orders stored before it (or by a tool that
/// left them out), a thousand at a time. Returns how many orders it filled.
///
/// Errors: the database's.
pub async fn fill_search_keys(db: &Db) -> Result<u64, super::Error> {
    let mut filled = 0;
    loop {
        let rows = sqlx::query(
            "select order_id, customer_number from orders
             where order_id_hex is null or customer_digits_reversed is null limit 1000",
        )
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            return Ok(filled);
        }
        let mut tx = db.pool().begin().await?;
        for row in &rows {
            let order_id: String = row.try_get("order_id")?;
            let customer: String = row.try_get("customer_number")?;
            sqlx::query(
                "update orders set order_id_hex = $1, customer_digits_reversed = $2
                 where order_id = $3",
            )
            .bind(id_hex(&order_id))
            .bind(digits_reversed(&customer))
            .bind(&order_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        filled += rows.len() as u64;
    }
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

#[cfg(test)]
mod search_tests {
    use super::*;

    #[test]
    fn the_next_prefix_bounds_every_string_that_starts_with_a_prefix() {
        assert_eq!(next_prefix("12").as_deref(), Some("13"));
        assert_eq!(next_prefix("19").as_deref(), Some("1a"));
        assert_eq!(next_prefix("4f").as_deref(), Some("5"));
        assert_eq!(next_prefix("ff"), None);
        assert_eq!(digits_reversed("+919812345678"), "876543218919");
        assert_eq!(id_hex("OD-1"), "4f442d31");
    }

    async fn stored(db: &Db, id: &str, customer: &str, created_at: i64) {
        let rules = crate::domain::OrderRules {
            region: crate::domain::Region::parse("IN").unwrap(),
            pin_min: 4,
            pin_max: 8,
            default_ttl_ms: 86_400_000,
            allowed_country_codes: vec![91],
        };
        let new = NewOrder::parse(id, customer, None, None, None, &rules, created_at).unwrap();
        let pin = Pin::parse(&format!("{:04}", created_at % 10_000), 4, 8).unwrap();
        insert(db, &new, pin, created_at).await.unwrap();
    }

    #[tokio::test]
    async fn a_search_finds_orders_by_the_start_of_their_id_and_the_end_of_the_customer_number() {
        let db = crate::storage::test_db().await;
        stored(&db, "OD-123", "+919812345678", 1).await;
        stored(&db, "OD-124", "+919812340098", 2).await;
        stored(&db, "od-125", "+919812349998", 3).await;
        stored(&db, "XY-9", "+919812345698", 4).await;
        let found = |search: OrderSearch| {
            let db = db.clone();
            async move {
                let filter = OrderFilter {
                    search: Some(search),
                    limit: 10,
                    ..OrderFilter::default()
                };
                let ids: Vec<String> = list(&db, &filter)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|o| o.order_id)
                    .collect();
                assert_eq!(count(&db, &filter).await.unwrap(), ids.len() as i64);
                ids
            }
        };
        let by_id = |p: &str| OrderSearch {
            order_id_prefix: Some(p.into()),
            ..OrderSearch::default()
        };
        let by_suffix = |s: &str| OrderSearch {
            customer_suffix: Some(s.into()),
            ..OrderSearch::default()
        };
        assert_eq!(found(by_id("OD-12")).await, ["OD-124", "OD-123"]);
        assert_eq!(found(by_id("OD-123")).await, ["OD-123"]);
        assert_eq!(found(by_id("O")).await, ["OD-124", "OD-123"]);
        assert!(found(by_id("D")).await.is_empty());
        assert_eq!(found(by_suffix("98")).await, ["XY-9", "od-125", "OD-124"]);
        assert_eq!(found(by_suffix("5678")).await, ["OD-123"]);
        assert_eq!(found(by_suffix("9998")).await, ["od-125"]);
        // Either part matching is enough.
        let both = OrderSearch {
            order_id_prefix: Some("XY".into()),
            customer_suffix: Some("5678".into()),
            ..OrderSearch::default()
        };
        assert_eq!(found(both).await, ["XY-9", "OD-123"]);
        // A changed customer is found by the new number's digits, not the old one's.
        let new_customer = OrderChange {
            customer: Some(
                PhoneNumber::parse("+919800001111", crate::domain::Region::parse("IN").unwrap())
                    .unwrap(),
            ),
            ..OrderChange::default()
        };
        assert!(matches!(
            change(&db, "OD-123", &new_customer, 5).await.unwrap(),
            Changed::Changed(_)
        ));
        assert!(found(by_suffix("5678")).await.is_empty());
        assert_eq!(found(by_suffix("1111")).await, ["OD-123"]);
        // Keys left out by an older version are filled in.
        sqlx::query("update orders set order_id_hex = null, customer_digits_reversed = null")
            .execute(db.pool())
            .await
            .unwrap();
        assert!(found(by_id("OD")).await.is_empty());
        assert_eq!(fill_search_keys(&db).await.unwrap(), 4);
        assert_eq!(found(by_id("OD")).await, ["OD-124", "OD-123"]);
        assert_eq!(fill_search_keys(&db).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_search_reads_the_search_keys_indexes_not_every_order() {
        let db = crate::storage::test_db().await;
        if db.backend() != crate::storage::Backend::Sqlite {
            // PostgreSQL chooses by its statistics; its timings on 200,000 orders are in
            // docs/performance.md.
            return;
        }
        let filter = OrderFilter {
            search: Some(OrderSearch {
                order_id_prefix: Some("OD-12".into()),
                customer_suffix: Some("5678".into()),
                ..OrderSearch::default()
            }),
            before: Some((5, "OD-9".into())),
            limit: 51,
            ..OrderFilter::default()
        };
        let plan = |walk_creation| {
            let (sql, binds) = list_sql(&filter, walk_creation);
            let db = db.clone();
            async move {
                let plan: Vec<String> = binds
                    .query(format!("explain query plan {sql}"))
                    .fetch_all(db.pool())
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.try_get::<String, _>("detail").unwrap())
                    .collect();
                plan.join("\n")
            }
        };
        let narrow = plan(false).await;
        assert!(narrow.contains("orders_id_hex"), "{narrow}");
        assert!(narrow.contains("orders_customer_reversed"), "{narrow}");
        assert!(!narrow.contains("SCAN orders"), "{narrow}");
        // A broad search walks the orders newest first instead, and sorts nothing.
        let broad = plan(true).await;
        assert!(broad.contains("orders_created"), "{broad}");
        assert!(!broad.contains("TEMP B-TREE"), "{broad}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admitting an order on a number counts the PINs it could be confused with by two
    /// searches of the active orders' index, never by reading every active order.
    #[tokio::test]
    async fn the_count_of_pins_a_new_order_meets_searches_the_index() {
        let db = crate::storage::sqlite_test_db().await;
        let plan = crate::storage::test_plan(&db, PINS_OF_LEN_ON_NUMBER).await;
        let search =
            "SEARCH orders USING INDEX orders_active_by_number (virtual_number=? AND expires_at>?)";
        assert_eq!(plan.matches(search).count(), 2, "{plan}");
        assert!(!plan.contains("SCAN orders"), "{plan}");
    }
}
