//! What an event says: its kind (the posted `type`), its `data` for each kind, and the
//! envelope posted around it. Ids, the provider, the CallSid, outcomes and durations; never a
//! phone number or a PIN.

use serde_json::Value;

/// What happened. The `type` of the posted JSON is [`EventKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A bridged call ended after the dialled party answered.
    CallCompleted,
    /// A call ended without a conversation: the dialled party did not answer, was busy, the
    /// dial failed, the caller hung up first, or no PIN was accepted.
    CallUnanswered,
    /// A caller was locked out of PIN entry after too many wrong PINs.
    PinLocked,
    /// A virtual number's guessing budget was spent: unknown callers are refused there until
    /// it leaks back ([`crate::storage::attempts`]).
    PinBudgetSpent,
    /// A booking reached its `expires_at` without being closed.
    BookingExpired,
    /// A call whose end report never came was closed by the reconciler, with the outcome its
    /// provider's call-details API gave, or `unknown`.
    CallReconciled,
    /// A booking was refused `pool_exhausted`: no number of its country and provider was free
    /// for both parties.
    PoolAllocationRefused,
    /// A booking left the busiest party of its country and provider fewer free numbers than
    /// `PINBRIDGE_POOL_HEADROOM_ALERT`.
    PoolHeadroomLow,
    /// A booking was moved to another virtual number because its number was marked
    /// unhealthy: the business tells the parties the new number.
    BookingVirtualNumberChanged,
}

impl EventKind {
    /// `call.completed`, `call.unanswered`, `pin.locked`, `pin.budget_spent`,
    /// `booking.expired`, `call.reconciled`, `pool.allocation_refused`, `pool.headroom_low`,
    /// `booking.virtual_number_changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CallCompleted => "call.completed",
            Self::CallUnanswered => "call.unanswered",
            Self::PinLocked => "pin.locked",
            Self::PinBudgetSpent => "pin.budget_spent",
            Self::BookingExpired => "booking.expired",
            Self::CallReconciled => "call.reconciled",
            Self::PoolAllocationRefused => "pool.allocation_refused",
            Self::PoolHeadroomLow => "pool.headroom_low",
            Self::BookingVirtualNumberChanged => "booking.virtual_number_changed",
        }
    }

    /// The kind named `name` ([`EventKind::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::CallCompleted,
            Self::CallUnanswered,
            Self::PinLocked,
            Self::PinBudgetSpent,
            Self::BookingExpired,
            Self::CallReconciled,
            Self::PoolAllocationRefused,
            Self::PoolHeadroomLow,
            Self::BookingVirtualNumberChanged,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }
}

/// The `data` of a `call.completed` or `call.unanswered` event. Holds no phone number: the
/// business finds the parties through `order_id` or `booking_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallData {
    /// `exotel`, `twilio`, ...
    pub provider: String,
    /// The provider's call id.
    pub call_sid: String,
    /// [`crate::call::flow::Outcome::as_str`]: `connected`, `no_answer`, ...
    pub outcome: String,
    /// `pin`, `booking`, `callback` or `fallback`; absent when no one was dialled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_id: Option<String>,
    /// Seconds from the dial to its end, ringing included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dial_seconds: Option<i64>,
    /// Seconds of conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub talk_seconds: Option<i64>,
    /// PIN entries the call made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_attempts: Option<i64>,
}

impl CallData {
    /// The data of the call `record`, ended with `outcome`.
    pub fn of(record: crate::storage::calls::CallRecord, outcome: crate::domain::Outcome) -> Self {
        Self {
            provider: record.provider,
            call_sid: record.call_sid,
            outcome: outcome.as_str().to_owned(),
            route: record.route,
            order_id: record.order_id,
            booking_id: record.booking_id,
            dial_seconds: record.dial_secs,
            talk_seconds: record.talk_secs,
            pin_attempts: Some(record.pin_attempts),
        }
    }

