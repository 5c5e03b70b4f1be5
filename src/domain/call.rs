//! A call as pinbridge keeps it between webhooks: where it stands ([`CallState`]), and why it
//! was bridged where it was ([`Route`]). Decided by the flow engine (`crate::call::flow`),
//! stored by `crate::storage`.

/// Where a call stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Phase {
    /// Waiting for a valid PIN.
    #[default]
    CollectingPin,
    /// A valid PIN resolved this order; the call is bridged (or about to be) to its customer.
    Resolved { order_id: String },
    /// The caller used up the call's PIN attempts; no one is dialled.
    Exhausted,
}

/// Why the last PIN entry failed: it picks the next prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Digits that match no active order on this virtual number, or are not a PIN at all.
    WrongPin,
    /// The prompt timed out with nothing keyed.
    NoInput,
    /// No PIN was taken: the virtual number's guessing budget is spent and the caller is not
    /// known there. Ends the call's PIN entry.
    TryLater,
}

/// Everything the engine remembers about one call between two webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallState {
    /// PIN entries made so far, valid or not.
    pub attempts: u8,
    pub phase: Phase,
    pub last_failure: Option<Failure>,
    /// The provider reported the call's end: it takes no further PIN or dial step
    /// (DESIGN.md: a replayed request after the call must not reach anyone).
    pub ended: bool,
}

/// What a caller with no route on a virtual number gets, before any PIN: no booking of theirs
/// is active on it, no callback is theirs (a stranger, or a party after the booking ended).
/// Set per virtual number; stored and shown as [`Strangers::as_str`]. Plivo's number masking
/// offers the first three answers to such callers; the fourth asks the business.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Strangers {
    /// Asked for a PIN: an order's, or a booking's party PIN.
    #[default]
    Pin,
    /// Told that there is no one to dial, then hung up: no PIN is taken on the number.
    Message,
    /// Bridged to the desk (`PINBRIDGE_FALLBACK_NUMBER`); without one, as [`Strangers::Message`].
    Desk,
    /// The business is asked (`PINBRIDGE_STRANGERS_WEBHOOK_URL`) which stored party, or the
    /// desk, the caller reaches; [`Strangers::Message`] when it does not answer one in time.
    Webhook,
}

impl Strangers {
    /// `pin`, `message`, `desk` or `webhook`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pin => "pin",
            Self::Message => "message",
            Self::Desk => "desk",
            Self::Webhook => "webhook",
        }
    }

    /// The answer named `pin`, `message`, `desk` or `webhook`; `None` for any other text.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pin" => Some(Self::Pin),
            "message" => Some(Self::Message),
            "desk" => Some(Self::Desk),
            "webhook" => Some(Self::Webhook),
            _ => None,
        }
    }
}

/// Why a call is bridged where it is: recorded with the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The caller keyed the PIN of this order.
    Pin { order_id: String },
    /// The caller is a party of this booking.
    Booking { booking_id: String },
    /// The caller was reached through this virtual number and calls back.
    Callback {
        order_id: Option<String>,
        booking_id: Option<String>,
    },
    /// The call goes to `PINBRIDGE_FALLBACK_NUMBER`: it could not be served (the database
    /// unreachable or too slow; decided by the call session), or its caller has no route on
    /// a number whose [`Strangers`] go to the desk (decided by the engine).
    Fallback,
}

impl Route {
    /// `pin`, `booking`, `callback` or `fallback`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Pin { .. } => "pin",
            Self::Booking { .. } => "booking",
            Self::Callback { .. } => "callback",
            Self::Fallback => "fallback",
        }
    }

    /// The order behind the route, if any.
    pub fn order_id(&self) -> Option<&str> {
        match self {
            Self::Pin { order_id } => Some(order_id),
            Self::Callback { order_id, .. } => order_id.as_deref(),
            Self::Booking { .. } | Self::Fallback => None,
        }
    }

    /// The booking behind the route, if any.
    pub fn booking_id(&self) -> Option<&str> {
        match self {
            Self::Booking { booking_id } => Some(booking_id),
            Self::Callback { booking_id, .. } => booking_id.as_deref(),
            Self::Pin { .. } | Self::Fallback => None,
        }
    }
}
