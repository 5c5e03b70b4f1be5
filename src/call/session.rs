//! Call sessions: the flow engine wired to the cache and storage, shared by every provider.
//!
//! A step reads the call's state (from memory when this process is the database's only
//! user, SQLite; else from the database, since another instance may have served the call's
//! previous step), asks storage for the facts the event needs, runs [`flow::step`], and writes
//! the new state through to the database (and the cache). The writes go through
//! [`Writer`], which commits those of concurrent steps together; a step answers once its write
//! committed.
//!
//! Round trips to the database per step, on SQLite: the first step (the greeting) one write;
//! keyed digits one (the lockout counts and the order read in one statement, the engine's
//! decision on them taken on the writer's thread, and the writes, in one transaction:
//! [`Writer::check_pin`]);
//! the dial that follows one write (the order just found is kept in memory for a second); the
//! end one write. A step that changes nothing (asking for the PIN again) touches no database.

use std::sync::Arc;
use std::time::Duration;

use crate::call::flow::{
    self, ActiveOrder, BookingPeer, CallEvent, CallState, CallbackPeer, Decision, Facts, Phase,
    Policy,
};
use crate::domain::Region;
use crate::domain::clock::now_ms;
use crate::domain::{CallSid, PhoneNumber};
use crate::outbound::events::{CallData, EventKind, Events, PinBudgetSpentData, PinLockedData};
use crate::storage::attempts::{Budget, Counting, EVERY_NUMBER, Spent, Weight};
use crate::storage::calls::{CallKey, StateWrite};
use crate::storage::{self, Db, Writer, WrongPin};
use moka::sync::Cache;

/// One inbound call as a provider adapter identified it.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The provider's name, part of the call's key (`exotel`).
    pub provider: &'static str,
    pub call_sid: CallSid,
    /// The caller, when the number parsed.
    pub caller: Option<PhoneNumber>,
    /// The caller as received, kept for the record when it did not parse.
    pub caller_raw: Option<String>,
    /// The dialled virtual number, when it parsed.
    pub virtual_number: Option<PhoneNumber>,
    /// The dialled number as received.
    pub virtual_number_raw: Option<String>,
}

/// True when the order lets this caller use its PIN (no list, or the caller is on it).
fn caller_allowed(order: &storage::orders::Order, call: &Inbound) -> bool {
    order.allowed_callers.is_empty()
        || call
            .caller
            .as_ref()
            .is_some_and(|c| order.allowed_callers.iter().any(|a| a == c.as_ref()))
}

/// The order as the engine sees it. Only numbers stored by `PhoneNumber` are dialled; a
/// damaged row dials no one.
fn active_order(o: storage::orders::Order) -> Option<ActiveOrder> {
    PhoneNumber::from_e164(&o.customer_number).map(|customer| ActiveOrder {
        order_id: o.order_id,
        customer,
    })
}

/// The number and the reason a decision bridges to, when it does.
fn bridge_of(decision: &Decision) -> Option<(String, flow::Route)> {
    match decision {
        Decision::Bridge { to, route, .. } => Some((to.to_string(), route.clone())),
        _ => None,
    }
}

/// True when a step leaves nothing to write: the state as stored, and no bridge that this
/// process has not recorded already. A step is written when the state changed, or when it
/// bridges where it was not recorded bridging (a dial after the PIN was found, a repeated
/// delivery).
fn unchanged(
    stored: Option<&Stored>,
    next: &CallState,
    bridge: &Option<(String, flow::Route)>,
) -> bool {
    stored.is_some_and(|s| {
        s.state == *next && (bridge.is_none() || s.bridge.is_some() && s.bridge == *bridge)
    })
}

/// Whether a keyed PIN may be used, by what its lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Access {
    /// The caller keyed more wrong PINs than its limit within the window: every PIN it keys
    /// gets the wrong-PIN answer.
    locked: bool,
    /// The dialled number's guessing budget is spent, and the caller is not known there: no
    /// PIN is taken.
    budget_spent: bool,
    /// Only the budget of the orders valid on every number is spent, and the caller is not
    /// known: only the dialled number's own orders may be found (one valid everywhere counts
    /// as a wrong PIN), so a number's own couriers are not refused for guesses elsewhere.
    own_orders_only: bool,
}

