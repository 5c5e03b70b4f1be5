//! The call session: what every provider's handlers call to serve a step of a call. It
//! identifies the call ([`Inbound`]), reads its state, asks storage for the facts the event
//! needs, runs the pure flow engine ([`flow::step`]), writes the result through storage's
//! writer, and answers within the webhook time budget, with a safe fallback when storage
//! fails.
//!
//! Owns: the call-state cache (moka, keyed by provider and CallSid), the short-lived caches of
//! the call path (orders just found, counts of active PINs, calls bridged to the fallback
//! number), the wrong-PIN accounting and the call ends kept through a database outage.
//! Must not touch: HTTP, provider formats (the providers render what a step decides) or SQL
//! (storage looks up and writes; the engine's rules run here, never inside a storage
//! transaction).
//!
//! Where to look:
//! - [`inbound`]: identifying a call from what a provider sent.
//! - [`answer`]: a step as a handler runs it: the time budget, the fallback, the step log,
//!   Exotel's Connect (`dial`) and goodbye (`farewell`).
//! - [`pin`]: keyed PINs: the lookup, the lockout and the guessing budget, where a wrong PIN
//!   is counted.
//! - [`facts`]: what the engine is told: the order, the booking peer, the callback.
//! - [`end`]: recording the end of a call, and the ends kept through an outage.

mod answer;
mod end;
mod facts;
mod inbound;
mod pending;
mod pin;
mod strangers;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use crate::call::flow::{self, CallEvent, CallState, Decision, Facts, Phase, Policy};
use crate::domain::clock::now_ms;
use crate::domain::{PhoneNumber, Region};
use crate::outbound::events::Events;
use crate::outbound::sms::UnansweredSms;
use crate::storage::attempts::Budget;
use crate::storage::{self, Db, Writer};
use facts::StepReads;
use moka::sync::Cache;

pub use answer::sorry;
pub use inbound::Inbound;

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
    /// The region numbers without a country code are read in (`PINBRIDGE_DEFAULT_REGION`).
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
    /// How old the count of a number's active PINs (what a wrong PIN there could have hit)
    /// may grow before a guess has it counted again, in the background: counting a busy
    /// number's PINs reads all its active orders' index entries, which with a million orders
    /// takes longer than a caller may wait, and holds a core meanwhile. Orders created or
    /// deactivated, on any instance, weigh within this. [`PIN_COUNTS_TTL`] in production.
    pub pin_counts_ttl: Duration,
    /// The time a step may take before the handler answers its fallback
    /// (`PINBRIDGE_WEBHOOK_TIMEOUT`).
    pub webhook_timeout: Duration,
    /// The desk dialled when storage fails (`PINBRIDGE_FALLBACK_NUMBER`); `None` says sorry
    /// and dials no one.
    pub fallback_number: Option<PhoneNumber>,
}

/// How long an order found by its PIN is kept in memory for the dial that follows (on SQLite
/// only, and dropped at once when this process deactivates or changes the order): no longer
/// than a change made elsewhere may take to be seen.
const ORDER_TTL: Duration = Duration::from_secs(1);

/// The production [`SessionConfig::pin_counts_ttl`].
pub const PIN_COUNTS_TTL: Duration = Duration::from_secs(30);

/// How long the count of a number nobody guesses on is kept.
const PIN_COUNTS_IDLE: Duration = Duration::from_secs(3600);

/// How long a call bridged to the fallback number is remembered, so that its end, however
/// late, is recorded as such: longer than any call.
const FALLBACK_TTL: Duration = Duration::from_secs(24 * 3600);

/// A call as this process last stored it.
#[derive(Debug, Clone, Default)]
struct Stored {
    state: CallState,
    /// The bridge last written with it (E.164, why), when this process wrote it.
    bridge: Option<(String, flow::Route)>,
}

/// The flow engine with its caches, its database and its writer. Cheap to clone: every
/// clone shares the same caches.
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
    /// Active PINs by length, by virtual number (or [`storage::attempts::EVERY_NUMBER`]), for
    /// the weight of a wrong PIN ([`SessionConfig::pin_counts_ttl`]).
    pin_counts: Cache<String, Arc<pin::Counted>>,
    /// Calls (by [`Inbound::key`]) this process bridged to the fallback number
    /// ([`FALLBACK_TTL`]).
    fallback_bridged: Cache<String, ()>,
    /// Call ends waiting for an unreachable database.
    pending: Arc<pending::PendingEnds>,
    /// The SMS after unanswered calls, when it is on.
    sms: Option<Arc<UnansweredSms>>,
    /// `pin.locked`, `pin.budget_spent` and the call-end events go to the business's endpoint.
    events: Events,
    /// The scopes whose guessing gauges this process set last ([`Self::refresh_guessing_gauges`]).
    gauges: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// Asks the business about callers with no route on numbers that answer strangers
    /// `webhook`; `None` without `PINBRIDGE_STRANGERS_WEBHOOK_URL` (they hear the message).
    strangers_webhook: Option<crate::outbound::strangers::StrangersWebhook>,
}

