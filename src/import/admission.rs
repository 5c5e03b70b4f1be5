//! Which new orders are admitted, and with which PIN: the rules of `POST /api/v1/orders`
//! ([`create`]) and of a bulk import ([`Import`]), over the look-ups and inserts of
//! [`crate::storage::orders::OrderWrite`].
//!
//! The rules: an order id is used once, in any status; a given PIN may not be active where a
//! guess could reach another active order with it (on the same virtual number, or either
//! order valid on every number); a generated PIN is drawn again instead, up to
//! [`DRAWS`] times; and active PINs of one length that a guess on a virtual number can hit
//! fill at most [`Density`] of that length's space.

use std::collections::{HashMap, HashSet};

use crate::domain::{NewOrder, PhoneNumber, Pin, PinChoice};
use crate::storage::orders::{HeldPin, Order, OrderWrite};
use crate::storage::{self, Db};

/// How many PINs are drawn for an order with a generated PIN before it is refused as
/// [`CreateError::PinInUse`].
pub const DRAWS: usize = 20;

/// The largest share of a PIN length's space that active PINs on one virtual number may fill
/// (`PINBRIDGE_PIN_MAX_DENSITY`). With `n` active PINs of length `L`, one random guess hits
/// with probability `n / 10^L`; capping `n` caps that chance.
#[derive(Debug, Clone, Copy)]
pub struct Density(pub f64);

impl Density {
    /// Whether one more active PIN of `len` digits fits where `active` already are.
    pub fn admits_one_more(self, active: i64, len: usize) -> bool {
        let space = 10f64.powi(i32::try_from(len).unwrap_or(i32::MAX));
        (active + 1) as f64 <= self.0 * space
    }
}

/// Why an order was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// An order with this id is active; an id of closed orders only may be given again.
    #[error("an active order with this order_id exists already")]
    OrderExists,
    #[error("this PIN is already active on this virtual number")]
    PinInUse,
    /// Active PINs of this length on this virtual number already fill the allowed share of
    /// the PIN space.
    #[error("too many active PINs of this length on this virtual number")]
    PinSpaceCrowded,
    #[error(transparent)]
    Database(#[from] storage::Error),
}

/// The PIN length an order asks for, in digits.
fn pin_len(new: &NewOrder) -> usize {
    match &new.pin {
        PinChoice::Given(pin) => pin.len(),
        PinChoice::Generate { len } => usize::from(*len),
    }
}

/// Creates one order in its own transaction, created at `now_ms` (unix milliseconds).
///
/// Errors: [`CreateError::OrderExists`]; [`CreateError::PinInUse`] when the given PIN is
/// active on the same virtual number, or on any for an order without one (a generated PIN is
/// drawn again instead, up to [`DRAWS`] times); [`CreateError::PinSpaceCrowded`] past
/// `density`.
pub async fn create(
    db: &Db,
    new: &NewOrder,
    density: Density,
    now_ms: i64,
) -> Result<Order, CreateError> {
    let mut write = OrderWrite::begin(db).await?;
    let pin = admit_one(&mut write, new, density, now_ms).await?;
    write.insert(&[(new, pin.clone())], now_ms).await?;
    write.commit().await?;
    Ok(Order {
        order_id: new.order_id.clone(),
        customer_number: new.customer.clone(),
        pin: pin.as_ref().to_owned(),
        virtual_number: new.virtual_number.clone(),
        created_at: now_ms,
        expires_at: new.expires_at_ms,
        deactivated_at: None,
        allowed_callers: new.allowed_callers.clone(),
        // The admin API stores an order's options right after it is created.
        options: crate::domain::CallOptions::default(),
    })
}

/// Stores a booking's party PINs (each a [`NewOrder`] whose id is
/// [`storage::bookings::party_pin_id`], on the booking's virtual number, reaching the other
/// party), under the rules of an order's PIN: density, and no PIN twice where a guess reaches
/// both. All of them in one transaction, or none. Returns their PINs, in the order given.
///
/// Errors: as [`create`]'s.
pub async fn create_party_pins(
    db: &Db,
    booking_id: &str,
    pins: &[NewOrder],
    density: Density,
    now_ms: i64,
) -> Result<Vec<Pin>, CreateError> {
    let mut write = OrderWrite::begin(db).await?;
    let mut chosen = Vec::with_capacity(pins.len());
    for new in pins {
        let pin = admit_one(&mut write, new, density, now_ms).await?;
        write.insert(&[(new, pin.clone())], now_ms).await?;
        write.tie_to_booking(&new.order_id, booking_id).await?;
        chosen.push(pin);
    }
    write.commit().await?;
    Ok(chosen)
}

