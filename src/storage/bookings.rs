//! Bookings of caller-based masking, and the allocation of their virtual numbers.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::Db;
use super::row::StoredRow;
use super::stored_number;
use crate::domain::{BookingStatus, Callers, NewBooking, PhoneNumber, PinMode};

/// A booking as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub booking_id: String,
    pub reference: Option<String>,
    pub party_a: PhoneNumber,
    /// `None` while the booking waits for its party B (stored as the empty string,
    /// migration 0020).
    pub party_b: Option<PhoneNumber>,
    pub virtual_number: PhoneNumber,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub expires_at: i64,
    /// Unix milliseconds; set when closed.
    pub closed_at: Option<i64>,
    /// Who must key a party PIN on the virtual number.
    pub pin_mode: PinMode,
    /// Party A's PIN (it reaches party B) and party B's (it reaches party A), when the
    /// booking has them: stored as keyed PINs among the orders (migration 0017).
    pub party_a_pin: Option<String>,
    pub party_b_pin: Option<String>,
    /// Which parties may call the other.
    pub callers: Callers,
}

impl Booking {
    /// The booking's status at `now_ms`: [`BookingStatus::Pending`] while it is live without
    /// its party B.
    pub fn status(&self, now_ms: i64) -> BookingStatus {
        match BookingStatus::at(now_ms, self.expires_at, self.closed_at) {
            BookingStatus::Active if self.party_b.is_none() => BookingStatus::Pending,
            status => status,
        }
    }
}

/// Why a booking was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// No number of the pool is free for both parties (allocation only).
    #[error("no virtual number of the pool is free for both parties")]
    PoolExhausted,
    /// The named number is not in the pool.
    #[error("this virtual number is not in the pool")]
    UnknownNumber,
    /// The named number is drained.
    #[error("this virtual number is drained: it takes no new bookings")]
    NumberDrained,
    /// The named number is marked unhealthy (migration 0019).
    #[error("this virtual number is marked unhealthy: it takes no new bookings")]
    NumberUnhealthy,
    /// A party already holds the named number in an active booking.
    #[error("a party already holds this virtual number in an active booking")]
    ParticipantConflict,
    #[error(transparent)]
    Database(#[from] super::Error),
}

/// A booking's columns, its party PINs read from their rows among the orders (by the
/// partial index of migration 0017).
const COLUMNS: &str = "booking_id, reference, party_a, party_b, virtual_number, created_at,
     expires_at, closed_at, pin_mode, callers,
     (select o.pin from orders o where o.booking_id = bookings.booking_id
        and o.order_id = bookings.booking_id || ':a') as party_a_pin,
     (select o.pin from orders o where o.booking_id = bookings.booking_id
        and o.order_id = bookings.booking_id || ':b') as party_b_pin";

/// The order id of a booking's party PIN: `<booking_id>:a` for party A's (which reaches
/// party B), `<booking_id>:b` for party B's. Calls bridged with it name it as their order.
pub fn party_pin_id(booking_id: &str, party_a: bool) -> String {
    format!("{booking_id}:{}", if party_a { 'a' } else { 'b' })
}

fn from_row(row: &AnyRow) -> Result<Booking, super::Error> {
    Ok(Booking {
        booking_id: row.try_get("booking_id")?,
        reference: row.try_get("reference")?,
        party_a: stored_number("bookings.party_a", &row.try_get::<String, _>("party_a")?)?,
        party_b: match row.try_get::<String, _>("party_b")? {
            b if b.is_empty() => None,
            b => Some(stored_number("bookings.party_b", &b)?),
        },
        virtual_number: stored_number(
            "bookings.virtual_number",
            &row.try_get::<String, _>("virtual_number")?,
        )?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        closed_at: row.try_get("closed_at")?,
        pin_mode: PinMode::parse(&row.try_get::<String, _>("pin_mode")?).unwrap_or_default(),
        party_a_pin: row.try_get("party_a_pin")?,
        party_b_pin: row.try_get("party_b_pin")?,
        callers: Callers::parse(&row.try_get::<String, _>("callers")?).unwrap_or_default(),
    })
}

/// Creates a booking, allocating its virtual number unless it names one.
///
/// The allocation rule (Twilio Proxy's, `reference/providers.md` §1.5): a party never holds
/// the same virtual number in two bookings active at once, while one number serves many
/// bookings of distinct parties. Eligible numbers are in the pool, not reserved, not drained,
/// not marked unhealthy, of `provider` if given, of the booking's countries ([`NewBooking::countries`]), and not
/// used by the same two parties in a booking that ended less than `cool_off_ms` ago (or is
/// active), so that a past party never reaches a new booking (Plivo's and Exotel's cool-off).
/// Among them a number either party already knows from an earlier booking is taken first
/// (sticky, as Plivo and Exotel do), then the one with the fewest active bookings. A named
/// number is checked against the rule only: the business chose it. The check and the insert
/// run in one write transaction that excludes every other writer, so two allocations racing
/// for the last number can not both win. A booking without party B is allocated for party A
/// alone; [`add_party_b`] checks the rule again when party B comes.
///
/// Errors: [`CreateError`].
pub async fn create(
    db: &Db,
    new: &NewBooking,
    booking_id: &str,
    cool_off_ms: i64,
    now_ms: i64,
) -> Result<Booking, CreateError> {
    let a = new.party_a.as_ref();
    // Party A twice while party B is not known: the rule's queries then ask about party A only.
    let b = new.party_b.as_ref().map_or(a, |b| b.as_ref());
    let mut tx = db.begin_write().await?;
    // An alternate counts as its party's number: the numbers any of them holds.
    let held = super::alternates::held(&mut tx, &new.numbers(), "", now_ms).await?;
    let number = match &new.virtual_number {
        Some(named) => {
            let row = sqlx::query(
                "select drained_at, unhealthy_at from virtual_numbers where number = $1",
            )
            .bind(named.as_ref())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(CreateError::UnknownNumber)?;
            if row.try_get::<Option<i64>, _>("drained_at")?.is_some() {
                return Err(CreateError::NumberDrained);
            }
            if row.try_get::<Option<i64>, _>("unhealthy_at")?.is_some() {
                return Err(CreateError::NumberUnhealthy);
            }
            if held.contains(named.as_ref())
                || party_holds(&mut tx, named.as_ref(), a, b, now_ms).await?
            {
                return Err(CreateError::ParticipantConflict);
            }
            named.clone()
        }
        None => {
            let wanted = Wanted {
                provider: new.provider.as_deref().unwrap_or(""),
                countries: new.countries(),
                cool_off_since: now_ms.saturating_sub(cool_off_ms),
                moving: "",
                held: held_list(&held),
            };
            allocate(&mut tx, a, b, &wanted, now_ms)
                .await?
                .ok_or(CreateError::PoolExhausted)?
        }
    };
    let booking = Booking {
        booking_id: booking_id.to_owned(),
        reference: new.reference.clone(),
        party_a: new.party_a.clone(),
        party_b: new.party_b.clone(),
        virtual_number: number,
        created_at: now_ms,
        expires_at: new.expires_at_ms,
        closed_at: None,
        pin_mode: new.pin_mode,
        party_a_pin: None,
        party_b_pin: None,
        callers: new.callers,
    };
    sqlx::query(
        "insert into bookings (booking_id, reference, party_a, party_b, virtual_number, created_at, expires_at, pin_mode, callers)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&booking.booking_id)
    .bind(&booking.reference)
    .bind(booking.party_a.as_ref())
    .bind(booking.party_b.as_ref().map_or("", |b| b.as_ref()))
    .bind(booking.virtual_number.as_ref())
    .bind(booking.created_at)
    .bind(booking.expires_at)
    .bind(booking.pin_mode.as_str())
    .bind(booking.callers.as_str())
    .execute(&mut *tx)
    .await?;
    super::alternates::insert(&mut tx, booking_id, true, &new.party_a_alternates).await?;
    super::alternates::insert(&mut tx, booking_id, false, &new.party_b_alternates).await?;
    tx.commit().await?;
    Ok(booking)
}

/// Why party B was not added ([`add_party_b`]).
#[derive(Debug, thiserror::Error)]
pub enum AddPartyError {
    /// No booking has this id.
    #[error("no booking with this booking_id")]
    Missing,
    /// The booking is expired or closed.
    #[error("this booking is {0}: only a pending booking takes its party B")]
    NotActive(&'static str),
    /// The booking has its party B already.
    #[error("this booking has its party B already; create a new booking for another party")]
    AlreadySet,
    /// Party B is party A, or one of the booking's alternate numbers.
    #[error("party B must be a number of its own: not party A, nor an alternate of the booking")]
    SameParty,
    /// The booking's number does not keep the rule with party B, and no other number of its
    /// country and provider does.
    #[error(
        "party B holds this booking's virtual number (or shared it with party A within the cool-off), and no other virtual number is free for both parties"
    )]
    PoolExhausted,
    #[error(transparent)]
    Database(#[from] super::Error),
}

impl From<sqlx::Error> for AddPartyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.into())
    }
}

