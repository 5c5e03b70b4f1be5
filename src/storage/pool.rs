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
    /// ISO 3166-1 alpha-2, derived from the number ([`crate::domain::PhoneNumber::country`],
    /// migration 0018); `None` for a number of no country. Allocation matches it.
    pub country: Option<String>,
    /// Where in its country, as the provider or the operator gave it; shown, not matched.
    pub region: Option<String>,
    /// Set when the number is marked unhealthy (migration 0019): it is given to no booking,
    /// and the bookings on it were moved to another number.
    pub unhealthy: Option<Unhealthy>,
    /// The ExoPhone SID (Exotel's `phone_number_sid`) that names the number in Exotel's
    /// heartbeat; `None` when not given.
    pub exotel_sid: Option<String>,
}

/// Who marked a number unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkedBy {
    /// An operator, through the admin API or UI: only an operator clears it.
    Operator,
    /// Exotel's heartbeat webhook: a later heartbeat that reports the number well clears it.
    Heartbeat,
}

impl MarkedBy {
    /// As stored in `unhealthy_by`: `heartbeat`, else an operator (whose mark only an
    /// operator clears).
    fn stored(raw: Option<&str>) -> Self {
        if raw == Some("heartbeat") {
            Self::Heartbeat
        } else {
            Self::Operator
        }
    }

    /// `operator` or `heartbeat`, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Heartbeat => "heartbeat",
        }
    }
}

/// When, why and by whom a number was marked unhealthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhealthy {
    /// Unix milliseconds.
    pub since: i64,
    /// Free text, as the operator or the heartbeat gave it.
    pub reason: Option<String>,
    pub by: MarkedBy,
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
        v.country, v.region, v.unhealthy_at, v.unhealthy_reason, v.unhealthy_by, v.exotel_sid,
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
        country: row.try_get("country")?,
        region: row.try_get("region")?,
        unhealthy: row
            .try_get::<Option<i64>, _>("unhealthy_at")?
            .map(|since| -> Result<Unhealthy, super::Error> {
                Ok(Unhealthy {
                    since,
                    reason: row.try_get("unhealthy_reason")?,
                    by: MarkedBy::stored(
                        row.try_get::<Option<String>, _>("unhealthy_by")?.as_deref(),
                    ),
                })
            })
            .transpose()?,
        exotel_sid: row.try_get("exotel_sid")?,
    })
}

/// The country stored for `number` (E.164): the one its digits place it in.
fn country_of(number: &str) -> Option<String> {
    crate::domain::PhoneNumber::from_e164(number).and_then(|n| n.country())
}

/// Adds a number (E.164) to the pool, with the country its digits place it in and the
/// `region` given (free text, at most 64 characters, checked by the caller).
pub async fn add(
    db: &Db,
    number: &str,
    provider: &str,
    reserved: bool,
    region: Option<&str>,
    now_ms: i64,
) -> Result<VirtualNumber, AddError> {
    let country = country_of(number);
    let mut tx = db.begin_write().await?;
    let exists = sqlx::query("select 1 from virtual_numbers where number = $1")
        .bind(number)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        return Err(AddError::Exists);
    }
    sqlx::query(
        "insert into virtual_numbers (number, provider, reserved, created_at, country, region)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(number)
    .bind(provider)
    .bind(i64::from(reserved))
    .bind(now_ms)
    .bind(&country)
    .bind(region)
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
        country,
        region: region.map(str::to_owned),
        unhealthy: None,
        exotel_sid: None,
    })
}