    /// As the `data` argument of [`Events::emit`].
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The `data` of a `call.reconciled` event: the call's, with why the reconciler closed it
/// and what the provider said. Holds no phone number.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReconciledData {
    #[serde(flatten)]
    pub call: CallData,
    /// `provider_status` (the provider's call-details API said how it ended), `lookup_errors`
    /// (it could not be asked, repeatedly), or `gave_up` (still open at the give-up deadline,
    /// or the provider has no call-details API pinbridge can ask).
    pub reason: String,
    /// The provider's word for how the call ended (`completed`, `no-answer`, Plivo's hangup
    /// cause), when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
}

impl ReconciledData {
    /// As the `data` argument of [`Events::emit`].
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The `data` of a `pin.locked` event. Holds no phone number and no digits.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PinLockedData {
    /// `exotel`, `twilio`, ...
    pub provider: String,
    /// The call in which the lockout happened.
    pub call_sid: String,
    /// What is locked: `caller` (the caller's number).
    pub scope: String,
}

impl PinLockedData {
    /// As the `data` argument of [`Events::emit`].
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The `data` of `pin.budget_spent`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PinBudgetSpentData {
    /// `exotel`, `twilio`, ...
    pub provider: String,
    /// The call whose wrong PIN spent the last of the budget.
    pub call_sid: String,
    /// The virtual number (E.164) whose budget is spent, or `*`: the budget of the orders
    /// valid on every number, whose spending refuses unknown callers on every number.
    pub virtual_number: String,
    /// Seconds until unknown callers are taken again, unless more wrong PINs spend from it
    /// meanwhile.
    pub reopens_in_secs: u64,
}

impl PinBudgetSpentData {
    /// As the `data` argument of [`Events::emit`].
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The `data` of `pool.allocation_refused` and `pool.headroom_low`: the part of the pool
/// concerned and how full it is; no party's number.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PoolData {
    /// ISO 3166-1 alpha-2 of the numbers asked for; `""`: any country.
    pub country: String,
    /// `exotel`, `twilio`, ...; `any` when the booking named no provider.
    pub provider: String,
    /// Numbers of that country and provider allocation may give (not reserved, not drained).
    pub allocatable_numbers: i64,
    /// The most bookings one party has active on them.
    pub busiest_party_load: i64,
    /// `allocatable_numbers - busiest_party_load`: further bookings the busiest party can get.
    pub headroom: i64,
    /// `PINBRIDGE_POOL_HEADROOM_ALERT`.
    pub threshold: u32,
}

impl PoolData {
    /// As the `data` argument of [`Events::emit`].
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The `data` of `booking.virtual_number_changed`: the booking and its old and new virtual
/// numbers (the business's own numbers, E.164; no party's number).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NumberChangedData {
    pub booking_id: String,
    /// The number marked unhealthy; a party calling it still reaches the other party until
    /// `grace_until`.
    pub old_virtual_number: String,
    /// The number the booking has now.
    pub new_virtual_number: String,
    /// `virtual_number_unhealthy`.
    pub reason: &'static str,
    /// Who marked the old number unhealthy: `operator` or `heartbeat`.
    pub marked_by: &'static str,
    /// RFC 3339: until when the old number still reaches the other party
    /// (`PINBRIDGE_HEALTH_GRACE`).
    pub grace_until: String,
}

impl NumberChangedData {
    /// As the `data` argument of [`Events::emit`].
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The posted JSON, its fields in this order.
#[derive(serde::Serialize)]
pub(super) struct Envelope<'a> {
    pub(super) id: &'a str,
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    /// RFC 3339.
    pub(super) created_at: String,
    pub(super) data: &'a Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_round_trip_and_call_data_holds_no_number() {
        for k in [
            EventKind::CallCompleted,
            EventKind::CallUnanswered,
            EventKind::PinLocked,
            EventKind::BookingExpired,
        ] {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        let data = CallData {
            provider: "exotel".into(),
            call_sid: "c1".into(),
            outcome: "connected".into(),
            talk_seconds: Some(31),
            ..CallData::default()
        }
        .to_json();
        assert_eq!(
            data,
            json!({"provider": "exotel", "call_sid": "c1", "outcome": "connected", "talk_seconds": 31})
        );
    }
}
