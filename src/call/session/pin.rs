//! Keyed PINs: the lookup, the caller's lockout and the virtual number's guessing budget.
//! This is where a wrong PIN is counted ([`Sessions::check_pin`], [`Sessions::record_wrong_pin`])
//! and where the business hears of a lockout or a spent budget.
//!
//! The rules themselves (what a wrong PIN weighs, when a budget is spent) are
//! [`crate::storage::attempts`]'s arithmetic and the flow engine's; storage writes the wrong
//! PIN and the call's new state together, conditionally ([`crate::storage::Writer::pin_entry`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Inbound, Limits, Sessions, StepReads, Stored, bridge_of, ms, unchanged};
use crate::call::flow::{self, CallEvent, CallState, Decision, Facts};
use crate::domain::clock::now_ms;
use crate::outbound::events::{EventKind, PinBudgetSpentData, PinLockedData};
use crate::storage::WrongPin;
use crate::storage::attempts::{Budget, Counting, EVERY_NUMBER, Spent, Weight};
use crate::storage::calls::StateWrite;
use crate::storage::{self, orders::Order};

/// How long a count of no active PINs on a number is used, in milliseconds: no longer than
/// an order created on another instance may take to weigh, as an order deactivated there
/// takes to be refused (`ORDER_TTL`). A count of some is used for
/// [`super::SessionConfig::pin_counts_ttl`] (its recount runs in the background); a count of
/// none is made again while the guess waits, so a number whose orders all name other numbers
/// costs a count a second, not one a guess.
pub(super) const NOTHING_COUNTED_FOR: i64 = 1_000;

/// Whether a keyed PIN may be used, by what its lookup found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Access {
    /// The caller keyed more wrong PINs than its limit within the window: every PIN it keys
    /// gets the wrong-PIN answer.
    pub(super) locked: bool,
    /// The dialled number's guessing budget is spent, and the caller is not known there: no
    /// PIN is taken.
    pub(super) budget_spent: bool,
    /// Only the budget of the orders valid on every number is spent, and the caller is not
    /// known: only the dialled number's own orders may be found (one valid everywhere counts
    /// as a wrong PIN), so a number's own couriers are not refused for guesses elsewhere.
    pub(super) own_orders_only: bool,
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

/// True when the order lets this caller use its PIN (no list, or the caller is on it).
fn caller_allowed(order: &Order, call: &Inbound) -> bool {
    order.allowed_callers.is_empty()
        || call
            .caller
            .as_ref()
            .is_some_and(|c| order.allowed_callers.contains(c))
}

/// What a PIN lookup lets the engine use: the order found, unless PIN entry is refused
/// ([`access`]; a refused caller's PIN is never used, so no answer can tell it apart), the
/// order is valid on every number while only the dialled number's own may be found, or it
/// does not let this caller use its PIN; and the caller's [`Access`].
pub(super) fn usable_order(
    limits: &Limits,
    lookup: &storage::orders::PinLookup,
    call: &Inbound,
) -> (Option<Order>, Access) {
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

/// The active PINs by length on one virtual number (or on every number), as last counted.
pub(super) struct Counted {
    counts: Arc<storage::orders::PinCounts>,
    /// When the count started, unix ms.
    at: i64,
    /// A recount is under way: the guesses meanwhile use this count.
    recounting: AtomicBool,
}

#[cfg(test)]
impl Counted {
    /// The counts kept.
    pub(super) fn counts(&self) -> &storage::orders::PinCounts {
        &self.counts
    }

    /// When the count started, unix ms.
    #[cfg(test)]
    pub(super) fn at(&self) -> i64 {
        self.at
    }
}

/// What a guess of `len` digits can reach on the dialled number: its own active PINs of that
/// length, and those valid on every number.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reachable {
    len: usize,
    on_number: i64,
    everywhere: i64,
}

impl Reachable {
    /// The dialled number's own active PINs of this length.
    #[cfg(test)]
    pub(super) fn on_number(self) -> i64 {
        self.on_number
    }

    /// The active PINs of this length valid on every number.
    #[cfg(test)]
    pub(super) fn everywhere(self) -> i64 {
        self.everywhere
    }

    /// What a wrong PIN spends ([`Weight::of`]); with `own_orders_only`, the orders valid on
    /// every number could not be found, so they are not at stake.
    fn weight(self, own_orders_only: bool) -> Weight {
        let everywhere = if own_orders_only { 0 } else { self.everywhere };
        Weight::of(self.len, self.on_number, everywhere)
    }
}

impl Sessions {
    /// The guessing budget each virtual number has (`PINBRIDGE_PIN_GUESSING_BUDGET`).
    pub fn budget(&self) -> Budget {
        self.config.limits.budget
    }