/// The checks of [`create`]; returns the order's PIN.
async fn admit_one(
    write: &mut OrderWrite,
    new: &NewOrder,
    density: Density,
    now_ms: i64,
) -> Result<Pin, CreateError> {
    if write.active_exists(&new.order_id, now_ms).await? {
        return Err(CreateError::OrderExists);
    }
    let number = new.virtual_number.as_ref();
    let len = pin_len(new);
    let active = write.active_pins_of_len(len, number, now_ms).await?;
    if !density.admits_one_more(active, len) {
        return Err(CreateError::PinSpaceCrowded);
    }
    for _ in 0..DRAWS {
        let pin = match &new.pin {
            PinChoice::Given(pin) => pin.clone(),
            PinChoice::Generate { len } => Pin::generate(*len),
        };
        if !write.pin_in_use(&pin, number, now_ms).await? {
            return Ok(pin);
        }
        if let PinChoice::Given(_) = new.pin {
            return Err(CreateError::PinInUse);
        }
    }
    Err(CreateError::PinInUse)
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
) -> Result<ImportReport, storage::Error> {
    let mut import = Import::begin(db, skip_bad, density, now_ms, orders.len()).await?;
    let refused = import.add(orders).await?;
    let imported = import.finish().await?;
    Ok(ImportReport { imported, refused })
}

