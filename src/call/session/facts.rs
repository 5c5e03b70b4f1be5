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
pub(super) fn engine_order(o: &Order) -> ActiveOrder {
    ActiveOrder {
        order_id: o.order_id.clone(),
        customer: o.customer_number.clone(),
    }
}

/// The order and the booking a step read on its way to the engine's decision, with the
/// options their bridge is dialled with, so that the bridge it decides reads neither again
/// ([`Sessions::bridging_for`]). On either engine: nothing in it outlives the step.
#[derive(Debug, Default)]
pub(super) struct StepReads {
    /// The active order found by the keyed PIN, or the resolved order read again.
    pub order: Option<Order>,
    /// The caller's booking on the dialled number: its id and how it is bridged.
    pub booking: Option<(String, storage::call_options::BridgeOptions)>,
}

impl StepReads {
    /// How the bridge to the order or booking `route` names is dialled, when this step read it.
    pub(super) fn bridge_options(
        &self,
        route: &flow::Route,
    ) -> Option<storage::call_options::BridgeOptions> {
        match (route.booking_id(), route.order_id()) {
            (Some(booking_id), _) => self
                .booking
                .as_ref()
                .filter(|(id, _)| id == booking_id)
                .map(|(_, bridge)| bridge.clone()),
            (None, Some(order_id)) => {
                self.order
                    .as_ref()
                    .filter(|o| o.order_id == order_id)
                    .map(|o| storage::call_options::BridgeOptions {
                        own: o.options.clone(),
                        ..Default::default()
                    })
            }
            (None, None) => Some(storage::call_options::BridgeOptions::default()),
        }
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
    /// without a PIN session, its caller's booking peer or callback. With it, the order and
    /// booking read on the way, for the bridge the engine decides.
    pub(super) async fn facts(
        &self,
        call: &Inbound,
        state: &CallState,
        event: &CallEvent,
    ) -> Result<(Facts, StepReads), storage::Error> {
        let mut reads = StepReads::default();
        if state.ended {
            // The engine answers an ended call without facts: nothing is looked up for it.
            return Ok((Facts::default(), reads));
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
            order: order.as_ref().map(engine_order),
            pins_locked: access.locked,
            pin_budget_spent: access.budget_spent,
            ..Facts::default()
        };
        if !flow::has_pin_session(state) {
            match event {
                CallEvent::DialNeeded | CallEvent::Incoming => {
                    self.caller_facts(call, &mut facts, &mut reads, now, true)
                        .await?;
                }
                // Exotel's Gather: only a number that takes no PIN from strangers needs to
                // know whether this caller is one (a party whose booking forces its PIN is not).
                // The Connect before it asked the business already, if that is the answer.
                CallEvent::PromptNeeded if self.strangers_of(call).await? != Strangers::Pin => {
                    self.caller_facts(call, &mut facts, &mut reads, now, false)
                        .await?;
                }
                _ => {}
            }
        }
        reads.order = order;
        Ok((facts, reads))
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
    /// when `ask`). The booking it read goes to `reads`.
    async fn caller_facts(
        &self,
        call: &Inbound,
        facts: &mut Facts,
        reads: &mut StepReads,
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
            reads.booking = Some((found.booking_id.clone(), found.bridge));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallOptions, Region};
    use storage::call_options::BridgeOptions;

    fn order(order_id: &str, ring_timeout_secs: u32) -> Order {
        let region = Region::parse("IN").unwrap();
        Order {
            order_id: order_id.to_owned(),
            customer_number: PhoneNumber::parse("09123456789", region).unwrap(),
            pin: "4821".to_owned(),
            virtual_number: None,
            created_at: 0,
            expires_at: i64::MAX,
            deactivated_at: None,
            allowed_callers: Vec::new(),
            options: CallOptions {
                ring_timeout_secs: Some(ring_timeout_secs),
                ..CallOptions::default()
            },
        }
    }

    fn pin(order_id: &str) -> flow::Route {
        flow::Route::Pin {
            order_id: order_id.to_owned(),
        }
    }

    #[test]
    fn a_bridge_takes_the_options_of_the_order_or_booking_its_step_read_and_no_other() {
        let booking = BridgeOptions {
            own: CallOptions {
                record: Some(true),
                ..CallOptions::default()
            },
            reference: Some("TRIP-7".to_owned()),
            party_a: Some("+919123456789".to_owned()),
        };
        let reads = StepReads {
            order: Some(order("OD-1", 25)),
            booking: Some(("BK-1".to_owned(), booking.clone())),
        };

        let own = reads.bridge_options(&pin("OD-1")).map(|b| b.own);
        assert_eq!(own.and_then(|o| o.ring_timeout_secs), Some(25));
        let callback = flow::Route::Callback {
            order_id: Some("OD-1".to_owned()),
            booking_id: None,
        };
        assert_eq!(
            reads.bridge_options(&callback).map(|b| b.own),
            Some(order("OD-1", 25).options)
        );
        let by_booking = flow::Route::Booking {
            booking_id: "BK-1".to_owned(),
        };
        assert_eq!(reads.bridge_options(&by_booking), Some(booking));

        // Another order or booking than the step read: storage is asked.
        assert_eq!(reads.bridge_options(&pin("OD-2")), None);
        let other_booking = flow::Route::Booking {
            booking_id: "BK-2".to_owned(),
        };
        assert_eq!(reads.bridge_options(&other_booking), None);
        assert_eq!(StepReads::default().bridge_options(&pin("OD-1")), None);
        // A callback that names no order or booking has no options of its own.
        let bare = flow::Route::Callback {
            order_id: None,
            booking_id: None,
        };
        assert_eq!(
            StepReads::default().bridge_options(&bare),
            Some(BridgeOptions::default())
        );
    }
}
