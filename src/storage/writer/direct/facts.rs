//! The call path's reads ([`CallRead`]) on the writer's own SQLite connection, with the
//! statements and decoders the pool uses ([`crate::storage::call_facts::on_pool`]).

use super::bind::query_optional;
use super::guards::find_active_by_pin;
use crate::storage::Error;
use crate::storage::call_facts::{CallRead, CallerFacts, Fact};
use crate::storage::{bookings, calls, strangers};

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