/// What the limits make of a lookup: [`Access`].
fn access(limits: &Limits, lookup: &storage::orders::PinLookup) -> Access {
    let budget = limits.budget;
    let unknown = !lookup.known;
    Access {
        locked: lookup.caller_failures > i64::from(limits.caller_max_failures),
        budget_spent: unknown && budget.is_spent(lookup.number_spent),
        own_orders_only: unknown && budget.is_spent(lookup.every_spent),
    }
}

/// What a PIN lookup lets the engine use: the order found, unless PIN entry is refused
/// ([`access`]; a refused caller's PIN is never used, so no answer can tell it apart), the
/// order is valid on every number while only the dialled number's own may be found, or it
/// does not let this caller use its PIN; and the caller's [`Access`].
fn usable_order(
    limits: &Limits,
    lookup: &storage::orders::PinLookup,
    call: &Inbound,
) -> (Option<storage::orders::Order>, Access) {
    let access = access(limits, lookup);
    let found = lookup
        .order
        .as_ref()
        .filter(|o| !access.locked && !access.budget_spent && caller_allowed(o, call))
        .filter(|o| !access.own_orders_only || o.virtual_number.is_some())
        .cloned();
    (found, access)
}

/// The caller's wrong PINs that count at `now` (unix ms): those within the window, counted
/// just past the limit.
fn wrong_pin_counting(limits: &Limits, now: i64) -> Counting {
    Counting::new(
        now.saturating_sub(ms(limits.window)),
        limits.caller_max_failures,
    )
}

impl Inbound {
    /// `provider:CallSid`, unique among all calls.
    pub fn key(&self) -> String {
        format!("{}:{}", self.provider, self.call_sid.as_ref())
    }

    /// The caller as the attempt limits key it: E.164, else `anonymous`. Callers who withhold
    /// their number, and caller IDs that are not a dialable number, share one allowance:
    /// a request can not earn a fresh one by sending a new string.
    pub fn caller_key(&self) -> String {
        self.caller
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), |n| n.to_string())
    }

    /// The virtual number as the attempt limits and the guessing budget key it: E.164, else
    /// `unknown` (one budget for every dialled number that does not parse, which only orders
    /// valid on every number can match).
    pub fn virtual_number_key(&self) -> String {
        self.virtual_number
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string())
    }

    /// The caller as stored: E.164 when it parsed, else as received.
    pub fn caller_for_record(&self) -> Option<String> {
        self.caller
            .as_ref()
            .map(|n| n.to_string())
            .or_else(|| self.caller_raw.clone())
    }

    /// The virtual number as stored: E.164 when it parsed, else as received.
    pub fn virtual_number_for_record(&self) -> Option<String> {
        self.virtual_number
            .as_ref()
            .map(|n| n.to_string())
            .or_else(|| self.virtual_number_raw.clone())
    }

    /// The call as its writes name it: the parties as [`Self::caller_for_record`] and
    /// [`Self::virtual_number_for_record`] give them.
    fn write_key(&self) -> CallKey {
        let shared = |parsed: &Option<PhoneNumber>, raw: &Option<String>| {
            parsed
                .as_ref()
                .map(PhoneNumber::shared)
                .or_else(|| raw.as_deref().map(Arc::from))
        };
        CallKey {
            provider: self.provider,
            call_sid: self.call_sid.shared(),
            caller: shared(&self.caller, &self.caller_raw),
            virtual_number: shared(&self.virtual_number, &self.virtual_number_raw),
        }
    }
}

/// The limits on wrong PINs, from the settings ([`crate::storage::attempts`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// More wrong PINs than this from one caller within the window lock it out
    /// (`PINBRIDGE_CALLER_MAX_FAILURES`).
    pub caller_max_failures: u32,
    /// The window of the caller's count (`PINBRIDGE_LOCKOUT_WINDOW`).
    pub window: Duration,
    /// Each virtual number's guessing budget (`PINBRIDGE_PIN_GUESSING_BUDGET`).
    pub budget: Budget,
    /// A caller bridged through a virtual number within this is known there, and never
    /// refused by its spent budget (`PINBRIDGE_KNOWN_CALLER_WINDOW`).
    pub known_window: Duration,
}

