//! Call sessions: the flow engine wired to the cache and storage, shared by every provider.
//!
//! A step reads the call's state (from the moka cache when this process is the database's only
//! user, SQLite; else from the database, since another instance may have served the call's
//! previous step), asks storage for the facts the event needs, runs [`flow::step`], and writes
//! the new state through to the database (and the cache).

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::clock::now_ms;
use crate::domain::Region;
use crate::domain::{CallSid, PhoneNumber};
use crate::flow::{
    self, ActiveOrder, BookingPeer, CallEvent, CallState, CallbackPeer, Decision, Facts, Phase,
    Policy,
};
use crate::storage::{self, Db};

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

impl Inbound {
    /// `provider:CallSid`, unique among all calls.
    pub fn key(&self) -> String {
        format!("{}:{}", self.provider, self.call_sid)
    }

    /// The caller as the attempt limits key it: E.164, else as received, else `anonymous`
    /// (callers who withhold their number share one allowance).
    pub fn caller_key(&self) -> String {
        self.caller_for_record()
            .unwrap_or_else(|| "anonymous".to_owned())
    }

    /// The virtual number as the attempt limits key it.
    pub fn virtual_number_key(&self) -> String {
        self.virtual_number_for_record()
            .unwrap_or_else(|| "unknown".to_owned())
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
}

/// The limits on wrong PINs, from the settings (the abuse-resistance issue).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// More wrong PINs than this from one caller within the window lock it out.
    pub caller_max_failures: u32,
    /// More wrong PINs than this on one virtual number within the window raise an alert.
    pub number_max_failures: u32,
    /// And, when true, stop PINs on that number for the window.
    pub number_lockout: bool,
    pub window: Duration,
}

/// What a [`Sessions`] is built with.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub policy: Policy,
    pub region: Region,
    /// How long a call's state stays cached; longer than the longest call.
    pub state_ttl: Duration,
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

