//! Wrong PINs: counted per caller within a window, and spent from each virtual number's
//! guessing budget, so that every instance enforces the same limits (DESIGN.md, "Rules that
//! come from the field").
//!
//! A caller ID is whatever the request says, so a limit per caller alone is no limit: an
//! attacker who changes it at every guess gets a fresh allowance each time. Every wrong PIN
//! therefore also spends from the budget of the virtual number it was keyed on: the chance
//! that a guess of its length would have hit one of the active PINs there ([`Weight`]), in
//! millionths of a customer number. Orders valid on every number can be reached from any
//! dialled number, so their share also spends from one budget of their own
//! ([`EVERY_NUMBER`]). A budget leaks back at a steady rate ([`Budget`]); while one is spent,
//! unknown callers are refused on that number, whatever caller ID they send, and the expected
//! customer numbers they can reach stay within `PINBRIDGE_PIN_GUESSING_BUDGET` a day.

use sqlx::AnyConnection;
use sqlx::{Any, Executor, Row};

/// The budget key of the orders valid on every virtual number.
pub const EVERY_NUMBER: &str = "*";

/// A day, in milliseconds: the budget's rate is per day.
const DAY_MS: i64 = 86_400_000;

/// One in a million: the unit of a budget and of a wrong PIN's weight.
pub const MILLIONTH: f64 = 1e-6;

/// Inserts one wrong PIN: `$1` caller key, `$2` virtual number key, `$3` now (ms), `$4` and
/// `$5` its weights on the number's budget and on [`EVERY_NUMBER`]'s (millionths).
pub(super) const RECORD_FAILURE: &str =
    "insert into pin_failures (caller, virtual_number, at, weight, weight_every)
         values ($1, $2, $3, $4, $5)";

/// PostgreSQL: the transaction-scoped advisory lock under which the guessing budgets are
/// spent ([`record_failure`]); a key of its own, beside [`super::Db::begin_write`]'s.
const BUDGETS_LOCK: &str = "select pg_advisory_xact_lock(7231000002)";

/// Counts the wrong PINs keyed by `$1` since `$2` (ms), at most `$3` ([`Counting`]).
pub(super) const CALLER_FAILURES: &str = "select count(*) from (select 1 from pin_failures
                                   where caller = $1 and at >= $2 limit $3) c";

/// The most time a budget is let leak for at once: by then it has leaked all it can, and the
/// product of time and rate stays far inside 64 bits at any budget the settings allow.
const MAX_LEAK_MS: i64 = 2 * DAY_MS;

/// SQL: what a budget that had spent `spent` at `updated_at` (columns or parameters) has
/// spent at `now`, having leaked `refill` millionths a day since (not below 0): the same
/// arithmetic as [`Budget::spent_at`].
pub(super) fn spent_now_sql(spent: &str, updated_at: &str, now: &str, refill: &str) -> String {
    let leaked = format!(
        "(case when {now} > {updated_at}
               then (case when {now} - {updated_at} > {MAX_LEAK_MS} then {MAX_LEAK_MS}
                          else {now} - {updated_at} end) * {refill} / {DAY_MS}
               else 0 end)"
    );
    format!("(case when {spent} - {leaked} > 0 then {spent} - {leaked} else 0 end)")
}

/// Spends `$2` (millionths) from the budget of `$1` at `$3` (now, ms), after letting it leak
/// at `$4` millionths a day since it was last spent; returns what is spent now.
pub(super) static SPEND: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "insert into pin_budgets (scope, spent, updated_at) values ($1, $2, $3)
         on conflict (scope) do update set
             spent = {} + excluded.spent,
             updated_at = case when $3 > pin_budgets.updated_at then $3
                               else pin_budgets.updated_at end
         returning spent",
        spent_now_sql("pin_budgets.spent", "pin_budgets.updated_at", "$3", "$4")
    )
});

/// Which of a caller's wrong PINs count, and how far: those since `since` (unix ms), up to
/// `caller_cap`, its limit plus two ([`Counting::new`]): enough to tell "within the limit",
/// "just crossed it" (limit + 1) and "past it", while a flood of wrong PINs never makes a
/// check-pin count them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counting {
    pub since: i64,
    pub caller_cap: i64,
}