/// Writes the country of every number stored without one (added before migration 0018): SQL
/// alone can not read a country from a number's digits on both engines. Run with the
/// migrations; a number of no country is looked at again at each start, which costs one row.
///
/// Errors: the database's.
pub async fn fill_countries(db: &Db) -> Result<(), super::Error> {
    let rows = sqlx::query("select number from virtual_numbers where country is null")
        .fetch_all(db.pool())
        .await?;
    for row in rows {
        let number: String = row.try_get("number")?;
        if let Some(country) = country_of(&number) {
            sqlx::query("update virtual_numbers set country = $1 where number = $2")
                .bind(country)
                .bind(&number)
                .execute(db.pool())
                .await?;
        }
    }
    Ok(())
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

/// The pool of one country and provider as the dashboard and `/metrics` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolGroup {
    /// ISO 3166-1 alpha-2; `""` for numbers of no country.
    pub country: String,
    /// `exotel`, `twilio`, ...; `any` for refusals of bookings that named no provider.
    pub provider: String,
    /// Numbers in the pool, reserved and drained ones included.
    pub numbers: i64,
    /// Numbers not marked unhealthy (migration 0019).
    pub healthy: i64,
    /// Numbers allocation may give: not reserved, not drained, not unhealthy.
    pub allocatable: i64,
    /// The most bookings one party has active on these numbers now.
    pub busiest_load: i64,
    /// Allocations refused for want of a number since the time asked for.
    pub refused: i64,
}

impl PoolGroup {
    /// How many more bookings the busiest party can be given here: allocatable numbers less
    /// its load (a party holds each number once, so a pool needs the most concurrent
    /// bookings of one party + 1 numbers to never refuse). Negative when drains took numbers
    /// its bookings still hold.
    pub fn headroom(&self) -> i64 {
        self.allocatable - self.busiest_load
    }
}

/// [`groups`]' count of numbers: `$1` and `$2` the country and provider wanted (`''`: all).
const NUMBERS_BY_GROUP: &str = "select coalesce(country, '') as country, provider,
                count(*) as numbers,
                sum(case when unhealthy_at is null then 1 else 0 end) as healthy,
                sum(case when reserved = 0 and drained_at is null and unhealthy_at is null
                         then 1 else 0 end) as allocatable
         from virtual_numbers
         where ($1 = '' or coalesce(country, '') = $1) and ($2 = '' or provider = $2)
         group by coalesce(country, ''), provider";

/// [`groups`]' busiest party: `$1` now (ms), `$2` and `$3` the country and provider wanted.
/// Reads every active booking of the numbers wanted (by the partial index of active bookings).
const BUSIEST_BY_GROUP: &str = "select country, provider, max(n) as busiest from (
             select coalesce(w.country, '') as country, w.provider, parties.p, count(*) as n
             from (select virtual_number, party_a as p from bookings
                    where closed_at is null and expires_at > $1
                   union all
                   select virtual_number, party_b as p from bookings
                    where closed_at is null and expires_at > $1 and party_b <> '') as parties
             join virtual_numbers w on w.number = parties.virtual_number
             where ($2 = '' or coalesce(w.country, '') = $2) and ($3 = '' or w.provider = $3)
             group by coalesce(w.country, ''), w.provider, parties.p) as loads
         group by country, provider";

/// [`groups`]' refusals: `$1` since (ms), `$2` and `$3` the country and provider wanted.
const REFUSED_BY_GROUP: &str = "select country, provider, count(*) as refused
         from allocation_refusals
         where refused_at > $1 and ($2 = '' or country = $2) and ($3 = '' or provider = $3)
         group by country, provider";

/// The pool by country and provider (of `country` and `provider` only when not empty), with
/// the refusals since `refused_since` (unix ms), at `now_ms`; in country, then provider order.
/// A country and provider with refusals and no number is there too.
///
/// Errors: the database's.
pub async fn groups(
    db: &Db,
    country: &str,
    provider: &str,
    refused_since: i64,
    now_ms: i64,
) -> Result<Vec<PoolGroup>, super::Error> {
    use std::collections::BTreeMap;
    let numbers = sqlx::query(NUMBERS_BY_GROUP)
        .bind(country)
        .bind(provider)
        .fetch_all(db.pool())
        .await?;
    let busiest = sqlx::query(BUSIEST_BY_GROUP)
        .bind(now_ms)
        .bind(country)
        .bind(provider)
        .fetch_all(db.pool())
        .await?;
    let refused = sqlx::query(REFUSED_BY_GROUP)
        .bind(refused_since)
        .bind(country)
        .bind(provider)
        .fetch_all(db.pool())
        .await?;
    let mut groups: BTreeMap<(String, String), PoolGroup> = BTreeMap::new();
    for row in &numbers {
        let g = group_of(&mut groups, row)?;
        g.numbers = row.try_get("numbers")?;
        g.healthy = row.try_get::<Option<i64>, _>("healthy")?.unwrap_or(0);
        g.allocatable = row.try_get::<Option<i64>, _>("allocatable")?.unwrap_or(0);
    }
    for row in &busiest {
        group_of(&mut groups, row)?.busiest_load =
            row.try_get::<Option<i64>, _>("busiest")?.unwrap_or(0);
    }
    for row in &refused {
        group_of(&mut groups, row)?.refused = row.try_get("refused")?;
    }
    Ok(groups.into_values().collect())
}

