//! A caller with no route on a number that asks the business ([`Strangers::Webhook`]): the
//! question, within its own timeout and on top of the step's budget, and its answer checked
//! against storage, so that only a stored party, order or the desk is ever dialled.

use super::{Inbound, Sessions, answer::extend_budget, facts::engine_order};
use crate::call::flow::{BookingPeer, Chosen};
use crate::domain::clock::now_ms;
use crate::outbound::strangers::{Choice, Question};
use crate::storage;

impl Sessions {
    /// Whom the business chose for `call`'s caller, checked: a party of an active booking
    /// on the dialled number, an active order of it, or the desk. `None` (the message) when
    /// no question can be asked (no URL, no dialled number), it was not answered in time or
    /// well, or it named nothing active on this number. Logged with the CallSid only.
    ///
    /// Errors: the database's, while checking the answer.
    pub(super) async fn ask_business(
        &self,
        call: &Inbound,
    ) -> Result<Option<Chosen>, storage::Error> {
        let (Some(webhook), Some(vn)) = (&self.strangers_webhook, &call.virtual_number) else {
            return Ok(None);
        };
        // The business's time is not the database's: the step's budget grows by it.
        extend_budget(webhook.timeout());
        let question = Question {
            provider: call.provider,
            call_sid: call.call_sid.as_ref(),
            virtual_number: vn.as_ref(),
            caller: call.caller.as_ref().map(AsRef::as_ref),
        };
        let choice = match webhook.ask(&question).await {
            Ok(choice) => choice,
            Err(why) => {
                crate::metrics::strangers_question(why.label());
                tracing::warn!(provider = call.provider, call.sid = %call.call_sid.for_log(), error = %why, "the business did not choose for a caller with no route; the message");
                return Ok(None);
            }
        };
        let chosen = self.checked(&choice, vn.as_ref()).await?;
        crate::metrics::strangers_question(if chosen.is_some() {
            "chosen"
        } else {
            "not_active"
        });
        if chosen.is_none() {
            tracing::warn!(provider = call.provider, call.sid = %call.call_sid.for_log(), "the business chose no active party of this number; the message");
        }
        Ok(chosen)
    }

    /// `choice` as the engine may dial it: the stored number of the party or order it
    /// names, when that is active on `virtual_number`.
    async fn checked(
        &self,
        choice: &Choice,
        virtual_number: &str,
    ) -> Result<Option<Chosen>, storage::Error> {
        let now = now_ms();
        Ok(match choice {
            Choice::Desk => Some(Chosen::Desk),
            Choice::Party {
                booking_id,
                party_a,
            } => storage::strangers::chosen_party(
                &self.db,
                booking_id,
                *party_a,
                virtual_number,
                now,
            )
            .await?
            .map(|peer| {
                Chosen::Party(BookingPeer {
                    booking_id: booking_id.clone(),
                    peer,
                })
            }),
            Choice::Order { order_id } => {
                storage::strangers::chosen_order(&self.db, order_id, virtual_number, now)
                    .await?
                    .map(|o| Chosen::Order(engine_order(&o)))
            }
        })
    }
}
