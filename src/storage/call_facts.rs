//! The reads of the call path, one kind of message each ([`CallRead`]): a call's state, the
//! order a keyed PIN names with the caller's guards, the caller's route on the dialled
//! number (its booking, whom to call back, what the number answers strangers), what a
//! number answers strangers alone, and how a bridge to an order or booking the step did not
//! read is dialled. Every flow
//! reads through [`crate::storage::Writer::read`], which answers them on the writer's own
//! SQLite connection when it has one (first in each batch, one thread wake-up for all that
//! wait) and through the pool otherwise ([`on_pool`]). Each read's statement and decoder are
//! written once, for both connections ([`super::row::StoredRow`]).

use super::Db;
use super::bookings::{self, Peer};
use super::call_options::{self, BridgeOptions};
use super::calls;
use super::orders::{PinLookup, PinQuery};
use super::strangers;
use crate::domain::{CallState, Strangers};

/// One read of the call path.
#[derive(Debug, Clone)]
pub enum CallRead {
    /// The stored state of `provider`'s call `call_sid`; a call started before
    /// `started_before` (unix ms) reads as ended ([`calls::load_state`]).
    State {
        provider: &'static str,
        call_sid: String,
        started_before: i64,
    },
    /// The order a keyed PIN names, with the caller's wrong PINs and the guessing budgets
    /// ([`super::orders::find_active_by_pin`]).
    Pin(PinQuery),
    /// The caller's route on the number it dialled ([`CallerQuery`]).
    Caller(CallerQuery),
    /// What `virtual_number` (E.164) answers a caller with no route ([`strangers::of`]).
    Strangers { virtual_number: String },
    /// How a bridge to the booking `booking_id`, else the order `order_id`, is dialled
    /// ([`call_options::for_bridge`]).
    Bridge {
        order_id: Option<String>,
        booking_id: Option<String>,
    },
}

/// What a [`CallRead`] found, in the same order.
#[derive(Debug)]
pub enum Fact {
    State(Option<CallState>),
    Pin(PinLookup),
    Caller(CallerFacts),
    Strangers(Strangers),
    Bridge(BridgeOptions),
}

/// Whom a caller reaches without a PIN: `caller` (E.164, as the provider sent it) on
/// `virtual_number` (E.164) at `now` (unix ms), called back when it was dialled since
/// `callback_since` (unix ms).
#[derive(Debug, Clone)]
pub struct CallerQuery {
    pub caller: String,
    pub virtual_number: String,
    pub now: i64,
    pub callback_since: i64,
}

/// What storage holds on a caller's route, read in this order, each only when the one before
/// routes nowhere:
/// - `booking`: the caller's active booking on the number ([`bookings::find_peer`]);
/// - `callback`: without one, the last call bridged to the caller on the number, whose order
///   or booking is still active: (its caller as stored, its order id, its booking id)
///   ([`calls::find_callback`]);
/// - `strangers`: without a booking that names a peer, what the number answers a caller with
///   no route ([`strangers::of`]); else [`Strangers::Pin`].
///
/// Which of them routes the call is the caller's rule (the session's), not storage's.
#[derive(Debug, Clone, Default)]
pub struct CallerFacts {
    pub booking: Option<Peer>,
    pub callback: Option<(String, Option<String>, Option<String>)>,
    pub strangers: Strangers,
}

impl CallerFacts {
    /// True when the callback must be read: no booking.
    pub(crate) fn needs_callback(&self) -> bool {
        self.booking.is_none()
    }

    /// True when what the number answers strangers must be read: no booking names a peer.
    pub(crate) fn needs_strangers(&self) -> bool {
        self.booking.as_ref().is_none_or(|b| b.peer.is_none())
    }
}

/// Answers `read` through `db`'s pool: on PostgreSQL, on an in-memory SQLite database, or when
/// the writer has no connection of its own.
///
/// Errors: the database's; [`super::Error::Damaged`] for a stored number that is not E.164.
pub(super) async fn on_pool(db: &Db, read: &CallRead) -> Result<Fact, super::Error> {
    match read {
        CallRead::State {
            provider,
            call_sid,
            started_before,
        } => calls::load_state(db.pool(), provider, call_sid, *started_before)
            .await
            .map(Fact::State),
        CallRead::Pin(query) => super::orders::find_active_by_pin(db, query)
            .await
            .map(Fact::Pin),
        CallRead::Caller(q) => {
            let mut facts = CallerFacts {
                booking: bookings::find_peer(db, &q.caller, &q.virtual_number, q.now).await?,
                ..CallerFacts::default()
            };
            if facts.needs_callback() {
                facts.callback =
                    calls::find_callback(db, &q.virtual_number, &q.caller, q.callback_since, q.now)
                        .await?;
            }
            if facts.needs_strangers() {
                facts.strangers = strangers::of(db, &q.virtual_number).await?;
            }
            Ok(Fact::Caller(facts))
        }
        CallRead::Strangers { virtual_number } => {
            strangers::of(db, virtual_number).await.map(Fact::Strangers)
        }
        CallRead::Bridge {
            order_id,
            booking_id,
        } => call_options::for_bridge(db, order_id.as_deref(), booking_id.as_deref())
            .await
            .map(Fact::Bridge),
    }
}
