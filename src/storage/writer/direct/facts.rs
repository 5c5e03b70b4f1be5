//! The call path's reads ([`CallRead`]) on the writer's own SQLite connection, with the
//! statements and decoders the pool uses ([`crate::storage::call_facts::on_pool`]).

use super::bind::query_optional;
use super::guards::find_active_by_pin;
use crate::storage::Error;
use crate::storage::call_facts::{CallRead, CallerFacts, Fact};
use crate::storage::{bookings, call_options, calls, strangers};

/// Answers `read` on `conn`.
///
/// Errors: the database's; [`Error::Damaged`] for a stored number that is not E.164.
pub fn read(conn: &rusqlite::Connection, read: &CallRead) -> Result<Fact, Error> {
    match read {
        CallRead::State {
            provider,
            call_sid,
            started_before,
        } => query_optional(
            conn,
            calls::LOAD_STATE,
            &[provider, call_sid, started_before],
            |row| calls::state_from_row(row),
        )
        .map(Fact::State),
        CallRead::Pin(query) => find_active_by_pin(conn, query).map(Fact::Pin),
        CallRead::Caller(q) => {
            let mut facts = CallerFacts {
                booking: query_optional(
                    conn,
                    bookings::FIND_PEER,
                    &[&q.caller, &q.virtual_number, &q.now],
                    |row| bookings::peer_from_row(row, &q.caller),
                )?,
                ..CallerFacts::default()
            };
            if facts.needs_callback() {
                facts.callback = query_optional(
                    conn,
                    calls::CALLBACK,
                    &[&q.virtual_number, &q.caller, &q.callback_since, &q.now],
                    |row| calls::callback_from_row(row),
                )?;
            }
            if facts.needs_strangers() {
                facts.strangers = strangers_of(conn, &q.virtual_number)?;
            }
            Ok(Fact::Caller(facts))
        }
        CallRead::Strangers { virtual_number } => {
            strangers_of(conn, virtual_number).map(Fact::Strangers)
        }
        CallRead::Bridge {
            order_id,
            booking_id,
        } => {
            let found = match (booking_id, order_id) {
                (Some(booking_id), _) => {
                    query_optional(conn, &call_options::BOOKING_BRIDGE, &[booking_id], |row| {
                        call_options::booking_bridge_from_row(row)
                    })?
                }
                (None, Some(order_id)) => {
                    query_optional(conn, &call_options::ORDER_BRIDGE, &[order_id], |row| {
                        call_options::order_bridge_from_row(row)
                    })?
                }
                (None, None) => None,
            };
            Ok(Fact::Bridge(found.unwrap_or_default()))
        }
    }
}