    /// Keyed digits while the call collects its PIN: the lookup (the order and the caller's
    /// counts in one statement), the engine's decision here, then the writes (a wrong PIN
    /// spending what it could have reached, from `reachable`; the call's new state) in one
    /// conditional write ([`crate::storage::Writer::pin_entry`]). Then what follows a wrong PIN
    /// ([`Self::after_wrong_pin`]) or a refusal, and what this process keeps. Returns the
    /// decision and the call as stored after it.
    pub(super) async fn check_pin(
        &self,
        call: &Inbound,
        stored: Option<Arc<Stored>>,
        state: CallState,
        event: CallEvent,
        query: storage::orders::PinQuery,
        reachable: Reachable,
    ) -> Result<(Decision, Option<Arc<Stored>>), storage::Error> {
        let lookup = self.writer.find_active_by_pin(&self.db, query).await?;
        let now = now_ms();
        let limits = &self.config.limits;
        let (found, access) = usable_order(limits, &lookup, call);
        let facts = Facts {
            virtual_number: call.virtual_number.clone(),
            order: found.as_ref().map(super::facts::engine_order),
            pins_locked: access.locked,
            pin_budget_spent: access.budget_spent,
            ..Facts::default()
        };
        let (next, mut decision) = flow::step(&state, event, &facts, &self.config.policy);
        let wrong =
            next.attempts > state.attempts && next.last_failure == Some(flow::Failure::WrongPin);
        let bridge = bridge_of(&decision);
        let write_state = !unchanged(stored.as_deref(), &next, &bridge);
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
                write_state.then(|| StateWrite {
                    call: call.write_key(),
                    state: next.clone(),
                    bridge: bridge.clone(),
                    at: now,
                }),
            )
            .await?;
        let reads = StepReads {
            order: found,
            booking: None,
        };
        self.fill_bridging(&mut decision, &reads).await?;
        self.keep_order(reads.order);
        if access.budget_spent {
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
        let after = if write_state {
            Some(self.keep_state(call, stored, next, bridge))
        } else {
            stored
        };
        Ok((decision, after))
    }

    /// The PIN lookup of keyed `pin` now ([`storage::orders::find_active_by_pin`]).
    pub(super) fn pin_query(&self, call: &Inbound, pin: &str) -> storage::orders::PinQuery {
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
    pub(super) async fn reachable(
        &self,
        call: &Inbound,
        len: usize,
    ) -> Result<Reachable, storage::Error> {
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

    /// The active PINs by length on `virtual_number`, or valid on every number (`None`).
    /// Counted at start ([`Self::count_all_pins`]) or else at the first guess; after that the
    /// last count is used at once, and when it is older than
    /// [`super::SessionConfig::pin_counts_ttl`], one recount starts in the background. A count
    /// of nothing (it reads no index entry) is used for [`NOTHING_COUNTED_FOR`] only, then
    /// counted again while the guess waits, so that the first orders on a quiet number weigh
    /// within a second, on any instance.
    async fn pin_counts(
        &self,
        virtual_number: Option<&str>,
    ) -> Result<Arc<storage::orders::PinCounts>, storage::Error> {
        let key = virtual_number.unwrap_or(EVERY_NUMBER);
        let Some(kept) = self
            .pin_counts
            .get(key)
            .filter(|kept| !kept.counts.is_empty() || now_ms() < kept.at + NOTHING_COUNTED_FOR)
        else {
            return self.count_pins(key, virtual_number).await;
        };
        let counts = Arc::clone(&kept.counts);
        let stale = kept.at.saturating_add(ms(self.config.pin_counts_ttl)) <= now_ms();
        if stale && !kept.recounting.swap(true, Ordering::AcqRel) {
            let sessions = self.clone();
            let key = key.to_owned();
            let virtual_number = virtual_number.map(str::to_owned);
            tokio::spawn(async move {
                if let Err(e) = sessions.count_pins(&key, virtual_number.as_deref()).await {
                    kept.recounting.store(false, Ordering::Release);
                    tracing::warn!(error = %e, "active PINs not counted again; the last count stays");
                }
            });
        }
        Ok(counts)
    }

    /// Counts the active PINs by length on `virtual_number` (or on every number) and keeps
    /// the count.
    async fn count_pins(
        &self,
        key: &str,
        virtual_number: Option<&str>,
    ) -> Result<Arc<storage::orders::PinCounts>, storage::Error> {
        // The time the count started: orders changed while it runs are not in it.
        let at = now_ms();
        let counts =
            Arc::new(storage::orders::active_pin_counts(&self.db, virtual_number, at).await?);
        let counted = Counted {
            counts: Arc::clone(&counts),
            at,
            recounting: AtomicBool::new(false),
        };
        self.pin_counts.insert(key.to_owned(), Arc::new(counted));
        Ok(counts)
    }

    /// Counts the active PINs of every virtual number at once, so that the first guesses
    /// after a start find their counts kept rather than each counting a million orders
    /// while its caller waits. A failure is logged; the guesses then count for themselves.
    pub async fn count_all_pins(&self) {
        let at = now_ms();
        match storage::orders::all_active_pin_counts(&self.db, at).await {
            Ok(all) => {
                for (virtual_number, counts) in all {
                    let key = virtual_number.unwrap_or_else(|| EVERY_NUMBER.to_owned());
                    let counted = Counted {
                        counts: Arc::new(counts),
                        at,
                        recounting: AtomicBool::new(false),
                    };
                    self.pin_counts.insert(key, Arc::new(counted));
                }
            }
            Err(e) => tracing::warn!(error = %e, "active PINs not counted at start"),
        }
    }

    /// Records a wrong PIN that could hit nothing (digits that are not a well-formed PIN):
    /// it counts against the caller and spends nothing ([`Self::after_wrong_pin`]).
    pub(super) async fn record_wrong_pin(&self, call: &Inbound) -> Result<(), storage::Error> {
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
}