/// A moka cache of at most `capacity` entries, each read for `ttl` after it was written.
fn expiring<V: Clone + Send + Sync + 'static>(capacity: u64, ttl: Duration) -> Cache<String, V> {
    Cache::builder()
        .max_capacity(capacity)
        .time_to_live(ttl)
        .build()
}

/// `d` in whole milliseconds, saturating.
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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

impl Sessions {
    /// Builds the sessions over `db`, writing through `writer`, telling `events` of lockouts
    /// and call ends, texting unanswered callers through `sms` when it is on.
    pub fn new(
        db: Db,
        writer: Writer,
        events: Events,
        sms: Option<Arc<UnansweredSms>>,
        config: SessionConfig,
    ) -> Self {
        Self {
            cache: expiring(config.state_capacity, config.state_ttl),
            orders: expiring(10_000, ORDER_TTL),
            pin_counts: Cache::builder()
                .max_capacity(10_000)
                .time_to_idle(PIN_COUNTS_IDLE)
                .build(),
            fallback_bridged: expiring(100_000, FALLBACK_TTL),
            pending: Arc::default(),
            db,
            writer,
            config: Arc::new(config),
            sms,
            events,
            gauges: Arc::default(),
            strangers_webhook: None,
        }
    }

    /// The same sessions, asking `webhook` about callers with no route on numbers that
    /// answer strangers `webhook`.
    pub fn with_strangers_webhook(
        mut self,
        webhook: Option<crate::outbound::strangers::StrangersWebhook>,
    ) -> Self {
        self.strangers_webhook = webhook;
        self
    }

