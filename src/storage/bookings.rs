//! Bookings of caller-based masking, and the allocation of their virtual numbers.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::Db;
use super::stored_number;
use crate::domain::{BookingStatus, NewBooking, PhoneNumber, PinMode};

/// A booking as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub booking_id: String,
    pub reference: Option<String>,
    pub party_a: PhoneNumber,
    pub party_b: PhoneNumber,
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
}

impl Booking {
    /// The booking's status at `now_ms`.
    pub fn status(&self, now_ms: i64) -> BookingStatus {
        BookingStatus::at(now_ms, self.expires_at, self.closed_at)
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
    /// A party already holds the named number in an active booking.
    #[error("a party already holds this virtual number in an active booking")]
    ParticipantConflict,
    #[error(transparent)]
    Database(#[from] super::Error),
}

/// A booking's columns, its party PINs read from their rows among the orders (by the
/// partial index of migration 0017).
const COLUMNS: &str = "booking_id, reference, party_a, party_b, virtual_number, created_at,
     expires_at, closed_at, pin_mode,
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
        party_b: stored_number("bookings.party_b", &row.try_get::<String, _>("party_b")?)?,
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
    })
}

/// Creates a booking, allocating its virtual number unless it names one.
///
/// The allocation rule (Twilio Proxy's, `reference/providers.md` §1.5): a party never holds
/// the same virtual number in two bookings active at once, while one number serves many
/// bookings of distinct parties. Eligible numbers are in the pool, not reserved, not drained,
/// of `provider` if given, of the booking's countries ([`NewBooking::countries`]), and not
/// used by the same two parties in a booking that ended less than `cool_off_ms` ago (or is
/// active), so that a past party never reaches a new booking (Plivo's and Exotel's cool-off).
/// Among them a number either party already knows from an earlier booking is taken first
/// (sticky, as Plivo and Exotel do), then the one with the fewest active bookings. A named
/// number is checked against the rule only: the business chose it. The check and the insert
/// run in one write transaction that excludes every other writer, so two allocations racing
/// for the last number can not both win.
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
    let b = new.party_b.as_ref();
    let mut tx = db.begin_write().await?;
    // An alternate counts as its party's number: the numbers any of them holds.
    let held = super::alternates::held(&mut tx, &new.numbers(), "", now_ms).await?;
    let number = match &new.virtual_number {
        Some(named) => {
            let row = sqlx::query("select drained_at from virtual_numbers where number = $1")
                .bind(named.as_ref())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(CreateError::UnknownNumber)?;
            if row.try_get::<Option<i64>, _>("drained_at")?.is_some() {
                return Err(CreateError::NumberDrained);
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
    };
    sqlx::query(
        "insert into bookings (booking_id, reference, party_a, party_b, virtual_number, created_at, expires_at, pin_mode)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&booking.booking_id)
    .bind(&booking.reference)
    .bind(booking.party_a.as_ref())
    .bind(booking.party_b.as_ref())
    .bind(booking.virtual_number.as_ref())
    .bind(booking.created_at)
    .bind(booking.expires_at)
    .bind(booking.pin_mode.as_str())
    .execute(&mut *tx)
    .await?;
    super::alternates::insert(&mut tx, booking_id, true, &new.party_a_alternates).await?;
    super::alternates::insert(&mut tx, booking_id, false, &new.party_b_alternates).await?;
    tx.commit().await?;
    Ok(booking)
}

/// `held` as [`ALLOCATE`]'s `$8`: `,+91...,+91...,`, or `''` for none.
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
/// `$8` the numbers the parties' alternates hold ([`held_list`]; `''`: none).
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
         where v.reserved = 0 and v.drained_at is null
           and ($4 = '' or v.provider = $4)
           and (($5 = '' and $6 = '') or v.country in ($5, $6))
           and ($8 = '' or $8 not like '%,' || v.number || ',%')
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
        .bind(&wanted.held)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| stored_number("virtual_numbers.number", &r.try_get::<String, _>("number")?))
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
            c.push(format!("closed_at is null and expires_at > {now}"));
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
/// bookings).
const FIND_PEER: &str = "select booking_id, party_a, party_b, reference, language,
                ring_timeout_secs, max_conversation_secs, record, whisper, pin_mode,
                '' as alternate_of from bookings
         where party_a = $1 and virtual_number = $2 and closed_at is null and expires_at > $3
         union all
         select booking_id, party_a, party_b, reference, language,
                ring_timeout_secs, max_conversation_secs, record, whisper, pin_mode,
                '' as alternate_of from bookings
         where party_b = $1 and virtual_number = $2 and closed_at is null and expires_at > $3
         union all
         select b.booking_id, b.party_a, b.party_b, b.reference, b.language,
                b.ring_timeout_secs, b.max_conversation_secs, b.record, b.whisper, b.pin_mode,
                x.party as alternate_of
           from booking_alternates x cross join bookings b
         where b.booking_id = x.booking_id and x.number = $1 and b.virtual_number = $2 and b.closed_at is null
           and b.expires_at > $3
         limit 1";

/// The caller's booking as [`find_peer`] finds it: its id, the other party, and how its
/// bridge is dialled.
#[derive(Debug, Clone)]
pub struct Peer {
    pub booking_id: String,
    /// The other party.
    pub peer: PhoneNumber,
    /// The booking's options, its reference, and its party A.
    pub bridge: super::call_options::BridgeOptions,
    /// With [`PinMode::Always`], the caller keys a party PIN even from its own phone.
    pub pin_mode: PinMode,
}

/// The active booking in which `caller` is a party, or a party's alternate, on
/// `virtual_number`: its id, the other party, and how its bridge is dialled, in one read. The
/// allocation rule makes it unique.
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
    row.map(|r| {
        let a: String = r.try_get("party_a")?;
        let b: String = r.try_get("party_b")?;
        let alternate_of: String = r.try_get("alternate_of")?;
        // An alternate of party A calls as party A does.
        let from_a = alternate_of == "a" || (alternate_of.is_empty() && a == caller);
        let (column, peer) = if from_a {
            ("bookings.party_b", b)
        } else {
            ("bookings.party_a", a.clone())
        };
        Ok(Peer {
            booking_id: r.try_get("booking_id")?,
            peer: stored_number(column, &peer)?,
            bridge: super::call_options::BridgeOptions {
                own: super::call_options::from_row(&r)?,
                reference: r.try_get("reference")?,
                party_a: Some(a),
            },
            pin_mode: PinMode::parse(&r.try_get::<String, _>("pin_mode")?).unwrap_or_default(),
        })
    })
    .transpose()
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
            b: usize,
            named: Option<usize>,
            country: Option<usize>,
            ttl: i64,
            /// Another phone of party A (an alternate), when it is neither party.
            alt: Option<usize>,
        },
        Close(usize),
        Advance(i64),
        Drain(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (
                0..5usize,
                0..5usize,
                proptest::option::weighted(0.2, 0..4usize),
                proptest::option::weighted(0.15, 0..2usize),
                1..50i64,
                proptest::option::weighted(0.25, 0..5usize),
            )
                .prop_map(|(a, b, named, country, ttl, alt)| Op::Create { a, b, named, country, ttl, alt }),
            2 => (0..20usize).prop_map(Op::Close),
            2 => (1..30i64).prop_map(Op::Advance),
            1 => (0..4usize).prop_map(Op::Drain),
        ]
    }

    /// What the model remembers of a booking.
    #[derive(Debug, Clone)]
    struct Held {
        number: usize,
        a: usize,
        b: usize,
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
            self.a == p || self.b == p
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
        for op in ops {
            match op {
                Op::Create {
                    a,
                    b,
                    named,
                    country,
                    ttl,
                    alt,
                } if a != b => {
                    let alt = alt.filter(|x| *x != a && *x != b);
                    let new = NewBooking {
                        party_a: PhoneNumber::parse(PEOPLE[a], region).unwrap(),
                        party_b: PhoneNumber::parse(PEOPLE[b], region).unwrap(),
                        reference: None,
                        expires_at_ms: now + ttl,
                        virtual_number: named
                            .map(|n| PhoneNumber::parse(NUMBERS[n], region).unwrap()),
                        provider: None,
                        pin_mode: crate::domain::PinMode::default(),
                        country: country.map(|c| COUNTRIES[c].to_owned()),
                        party_a_alternates: alt
                            .map(|x| PhoneNumber::parse(PEOPLE[x], region).unwrap())
                            .into_iter()
                            .collect(),
                        party_b_alternates: Vec::new(),
                    };
                    let mine: Vec<usize> = [a, b].into_iter().chain(alt).collect();
                    let id = format!("bk_{}", ids.len());
                    let holds = |n: usize| {
                        active(&model, now)
                            .any(|m| m.number == n && mine.iter().any(|p| m.reaches(*p)))
                    };
                    let load = |n: usize| active(&model, now).filter(|m| m.number == n).count();
                    let countries = match country {
                        Some(c) => vec![c],
                        None => vec![PERSON_COUNTRY[a], PERSON_COUNTRY[b]],
                    };
                    let cooling = |n: usize| {
                        model.iter().any(|m| {
                            m.number == n && m.has(a) && m.has(b) && m.end() > now - COOL_OFF
                        })
                    };
                    let known = |n: usize| {
                        model
                            .iter()
                            .any(|m| m.number == n && (m.has(a) || m.has(b)))
                    };
                    let eligible: Vec<usize> = (0..NUMBERS.len())
                        .filter(|n| {
                            *n != RESERVED
                                && !drained.contains(n)
                                && !holds(*n)
                                && countries.contains(&NUMBER_COUNTRY[*n])
                                && !cooling(*n)
                        })
                        .collect();
                    match (create(&db, &new, &id, COOL_OFF, now).await, named) {
                        (Ok(bk), None) => {
                            let n = NUMBERS
                                .iter()
                                .position(|x| *x == bk.virtual_number.as_ref())
                                .unwrap();
                            assert!(eligible.contains(&n), "allocated an ineligible number");
                            let sticky = eligible.iter().any(|e| known(*e));
                            assert_eq!(known(n), sticky, "a known number was passed over");
                            let least = eligible
                                .iter()
                                .filter(|e| known(**e) == sticky)
                                .map(|e| load(*e))
                                .min()
                                .unwrap();
                            assert_eq!(load(n), least, "not the least loaded number");
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
                                !drained.contains(&n) && !holds(n),
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
            }
            // The invariant, read back from the database itself: no number of a party,
            // alternates included, in two active bookings on one virtual number.
            let stored = super::active(&db, now).await.unwrap();
            let mut numbers = Vec::new();
            for x in &stored {
                let (alt_a, alt_b) = crate::storage::alternates::of(&db, &x.booking_id)
                    .await
                    .unwrap();
                let all: Vec<PhoneNumber> = [x.party_a.clone(), x.party_b.clone()]
                    .into_iter()
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
        let db = Db::connect("sqlite::memory:", &crate::storage::PoolSettings::single())
            .await
            .unwrap();
        db.migrate().await.unwrap();
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
        let plan = crate::storage::test_plan(&db, FIND_PEER).await;
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

        /// Any sequence of creates, closes, expiries and drains never yields two active
        /// bookings sharing a party and a virtual number, never allocates a drained or
        /// reserved number, nor one of another country than the parties' (or the one named),
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