/// [`add_party_b`]'s check of the cool-off on the booking's own number: `$1` the number,
/// `$2` and `$3` the parties, `$4` the start of the cool-off (ms): a booking of the same two
/// parties on it that routes, or stopped routing, after then ([`ALLOCATE`]'s condition).
const PAIR_COOLING: &str = "select 1 from bookings
         where party_a = $2 and party_b = $3 and virtual_number = $1
           and expires_at > $4 and (closed_at is null or closed_at > $4)
         union all
         select 1 from bookings
         where party_a = $3 and party_b = $2 and virtual_number = $1
           and expires_at > $4 and (closed_at is null or closed_at > $4)
         limit 1";

/// Adds party B to a pending booking (one active without it), checked against the
/// allocation rule of [`create`] in one write transaction as allocation is: when party B
/// holds the booking's number in another active booking, or the same two parties shared it
/// within `cool_off_ms`, the booking moves to the number [`allocate`] gives the two parties
/// among those of the current number's country and provider (a subset of what the booking
/// could have been given). Returns the booking as it is now, its new number when it moved.
/// A pending booking has no party PINs, so none move with it.
///
/// Errors: [`AddPartyError`]; the booking is left as it was.
pub async fn add_party_b(
    db: &Db,
    booking_id: &str,
    party_b: &PhoneNumber,
    cool_off_ms: i64,
    now_ms: i64,
) -> Result<Booking, AddPartyError> {
    let mut tx = db.begin_write().await?;
    let sql = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from bookings where booking_id = $1"
    ));
    let booking = match sqlx::query(sql)
        .bind(booking_id)
        .fetch_optional(&mut *tx)
        .await?
    {
        Some(row) => from_row(&row)?,
        None => return Err(AddPartyError::Missing),
    };
    match booking.status(now_ms) {
        BookingStatus::Pending => {}
        BookingStatus::Active => return Err(AddPartyError::AlreadySet),
        other => return Err(AddPartyError::NotActive(other.as_str())),
    }
    let (a, b) = (booking.party_a.as_ref(), party_b.as_ref());
    let alternates = super::alternates::numbers_of(&mut tx, booking_id).await?;
    if a == b || alternates.iter().any(|n| n == b) {
        return Err(AddPartyError::SameParty);
    }
    let current = booking.virtual_number.as_ref();
    let numbers: Vec<&str> = [a, b]
        .into_iter()
        .chain(alternates.iter().map(String::as_str))
        .collect();
    let held = super::alternates::held(&mut tx, &numbers, booking_id, now_ms).await?;
    let cool_off_since = now_ms.saturating_sub(cool_off_ms);
    let cooling = sqlx::query(PAIR_COOLING)
        .bind(current)
        .bind(a)
        .bind(b)
        .bind(cool_off_since)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    let number = if !cooling
        && !held.contains(current)
        && !party_holds(&mut tx, current, b, b, now_ms).await?
    {
        booking.virtual_number.clone()
    } else {
        let row = sqlx::query(
            "select provider, coalesce(country, '') as country from virtual_numbers where number = $1",
        )
        .bind(current)
        .fetch_optional(&mut *tx)
        .await?;
        let (provider, country) = match row {
            Some(r) => (r.try_get::<String, _>("provider")?, r.try_get("country")?),
            None => (String::new(), String::new()),
        };
        let wanted = Wanted {
            provider: &provider,
            countries: (country.clone(), country),
            cool_off_since,
            moving: booking_id,
            held: held_list(&held),
        };
        // Party A holds the current number in this booking, so it is never given again.
        allocate(&mut tx, a, b, &wanted, now_ms)
            .await?
            .ok_or(AddPartyError::PoolExhausted)?
    };
    sqlx::query("update bookings set party_b = $1, virtual_number = $2 where booking_id = $3")
        .bind(b)
        .bind(number.as_ref())
        .bind(booking_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Booking {
        party_b: Some(party_b.clone()),
        virtual_number: number,
        ..booking
    })
}

/// `held` as [`ALLOCATE`]'s `$9`: `,+91...,+91...,`, or `''` for none.
fn held_list(held: &std::collections::BTreeSet<String>) -> String {
    if held.is_empty() {
        return String::new();
    }
    held.iter().fold(",".to_owned(), |list, n| list + n + ",")
}

