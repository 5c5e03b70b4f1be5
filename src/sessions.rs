//! Call sessions: the flow engine wired to the cache and storage, shared by every provider.
//!
//! A step reads the call's state from the moka cache, falling back to the database (another
//! instance or a previous process may have served the call's earlier steps), asks storage for
//! the facts the event needs, runs [`flow::step`], and writes the new state through to the
//! database and the cache.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::clock::now_ms;
use crate::domain::{CallSid, PhoneNumber};
use crate::flow::{self, ActiveOrder, CallEvent, CallState, Decision, Facts, Phase, Policy};
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

impl Inbound {
    fn key(&self) -> String {
        format!("{}:{}", self.provider, self.call_sid)
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

/// The flow engine with its cache and database.
#[derive(Clone)]
pub struct Sessions {
    db: Db,
    policy: Policy,
    cache: Cache<String, Arc<CallState>>,
}

impl Sessions {
    /// `state_ttl`: how long a call's state stays cached; longer than the longest call.
    pub fn new(db: Db, policy: Policy, state_ttl: Duration) -> Self {
        let cache = Cache::builder()
            .max_capacity(100_000)
            .time_to_live(state_ttl)
            .build();
        Self { db, policy, cache }
    }

    /// The limits calls are held to.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The call's current state: cache, then database, then a new call's.
    pub async fn state(&self, call: &Inbound) -> Result<CallState, sqlx::Error> {
        Ok(self.stored_state(call).await?.unwrap_or_default())
    }

    async fn stored_state(&self, call: &Inbound) -> Result<Option<CallState>, sqlx::Error> {
        if let Some(state) = self.cache.get(&call.key()).await {
            return Ok(Some(CallState::clone(&state)));
        }
        let stored =
            storage::calls::load_state(&self.db, call.provider, call.call_sid.as_ref()).await?;
        if let Some(state) = &stored {
            self.cache.insert(call.key(), Arc::new(state.clone())).await;
        }
        Ok(stored)
    }

    /// Runs one event of the call through the flow engine and stores the result.
    pub async fn step(&self, call: &Inbound, event: CallEvent) -> Result<Decision, sqlx::Error> {
        let stored = self.stored_state(call).await?;
        let state = stored.clone().unwrap_or_default();
        let facts = self.facts(call, &state, &event).await?;
        let (next, decision) = flow::step(&state, event, &facts, &self.policy);
        let bridged_to = match &decision {
            Decision::Bridge { to, .. } => Some(to.to_string()),
            _ => None,
        };
        if stored.as_ref() != Some(&next) || bridged_to.is_some() {
            let caller = call.caller_for_record();
            let virtual_number = call.virtual_number_for_record();
            let step = storage::calls::CallStep {
                provider: call.provider,
                call_sid: call.call_sid.as_ref(),
                caller: caller.as_deref(),
                virtual_number: virtual_number.as_deref(),
                state: &next,
                destination: bridged_to.as_deref(),
            };
            storage::calls::save_step(&self.db, &step, now_ms()).await?;
            self.cache.insert(call.key(), Arc::new(next)).await;
        }
        Ok(decision)
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
        let order = match (event, &state.phase) {
            (CallEvent::Digits { pin: Some(pin) }, Phase::CollectingPin) => {
                storage::orders::find_active_by_pin(
                    &self.db,
                    pin.as_ref(),
                    call.virtual_number.as_ref().map(AsRef::as_ref),
                    now,
                )
                .await?
            }
            (
                CallEvent::DialNeeded | CallEvent::Digits { .. } | CallEvent::NoInput,
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
        Ok(Facts {
            virtual_number: call.virtual_number.clone(),
            order,
        })
    }

    /// Records the end of a call; see [`storage::calls::record_end`].
    pub async fn end(
        &self,
        call: &Inbound,
        end: &storage::calls::CallEnd,
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
            now_ms(),
        )
        .await?;
        Ok(outcome)
    }
}