/// The flow engine with its cache and database.
#[derive(Clone)]
pub struct Sessions {
    db: Db,
    config: Arc<SessionConfig>,
    cache: Cache<String, Arc<CallState>>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Sessions {
    /// Builds the engine over `db`.
    pub fn new(db: Db, config: SessionConfig) -> Self {
        let cache = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(config.state_ttl)
            .build();
        Self {
            db,
            config: Arc::new(config),
            cache,
        }
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
    pub async fn state(&self, call: &Inbound) -> Result<CallState, sqlx::Error> {
        Ok(self.stored_state(call).await?.unwrap_or_default())
    }

    async fn stored_state(&self, call: &Inbound) -> Result<Option<CallState>, sqlx::Error> {
        if self.config.cache_call_state
            && let Some(state) = self.cache.get(&call.key()).await
        {
            return Ok(Some(CallState::clone(&state)));
        }
        let stored =
            storage::calls::load_state(&self.db, call.provider, call.call_sid.as_ref()).await?;
        if self.config.cache_call_state
            && let Some(state) = &stored
        {
            self.cache.insert(call.key(), Arc::new(state.clone())).await;
        }
        Ok(stored)
    }

    /// Runs one event of the call through the flow engine and stores the result.
    pub async fn step(&self, call: &Inbound, event: CallEvent) -> Result<Decision, sqlx::Error> {
        let stored = self.stored_state(call).await?;
        let state = stored.clone().unwrap_or_default();
        let facts = self.facts(call, &state, &event).await?;
        let keyed_digits = matches!(event, CallEvent::Digits { .. });
        let (next, decision) = flow::step(&state, event, &facts, &self.config.policy);
        if keyed_digits
            && next.attempts > state.attempts
            && next.last_failure == Some(flow::Failure::WrongPin)
        {
            self.record_wrong_pin(call).await?;
        }
        let bridge = match &decision {
            Decision::Bridge { to, route, .. } => Some((to.to_string(), route)),
            _ => None,
        };
        if stored.as_ref() != Some(&next) || bridge.is_some() {
            let caller = call.caller_for_record();
            let virtual_number = call.virtual_number_for_record();
            let step = storage::calls::CallStep {
                provider: call.provider,
                call_sid: call.call_sid.as_ref(),
                caller: caller.as_deref(),
                virtual_number: virtual_number.as_deref(),
                state: &next,
                bridge: bridge.as_ref().map(|(to, route)| (to.as_str(), *route)),
            };
            storage::calls::save_step(&self.db, &step, now_ms()).await?;
            if self.config.cache_call_state {
                self.cache.insert(call.key(), Arc::new(next)).await;
            }
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
    ) -> Result<(CallState, Decision), sqlx::Error> {
        let facts = self.facts(call, state, &event).await?;
        Ok(flow::step(state, event, &facts, &self.config.policy))
    }

    /// Records a wrong PIN, and raises the alert when the virtual number crosses its limit.
    async fn record_wrong_pin(&self, call: &Inbound) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let (caller, number) = (call.caller_key(), call.virtual_number_key());
        storage::attempts::record_failure(&self.db, &caller, &number, now).await?;
        let limits = &self.config.limits;
        let since = now.saturating_sub(ms(limits.window));
        let on_number = storage::attempts::number_failures(&self.db, &number, since).await?;
        if on_number == i64::from(limits.number_max_failures) + 1 {
            metrics::counter!("pinbridge_pin_guessing_alerts_total").increment(1);
            tracing::warn!(
                provider = call.provider,
                virtual_number = %crate::domain::mask(&number),
                failures = on_number,
                lockout = limits.number_lockout,
                "pin.guessing_alert: too many wrong PINs on one virtual number"
            );
        }
        Ok(())
    }

    /// Is PIN entry refused for this caller, or (with `PINBRIDGE_NUMBER_LOCKOUT`) on this
    /// virtual number?
    async fn pins_locked(&self, call: &Inbound, now: i64) -> Result<bool, sqlx::Error> {
        let limits = &self.config.limits;
        let since = now.saturating_sub(ms(limits.window));
        let by_caller =
            storage::attempts::caller_failures(&self.db, &call.caller_key(), since).await?;
        if by_caller > i64::from(limits.caller_max_failures) {
            return Ok(true);
        }
        if limits.number_lockout {
            let on_number =
                storage::attempts::number_failures(&self.db, &call.virtual_number_key(), since)
                    .await?;
            return Ok(on_number > i64::from(limits.number_max_failures));
        }
        Ok(false)
    }

    /// What storage knows that this event needs: the active order for keyed digits, or the
    /// resolved order, checked again so that a deactivated order is not dialled.
    async fn facts(
        &self,
        call: &Inbound,
        state: &CallState,
        event: &CallEvent,
    ) -> Result<Facts, sqlx::Error> {
        let now = now_ms();
        let mut pins_locked = false;
        let order = match (event, &state.phase) {
            (CallEvent::Digits { pin }, Phase::CollectingPin) => {
                pins_locked = self.pins_locked(call, now).await?;
                match pin {
                    // A locked caller's PIN is not even looked up: no answer can tell it apart.
                    Some(pin) if !pins_locked => storage::orders::find_active_by_pin(
                        &self.db,
                        pin.as_ref(),
                        call.virtual_number.as_ref().map(AsRef::as_ref),
                        now,
                    )
                    .await?
                    .filter(|o| caller_allowed(o, call)),
                    _ => None,
                }
            }
            (
                CallEvent::DialNeeded
                | CallEvent::Incoming
                | CallEvent::Digits { .. }
                | CallEvent::NoInput,
                Phase::Resolved { order_id },
            ) => storage::orders::find_active_by_id(&self.db, order_id, now).await?,
            _ => None,
        };
        let order = order.and_then(|o| {
            // Only numbers stored by `PhoneNumber` are dialled; a damaged row dials no one.
            PhoneNumber::from_e164(&o.customer_number).map(|customer| ActiveOrder {
                order_id: o.order_id,
                customer,
            })
        });
        let mut facts = Facts {
            virtual_number: call.virtual_number.clone(),
            order,
            pins_locked,
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
    ) -> Result<(), sqlx::Error> {
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
    /// the time it was reported.
    pub async fn end(
        &self,
        call: &Inbound,
        end: &storage::calls::CallEnd,
        at: i64,
    ) -> Result<flow::Outcome, sqlx::Error> {
        let caller = call.caller_for_record();
        let virtual_number = call.virtual_number_for_record();
        let outcome = storage::calls::record_end(
            &self.db,
            call.provider,
            call.call_sid.as_ref(),
            caller.as_deref(),
            virtual_number.as_deref(),
            end,
            at,
        )
        .await?;
        Ok(outcome)
    }
}