/// [`party_holds`]'s statement: `$1` the number, `$2` now (ms), `$3` and `$4` the parties.
/// One branch a party column, so that each searches its index by its whole key (migration
/// 0009): `party_a in (..) or party_b in (..)` left SQLite's planner to the number's index and
/// every active booking of the number.
const PARTY_HOLDS: &str = "select 1 from bookings
         where party_a in ($3, $4) and virtual_number = $1 and closed_at is null and expires_at > $2
         union all
         select 1 from bookings
         where party_b in ($3, $4) and virtual_number = $1 and closed_at is null and expires_at > $2
         limit 1";

/// Does party `a` or `b` hold `number` in an active booking?
async fn party_holds(
    conn: &mut AnyConnection,
    number: &str,
    a: &str,
    b: &str,
    now_ms: i64,
) -> Result<bool, super::Error> {
    let row = sqlx::query(PARTY_HOLDS)
        .bind(number)
        .bind(now_ms)
        .bind(a)
        .bind(b)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.is_some())
}

/// [`allocate`]'s statement: `$1` now (ms), `$2` and `$3` the parties, `$4` the provider or
/// `''`, `$5` and `$6` the countries (both `''`: any), `$7` the start of the cool-off (ms),
/// `$8` the booking being moved (`''`: none), whose party PINs must be free on the number.
/// `$9` the numbers the parties' alternates hold ([`held_list`]; `''`: none).
/// Each number's load is counted in its index alone; the numbers the parties hold come from
/// the parties' own index entries (migration 0009); the numbers they know, and those the
/// same two parties shared lately, from their entries of any status (migration 0018).
const ALLOCATE: &str = "select v.number,
                (select count(*) from bookings l
                  where l.virtual_number = v.number and l.closed_at is null and l.expires_at > $1)
                as load,
                case when exists (select 1 from bookings k where k.party_a in ($2, $3)
                                   and k.virtual_number = v.number and k.closed_at is null)
                       or exists (select 1 from bookings k where k.party_b in ($2, $3)
                                   and k.virtual_number = v.number and k.closed_at is null)
                       or exists (select 1 from bookings k where k.party_a in ($2, $3)
                                   and k.virtual_number = v.number and k.closed_at is not null)
                       or exists (select 1 from bookings k where k.party_b in ($2, $3)
                                   and k.virtual_number = v.number and k.closed_at is not null)
                     then 1 else 0 end
                as known
         from virtual_numbers v
         where v.reserved = 0 and v.drained_at is null and v.unhealthy_at is null
           and ($4 = '' or v.provider = $4)
           and (($5 = '' and $6 = '') or v.country in ($5, $6))
           and not exists (select 1 from orders mine join orders o on o.pin = mine.pin
                            where mine.booking_id = $8 and mine.deactivated_at is null
                              and o.virtual_number = v.number and coalesce(o.booking_id, '') <> $8
                              and o.deactivated_at is null and o.expires_at > $1)
           and ($9 = '' or $9 not like '%,' || v.number || ',%')
           and v.number not in (
               select virtual_number from bookings
                where party_a in ($2, $3) and closed_at is null and expires_at > $1
               union all
               select virtual_number from bookings
                where party_b in ($2, $3) and closed_at is null and expires_at > $1
               union all
               select virtual_number from bookings
                where party_a = $2 and party_b = $3 and closed_at is null and expires_at > $7
               union all
               select virtual_number from bookings
                where party_a = $3 and party_b = $2 and closed_at is null and expires_at > $7
               union all
               select virtual_number from bookings
                where party_a = $2 and party_b = $3 and closed_at > $7 and expires_at > $7
               union all
               select virtual_number from bookings
                where party_a = $3 and party_b = $2 and closed_at > $7 and expires_at > $7)
         order by known desc, load, v.number
         limit 1";

/// What an allocation asks of a number besides the rule.
#[derive(Debug, Clone)]
struct Wanted<'a> {
    /// `''`: any.
    provider: &'a str,
    /// ISO 3166-1 alpha-2; both `''`: any.
    countries: (String, String),
    /// Unix ms: a booking of the same two parties that ended after this keeps its number
    /// from them.
    cool_off_since: i64,
    /// The booking being moved, whose party PINs must be free on the number so that a PIN
    /// names one party there; `''` for a new booking (its PINs are chosen after).
    moving: &'a str,
    /// The numbers held by the parties' numbers, alternates included ([`held_list`]).
    held: String,
}

/// The number the parties should get: one neither holds in an active booking, of the
/// countries and provider wanted, not shared by the same two parties within the cool-off;
/// one a party knows first, then the least loaded.
async fn allocate(
    conn: &mut AnyConnection,
    a: &str,
    b: &str,
    wanted: &Wanted<'_>,
    now_ms: i64,
) -> Result<Option<PhoneNumber>, super::Error> {
    let row = sqlx::query(ALLOCATE)
        .bind(now_ms)
        .bind(a)
        .bind(b)
        .bind(wanted.provider)
        .bind(&wanted.countries.0)
        .bind(&wanted.countries.1)
        .bind(wanted.cool_off_since)
        .bind(wanted.moving)
        .bind(&wanted.held)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| stored_number("virtual_numbers.number", &r.try_get::<String, _>("number")?))
        .transpose()
}

/// A booking that was on a number marked unhealthy: moved to `new`, or left where it was
/// (`new` `None`) for want of a free number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub booking_id: String,
    /// The unhealthy number.
    pub old: PhoneNumber,
    /// The number the booking has now; `None`: none was free, the booking stays on `old`.
    pub new: Option<PhoneNumber>,
    /// The old number's country (ISO 3166-1 alpha-2; `""` for none): the new number's.
    pub country: String,
    /// The old number's provider (`exotel`, ...): the new number's.
    pub provider: String,
}