/// A bulk import in progress: one write transaction ([`OrderWrite`]) fed with rows in
/// input order, in as many batches as the caller likes (a file can be stored while it is
/// still being parsed).
///
/// Each row is refused exactly when [`create`] would refuse it were the rows created one by
/// one in input order: an order id stored, or accepted earlier in the import
/// ([`CreateError::OrderExists`]); too many active PINs of its length that a guess on its
/// virtual number could hit, counting the rows accepted earlier
/// ([`CreateError::PinSpaceCrowded`]); a given PIN active on the same virtual number, on
/// every number, or (for a row without one) on any, stored or accepted earlier
/// ([`CreateError::PinInUse`]; a generated PIN is drawn again instead, up to [`DRAWS`]
/// times). Without `skip_bad`, the first refused row rolls everything back and ends the
/// import; with it, refused rows are reported and the others committed by
/// [`Import::finish`]. Other writers wait from [`Import::begin`] to the end.
///
/// The work is done in bulk, so that a million rows take seconds rather than the hours of
/// [`create`] per row: the active orders per virtual number and PIN length are counted once,
/// by one grouped query, and then in memory; each batch looks up its order ids, and the
/// PINs of its rows unless all active PINs were read at the start, is checked in memory, and
/// is inserted with multi-row inserts.
pub struct Import {
    /// `None` once the import is over: rolled back after a refusal without `skip_bad`.
    write: Option<OrderWrite>,
    skip_bad: bool,
    density: Density,
    now_ms: i64,
    ledger: Ledger,
    /// Whether any order was active when the import began; if none, no id needs looking up.
    orders_before: bool,
    /// The ids of the rows accepted so far that are active.
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
    ) -> Result<Self, storage::Error> {
        let mut write = OrderWrite::begin(db).await?;
        let ledger = Ledger::load(&mut write, now_ms, expected_rows).await?;
        let orders_before = write.any_active(now_ms).await?;
        Ok(Self {
            write: Some(write),
            skip_bad,
            density,
            now_ms,
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
    ) -> Result<Vec<(usize, CreateError)>, storage::Error> {
        let Some(write) = self.write.as_mut() else {
            return Ok(Vec::new());
        };
        let stored_ids = if self.orders_before {
            let ids: Vec<&str> = orders
                .iter()
                .map(|o| o.order_id.as_str())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            write.active_ids(&ids, self.now_ms).await?
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
        self.ledger.look_up(write, first_pins, self.now_ms).await?;

        let mut refused = Vec::new();
        let mut accepted: Vec<(&NewOrder, Pin)> = Vec::with_capacity(orders.len());
        for (index, new) in orders.iter().enumerate() {
            let checked = if stored_ids.contains(new.order_id.as_str())
                || self.accepted_ids.contains(new.order_id.as_str())
            {
                Err(CreateError::OrderExists)
            } else {
                self.ledger
                    .admit(write, new, draws[index].take(), self.density, self.now_ms)
                    .await
            };
            match checked {
                Ok(pin) => {
                    // A row that is expired already leaves its id free, as a closed order does.
                    if new.expires_at_ms > self.now_ms {
                        self.accepted_ids.insert(new.order_id.clone());
                    }
                    accepted.push((new, pin));
                }
                Err(CreateError::Database(e)) => return Err(e),
                Err(refusal) => {
                    refused.push((index, refusal));
                    if !self.skip_bad {
                        if let Some(write) = self.write.take() {
                            write.rollback().await?;
                        }
                        return Ok(refused);
                    }
                }
            }
        }
        write.insert(&accepted, self.now_ms).await?;
        self.imported += accepted.len();
        Ok(refused)
    }

    /// Commits the import. Returns how many orders it stored: 0 when a refusal without
    /// `skip_bad` rolled it back.
    ///
    /// Errors: the database's.
    pub async fn finish(self) -> Result<usize, storage::Error> {
        match self.write {
            Some(write) => {
                write.commit().await?;
                Ok(self.imported)
            }
            None => Ok(0),
        }
    }

    /// Rolls the import back.
    ///
    /// Errors: the database's.
    pub async fn abandon(self) -> Result<(), storage::Error> {
        match self.write {
            Some(write) => write.rollback().await,
            None => Ok(()),
        }
    }
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
        write: &mut OrderWrite,
        now_ms: i64,
        expected_rows: usize,
    ) -> Result<Self, storage::Error> {
        let mut ledger = Self::default();
        for count in write.active_counts(now_ms).await? {
            let number = count.virtual_number.map(|vn| ledger.intern(&vn));
            ledger.count(number, count.pin_len, count.orders);
        }
        let active: i64 = ledger.of_len.values().sum();
        ledger.complete = usize::try_from(active).is_ok_and(|n| n <= expected_rows);
        if ledger.complete && active > 0 {
            for HeldPin {
                pin,
                virtual_number,
            } in write.all_held_pins(now_ms).await?
            {
                let number = virtual_number.map(|vn| ledger.intern(&vn));
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
    /// [`OrderWrite::active_pins_of_len`] counts them.
    fn active_of_len(&self, number: Option<u32>, len: usize) -> i64 {
        match number {
            Some(id) => {
                self.on_number.get(&(id, len)).copied().unwrap_or(0)
                    + self.on_every_number.get(&len).copied().unwrap_or(0)
            }
            None => self.of_len.get(&len).copied().unwrap_or(0),
        }
    }

    /// Loads the stored active holders of those of `pins` not looked up yet.
    async fn look_up<'p>(
        &mut self,
        write: &mut OrderWrite,
        pins: impl Iterator<Item = &'p str>,
        now_ms: i64,
    ) -> Result<(), storage::Error> {
        let mut new: Vec<&str> = Vec::new();
        for pin in pins {
            if !self.holders.contains_key(pin) {
                self.holders.insert(pin.to_owned(), Holders::default());
                new.push(pin);
            }
        }
        if self.complete || new.is_empty() {
            return Ok(());
        }
        for HeldPin {
            pin,
            virtual_number,
        } in write.holders(&new, now_ms).await?
        {
            let number = virtual_number.map(|vn| self.intern(&vn));
            self.hold(&pin, number);
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

    /// Does an active order clash with `pin` on `number`, as
    /// [`OrderWrite::pin_in_use`] decides? The PIN was looked up.
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

    /// Checks one row whose order id is new as [`create`] would, and counts it when it
    /// passes. `draw` is the first draw of a generated PIN, looked up already. Returns the
    /// order's PIN.
    async fn admit(
        &mut self,
        write: &mut OrderWrite,
        new: &NewOrder,
        draw: Option<Pin>,
        density: Density,
        now_ms: i64,
    ) -> Result<Pin, CreateError> {
        let number = new
            .virtual_number
            .as_ref()
            .map(|vn: &PhoneNumber| self.intern(vn.as_ref()));
        let len = pin_len(new);
        if !density.admits_one_more(self.active_of_len(number, len), len) {
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
                    self.look_up(write, std::iter::once(draw.as_ref()), now_ms)
                        .await?;
                    if !self.clashes(draw.as_ref(), number) {
                        break draw;
                    }
                    if attempts == DRAWS {
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

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use proptest::prelude::*;

    use super::*;
    use crate::domain::OrderStatus;
    use crate::storage::orders::{CaseDbs, OrderFilter, deactivate, get, list};

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

    /// The newest `limit` orders, whatever their status.
    fn every(limit: i64) -> OrderFilter {
        OrderFilter {
            limit,
            ..OrderFilter::default()
        }
    }

    /// Every stored order, by id, with a generated PIN shown as its length only. Orders of
    /// one id (given again once closed) are ordered by all they hold, since the engines
    /// return rows of equal sort keys in any order.
    async fn stored(db: &Db) -> Vec<Order> {
        let mut all = list(db, &every(10_000)).await.unwrap();
        for o in &mut all {
            if !PINS.contains(&o.pin.as_str()) {
                o.pin = format!("generated, {} digits", o.pin.len());
            }
        }
        all.sort_by_cached_key(|o| (o.order_id.clone(), format!("{o:?}")));
        all
    }

    /// No two active orders of `db` share a PIN where a guess could reach both: on the same
    /// virtual number, or with one of them valid on every number.
    async fn assert_no_active_clash(db: &Db) {
        let all = list(db, &every(10_000)).await.unwrap();
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
        assert_eq!(list(&db, &every(5000)).await.unwrap().len(), 1202);
        let o = get(&db, "OD-1199").await.unwrap().unwrap();
        assert_eq!(
            (o.pin.as_str(), o.virtual_number.as_ref().map(AsRef::as_ref)),
            ("008393", Some(NUMBERS[1]))
        );
    }
}