/// What `virtual_number` answers strangers ([`strangers::of`]) on `conn`.
fn strangers_of(
    conn: &rusqlite::Connection,
    virtual_number: &str,
) -> Result<crate::domain::Strangers, Error> {
    query_optional(conn, strangers::OF, &[&virtual_number], |row| {
        strangers::from_row(row)
    })
    .map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::super::Connection;
    use super::super::tests::file_db;
    use super::*;
    use crate::domain::{NewBooking, PhoneNumber, Region};
    use crate::storage::call_facts::{CallerQuery, on_pool};
    use crate::storage::{Db, pool};

    /// The fact `read` finds on the writer's own connection and through the pool, which must
    /// be the same (compared as printed: the facts hold no float).
    async fn both(db: &Db, conn: &Connection, read: CallRead) -> String {
        let direct = format!("{:?}", super::read(conn.alone(), &read).unwrap());
        let pooled = format!("{:?}", on_pool(db, &read).await.unwrap());
        assert_eq!(direct, pooled, "{read:?}");
        direct
    }

    /// Every read of the call path finds the same on both connections: a party's booking, a
    /// stranger on a number that answers strangers with a message, a caller on a number
    /// outside the pool, and a call's state.
    #[tokio::test]
    async fn the_call_paths_reads_find_what_the_pool_finds() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, timeout) = db.sqlite_file().unwrap();
        let mut conn = Connection::open(path, timeout).unwrap();
        let india = Region::parse("IN").unwrap();
        let number = |n: &str| PhoneNumber::parse(n, india).unwrap();
        let vn = "+917314853246";
        pool::add(&db, vn, "exotel", false, None, 1_000)
            .await
            .unwrap();
        strangers::set(&db, vn, crate::domain::Strangers::Message)
            .await
            .unwrap();
        let (rider, driver) = ("+919812345678", "+919988776655");
        let new = NewBooking {
            party_a: number(rider),
            party_b: Some(number(driver)),
            reference: Some("TRIP-1".into()),
            expires_at_ms: 100_000,
            virtual_number: None,
            provider: None,
            pin_mode: crate::domain::PinMode::default(),
            country: None,
            callers: crate::domain::Callers::default(),
            party_a_alternates: Vec::new(),
            party_b_alternates: Vec::new(),
        };
        bookings::create(&db, &new, "BK-1", 0, 2_000).await.unwrap();
        let caller = |caller: &str, virtual_number: &str| {
            CallRead::Caller(CallerQuery {
                caller: caller.into(),
                virtual_number: virtual_number.into(),
                now: 3_000,
                callback_since: 0,
            })
        };

        let found = both(&db, &conn, caller(rider, vn)).await;
        assert!(found.contains("BK-1") && found.contains(driver), "{found}");
        let stranger = both(&db, &conn, caller("+919123456789", vn)).await;
        assert!(
            stranger.contains("booking: None") && stranger.contains("Message"),
            "{stranger}"
        );
        let outside = both(&db, &conn, caller(rider, "+918088919888")).await;
        assert!(outside.contains("strangers: Pin"), "{outside}");
        let strangers_only = CallRead::Strangers {
            virtual_number: vn.into(),
        };
        assert_eq!(both(&db, &conn, strangers_only).await, "Strangers(Message)");

        conn.in_transaction(|tx| {
            super::super::start(tx, "exotel", "CA1", Some(rider), Some(vn), 3_000)
        })
        .unwrap();
        let state = |call_sid: &str| CallRead::State {
            provider: "exotel",
            call_sid: call_sid.into(),
            started_before: 0,
        };
        let started = both(&db, &conn, state("CA1")).await;
        assert!(started.starts_with("State(Some("), "{started}");
        assert_eq!(both(&db, &conn, state("CA2")).await, "State(None)");

        // How a bridge is dialled: a booking's options with its reference and party A (over
        // an order named beside it), an order's, and nothing for rows that are not there.
        let record = crate::domain::CallOptionsChange {
            record: Some(Some(true)),
            ..Default::default()
        };
        call_options::change(&db, call_options::Owner::Booking, "BK-1", &record)
            .await
            .unwrap();
        let order = crate::domain::NewOrder {
            order_id: "ORD-9".into(),
            customer: number("09812345670"),
            pin: crate::domain::PinChoice::Given(crate::domain::Pin::parse("4321", 4, 8).unwrap()),
            virtual_number: None,
            expires_at_ms: 100_000,
            allowed_callers: Vec::new(),
        };
        let pin = crate::domain::Pin::parse("4321", 4, 8).unwrap();
        crate::storage::orders::insert(&db, &order, pin, 1_000)
            .await
            .unwrap();
        let ring = crate::domain::CallOptionsChange {
            ring_timeout_secs: Some(Some(25)),
            ..Default::default()
        };
        call_options::change(&db, call_options::Owner::Order, "ORD-9", &ring)
            .await
            .unwrap();
        let bridge = |order_id: Option<&str>, booking_id: Option<&str>| CallRead::Bridge {
            order_id: order_id.map(str::to_owned),
            booking_id: booking_id.map(str::to_owned),
        };
        let booked = both(&db, &conn, bridge(Some("ORD-9"), Some("BK-1"))).await;
        assert!(
            booked.contains("record: Some(true)")
                && booked.contains("TRIP-1")
                && booked.contains(rider)
                && booked.contains("ring_timeout_secs: None"),
            "{booked}"
        );
        let ordered = both(&db, &conn, bridge(Some("ORD-9"), None)).await;
        assert!(
            ordered.contains("ring_timeout_secs: Some(25)") && ordered.contains("party_a: None"),
            "{ordered}"
        );
        let nothing = format!("{:?}", Fact::Bridge(Default::default()));
        assert_eq!(both(&db, &conn, bridge(Some("ORD-0"), None)).await, nothing);
        assert_eq!(both(&db, &conn, bridge(None, Some("BK-0"))).await, nothing);
        assert_eq!(both(&db, &conn, bridge(None, None)).await, nothing);
    }
}