/// Marks `number` (E.164) unhealthy at `now_ms` by `by` for `reason`, and moves every booking
/// active on it to another number, in one write transaction that excludes every other writer
/// (as [`create`] does), so that no allocation races the moves.
///
/// The new number is chosen by [`create`]'s allocation rule, among numbers of the old one's
/// provider and country: neither party holds it in another active booking, the same two
/// parties did not share it within `cool_off_ms`, one a party knows first, then the least
/// loaded. A moved booking remembers the old number until `now_ms + grace_ms`
/// ([`find_peer`] still matches it), and its party PINs move with it. A booking for which no
/// number is free stays where it is, and is tried again at the next mark.
///
/// Marking a number already unhealthy keeps its first time; an operator's mark replaces the
/// heartbeat's (and only an operator clears it then), the heartbeat's never an operator's.
/// Returns `None` when `number` is not in the pool.
///
/// Errors: the database's; [`super::Error::Damaged`] when a stored number is not E.164.
pub async fn mark_unhealthy(
    db: &Db,
    number: &str,
    by: super::pool::MarkedBy,
    reason: Option<&str>,
    (cool_off_ms, grace_ms): (i64, i64),
    now_ms: i64,
) -> Result<Option<Vec<Moved>>, super::Error> {
    use super::pool::MarkedBy;
    let mut tx = db.begin_write().await?;
    let Some(row) = sqlx::query(
        "select provider, country, unhealthy_at, unhealthy_by from virtual_numbers
         where number = $1",
    )
    .bind(number)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let marked: Option<i64> = row.try_get("unhealthy_at")?;
    let marked_by: Option<String> = row.try_get("unhealthy_by")?;
    let overrides = by == MarkedBy::Operator && marked_by.as_deref() != Some("operator");
    if marked.is_none() || overrides {
        sqlx::query(
            "update virtual_numbers
             set unhealthy_at = $1, unhealthy_reason = $2, unhealthy_by = $3 where number = $4",
        )
        .bind(marked.unwrap_or(now_ms))
        .bind(reason)
        .bind(by.as_str())
        .bind(number)
        .execute(&mut *tx)
        .await?;
    }
    let provider: String = row.try_get("provider")?;
    let country: String = row
        .try_get::<Option<String>, _>("country")?
        .unwrap_or_default();

    let old = stored_number("virtual_numbers.number", number)?;
    let on_it = sqlx::query(
        "select booking_id, party_a, party_b from bookings
         where virtual_number = $1 and closed_at is null and expires_at > $2
         order by created_at, booking_id",
    )
    .bind(number)
    .bind(now_ms)
    .fetch_all(&mut *tx)
    .await?;
    let mut moved = Vec::with_capacity(on_it.len());
    for r in &on_it {
        let booking_id: String = r.try_get("booking_id")?;
        let a: String = r.try_get("party_a")?;
        let b: String = r.try_get("party_b")?;
        // A pending booking (no party B yet) is moved for party A alone, as it was allocated.
        let b = if b.is_empty() { a.clone() } else { b };
        let alternates = super::alternates::numbers_of(&mut tx, &booking_id).await?;
        let numbers: Vec<&str> = [a.as_str(), b.as_str()]
            .into_iter()
            .chain(alternates.iter().map(String::as_str))
            .collect();
        let held = super::alternates::held(&mut tx, &numbers, &booking_id, now_ms).await?;
        let wanted = Wanted {
            provider: &provider,
            countries: (country.clone(), country.clone()),
            cool_off_since: now_ms.saturating_sub(cool_off_ms),
            moving: &booking_id,
            held: held_list(&held),
        };
        let new = allocate(&mut tx, &a, &b, &wanted, now_ms).await?;
        if let Some(new) = &new {
            move_booking(
                &mut tx,
                &booking_id,
                number,
                new.as_ref(),
                now_ms + grace_ms,
            )
            .await?;
        }
        moved.push(Moved {
            booking_id,
            old: old.clone(),
            new,
            country: country.clone(),
            provider: provider.clone(),
        });
    }
    tx.commit().await?;
    Ok(Some(moved))
}