impl Counting {
    /// Wrong PINs since `since` (unix ms), counted up to two past `caller_max`
    /// (`PINBRIDGE_CALLER_MAX_FAILURES`).
    pub fn new(since: i64, caller_max: u32) -> Self {
        Self {
            since,
            caller_cap: i64::from(caller_max) + 2,
        }
    }
}

/// A virtual number's guessing budget (`PINBRIDGE_PIN_GUESSING_BUDGET` a day): what unknown
/// callers' wrong PINs may spend, in millionths of an expected customer number, before they
/// are refused on that number.
///
/// It holds at most [`Budget::capacity`], one window's share of a day's budget
/// (`PINBRIDGE_LOCKOUT_WINDOW`), and leaks back the rest of the day's budget over a day. So
/// over any day, wrong PINs of unknown callers reach at most the day's budget (and the one
/// guess that crossed it) in expectation, however many caller IDs they use, while a burst of
/// typing mistakes within one window is still absorbed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Most that may be spent at once before unknown callers are refused (millionths).
    pub capacity: i64,
    /// How much leaks back a day (millionths).
    pub refill_per_day: i64,
}

impl Budget {
    /// The budget of `per_day` expected customer numbers a day, with a burst of `window`'s
    /// share of it.
    pub fn new(per_day: f64, window: std::time::Duration) -> Self {
        let per_day = (per_day / MILLIONTH).round().max(1.0) as i64;
        let window_ms = i64::try_from(window.as_millis())
            .unwrap_or(DAY_MS)
            .clamp(1, DAY_MS);
        let capacity = (per_day.saturating_mul(window_ms) / DAY_MS).max(1);
        Self {
            capacity,
            refill_per_day: (per_day - capacity).max(0),
        }
    }

    /// What a budget that was `spent` at `updated_at` (unix ms) has spent at `now`, after it
    /// leaked back.
    pub fn spent_at(self, spent: i64, updated_at: i64, now: i64) -> i64 {
        let elapsed = now.saturating_sub(updated_at).clamp(0, MAX_LEAK_MS);
        let leaked = elapsed.saturating_mul(self.refill_per_day) / DAY_MS;
        spent.saturating_sub(leaked).max(0)
    }

    /// True when a budget that has spent `spent` refuses unknown callers.
    pub fn is_spent(self, spent: i64) -> bool {
        spent >= self.capacity
    }

    /// Seconds until a budget that has spent `spent` takes unknown callers again, if nothing
    /// more is spent meanwhile; 0 when it takes them now.
    pub fn seconds_until_open(self, spent: i64) -> u64 {
        if !self.is_spent(spent) || self.refill_per_day <= 0 {
            return 0;
        }
        let excess = spent - self.capacity + 1;
        let ms = excess.saturating_mul(DAY_MS) / self.refill_per_day;
        u64::try_from(ms / 1000 + 1).unwrap_or(u64::MAX)
    }

    /// How many wrong PINs of unknown callers a day the budget allows where each weighs
    /// `weight` millionths (the number's current PIN density); `None` when a wrong PIN
    /// weighs nothing (no active PIN of that length can be hit).
    pub fn guesses_per_day(self, weight: i64) -> Option<f64> {
        (weight > 0).then(|| (self.capacity + self.refill_per_day) as f64 / weight as f64)
    }
}

/// What one wrong PIN spends, in millionths of a customer number: the chance that a guess of
/// its length hit an active PIN on its number (or valid on every number), rounded up, so that
/// any reachable PIN costs something.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Weight {
    /// From the dialled number's budget: its own active PINs of that length and those valid
    /// on every number.
    pub number: i64,
    /// From [`EVERY_NUMBER`]'s budget: the active PINs of that length valid on every number.
    pub every: i64,
}

impl Weight {
    /// The weight of a wrong PIN of `len` digits, with `on_number` active PINs of that length
    /// on the dialled number and `everywhere` valid on every number. A number without active
    /// PINs of its own spends nothing of its own: only [`EVERY_NUMBER`]'s budget is at stake
    /// there, and any string a request sends as the dialled number gets no budget row.
    pub fn of(len: usize, on_number: i64, everywhere: i64) -> Self {
        Self {
            number: if on_number > 0 {
                chance(len, on_number.saturating_add(everywhere))
            } else {
                0
            },
            every: chance(len, everywhere),
        }
    }
}