/// What a [`Sessions`] is built with.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub policy: Policy,
    pub region: Region,
    /// How long a call's state stays cached; longer than the longest call.
    pub state_ttl: Duration,
    /// How many calls' states are cached at most; the least used go first.
    pub state_capacity: u64,
    /// Whether a call's state may be read from this process's cache. Only when this process is
    /// the database's one user (SQLite): with several instances on one PostgreSQL, the steps
    /// of one call land on any of them, so each step reads the state the previous step stored,
    /// wherever that ran.
    pub cache_call_state: bool,
    /// How long after a bridged call its dialled party can call back.
    pub callback_window: Duration,
    pub limits: Limits,
    /// Calling codes a callback may dial.
    pub allowed_country_codes: Vec<u16>,
}

/// How long an order found by its PIN is kept in memory for the dial that follows (on SQLite
/// only, and dropped at once when this process deactivates the order): as long as a change
/// made on another instance may take to be seen there (the several-instances issue).
const ORDER_TTL: Duration = Duration::from_secs(1);

/// A call as this process last stored it.
#[derive(Debug, Clone, Default)]
struct Stored {
    state: CallState,
    /// The bridge last written with it (E.164, why), when this process wrote it.
    bridge: Option<(String, flow::Route)>,
}

/// The flow engine with its caches, its database and its writer.
#[derive(Clone)]
pub struct Sessions {
    db: Db,
    writer: Writer,
    config: Arc<SessionConfig>,
    /// The call state by [`Inbound::key`] (the provider and its CallSid), for
    /// [`SessionConfig::state_ttl`] after it was written.
    cache: Cache<String, Arc<Stored>>,
    /// Orders just found by their PIN, by order id ([`ORDER_TTL`]).
    orders: Cache<String, Arc<storage::orders::Order>>,
    /// Active PINs by length, by virtual number (or [`EVERY_NUMBER`]), for the weight of a
    /// wrong PIN ([`PIN_COUNTS_TTL`]).
    pin_counts: Cache<String, Arc<storage::orders::PinCounts>>,
    /// `pin.locked` and `pin.budget_spent` go to the business's endpoint.
    events: Events,
    /// The scopes whose guessing gauges this process set last ([`Self::refresh_guessing_gauges`]).
    gauges: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

/// How long the count of a number's active PINs is reused for the weight of its wrong PINs:
/// counting a busy number's PINs reads all its active orders' index entries. Orders this
/// process creates or deactivates are counted at the next guess; those of another instance,
/// within this.
const PIN_COUNTS_TTL: Duration = Duration::from_secs(5);

/// What a guess of `len` digits can reach on the dialled number: its own active PINs of that
/// length, and those valid on every number.
#[derive(Debug, Clone, Copy)]
struct Reachable {
    len: usize,
    on_number: i64,
    everywhere: i64,
}

impl Reachable {
    /// What a wrong PIN spends ([`Weight::of`]); with `own_orders_only`, the orders valid on
    /// every number could not be found, so they are not at stake.
    fn weight(self, own_orders_only: bool) -> Weight {
        let everywhere = if own_orders_only { 0 } else { self.everywhere };
        Weight::of(self.len, self.on_number, everywhere)
    }
}

/// A moka cache of at most `capacity` entries, each read for `ttl` after it was written.
fn expiring<V: Clone + Send + Sync + 'static>(capacity: u64, ttl: Duration) -> Cache<String, V> {
    Cache::builder()
        .max_capacity(capacity)
        .time_to_live(ttl)
        .build()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Sessions {
    /// Builds the engine over `db`, writing through `writer`, telling `events` of lockouts.
    pub fn new(db: Db, writer: Writer, events: Events, config: SessionConfig) -> Self {
        let cache = expiring(config.state_capacity, config.state_ttl);
        let orders = expiring(10_000, ORDER_TTL);
        let pin_counts = expiring(10_000, PIN_COUNTS_TTL);
        Self {
            db,
            writer,
            config: Arc::new(config),
            cache,
            orders,
            pin_counts,
            events,
            gauges: Arc::default(),
        }
    }

    /// The guessing budget each virtual number has (`PINBRIDGE_PIN_GUESSING_BUDGET`).
    pub fn budget(&self) -> Budget {
        self.config.limits.budget
    }

    /// Sets the guessing gauges of `/metrics` from what storage knows now
    /// ([`crate::metrics::pin_exposure`]); a failure is logged and leaves them as they were.
    pub async fn refresh_guessing_gauges(&self) {
        let budget = self.config.limits.budget;
        match storage::attempts::exposure(&self.db, budget, now_ms()).await {
            Ok(exposures) => {
                const PER_MILLION: f64 = 1e6;
                let gauges: Vec<_> = exposures
                    .iter()
                    .map(|e| crate::metrics::GuessingGauge {
                        virtual_number: e.scope.clone(),
                        density: e.density as f64 / PER_MILLION,
                        exposure: e.reached_24h as f64 / PER_MILLION,
                        spent_ratio: e.spent as f64 / budget.capacity.max(1) as f64,
                    })
                    .collect();
                crate::metrics::pin_exposure(&self.gauges, &gauges);
            }
            Err(e) => tracing::warn!(error = %e, "the guessing gauges were not refreshed"),
        }
    }

    /// Forgets what this process keeps of an order (after it deactivated it), so that no call
    /// dials it from memory, and the counts of active PINs it was in.
    pub fn forget_order(&self, order_id: &str) {
        self.orders.invalidate(order_id);
        self.forget_pin_counts();
    }

    /// True once the database pool was closed (the server stopped).
    pub fn is_closed(&self) -> bool {
        self.db.is_closed()
    }

    /// The limits calls are held to.
    pub fn policy(&self) -> &Policy {
        &self.config.policy
    }

    /// The call's current state: cache, then database, then a new call's.
    pub async fn state(&self, call: &Inbound) -> Result<CallState, storage::Error> {
        Ok(self
            .stored(call)
            .await?
            .map(|s| s.state.clone())
            .unwrap_or_default())
    }

    async fn stored(&self, call: &Inbound) -> Result<Option<Arc<Stored>>, storage::Error> {
        if self.config.cache_call_state {
            let cached = self.cache.get(&call.key());
            crate::metrics::cache("call_state", cached.is_some());
            if cached.is_some() {
                return Ok(cached);
            }
        }
        let loaded = storage::calls::load_state(
            self.db.pool(),
            call.provider,
            call.call_sid.as_ref(),
            now_ms().saturating_sub(ms(self.config.state_ttl)),
        )
        .await?
        .map(|state| {
            Arc::new(Stored {
                state,
                bridge: None,
            })
        });
        if self.config.cache_call_state
            && let Some(stored) = &loaded
        {
            self.cache.insert(call.key(), Arc::clone(stored));
        }
        Ok(loaded)
    }

    /// Runs one event of the call through the flow engine and stores the result.
    pub async fn step(&self, call: &Inbound, event: CallEvent) -> Result<Decision, storage::Error> {
        if matches!(event, CallEvent::Started) {
            return self.start(call).await;
        }
        let stored = self.stored(call).await?;
        let state = stored.as_ref().map(|s| s.state.clone()).unwrap_or_default();
        if let (CallEvent::Digits { pin: Some(pin) }, Phase::CollectingPin, false) =
            (&event, &state.phase, state.ended)
        {
            let query = self.pin_query(call, pin.as_ref());
            let reachable = self.reachable(call, pin.len()).await?;
            return self
                .check_pin(call, stored, state, event, query, reachable)
                .await;
        }
        let facts = self.facts(call, &state, &event).await?;
        let keyed_digits = matches!(event, CallEvent::Digits { .. });
        let (next, decision) = flow::step(&state, event, &facts, &self.config.policy);
        if keyed_digits
            && next.attempts > state.attempts
            && next.last_failure == Some(flow::Failure::WrongPin)
        {
            self.record_wrong_pin(call).await?;
        }
        let bridge = bridge_of(&decision);
        let unchanged = unchanged(stored.as_deref(), &next, &bridge);
        if !unchanged {
            self.writer
                .save_state(call.write_key(), next.clone(), bridge.clone(), now_ms())
                .await?;
            self.keep_state(call, stored, next, bridge);
        }
        Ok(decision)
    }

    /// Keeps an order just found by its PIN for the dial that follows ([`ORDER_TTL`]).
    fn keep_order(&self, order: Option<storage::orders::Order>) {
        if self.config.cache_call_state
            && let Some(order) = order
        {
            self.orders.insert(order.order_id.clone(), Arc::new(order));
        }
    }

    /// Keeps a call's state after a step that wrote it, with the bridge it decided or else the
    /// one kept before.
    fn keep_state(
        &self,
        call: &Inbound,
        stored: Option<Arc<Stored>>,
        next: CallState,
        bridge: Option<(String, flow::Route)>,
    ) {
        if self.config.cache_call_state {
            let bridge = bridge.or_else(|| stored.and_then(|s| s.bridge.clone()));
            let stored = Stored {
                state: next,
                bridge,
            };
            self.cache.insert(call.key(), Arc::new(stored));
        }
    }

    /// Keyed digits while the call collects its PIN: the lookup, the engine's decision and the
    /// writes (a wrong PIN spending what it could have reached, from `reachable`; the call's
    /// new state) in one round trip to the writer ([`Writer::check_pin`]), the decision taken
    /// on the writer's thread. Then, here, what follows a wrong PIN
    /// ([`Self::after_wrong_pin`]) or a refusal, and what this process keeps.
    async fn check_pin(
        &self,
        call: &Inbound,
        stored: Option<Arc<Stored>>,
        state: CallState,
        event: CallEvent,
        query: storage::orders::PinQuery,
        reachable: Reachable,
    ) -> Result<Decision, storage::Error> {
        let lookup = self.writer.find_active_by_pin(&self.db, query).await?;
        let now = now_ms();
        let limits = &self.config.limits;
        let (found, access) = usable_order(limits, &lookup, call);
        let facts = Facts {
            virtual_number: call.virtual_number.clone(),
            order: found.clone().and_then(active_order),
            pins_locked: access.locked,
            pin_budget_spent: access.budget_spent,
            ..Facts::default()
        };
        let (next, decision) = flow::step(&state, event, &facts, &self.config.policy);
        let wrong =
            next.attempts > state.attempts && next.last_failure == Some(flow::Failure::WrongPin);
        let bridge = bridge_of(&decision);
        let write_step = !unchanged(stored.as_deref(), &next, &bridge);
        let weight = reachable.weight(access.own_orders_only);
        // Between this lookup and the write below, other steps may spend from the same
        // budget: a budget may be overspent by the wrong PINs in flight at once, never by
        // more, since each is written before its answer goes out.
        let spent = self
            .writer
            .pin_entry(
                wrong.then(|| WrongPin {
                    caller: call.caller_key(),
                    virtual_number: call.virtual_number_key(),
                    at: now,
                    weight,
                    budget: limits.budget,
                    counting: wrong_pin_counting(limits, now),
                }),
                write_step.then(|| StateWrite {
                    call: call.write_key(),
                    state: next.clone(),
                    bridge: bridge.clone(),
                    at: now,
                }),
            )
            .await?;
        let refused = access.budget_spent;
        self.keep_order(found);
        if refused {
            crate::metrics::pin_budget_refusal(call.provider);
            // Debug: under a flood of guesses this is one line a request; the metric counts.
            tracing::debug!(
                provider = call.provider,
                call.sid = %call.call_sid,
                virtual_number = %crate::domain::mask(&call.virtual_number_key()),
                "pin.refused: the number's guessing budget is spent and the caller is not known there"
            );
        }
        if wrong {
            crate::metrics::wrong_pin(call.provider);
            if let Some(spent) = spent {
                self.after_wrong_pin(call, spent, weight).await;
            }
        }
        if write_step {
            self.keep_state(call, stored, next, bridge);
        }
        Ok(decision)
    }

    /// The PIN lookup of keyed `pin` now ([`storage::orders::find_active_by_pin`]).
    fn pin_query(&self, call: &Inbound, pin: &str) -> storage::orders::PinQuery {
        let now = now_ms();
        let limits = &self.config.limits;
        storage::orders::PinQuery {
            pin: pin.to_owned(),
            virtual_number: call.virtual_number.as_ref().map(|n| n.as_ref().to_owned()),
            caller: call.caller.as_ref().map(|n| n.as_ref().to_owned()),
            caller_key: call.caller_key(),
            number_key: call.virtual_number_key(),
            now,
            counting: wrong_pin_counting(limits, now),
            budget: limits.budget,
            known_since: now.saturating_sub(ms(limits.known_window)),
        }
    }

    /// What a guess of `len` digits on this call's number can reach: the active PINs of that
    /// length there and valid on every number ([`Reachable`]).
    async fn reachable(&self, call: &Inbound, len: usize) -> Result<Reachable, storage::Error> {
        let on_number = match &call.virtual_number {
            Some(vn) => self.pin_counts(Some(vn.as_ref())).await?.of_len(len),
            None => 0,
        };
        let everywhere = self.pin_counts(None).await?.of_len(len);
        Ok(Reachable {
            len,
            on_number,
            everywhere,
        })
    }

    /// The active PINs by length on `virtual_number`, or valid on every number (`None`): kept
    /// [`PIN_COUNTS_TTL`] when there are some, read again at every guess while there are none
    /// (a count of nothing reads no index entry), so that the first orders on a quiet number
    /// weigh from their first guess on.
    async fn pin_counts(
        &self,
        virtual_number: Option<&str>,
    ) -> Result<Arc<storage::orders::PinCounts>, storage::Error> {
        let key = virtual_number.unwrap_or(EVERY_NUMBER);
        if let Some(counts) = self.pin_counts.get(key) {
            return Ok(counts);
        }
        let counts =
            Arc::new(storage::orders::active_pin_counts(&self.db, virtual_number, now_ms()).await?);
        if !counts.is_empty() {
            self.pin_counts.insert(key.to_owned(), Arc::clone(&counts));
        }
        Ok(counts)
    }

    /// Forgets the counts of active PINs, after this process created, imported or deactivated
    /// orders: the next guess counts them again.
    pub fn forget_pin_counts(&self) {
        self.pin_counts.invalidate_all();
    }

    /// The first step of a call: creates its record unless it has one. The engine's answer to
    /// [`CallEvent::Started`] (the welcome) does not depend on the call's state, so nothing is
    /// read.
    async fn start(&self, call: &Inbound) -> Result<Decision, storage::Error> {
        let new = CallState::default();
        let (_, decision) = flow::step(
            &new,
            CallEvent::Started,
            &Facts::default(),
            &self.config.policy,
        );
        let created = self.writer.start_call(call.write_key(), now_ms()).await?;
        if created && self.config.cache_call_state {
            self.cache.insert(call.key(), Arc::default());
        }
        Ok(decision)
    }

    /// Runs one event through the flow engine from `state`, with the facts storage knows now,
    /// and writes nothing: no call record, no state, no wrong-PIN row, no cache entry. For the
    /// admin UI's test call.
    pub async fn dry_step(
        &self,
        call: &Inbound,
        state: &CallState,
        event: CallEvent,
    ) -> Result<(CallState, Decision), storage::Error> {
        let facts = self.facts(call, state, &event).await?;
        Ok(flow::step(state, event, &facts, &self.config.policy))
    }

    /// Records a wrong PIN that could hit nothing (digits that are not a well-formed PIN):
    /// it counts against the caller and spends nothing ([`Self::after_wrong_pin`]).
    async fn record_wrong_pin(&self, call: &Inbound) -> Result<(), storage::Error> {
        crate::metrics::wrong_pin(call.provider);
        let now = now_ms();
        let limits = &self.config.limits;
        let spent = self
            .writer
            .wrong_pin(WrongPin {
                caller: call.caller_key(),
                virtual_number: call.virtual_number_key(),
                at: now,
                weight: Weight::default(),
                budget: limits.budget,
                counting: wrong_pin_counting(limits, now),
            })
            .await?;
        self.after_wrong_pin(call, spent, Weight::default()).await;
        Ok(())
    }

    /// After a wrong PIN was recorded, having spent `weight`: `pin.locked` when the caller's
    /// lockout starts, and `pin.budget_spent` (with a metric and a log line) when this wrong
    /// PIN spent the last of a budget, so that unknown callers are refused from now on.
    async fn after_wrong_pin(&self, call: &Inbound, spent: Spent, weight: Weight) {
        let limits = &self.config.limits;
        let crossed = |after: i64, weight: i64| {
            weight > 0 && limits.budget.is_spent(after) && !limits.budget.is_spent(after - weight)
        };
        for (scope, now_spent, weight) in [
            (call.virtual_number_key(), spent.number, weight.number),
            (EVERY_NUMBER.to_owned(), spent.every, weight.every),
        ] {
            if crossed(now_spent, weight) {
                self.budget_spent(call, &scope, limits.budget.seconds_until_open(now_spent))
                    .await;
            }
        }
        if spent.by_caller == i64::from(limits.caller_max_failures) + 1 {
            crate::metrics::lockout();
            let data = PinLockedData {
                provider: call.provider.to_owned(),
                call_sid: call.call_sid.as_ref().to_owned(),
                scope: "caller".to_owned(),
            };
            let key = format!("pin.locked:{}", call.key());
            // The lockout holds whether or not the business hears of it.
            if let Err(e) = self
                .events
                .emit(EventKind::PinLocked, &key, data.to_json())
                .await
            {
                tracing::warn!(provider = call.provider, call.sid = %call.call_sid.for_log(), error = %e, "pin.locked event not stored");
            }
        }
    }

    /// The budget of `scope` (a virtual number, or [`EVERY_NUMBER`]) was just spent in `call`:
    /// unknown callers are refused there until it leaks back. Tells the operator (log line,
    /// `pinbridge_pin_budget_spent_total`) and the business (`pin.budget_spent`).
    async fn budget_spent(&self, call: &Inbound, scope: &str, reopens_in_secs: u64) {
        let every = scope == EVERY_NUMBER;
        crate::metrics::pin_budget_spent(if every { "every_number" } else { "number" });
        tracing::warn!(
            provider = call.provider,
            call.sid = %call.call_sid,
            virtual_number = %if every { scope.to_owned() } else { crate::domain::mask(scope) },
            "pin.budget_spent: too many wrong PINs on this number; unknown callers are refused until its guessing budget leaks back"
        );
        let data = PinBudgetSpentData {
            provider: call.provider.to_owned(),
            call_sid: call.call_sid.as_ref().to_owned(),
            virtual_number: scope.to_owned(),
            reopens_in_secs,
        };
        // The operator's gauges show it now, not at their next refresh.
        let sessions = self.clone();
        tokio::spawn(async move { sessions.refresh_guessing_gauges().await });
        let key = format!("pin.budget_spent:{scope}:{}", call.key());
        if let Err(e) = self
            .events
            .emit(EventKind::PinBudgetSpent, &key, data.to_json())
            .await
        {
            tracing::warn!(provider = call.provider, call.sid = %call.call_sid, error = %e, "pin.budget_spent event not stored");
        }
    }

    /// The active order with this id: from memory when this process just found it by its PIN
    /// (SQLite), else from the database.
    async fn active_order(
        &self,
        order_id: &str,
        now: i64,
    ) -> Result<Option<storage::orders::Order>, storage::Error> {
        if self.config.cache_call_state
            && let Some(order) = self.orders.get(order_id)
        {
            let active = order.status(now) == crate::domain::OrderStatus::Active;
            return Ok(active.then(|| storage::orders::Order::clone(&order)));
        }
        storage::orders::find_active_by_id(&self.db, order_id, now).await
    }

    /// What storage knows that this event needs: the active order for keyed digits, or the
    /// resolved order, checked again so that a deactivated order is not dialled.
    async fn facts(
        &self,
        call: &Inbound,
        state: &CallState,
        event: &CallEvent,
    ) -> Result<Facts, storage::Error> {
        if state.ended {
            // The engine answers an ended call without facts: nothing is looked up for it.
            return Ok(Facts::default());
        }
        let now = now_ms();
        let mut access = Access {
            locked: false,
            budget_spent: false,
            own_orders_only: false,
        };
        let order = match (event, &state.phase) {
            // A malformed entry is a wrong PIN whatever storage holds: nothing to look up.
            // Reached only by the admin UI's test call ([`Self::dry_step`]), which keeps
            // nothing: a call's keyed PIN takes [`Self::check_pin`].
            (CallEvent::Digits { pin: Some(pin) }, Phase::CollectingPin) => {
                let query = self.pin_query(call, pin.as_ref());
                let lookup = self.writer.find_active_by_pin(&self.db, query).await?;
                let found;
                (found, access) = usable_order(&self.config.limits, &lookup, call);
                found
            }
            (
                CallEvent::DialNeeded
                | CallEvent::Incoming
                | CallEvent::Digits { .. }
                | CallEvent::NoInput,
                Phase::Resolved { order_id },
            ) => self.active_order(order_id, now).await?,
            _ => None,
        };
        let order = order.and_then(active_order);
        let mut facts = Facts {
            virtual_number: call.virtual_number.clone(),
            order,
            pins_locked: access.locked,
            pin_budget_spent: access.budget_spent,
            ..Facts::default()
        };
        if matches!(event, CallEvent::DialNeeded | CallEvent::Incoming)
            && !flow::has_pin_session(state)
        {
            self.caller_facts(call, &mut facts, now).await?;
        }
        Ok(facts)
    }

    /// The booking peer of the caller on the dialled number, else whom to call back.
    async fn caller_facts(
        &self,
        call: &Inbound,
        facts: &mut Facts,
        now: i64,
    ) -> Result<(), storage::Error> {
        let (Some(caller), Some(vn)) = (&call.caller, &call.virtual_number) else {
            return Ok(());
        };
        let booking =
            storage::bookings::find_peer(&self.db, caller.as_ref(), vn.as_ref(), now).await?;
        facts.booking = booking.and_then(|(booking_id, peer)| {
            PhoneNumber::from_e164(&peer).map(|peer| BookingPeer { booking_id, peer })
        });
        if facts.booking.is_some() {
            return Ok(());
        }
        let since = now.saturating_sub(ms(self.config.callback_window));
        let callback =
            storage::calls::find_callback(&self.db, vn.as_ref(), caller.as_ref(), since, now)
                .await?;
        // The earlier caller came from a provider's request: it is dialled back only when it is
        // a valid number of an allowed country (no toll fraud through a spoofed caller ID).
        facts.callback = callback.and_then(|(peer, order_id, booking_id)| {
            PhoneNumber::parse(&peer, self.config.region)
                .ok()
                .filter(|p| {
                    p.country_code()
                        .is_some_and(|c| self.config.allowed_country_codes.contains(&c))
                })
                .map(|peer| CallbackPeer {
                    peer,
                    order_id,
                    booking_id,
                })
        });
        Ok(())
    }

    /// Records the end of a call reported at `at` (unix ms); see
    /// [`storage::calls::record_end`]. A call end written late, after a database outage, keeps
    /// the time it was reported. Then counts it (`pinbridge_calls_total`) and tells the
    /// business ([`Sessions::announce_end`]).
    pub async fn end(
        &self,
        call: &Inbound,
        end: &storage::calls::CallEnd,
        at: i64,
    ) -> Result<flow::Outcome, storage::Error> {
        let known = if self.config.cache_call_state {
            self.cache.get(&call.key()).map(|s| s.state.clone())
        } else {
            None
        };
        let outcome = self
            .writer
            .end_call(call.write_key(), known, end.clone(), at)
            .await?;
        // The call is over: memory holds the calls in progress only. A repeated report reads
        // the database.
        if self.config.cache_call_state {
            self.cache.invalidate(&call.key());
        }
        crate::metrics::call_ended(call.provider, outcome.as_str());
        self.announce_end(call, end, outcome).await;
        Ok(outcome)
    }

    /// Emits `call.unanswered` (the dialled party did not answer, or was busy) or
    /// `call.completed` (every other end: connected, abandoned, PIN attempts used up, failed)
    /// once per call. A call that was bridged waits for the report of its dialled leg, which
    /// carries the dial status, so that a caller's leg reported first does not speak for it.
    /// Failures are logged: the call's record is written whether or not the business hears.
    async fn announce_end(
        &self,
        call: &Inbound,
        end: &storage::calls::CallEnd,
        outcome: flow::Outcome,
    ) {
        if !self.events.is_enabled() || outcome == flow::Outcome::InProgress {
            return;
        }
        let record = match storage::calls::get(&self.db, call.provider, call.call_sid.as_ref())
            .await
        {
            Ok(Some(record)) => record,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(provider = call.provider, call.sid = %call.call_sid.for_log(), error = %e, "call end event not stored");
                return;
            }
        };
        if end.dial_status.is_none() && record.destination.is_some() {
            return;
        }
        let kind = match outcome {
            flow::Outcome::NoAnswer | flow::Outcome::Busy => EventKind::CallUnanswered,
            _ => EventKind::CallCompleted,
        };
        let data = CallData {
            provider: record.provider,
            call_sid: record.call_sid,
            outcome: outcome.as_str().to_owned(),
            route: record.route,
            order_id: record.order_id,
            booking_id: record.booking_id,
            dial_seconds: record.dial_secs,
            talk_seconds: record.talk_secs,
            pin_attempts: Some(record.pin_attempts),
        };
        let key = format!("call.ended:{}", call.key());
        if let Err(e) = self.events.emit(kind, &key, data.to_json()).await {
            tracing::warn!(provider = call.provider, call.sid = %call.call_sid.for_log(), error = %e, "call end event not stored");
        }
    }
}