/// Moves booking `booking_id` from `old` to `new`, remembering `old` until `until` (unix
/// ms), with its party PINs.
async fn move_booking(
    conn: &mut AnyConnection,
    booking_id: &str,
    old: &str,
    new: &str,
    until: i64,
) -> Result<(), super::Error> {
    sqlx::query(
        "update bookings set virtual_number = $1, previous_number = $2, previous_until = $3
         where booking_id = $4",
    )
    .bind(new)
    .bind(old)
    .bind(until)
    .bind(booking_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("update orders set virtual_number = $1 where booking_id = $2")
        .bind(new)
        .bind(booking_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Marks `number` (E.164) healthy again: allocation may give it from now on. `by`
/// [`super::pool::MarkedBy::Heartbeat`] clears only the heartbeat's own mark. Bookings moved
/// off it stay where they are. Returns whether the number is healthy now, or `None` when it
/// is not in the pool.
///
/// Errors: the database's.
pub async fn mark_healthy(
    db: &Db,
    number: &str,
    by: super::pool::MarkedBy,
) -> Result<Option<bool>, super::Error> {
    sqlx::query(
        "update virtual_numbers set unhealthy_at = null, unhealthy_reason = null,
                unhealthy_by = null
         where number = $1 and ($2 = 'operator' or unhealthy_by = $2)",
    )
    .bind(number)
    .bind(by.as_str())
    .execute(db.pool())
    .await?;
    let row = sqlx::query("select unhealthy_at from virtual_numbers where number = $1")
        .bind(number)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok(r.try_get::<Option<i64>, _>("unhealthy_at")?.is_none()))
        .transpose()
}

/// The booking with this id, in any status.
pub async fn get(db: &Db, booking_id: &str) -> Result<Option<Booking>, super::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from bookings where booking_id = $1"
    ));
    sqlx::query(sql)
        .bind(booking_id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Closes a booking: it stops routing at once, the callback routes of its calls too.
/// Returns the booking as it is now, or `None` when there is none. Closing twice keeps the
/// first time.
pub async fn close(
    db: &Db,
    booking_id: &str,
    now_ms: i64,
) -> Result<Option<Booking>, super::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query("update bookings set closed_at = $1 where booking_id = $2 and closed_at is null")
        .bind(now_ms)
        .bind(booking_id)
        .execute(&mut *tx)
        .await?;
    // Its party PINs stop working with it.
    sqlx::query(
        "update orders set deactivated_at = $1 where booking_id = $2 and deactivated_at is null",
    )
    .bind(now_ms)
    .bind(booking_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(db, booking_id).await
}

/// Deletes a booking created a moment ago whose party PINs were then refused, so that the
/// request leaves nothing behind. Its party PINs were not stored (they are all admitted in
/// one transaction, or none).
///
/// Errors: the database's.
pub async fn discard(db: &Db, booking_id: &str) -> Result<(), super::Error> {
    sqlx::query("delete from booking_alternates where booking_id = $1")
        .bind(booking_id)
        .execute(db.pool())
        .await?;
    sqlx::query("delete from bookings where booking_id = $1")
        .bind(booking_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// What [`change_expiry`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The booking, with its new expiry.
    Changed(Booking),
    /// The booking as it is: not active at the time of the change, so left as it was.
    NotActive(Booking),
    /// No booking has this id.
    Missing,
}

/// Moves the expiry of the booking with this id to `expires_at_ms` (unix ms) if it is active
/// at `now_ms`. The call path reads bookings from the database at every call, so the new
/// expiry holds for the next call at once.
///
/// Errors: the database's.
pub async fn change_expiry(
    db: &Db,
    booking_id: &str,
    expires_at_ms: i64,
    now_ms: i64,
) -> Result<Changed, super::Error> {
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "update bookings set expires_at = $1
         where booking_id = $2 and closed_at is null and expires_at > $3",
    )
    .bind(expires_at_ms)
    .bind(booking_id)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated > 0 {
        // Its party PINs live as long as it.
        sqlx::query(
            "update orders set expires_at = $1 where booking_id = $2 and deactivated_at is null",
        )
        .bind(expires_at_ms)
        .bind(booking_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(match get(db, booking_id).await? {
        None => Changed::Missing,
        Some(booking) if updated > 0 => Changed::Changed(booking),
        Some(booking) => Changed::NotActive(booking),
    })
}

/// Which bookings [`list`] returns: those in `status` at `now` (unix ms; any status when
/// `None`), on `virtual_number` and with `party` as either party (E.164) when given, created
/// before the cursor `before` (the `created_at` and `booking_id` of the last booking of the
/// page before), at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct BookingFilter {
    pub status: Option<BookingStatus>,
    pub virtual_number: Option<String>,
    pub party: Option<String>,
    pub before: Option<(i64, String)>,
    pub limit: i64,
    pub now: i64,
}

/// The bookings `filter` selects, newest first (by `created_at`, then `booking_id`), read
/// from the index by creation (migration 0012).
///
/// Errors: the database's; [`super::Error::Damaged`] when a stored number is not E.164.
pub async fn list(db: &Db, filter: &BookingFilter) -> Result<Vec<Booking>, super::Error> {
    let mut c = super::keyset::Conditions::default();
    if let Some(vn) = &filter.virtual_number {
        let vn = c.text(vn);
        c.push(format!("virtual_number = {vn}"));
    }
    if let Some(party) = &filter.party {
        let party = c.text(party);
        c.push(format!("(party_a = {party} or party_b = {party})"));
    }
    match filter.status {
        Some(BookingStatus::Active) => {
            let now = c.int(filter.now);
            c.push(format!(
                "closed_at is null and expires_at > {now} and party_b <> ''"
            ));
        }
        Some(BookingStatus::Pending) => {
            let now = c.int(filter.now);
            c.push(format!(
                "closed_at is null and expires_at > {now} and party_b = ''"
            ));
        }
        Some(BookingStatus::Expired) => {
            let now = c.int(filter.now);
            c.push(format!("closed_at is null and expires_at <= {now}"));
        }
        Some(BookingStatus::Closed) => c.push("closed_at is not null".into()),
        None => {}
    }
    if let Some(before) = &filter.before {
        c.before("created_at", "booking_id", before);
    }
    c.query(
        &format!("select {COLUMNS} from bookings"),
        "created_at",
        "booking_id",
        filter.limit,
    )
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Every booking active at `now_ms`.
pub async fn active(db: &Db, now_ms: i64) -> Result<Vec<Booking>, super::Error> {
    let sql = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from bookings where closed_at is null and expires_at > $1
         order by created_at"
    ));
    sqlx::query(sql)
        .bind(now_ms)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// [`find_peer`]'s statement: `$1` the caller, `$2` the virtual number, `$3` now (ms). Each
/// branch names a party index's whole key (migration 0009) and reads one entry, however many
/// bookings share the number; the third finds the caller among the parties' alternates
/// (migration 0021), `alternate_of` naming whose: by the alternate's index, then the one
/// booking it names (`cross join` keeps SQLite's planner from starting at the number's
/// bookings). The last three find a booking moved off `$2` within its grace (migration 0019)
/// the same ways, after one on `$2` itself.
pub(crate) const FIND_PEER: &str = "select * from (
         select 0 as moved, booking_id, party_a, party_b, reference, language,
                ring_timeout_secs, max_conversation_secs, record, whisper, pin_mode, callers, '' as alternate_of
         from bookings
         where party_a = $1 and virtual_number = $2 and closed_at is null and expires_at > $3
         union all
         select 0 as moved, booking_id, party_a, party_b, reference, language,
                ring_timeout_secs, max_conversation_secs, record, whisper, pin_mode, callers, '' as alternate_of
         from bookings
         where party_b = $1 and virtual_number = $2 and closed_at is null and expires_at > $3
         union all
         select 0 as moved, b.booking_id, b.party_a, b.party_b, b.reference, b.language,
                b.ring_timeout_secs, b.max_conversation_secs, b.record, b.whisper, b.pin_mode,
                b.callers, x.party as alternate_of
           from booking_alternates x cross join bookings b
         where b.booking_id = x.booking_id and x.number = $1 and b.virtual_number = $2
           and b.closed_at is null and b.expires_at > $3
         union all
         select 1 as moved, booking_id, party_a, party_b, reference, language,
                ring_timeout_secs, max_conversation_secs, record, whisper, pin_mode, callers, '' as alternate_of
         from bookings
         where party_a = $1 and previous_number = $2 and previous_until > $3
           and closed_at is null and expires_at > $3
         union all
         select 1 as moved, booking_id, party_a, party_b, reference, language,
                ring_timeout_secs, max_conversation_secs, record, whisper, pin_mode, callers, '' as alternate_of
         from bookings
         where party_b = $1 and previous_number = $2 and previous_until > $3
           and closed_at is null and expires_at > $3
         union all
         select 1 as moved, b.booking_id, b.party_a, b.party_b, b.reference, b.language,
                b.ring_timeout_secs, b.max_conversation_secs, b.record, b.whisper, b.pin_mode,
                b.callers, x.party as alternate_of
           from booking_alternates x cross join bookings b
         where b.booking_id = x.booking_id and x.number = $1 and b.previous_number = $2
           and b.previous_until > $3 and b.closed_at is null and b.expires_at > $3) as found
         order by moved
         limit 1";

/// The caller's booking as [`find_peer`] finds it: its id, the other party, and how its
/// bridge is dialled.
#[derive(Debug, Clone)]
pub struct Peer {
    pub booking_id: String,
    /// The other party; `None` when the caller may not call through this booking (the
    /// booking's [`Callers`] leave it out, or it has no party B yet): the caller is answered
    /// as a stranger, and is not called back either.
    pub peer: Option<PhoneNumber>,
    /// The booking's options, its reference, and its party A.
    pub bridge: super::call_options::BridgeOptions,
    /// With [`PinMode::Always`], the caller keys a party PIN even from its own phone.
    pub pin_mode: PinMode,
}

/// The active booking in which `caller` is a party, or a party's alternate, on
/// `virtual_number`: its id, the other party, and how its bridge is dialled, in one read. The
/// allocation rule makes it unique.
/// A booking moved off `virtual_number` when it was marked unhealthy is found too until its
/// grace ends (`PINBRIDGE_HEALTH_GRACE`), after one on the number itself.
///
/// Errors: the database's; [`super::Error::Damaged`] when the other party is not E.164.
pub async fn find_peer(
    db: &Db,
    caller: &str,
    virtual_number: &str,
    now_ms: i64,
) -> Result<Option<Peer>, super::Error> {
    let row = sqlx::query(FIND_PEER)
        .bind(caller)
        .bind(virtual_number)
        .bind(now_ms)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| peer_from_row(&r, caller)).transpose()
}