/// The group of `row`'s `country` and `provider` in `groups`, added empty when new.
fn group_of<'a>(
    groups: &'a mut std::collections::BTreeMap<(String, String), PoolGroup>,
    row: &AnyRow,
) -> Result<&'a mut PoolGroup, super::Error> {
    let country: String = row.try_get("country")?;
    let provider: String = row.try_get("provider")?;
    Ok(groups
        .entry((country.clone(), provider.clone()))
        .or_insert_with(|| PoolGroup {
            country,
            provider,
            numbers: 0,
            healthy: 0,
            allocatable: 0,
            busiest_load: 0,
            refused: 0,
        }))
}

/// Records an allocation refused for want of a number of `country` (`""`: any) and
/// `provider` (`any` when the booking named none) at `now_ms`, and forgets those older than a
/// day, which no view shows.
///
/// Errors: the database's.
pub async fn record_refusal(
    db: &Db,
    country: &str,
    provider: &str,
    now_ms: i64,
) -> Result<(), super::Error> {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    sqlx::query("delete from allocation_refusals where refused_at <= $1")
        .bind(now_ms - DAY_MS)
        .execute(db.pool())
        .await?;
    sqlx::query(
        "insert into allocation_refusals (country, provider, refused_at) values ($1, $2, $3)",
    )
    .bind(country)
    .bind(provider)
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Why an ExoPhone SID was not set.
#[derive(Debug, thiserror::Error)]
pub enum SidError {
    /// Another number of the pool has this SID.
    #[error("another virtual number has this exotel_sid")]
    Taken,
    #[error(transparent)]
    Database(#[from] super::Error),
}

impl From<sqlx::Error> for SidError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.into())
    }
}

/// Sets (or, with `None`, clears) the ExoPhone SID of `number` (E.164), which names it in
/// Exotel's heartbeat. Returns whether the number is in the pool.
///
/// Errors: [`SidError::Taken`] when another number has the SID (unique, migration 0019).
pub async fn set_exotel_sid(db: &Db, number: &str, sid: Option<&str>) -> Result<bool, SidError> {
    let mut tx = db.begin_write().await?;
    if let Some(sid) = sid {
        let other =
            sqlx::query("select 1 from virtual_numbers where exotel_sid = $1 and number <> $2")
                .bind(sid)
                .bind(number)
                .fetch_optional(&mut *tx)
                .await?;
        if other.is_some() {
            return Err(SidError::Taken);
        }
    }
    let updated = sqlx::query("update virtual_numbers set exotel_sid = $1 where number = $2")
        .bind(sid)
        .bind(number)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(updated > 0)
}

/// A number that has an ExoPhone SID, as the heartbeat reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExoPhone {
    pub sid: String,
    /// E.164.
    pub number: String,
    /// Who marked it unhealthy; `None` while healthy.
    pub marked_by: Option<MarkedBy>,
}

/// Every number of the pool that has an ExoPhone SID.
///
/// Errors: the database's.
pub async fn exophones(db: &Db) -> Result<Vec<ExoPhone>, super::Error> {
    sqlx::query(
        "select exotel_sid, number, unhealthy_at, unhealthy_by from virtual_numbers
         where exotel_sid is not null",
    )
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        let marked = r.try_get::<Option<i64>, _>("unhealthy_at")?.is_some();
        let by = r.try_get::<Option<String>, _>("unhealthy_by")?;
        Ok(ExoPhone {
            sid: r.try_get("exotel_sid")?,
            number: r.try_get("number")?,
            marked_by: marked.then_some(MarkedBy::stored(by.as_deref())),
        })
    })
    .collect()
}