/// The chance, in millionths rounded up, that a guess of `len` digits is one of `active` PINs.
pub fn chance(len: usize, active: i64) -> i64 {
    if active <= 0 {
        return 0;
    }
    // active / 10^len in millionths, rounded up, in integers: 10^len exceeds i128 past 38.
    let len = u32::try_from(len).unwrap_or(u32::MAX).min(38);
    let millionths = i128::from(active) * 1_000_000;
    let space = 10i128.pow(len);
    let chance = (millionths + space - 1) / space;
    i64::try_from(chance.clamp(1, 1_000_000)).unwrap_or(1_000_000)
}

/// Records one wrong PIN keyed by `caller` on `virtual_number` (both as keys: E.164 when they
/// parsed, else a shared placeholder; never empty) at `now_ms`, spending `weight` from the
/// number's budget and from [`EVERY_NUMBER`]'s. Returns the caller's wrong PINs within
/// `counting`, and what the number's and [`EVERY_NUMBER`]'s budgets have spent now.
///
/// On PostgreSQL the spending takes [`BUDGETS_LOCK`] first, held to the end of the caller's
/// transaction: transactions that spend several budgets (a batch of the writer, on several
/// lanes or several instances) would otherwise lock their rows in different orders and
/// deadlock.
#[allow(clippy::too_many_arguments)]
pub async fn record_failure(
    conn: &mut AnyConnection,
    caller: &str,
    virtual_number: &str,
    now_ms: i64,
    weight: Weight,
    budget: Budget,
    counting: Counting,
) -> Result<Spent, super::Error> {
    sqlx::query(RECORD_FAILURE)
        .bind(caller)
        .bind(virtual_number)
        .bind(now_ms)
        .bind(weight.number)
        .bind(weight.every)
        .execute(&mut *conn)
        .await?;
    let spends = weight.number > 0 || weight.every > 0;
    if spends && !conn.backend_name().eq_ignore_ascii_case("sqlite") {
        sqlx::query(BUDGETS_LOCK).execute(&mut *conn).await?;
    }
    let number = spend(&mut *conn, virtual_number, weight.number, now_ms, budget).await?;
    let every = spend(&mut *conn, EVERY_NUMBER, weight.every, now_ms, budget).await?;
    let by_caller = caller_failures(&mut *conn, caller, counting).await?;
    Ok(Spent {
        by_caller,
        number,
        every,
    })
}

/// Spends `amount` millionths from `scope`'s budget at `now_ms`; returns what it has spent
/// now. Spending nothing writes nothing and returns 0 (nothing can cross the limit).
async fn spend(
    conn: &mut AnyConnection,
    scope: &str,
    amount: i64,
    now_ms: i64,
    budget: Budget,
) -> Result<i64, super::Error> {
    if amount <= 0 {
        return Ok(0);
    }
    sqlx::query(sqlx::AssertSqlSafe(SPEND.as_str()))
        .bind(scope)
        .bind(amount)
        .bind(now_ms)
        .bind(budget.refill_per_day)
        .fetch_one(conn)
        .await?
        .try_get(0)
        .map_err(Into::into)
}

/// After a wrong PIN was recorded: the caller's wrong PINs within the window (at most its
/// cap), and what the dialled number's and [`EVERY_NUMBER`]'s budgets have spent (millionths).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub by_caller: i64,
    pub number: i64,
    pub every: i64,
}

/// The wrong PINs keyed by `caller` within `counting`, at most its cap; `db` is the pool or a
/// connection.
pub async fn caller_failures<'c>(
    db: impl Executor<'c, Database = Any>,
    caller: &str,
    counting: Counting,
) -> Result<i64, super::Error> {
    sqlx::query(CALLER_FAILURES)
        .bind(caller)
        .bind(counting.since)
        .bind(counting.caller_cap)
        .fetch_one(db)
        .await?
        .try_get(0)
        .map_err(Into::into)
}