/// The booking of `caller` as [`FIND_PEER`] selects it.
///
/// Errors: a column missing or of another type; [`super::Error::Damaged`] when the other
/// party is not E.164.
pub(crate) fn peer_from_row(r: &impl StoredRow, caller: &str) -> Result<Peer, super::Error> {
    let a: String = r.column("party_a")?;
    let b: String = r.column("party_b")?;
    let callers = Callers::parse(&r.column::<String>("callers")?).unwrap_or_default();
    let alternate_of: String = r.column("alternate_of")?;
    // An alternate of party A calls as party A does.
    let from_a = alternate_of == "a" || (alternate_of.is_empty() && a == caller);
    let (column, peer) = if from_a {
        ("bookings.party_b", b)
    } else {
        ("bookings.party_a", a.clone())
    };
    let may_call = callers.may_call(from_a) && !peer.is_empty();
    Ok(Peer {
        booking_id: r.column("booking_id")?,
        peer: may_call.then(|| stored_number(column, &peer)).transpose()?,
        bridge: super::call_options::BridgeOptions {
            own: super::call_options::from_row(r)?,
            reference: r.column("reference")?,
            party_a: Some(a),
        },
        pin_mode: PinMode::parse(&r.column::<String>("pin_mode")?).unwrap_or_default(),
    })
}