    /// Forgets what this process keeps of an order (after it deactivated or changed it), so
    /// that no call dials it, or its old customer, from memory. The counts of active PINs it
    /// was in are counted again within [`SessionConfig::pin_counts_ttl`]; a change leaves the
    /// order active, so it leaves them as they are.
    pub fn forget_order(&self, order_id: &str) {
        self.orders.invalidate(order_id);
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
    ///
    /// # Errors
    /// The database failed ([`storage::Error`]).
    pub async fn state(&self, call: &Inbound) -> Result<CallState, storage::Error> {
        Ok(self
            .stored(call)
            .await?
            .map(|s| s.state.clone())
            .unwrap_or_default())
    }

    /// The call as last stored: from the cache when this process may trust it, else from the
    /// database (a state older than [`SessionConfig::state_ttl`] counts as none).
    async fn stored(&self, call: &Inbound) -> Result<Option<Arc<Stored>>, storage::Error> {
        if self.config.cache_call_state {
            let cached = self.cache.get(&call.key());
            crate::metrics::cache("call_state", cached.is_some());
            if cached.is_some() {
                return Ok(cached);
            }
        }
        let loaded = self
            .writer
            .load_state(
                &self.db,
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

    /// Runs one event of the call through the flow engine and stores the result. Handlers
    /// call [`Self::answer`], which adds the time budget and the fallback.
    ///
    /// # Errors
    /// The database failed ([`storage::Error`]); nothing was kept in memory then.
    pub async fn step(&self, call: &Inbound, event: CallEvent) -> Result<Decision, storage::Error> {
        if matches!(event, CallEvent::Started) {
            return self.start(call).await;
        }
        let stored = self.stored(call).await?;
        Ok(self.advance(call, stored, event).await?.0)
    }

    /// Runs `event` from the call as `stored`, writes what changed, and returns the decision
    /// with the call as stored after it.
    async fn advance(
        &self,
        call: &Inbound,
        stored: Option<Arc<Stored>>,
        event: CallEvent,
    ) -> Result<(Decision, Option<Arc<Stored>>), storage::Error> {
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
        let (facts, reads) = self.facts(call, &state, &event).await?;
        let keyed_digits = matches!(event, CallEvent::Digits { .. });
        let (next, mut decision) = flow::step(&state, event, &facts, &self.config.policy);
        self.fill_bridging(&mut decision, &reads).await?;
        if keyed_digits
            && next.attempts > state.attempts
            && next.last_failure == Some(flow::Failure::WrongPin)
        {
            self.record_wrong_pin(call).await?;
        }
        let bridge = bridge_of(&decision);
        if unchanged(stored.as_deref(), &next, &bridge) {
            return Ok((decision, stored));
        }
        self.writer
            .save_state(call.write_key(), next.clone(), bridge.clone(), now_ms())
            .await?;
        let kept = self.keep_state(call, stored, next, bridge);
        Ok((decision, Some(kept)))
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
    ///
    /// # Errors
    /// The database failed ([`storage::Error`]).
    pub async fn dry_step(
        &self,
        call: &Inbound,
        state: &CallState,
        event: CallEvent,
    ) -> Result<(CallState, Decision), storage::Error> {
        let (facts, reads) = self.facts(call, state, &event).await?;
        let (next, mut decision) = flow::step(state, event, &facts, &self.config.policy);
        self.fill_bridging(&mut decision, &reads).await?;
        Ok((next, decision))
    }

    /// How the bridge of `route` to `to` (E.164) is dialled: the order's or booking's own
    /// options (the provider's answer puts them over the virtual number's, which the
    /// greetings keep in memory), what a whisper names, which party is dialled. The order or
    /// booking this step read already ([`StepReads`]) is not read again; any other, once.
    async fn bridging_for(
        &self,
        route: &flow::Route,
        to: &str,
        reads: &StepReads,
    ) -> Result<flow::Bridging, storage::Error> {
        let found = match reads.bridge_options(route) {
            Some(found) => found,
            None => {
                self.writer
                    .bridge_options(&self.db, route.order_id(), route.booking_id())
                    .await?
            }
        };
        let reference = match route {
            flow::Route::Booking { booking_id } => {
                Some(found.reference.unwrap_or_else(|| booking_id.clone()))
            }
            other => other
                .order_id()
                .map(str::to_owned)
                .or(found.reference)
                .or_else(|| other.booking_id().map(str::to_owned)),
        };
        let dialled = match (route, found.party_a) {
            (flow::Route::Booking { .. }, Some(a)) if a == to => flow::Dialled::PartyA,
            (flow::Route::Booking { .. }, Some(_)) => flow::Dialled::PartyB,
            _ => flow::Dialled::Any,
        };
        Ok(flow::Bridging {
            options: found.own,
            reference,
            dialled,
        })
    }

    /// How the call `call_sid` of `provider` was bridged, read from its record, with its
    /// virtual number (E.164, as stored): for a provider's request on the dialled leg (a
    /// whisper, which names the parent CallSid). `None` when the call is unknown or was not
    /// bridged by pinbridge's own route (not bridged, or bridged to the fallback desk).
    ///
    /// # Errors
    /// The database failed ([`storage::Error`]).
    pub async fn bridged(
        &self,
        provider: &str,
        call_sid: &str,
    ) -> Result<Option<(flow::Bridging, Option<String>)>, storage::Error> {
        let Some(record) = storage::calls::get(&self.db, provider, call_sid).await? else {
            return Ok(None);
        };
        let route = match record.route.as_deref() {
            Some("pin") => match record.order_id {
                Some(order_id) => flow::Route::Pin { order_id },
                None => return Ok(None),
            },
            Some("booking") => match record.booking_id {
                Some(booking_id) => flow::Route::Booking { booking_id },
                None => return Ok(None),
            },
            Some("callback") => flow::Route::Callback {
                order_id: record.order_id,
                booking_id: record.booking_id,
            },
            _ => return Ok(None),
        };
        let to = record.destination.unwrap_or_default();
        let bridging = self
            .bridging_for(&route, &to, &StepReads::default())
            .await?;
        Ok(Some((bridging, record.virtual_number)))
    }

    /// Fills in how a bridge the engine decided is dialled: the order's or booking's options
    /// (the answer puts them over its virtual number's), what a whisper names, which party is
    /// dialled. A bridge to
    /// the fallback desk keeps the settings (storage is what failed).
    async fn fill_bridging(
        &self,
        decision: &mut Decision,
        reads: &StepReads,
    ) -> Result<(), storage::Error> {
        let Decision::Bridge {
            to,
            route,
            bridging,
            ..
        } = decision
        else {
            return Ok(());
        };
        if *route == flow::Route::Fallback {
            return Ok(());
        }
        *bridging = self.bridging_for(route, to.as_ref(), reads).await?;
        Ok(())
    }

    /// Keeps an order just found by its PIN for the dial that follows ([`ORDER_TTL`]).
    fn keep_order(&self, order: Option<storage::orders::Order>) {
        if self.config.cache_call_state
            && let Some(order) = order
        {
            self.orders.insert(order.order_id.clone(), Arc::new(order));
        }
    }

    /// The call as stored after a step that wrote it, with the bridge it decided or else the
    /// one kept before; cached when this process may trust its cache.
    fn keep_state(
        &self,
        call: &Inbound,
        stored: Option<Arc<Stored>>,
        next: CallState,
        bridge: Option<(String, flow::Route)>,
    ) -> Arc<Stored> {
        let bridge = bridge.or_else(|| stored.and_then(|s| s.bridge.clone()));
        let kept = Arc::new(Stored {
            state: next,
            bridge,
        });
        if self.config.cache_call_state {
            self.cache.insert(call.key(), Arc::clone(&kept));
        }
        kept
    }
}
