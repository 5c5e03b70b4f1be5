//! What the flow engine is told about a call: the active order its PIN resolved to, the
//! booking peer of its caller, or whom to call back ([`Facts`]).

use super::pin::{Access, usable_order};
use super::{Inbound, Sessions, ms};
use crate::call::flow::{
    self, ActiveOrder, BookingPeer, CallEvent, CallState, CallbackPeer, Facts, Phase, Strangers,
};
use crate::domain::PhoneNumber;
use crate::domain::clock::now_ms;
use crate::storage::{self, orders::Order};

/// The order as the engine sees it (storage read its numbers back as `PhoneNumber`s; a
/// damaged row is refused there and dials no one).
pub(super) fn engine_order(o: Order) -> ActiveOrder {
    ActiveOrder {
        order_id: o.order_id,
        customer: o.customer_number,
    }
}

impl Sessions {
    /// The active order with this id: from memory when this process just found it by its PIN
    /// (SQLite), else from the database.
    async fn active_order(
        &self,
        order_id: &str,
        now: i64,
    ) -> Result<Option<Order>, storage::Error> {
        if self.config.cache_call_state
            && let Some(order) = self.orders.get(order_id)
        {
            let active = order.status(now) == crate::domain::OrderStatus::Active;
            return Ok(active.then(|| Order::clone(&order)));
        }
        storage::orders::find_active_by_id(&self.db, order_id, now).await
    }

    /// What storage knows that this event needs: the active order for keyed digits, or the
    /// resolved order, checked again so that a deactivated order is not dialled; for a call
    /// without a PIN session, its caller's booking peer or callback.
    pub(super) async fn facts(
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
        let mut access = Access::default();
        let order = match (event, &state.phase) {
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
            // A malformed entry is a wrong PIN whatever storage holds: nothing to look up.
            _ => None,
        };
        let mut facts = Facts {
            virtual_number: call.virtual_number.clone(),
            order: order.map(engine_order),
            pins_locked: access.locked,
            pin_budget_spent: access.budget_spent,
            ..Facts::default()
        };
        if !flow::has_pin_session(state) {
            match event {
                CallEvent::DialNeeded | CallEvent::Incoming => {
                    self.caller_facts(call, &mut facts, now, true).await?;
                }
                // Exotel's Gather: only a number that takes no PIN from strangers needs to
                // know whether this caller is one (a party whose booking forces its PIN is not).
                // The Connect before it asked the business already, if that is the answer.
                CallEvent::PromptNeeded if self.strangers_of(call).await? != Strangers::Pin => {
                    self.caller_facts(call, &mut facts, now, false).await?;
                }
                _ => {}
            }
        }
        Ok(facts)
    }

    /// What the dialled number answers a caller with no route ([`Strangers::Pin`] when it
    /// did not parse).
    async fn strangers_of(&self, call: &Inbound) -> Result<Strangers, storage::Error> {
        match &call.virtual_number {
            Some(vn) => self.writer.strangers(&self.db, vn.as_ref()).await,
            None => Ok(Strangers::Pin),
        }
    }

    /// The booking peer of the caller on the dialled number, else whom to call back, else
    /// what the number answers a stranger ([`Facts::strangers`]; the business is asked only
    /// when `ask`).
    async fn caller_facts(
        &self,
        call: &Inbound,
        facts: &mut Facts,
        now: i64,
        ask: bool,
    ) -> Result<(), storage::Error> {
        let (Some(caller), Some(vn)) = (&call.caller, &call.virtual_number) else {
            // A withheld or unreadable caller ID has no route: a stranger.
            let strangers = self.strangers_of(call).await?;
            return self.stranger_facts(facts, strangers, call, ask).await;
        };
        let query = storage::call_facts::CallerQuery {
            caller: caller.as_ref().to_owned(),
            virtual_number: vn.as_ref().to_owned(),
            now,
            callback_since: now.saturating_sub(ms(self.config.callback_window)),
        };
        let found = self.writer.caller_facts(&self.db, query).await?;
        let booking = found.booking;
        if booking.as_ref().is_some_and(|b| b.peer.is_none()) {
            // A party who may not call through its booking (one way, or no party B yet) is
            // answered as a stranger, and not dialled back through an earlier call either.
            return self.stranger_facts(facts, found.strangers, call, ask).await;
        }
        if booking
            .as_ref()
            .is_some_and(|b| b.pin_mode == crate::domain::PinMode::Always)
        {
            // The booking forces its party PIN even from a party's own phone: neither it nor a
            // callback routes the call, which goes to the PIN prompt whatever the number
            // answers strangers.
            return Ok(());
        }
        facts.booking = booking.and_then(|found| {
            if self.config.cache_call_state {
                // For the bridge that follows in this step ([`Sessions::bridging_for`]).
                self.bookings
                    .insert(found.booking_id.clone(), std::sync::Arc::new(found.bridge));
            }
            found.peer.map(|peer| BookingPeer {
                booking_id: found.booking_id,
                peer,
            })
        });
        if facts.booking.is_some() {
            return Ok(());
        }
        // The earlier caller came from a provider's request: it is dialled back only when it is
        // a valid number of an allowed country (no toll fraud through a spoofed caller ID).
        facts.callback = found.callback.and_then(|(peer, order_id, booking_id)| {
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
        if facts.callback.is_none() {
            self.stranger_facts(facts, found.strangers, call, ask)
                .await?;
        }
        Ok(())
    }

    /// For a caller with no route, on a number that answers strangers `strangers`: that
    /// answer, the desk when it is that; for a number that asks the business, when `ask`,
    /// whom it chose.
    async fn stranger_facts(
        &self,
        facts: &mut Facts,
        strangers: Strangers,
        call: &Inbound,
        ask: bool,
    ) -> Result<(), storage::Error> {
        facts.strangers = strangers;
        if facts.strangers == Strangers::Webhook && ask {
            facts.chosen = self.ask_business(call).await?;
        }
        if facts.strangers == Strangers::Desk || facts.chosen == Some(flow::Chosen::Desk) {
            facts.desk = self.config.fallback_number.clone();
        }
        Ok(())
    }
}