impl From<sqlx::Error> for CreateError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.into())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::domain::{PhoneNumber, Region};
    use crate::storage::pool;

    /// Three Indian numbers and a US one.
    const NUMBERS: [&str; 4] = [
        "+917314853246",
        "+918088919888",
        "+912249757100",
        "+12015550124",
    ];
    /// `NUMBERS[2]` is reserved.
    const RESERVED: usize = 2;
    /// The country of each of `NUMBERS` and `PEOPLE`, by index into [`COUNTRIES`].
    const NUMBER_COUNTRY: [usize; 4] = [0, 0, 0, 1];
    const COUNTRIES: [&str; 2] = ["IN", "US"];
    /// Four Indian parties and a US one.
    const PEOPLE: [&str; 5] = [
        "+919812345678",
        "+919988776655",
        "+917709562799",
        "+919123456789",
        "+12015550123",
    ];
    const PERSON_COUNTRY: [usize; 5] = [0, 0, 0, 0, 1];
    /// The cool-off of the model, in its milliseconds.
    const COOL_OFF: i64 = 20;

    #[derive(Debug, Clone)]
    enum Op {
        Create {
            a: usize,
            /// `None`: pending, party B added later by [`Op::AddB`].
            b: Option<usize>,
            named: Option<usize>,
            country: Option<usize>,
            ttl: i64,
            /// Another phone of party A (an alternate), when it is neither party.
            alt: Option<usize>,
        },
        Close(usize),
        Advance(i64),
        Drain(usize),
        /// Party B (`.1`) for the booking `.0` from the newest (0: the newest), so that the
        /// pending bookings just made are the ones most often completed.
        AddB(usize, usize),
        Unhealthy(usize),
        Healthy(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (
                0..5usize,
                proptest::option::weighted(0.8, 0..5usize),
                proptest::option::weighted(0.2, 0..4usize),
                proptest::option::weighted(0.15, 0..2usize),
                1..50i64,
                proptest::option::weighted(0.25, 0..5usize),
            )
                .prop_map(|(a, b, named, country, ttl, alt)| Op::Create { a, b, named, country, ttl, alt }),
            2 => (0..20usize).prop_map(Op::Close),
            2 => (1..30i64).prop_map(Op::Advance),
            1 => (0..4usize).prop_map(Op::Drain),
            3 => (0..4usize, 0..5usize).prop_map(|(i, b)| Op::AddB(i, b)),
            1 => (0..4usize).prop_map(Op::Unhealthy),
            1 => (0..4usize).prop_map(Op::Healthy),
        ]
    }

    /// What the model remembers of a booking.
    #[derive(Debug, Clone)]
    struct Held {
        number: usize,
        a: usize,
        b: Option<usize>,
        /// Party A's alternate.
        alt: Option<usize>,
        expires: i64,
        closed: Option<i64>,
    }

    impl Held {
        fn active(&self, now: i64) -> bool {
            self.closed.is_none() && self.expires > now
        }

        /// When it stopped routing (or will).
        fn end(&self) -> i64 {
            self.closed.map_or(self.expires, |c| c.min(self.expires))
        }

        /// `p` is a party (not an alternate): what sticky and cool-off look at.
        fn has(&self, p: usize) -> bool {
            self.a == p || self.b == Some(p)
        }

        /// `p` is one of its numbers, alternates included: what the rule looks at.
        fn reaches(&self, p: usize) -> bool {
            self.has(p) || self.alt == Some(p)
        }
    }

    type Model = Vec<Held>;

    fn active(model: &Model, now: i64) -> impl Iterator<Item = &Held> {
        model.iter().filter(move |m| m.active(now))
    }

    /// The numbers the model allows parties `a` and `b` (`None`: party A alone), with party
    /// A's alternate `alt`, among those of `countries`, and whether each is known to them and
    /// its load: `(number, known, load)`. An alternate counts in the rule, not in sticky or
    /// the cool-off.
    fn eligible(
        model: &Model,
        now: i64,
        drained: &HashSet<usize>,
        (a, b, alt): (usize, Option<usize>, Option<usize>),
        countries: &[usize],
    ) -> Vec<(usize, bool, usize)> {
        let has = |m: &Held| m.has(a) || b.is_some_and(|b| m.has(b));
        let reaches = |m: &Held| [a].into_iter().chain(b).chain(alt).any(|p| m.reaches(p));
        (0..NUMBERS.len())
            .filter(|n| {
                let holds = active(model, now).any(|m| m.number == *n && reaches(m));
                let cooling = b.is_some_and(|b| {
                    model
                        .iter()
                        .any(|m| m.number == *n && m.has(a) && m.has(b) && m.end() > now - COOL_OFF)
                });
                *n != RESERVED
                    && !drained.contains(n)
                    && !holds
                    && countries.contains(&NUMBER_COUNTRY[*n])
                    && !cooling
            })
            .map(|n| {
                let known = model.iter().any(|m| m.number == n && has(m));
                let load = active(model, now).filter(|m| m.number == n).count();
                (n, known, load)
            })
            .collect()
    }

    /// The numbers allocation may not give: drained or unhealthy.
    fn excluded(drained: &HashSet<usize>, unhealthy: &HashSet<usize>) -> HashSet<usize> {
        drained.union(unhealthy).copied().collect()
    }

    /// Panics unless `n` is what the rule gives among `eligible`: a known number when one
    /// is eligible, the least loaded among those.
    fn assert_allocated(n: usize, eligible: &[(usize, bool, usize)]) {
        let (_, known, load) = *eligible
            .iter()
            .find(|e| e.0 == n)
            .expect("allocated an ineligible number");
        let sticky = eligible.iter().any(|e| e.1);
        assert_eq!(known, sticky, "a known number was passed over");
        let least = eligible
            .iter()
            .filter(|e| e.1 == sticky)
            .map(|e| e.2)
            .min()
            .unwrap();
        assert_eq!(load, least, "not the least loaded number");
    }

    async fn run(ops: Vec<Op>) {
        let db = crate::storage::test_db().await;
        for (i, n) in NUMBERS.iter().enumerate() {
            pool::add(&db, n, "exotel", i == RESERVED, None, 0)
                .await
                .unwrap();
        }
        let region = Region::parse("IN").unwrap();
        let mut now = 1_000i64;
        let mut model: Model = Vec::new();
        let mut ids: Vec<String> = Vec::new();
        let mut drained: HashSet<usize> = HashSet::new();
        let mut unhealthy: HashSet<usize> = HashSet::new();
        for op in ops {
            match op {
                Op::Create {
                    a,
                    b,
                    named,
                    country,
                    ttl,
                    alt,
                } if b != Some(a) => {
                    let alt = alt.filter(|x| *x != a && Some(*x) != b);
                    let new = NewBooking {
                        party_a: PhoneNumber::parse(PEOPLE[a], region).unwrap(),
                        party_b: b.map(|b| PhoneNumber::parse(PEOPLE[b], region).unwrap()),
                        reference: None,
                        expires_at_ms: now + ttl,
                        virtual_number: named
                            .map(|n| PhoneNumber::parse(NUMBERS[n], region).unwrap()),
                        provider: None,
                        pin_mode: crate::domain::PinMode::default(),
                        country: country.map(|c| COUNTRIES[c].to_owned()),
                        callers: crate::domain::Callers::default(),
                        party_a_alternates: alt
                            .map(|x| PhoneNumber::parse(PEOPLE[x], region).unwrap())
                            .into_iter()
                            .collect(),
                        party_b_alternates: Vec::new(),
                    };
                    let mine: Vec<usize> = [a].into_iter().chain(b).chain(alt).collect();
                    let id = format!("bk_{}", ids.len());
                    let holds = |n: usize| {
                        active(&model, now)
                            .any(|m| m.number == n && mine.iter().any(|p| m.reaches(*p)))
                    };
                    let countries = match country {
                        Some(c) => vec![c],
                        None => vec![PERSON_COUNTRY[a], PERSON_COUNTRY[b.unwrap_or(a)]],
                    };
                    let eligible = eligible(
                        &model,
                        now,
                        &excluded(&drained, &unhealthy),
                        (a, b, alt),
                        &countries,
                    );
                    match (create(&db, &new, &id, COOL_OFF, now).await, named) {
                        (Ok(bk), None) => {
                            let n = NUMBERS
                                .iter()
                                .position(|x| *x == bk.virtual_number.as_ref())
                                .unwrap();
                            assert_allocated(n, &eligible);
                            model.push(Held {
                                number: n,
                                a,
                                b,
                                alt,
                                expires: now + ttl,
                                closed: None,
                            });
                            ids.push(id);
                        }
                        (Ok(_), Some(n)) => {
                            assert!(
                                !drained.contains(&n) && !unhealthy.contains(&n) && !holds(n),
                                "named booking broke the rule"
                            );
                            model.push(Held {
                                number: n,
                                a,
                                b,
                                alt,
                                expires: now + ttl,
                                closed: None,
                            });
                            ids.push(id);
                        }
                        (Err(CreateError::PoolExhausted), None) => {
                            assert!(eligible.is_empty(), "refused while {eligible:?} were free");
                        }
                        (Err(CreateError::ParticipantConflict), Some(n)) => assert!(holds(n)),
                        (Err(CreateError::NumberDrained), Some(n)) => assert!(drained.contains(&n)),
                        (Err(CreateError::NumberUnhealthy), Some(n)) => {
                            assert!(unhealthy.contains(&n) && !drained.contains(&n));
                        }
                        (other, named) => panic!("unexpected {other:?} for {named:?}"),
                    }
                }
                Op::Create { .. } => {}
                Op::Close(i) => {
                    if let Some(id) = ids.get(i) {
                        close(&db, id, now).await.unwrap();
                        model[i].closed.get_or_insert(now);
                    }
                }
                Op::Advance(ms) => now += ms,
                Op::Drain(n) => {
                    pool::drain(&db, NUMBERS[n], now).await.unwrap();
                    drained.insert(n);
                }
                Op::AddB(back, b) => {
                    let Some(i) = ids.len().checked_sub(back + 1) else {
                        continue;
                    };
                    let id = &ids[i];
                    let party_b = PhoneNumber::parse(PEOPLE[b], region).unwrap();
                    let held = model[i].clone();
                    let added = add_party_b(&db, id, &party_b, COOL_OFF, now).await;
                    let (current, a) = (held.number, held.a);
                    let stays = !active(&model, now).any(|m| m.number == current && m.reaches(b))
                        && !model.iter().any(|m| {
                            m.number == current && m.has(a) && m.has(b) && m.end() > now - COOL_OFF
                        });
                    let eligible = eligible(
                        &model,
                        now,
                        &excluded(&drained, &unhealthy),
                        (a, Some(b), held.alt),
                        &[NUMBER_COUNTRY[current]],
                    );
                    match added {
                        Err(AddPartyError::NotActive(_)) => assert!(!held.active(now)),
                        Err(AddPartyError::AlreadySet) => {
                            assert!(held.active(now) && held.b.is_some());
                        }
                        Err(AddPartyError::SameParty) => assert!(a == b || held.alt == Some(b)),
                        Err(AddPartyError::PoolExhausted) => {
                            assert!(!stays && eligible.is_empty(), "refused while free");
                        }
                        Ok(bk) => {
                            assert!(held.active(now) && held.b.is_none());
                            assert!(a != b && held.alt != Some(b));
                            let n = NUMBERS
                                .iter()
                                .position(|x| *x == bk.virtual_number.as_ref())
                                .unwrap();
                            if stays {
                                assert_eq!(n, current, "moved a booking that kept the rule");
                            } else {
                                assert_allocated(n, &eligible);
                            }
                            model[i].b = Some(b);
                            model[i].number = n;
                        }
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                Op::Healthy(n) => {
                    let by = pool::MarkedBy::Operator;
                    assert_eq!(mark_healthy(&db, NUMBERS[n], by).await.unwrap(), Some(true));
                    unhealthy.remove(&n);
                }
                Op::Unhealthy(n) => {
                    unhealthy.insert(n);
                    let by = pool::MarkedBy::Operator;
                    let moved = mark_unhealthy(&db, NUMBERS[n], by, None, (COOL_OFF, 5), now)
                        .await
                        .unwrap()
                        .unwrap();
                    // Each booking on it, in creation order, moves by the allocation rule
                    // (the old number's country), or stays when no number is eligible.
                    let on_it: Vec<usize> = (0..model.len())
                        .filter(|i| model[*i].number == n && model[*i].active(now))
                        .collect();
                    assert_eq!(moved.len(), on_it.len());
                    for (i, m) in on_it.into_iter().zip(&moved) {
                        assert_eq!(ids[i], m.booking_id);
                        let (a, b, alt) = (model[i].a, model[i].b, model[i].alt);
                        let eligible = eligible(
                            &model,
                            now,
                            &excluded(&drained, &unhealthy),
                            (a, b, alt),
                            &[NUMBER_COUNTRY[n]],
                        );
                        match &m.new {
                            Some(new) => {
                                let x = NUMBERS.iter().position(|v| *v == new.as_ref()).unwrap();
                                assert!(
                                    eligible.iter().any(|e| e.0 == x),
                                    "moved to an ineligible number"
                                );
                                model[i].number = x;
                            }
                            None => assert!(
                                eligible.is_empty(),
                                "stranded while {eligible:?} were free"
                            ),
                        }
                    }
                }
            }
            // The invariant, read back from the database itself: no number of a party,
            // alternates included, in two active bookings on one virtual number.
            let stored = super::active(&db, now).await.unwrap();
            let mut numbers = Vec::new();
            for x in &stored {
                let (alt_a, alt_b) = crate::storage::alternates::of(&db, &x.booking_id)
                    .await
                    .unwrap();
                let all: Vec<PhoneNumber> = [Some(x.party_a.clone()), x.party_b.clone()]
                    .into_iter()
                    .flatten()
                    .chain(alt_a)
                    .chain(alt_b)
                    .collect();
                numbers.push(all);
            }
            for (i, x) in stored.iter().enumerate() {
                for (j, y) in stored.iter().enumerate().skip(i + 1) {
                    if x.virtual_number == y.virtual_number {
                        assert!(
                            !numbers[i].iter().any(|n| numbers[j].contains(n)),
                            "two active bookings share a party's number on one virtual number"
                        );
                    }
                }
            }
            assert_eq!(stored.len(), active(&model, now).count());
            let counts = pool::list(&db, now).await.unwrap();
            for (n, v) in counts.iter().enumerate() {
                let want = active(&model, now)
                    .filter(|m| NUMBERS[m.number] == v.number)
                    .count();
                assert_eq!(
                    v.active_bookings as usize, want,
                    "active count of number {n}"
                );
            }
        }
    }

    /// A caller's booking, and the numbers a party holds, are found by the party's own index
    /// entries, and each number's load is counted in the number's partial index (its rows
    /// unread: the index's condition is the query's): never by reading every active booking
    /// of a number (migration 0009).
    #[tokio::test]
    async fn booking_lookups_search_by_party_and_count_in_the_partial_index() {
        let db = crate::storage::sqlite_test_db().await;
        for sql in [FIND_PEER, PARTY_HOLDS] {
            let plan = crate::storage::test_plan(&db, sql).await;
            for party in ["party_a", "party_b"] {
                let search = format!(
                    "USING INDEX bookings_{party} ({party}=? AND virtual_number=? AND expires_at>?)"
                );
                assert!(plan.contains(&search), "{sql}\n{plan}");
            }
            assert!(!plan.contains("bookings_virtual_number"), "{sql}\n{plan}");
        }
        // A booking moved off the number is found by the party's entry among the moved ones
        // (migration 0019).
        let plan = crate::storage::test_plan(&db, FIND_PEER).await;
        for party in ["party_a", "party_b"] {
            let search = format!(
                "USING INDEX bookings_previous_{} ({party}=? AND previous_number=? AND previous_until>?)",
                &party[6..]
            );
            assert!(plan.contains(&search), "{plan}");
        }
        assert!(
            plan.contains("SEARCH x USING INDEX booking_alternates_by_number (number=?)"),
            "{plan}"
        );
        let plan = crate::storage::test_plan(&db, ALLOCATE).await;
        for search in [
            "USING INDEX bookings_party_a (party_a=?)",
            "USING INDEX bookings_party_b (party_b=?)",
            "USING INDEX bookings_virtual_number (virtual_number=? AND expires_at>?)",
            "USING INDEX bookings_closed_a (party_a=? AND virtual_number=?)",
            "USING INDEX bookings_closed_b (party_b=? AND virtual_number=?)",
        ] {
            assert!(plan.contains(search), "{plan}");
        }
        // Sticky and cool-off read the parties' own entries, never every booking.
        assert!(
            !plan.contains("SCAN bookings") && !plan.contains("SCAN k"),
            "{plan}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any sequence of creates, closes, expiries, drains and health marks (which move
        /// the bookings of a number marked unhealthy) never yields two active bookings
        /// sharing a party and a virtual number, never allocates (nor moves a booking to) a
        /// drained, unhealthy or reserved number, nor one of another country than the parties' (or the one named),
        /// nor one the same two parties shared within the cool-off; takes a number a party
        /// knows when one is eligible, the least loaded among those, and refuses only when no
        /// number is eligible.
        #[test]
        fn the_allocation_rule_holds_for_any_sequence(ops in proptest::collection::vec(op(), 1..40)) {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(run(ops));
        }
    }
}
