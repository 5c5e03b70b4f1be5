//! What a keyed PIN needs: the check-pin lookup (the order, the caller's wrong PINs and the
//! budgets, in one statement) and the counts of active PINs by length.

use sqlx::Row;

use super::*;

/// What a keyed PIN needs, read in one statement ([`find_active_by_pin`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PinLookup {
    /// Wrong PINs keyed by the caller within the window ([`crate::storage::attempts::Counting`]).
    pub caller_failures: i64,
    /// What the dialled number's guessing budget has spent now (millionths; 0 when it has
    /// none), and [`crate::storage::attempts::EVERY_NUMBER`]'s.
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
pub(in crate::storage) static FIND_BY_PIN: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| {
        let columns = COLUMNS
            .split(',')
            .map(|c| format!("o.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let spent = |scope: &str| {
            let now = crate::storage::attempts::spent_now_sql("spent", "updated_at", "$2", "$8");
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
pub async fn find_active_by_pin(db: &Db, q: &PinQuery) -> Result<PinLookup, crate::storage::Error> {
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
) -> Result<PinCounts, crate::storage::Error> {
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

/// [`active_pin_counts`] of every virtual number with active orders at `now_ms` and of the
/// orders valid on every number (`None`), in one pass over the active orders' index: for
/// filling the counts at start rather than at the first guesses.
pub async fn all_active_pin_counts(
    db: &Db,
    now_ms: i64,
) -> Result<Vec<(Option<String>, PinCounts)>, crate::storage::Error> {
    const ALL: &str = "select virtual_number, cast(length(pin) as bigint) as len, count(*) as n
         from orders where deactivated_at is null and expires_at > $1
         group by virtual_number, length(pin)";
    let mut by_number: std::collections::BTreeMap<Option<String>, PinCounts> =
        std::collections::BTreeMap::new();
    for row in sqlx::query(ALL).bind(now_ms).fetch_all(db.pool()).await? {
        let len: i64 = row.try_get("len")?;
        let counts = by_number.entry(row.try_get("virtual_number")?).or_default();
        counts
            .0
            .insert(usize::try_from(len).unwrap_or(0), row.try_get("n")?);
    }
    Ok(by_number.into_iter().collect())
}