/// One virtual number's exposure to PIN guessing, or that of the orders valid on every
/// number ([`EVERY_NUMBER`]): for the dashboard and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// A virtual number (E.164), or [`EVERY_NUMBER`].
    pub scope: String,
    /// Its active PINs, of every length (for a number, its own).
    pub active_pins: i64,
    /// The chance that one guess of the densest PIN length hits an active PIN reachable
    /// there, in millionths: what a wrong PIN there spends now.
    pub density: i64,
    /// What its guessing budget has spent now, in millionths.
    pub spent: i64,
    /// The customer numbers that wrong PINs there could have reached over the last day, as
    /// an expectation, in millionths.
    pub reached_24h: i64,
}

/// The [`Exposure`] of every virtual number with active PINs, a budget spent or wrong PINs in
/// the last day, and of [`EVERY_NUMBER`] when it has any of those; by scope.
pub async fn exposure(
    db: &super::Db,
    budget: Budget,
    now: i64,
) -> Result<Vec<Exposure>, super::Error> {
    use std::collections::BTreeMap;
    let mut pins: BTreeMap<String, BTreeMap<usize, i64>> = BTreeMap::new();
    let rows = sqlx::query(
        "select virtual_number, cast(length(pin) as bigint) as len, count(*) as n from orders
         where deactivated_at is null and expires_at > $1
         group by virtual_number, length(pin)",
    )
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    for row in &rows {
        let scope: Option<String> = row.try_get("virtual_number")?;
        let len: i64 = row.try_get("len")?;
        pins.entry(scope.unwrap_or_else(|| EVERY_NUMBER.to_owned()))
            .or_default()
            .insert(usize::try_from(len).unwrap_or(0), row.try_get("n")?);
    }
    let mut spent = BTreeMap::new();
    for row in sqlx::query("select scope, spent, updated_at from pin_budgets")
        .fetch_all(db.pool())
        .await?
    {
        let scope: String = row.try_get("scope")?;
        let now_spent = budget.spent_at(row.try_get("spent")?, row.try_get("updated_at")?, now);
        spent.insert(scope, now_spent);
    }
    let mut reached = BTreeMap::new();
    let mut reached_every = 0;
    for row in sqlx::query(
        "select virtual_number, cast(sum(weight) as bigint) as w,
                cast(sum(weight_every) as bigint) as e
         from pin_failures where at >= $1 group by virtual_number",
    )
    .bind(now.saturating_sub(DAY_MS))
    .fetch_all(db.pool())
    .await?
    {
        let scope: String = row.try_get("virtual_number")?;
        let w: Option<i64> = row.try_get("w")?;
        let e: Option<i64> = row.try_get("e")?;
        reached_every += e.unwrap_or(0);
        if w.unwrap_or(0) > 0 {
            reached.insert(scope, w.unwrap_or(0));
        }
    }
    if reached_every > 0 {
        reached.insert(EVERY_NUMBER.to_owned(), reached_every);
    }
    let everywhere = pins.get(EVERY_NUMBER).cloned().unwrap_or_default();
    let scopes: std::collections::BTreeSet<String> = pins
        .keys()
        .chain(spent.keys().filter(|s| spent[*s] > 0))
        .chain(reached.keys())
        .cloned()
        .collect();
    Ok(scopes
        .into_iter()
        .map(|scope| {
            let own = pins.get(&scope).cloned().unwrap_or_default();
            let every = scope == EVERY_NUMBER;
            // A guess of any length may hit the number's own PINs or those valid everywhere.
            let density = own
                .keys()
                .chain(everywhere.keys())
                .map(|len| {
                    let own_of_len = if every {
                        0
                    } else {
                        own.get(len).copied().unwrap_or(0)
                    };
                    chance(*len, own_of_len + everywhere.get(len).copied().unwrap_or(0))
                })
                .max()
                .unwrap_or(0);
            Exposure {
                active_pins: own.values().sum(),
                density,
                spent: spent.get(&scope).copied().unwrap_or(0),
                reached_24h: reached.get(&scope).copied().unwrap_or(0),
                scope,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_day_of_budget_is_one_windows_burst_and_the_rest_leaks_back_over_the_day() {
        let b = Budget::new(1.0, Duration::from_secs(3600));
        assert_eq!(b.capacity, 41_666);
        assert_eq!(b.capacity + b.refill_per_day, 1_000_000);
        // Spent in full, after a day it has all leaked back; after an hour, an hour's share.
        assert_eq!(b.spent_at(b.capacity, 0, DAY_MS), 0);
        assert_eq!(b.spent_at(b.capacity, 0, 3_600_000), b.capacity - 39_930);
        // A clock that went back leaks nothing and spends nothing.
        assert_eq!(b.spent_at(500, 10_000, 5_000), 500);
        assert!(b.is_spent(b.capacity) && !b.is_spent(b.capacity - 1));
    }

    #[test]
    fn a_wrong_pin_weighs_the_chance_that_it_hit_an_active_pin() {
        // 50 active 4-digit PINs: one guess in 200 hits.
        assert_eq!(chance(4, 50), 5_000);
        assert_eq!(
            Weight::of(4, 40, 10),
            Weight {
                number: 5_000,
                every: 1_000
            }
        );
        // A number with no PIN of its own spends only the budget of every number's orders.
        assert_eq!(
            Weight::of(4, 0, 10),
            Weight {
                number: 0,
                every: 1_000
            }
        );
        // The densest space the default settings allow (1 %).
        assert_eq!(chance(6, 10_000), 10_000);
        // Nothing to hit weighs nothing; a tiny chance still weighs one millionth.
        assert_eq!(chance(4, 0), 0);
        assert_eq!(chance(12, 50), 1);
        let b = Budget::new(1.0, Duration::from_secs(3600));
        assert_eq!(b.guesses_per_day(5_000), Some(200.0));
        assert_eq!(b.guesses_per_day(10_000), Some(100.0));
        assert_eq!(b.guesses_per_day(0), None);
    }

    /// Two transactions, each spending two numbers' budgets in the opposite order: on
    /// PostgreSQL, without [`BUDGETS_LOCK`], the second would hold one number's row and wait
    /// for [`EVERY_NUMBER`]'s while the first waits for that number's, and the server would
    /// break one of them as a deadlock. With it both commit. (On SQLite a write transaction
    /// excludes the other from the start.)
    #[tokio::test]
    async fn transactions_spending_budgets_in_opposite_orders_both_commit() {
        let server = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"));
        let Some(server) = server else { return };
        let url = crate::storage::create_test_database(&server, "budgets")
            .await
            .unwrap();
        let two = crate::storage::PoolSettings {
            max_connections: 2,
            ..crate::storage::PoolSettings::single()
        };
        let db = crate::storage::Db::connect(&url, &two).await.unwrap();
        db.migrate().await.unwrap();
        let weight = Weight {
            number: 10,
            every: 10,
        };
        let budget = Budget::new(1.0, Duration::from_secs(3600));
        let counting = Counting::new(0, 5);
        let mut first = db.begin_batch().await.unwrap();
        record_failure(
            &mut first,
            "+910000000001",
            "+911",
            1,
            weight,
            budget,
            counting,
        )
        .await
        .unwrap();
        let other = db.clone();
        let second = tokio::spawn(async move {
            let mut tx = other.begin_batch().await?;
            record_failure(
                &mut tx,
                "+910000000002",
                "+912",
                1,
                weight,
                budget,
                counting,
            )
            .await?;
            record_failure(
                &mut tx,
                "+910000000002",
                "+911",
                1,
                weight,
                budget,
                counting,
            )
            .await?;
            tx.commit().await?;
            Ok::<_, crate::storage::Error>(())
        });
        // Let the second transaction reach its first spend and wait there.
        tokio::time::sleep(Duration::from_millis(300)).await;
        record_failure(
            &mut first,
            "+910000000001",
            "+912",
            1,
            weight,
            budget,
            counting,
        )
        .await
        .unwrap();
        first.commit().await.unwrap();
        second.await.unwrap().unwrap();
        let every: i64 = sqlx::query_scalar("select spent from pin_budgets where scope = $1")
            .bind(EVERY_NUMBER)
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(
            every, 40,
            "all four wrong PINs spent from every number's budget"
        );
    }
}
