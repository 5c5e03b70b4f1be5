//! How the writer's statements run on rusqlite as they run on `sqlx`: values bound to `$n` by
//! number ([`bind_numbered`]), and rusqlite's errors told as the pool's would be
//! ([`to_sqlx`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::storage::Error;
use crate::storage::row::{ColumnValue, StoredRow};

/// A statement's SQL as [`PARAMETER_VALUES`] keys it: its address and length.
type SqlKey = (usize, usize);

thread_local! {
    /// For each statement run here, by the address of its SQL (every statement here is a
    /// `'static` string, so an address names one text for the life of the process): the value
    /// (`n - 1` of `$n`) bound to each of its parameters, in SQLite's order. Read from SQLite
    /// once a statement, by [`parameter_values`].
    static PARAMETER_VALUES: RefCell<HashMap<SqlKey, Box<[usize]>>> =
        RefCell::new(HashMap::new());
}

/// The value bound to each parameter of `statement`, in SQLite's order: `n - 1` for `$n`,
/// by the number in its name, whatever order the parameters first appear in. The name of the
/// first parameter not named `$n` is the error.
fn parameter_values(statement: &rusqlite::Statement<'_>) -> Result<Box<[usize]>, String> {
    (1..=statement.parameter_count())
        .map(|index| {
            let name = statement.parameter_name(index).unwrap_or_default();
            name.strip_prefix('$')
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1))
                .ok_or_else(|| name.to_owned())
        })
        .collect()
}

/// Binds `values[n - 1]` to each parameter `$n` of `statement`, prepared from `sql`, as
/// `sqlx` binds the same statements ([`parameter_values`]). Reading each parameter's name
/// back from SQLite at every run (a walk of the statement's list of names, then a C string's
/// length and UTF-8 check) was 2 % of a PIN step's instructions; the order is read once a
/// statement and kept ([`PARAMETER_VALUES`]). A parameter without a value, or not named `$n`,
/// is an error.
fn bind_numbered(
    statement: &mut rusqlite::Statement<'_>,
    sql: &'static str,
    values: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<()> {
    if statement.parameter_count() == 0 {
        return Ok(());
    }
    let key: SqlKey = (sql.as_ptr() as usize, sql.len());
    PARAMETER_VALUES.with_borrow_mut(|known| {
        let order = match known.entry(key) {
            Entry::Occupied(kept) => kept.into_mut(),
            Entry::Vacant(new) => new.insert(
                parameter_values(statement).map_err(rusqlite::Error::InvalidParameterName)?,
            ),
        };
        for (index, &n) in order.iter().enumerate() {
            let value = values
                .get(n)
                .ok_or_else(|| rusqlite::Error::InvalidParameterName(format!("${}", n + 1)))?;
            statement.raw_bind_parameter(index + 1, value)?;
        }
        Ok(())
    })
}

/// Runs `statement`, prepared from `sql`, once with `values` ([`bind_numbered`]); the rows
/// it changed.
pub(super) fn run(
    statement: &mut rusqlite::Statement<'_>,
    sql: &'static str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<usize, Error> {
    bind_numbered(statement, sql, values)
        .and_then(|()| statement.raw_execute())
        .map_err(to_sqlx)
}

/// Runs `sql` (prepared once, kept) with `values`; the rows it changed.
pub(super) fn execute(
    conn: &rusqlite::Connection,
    sql: &'static str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<usize, Error> {
    let mut statement = conn.prepare_cached(sql).map_err(to_sqlx)?;
    run(&mut statement, sql, values)
}

/// Runs `sql` (prepared once, kept) with `values` and reads its first row with `read`;
/// [`Error::Statement`] of [`sqlx::Error::RowNotFound`] without one.
pub(super) fn query_row<T>(
    conn: &rusqlite::Connection,
    sql: &'static str,
    values: &[&dyn rusqlite::ToSql],
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<T, Error> {
    let mut statement = conn.prepare_cached(sql).map_err(to_sqlx)?;
    bind_numbered(&mut statement, sql, values).map_err(to_sqlx)?;
    let mut rows = statement.raw_query();
    match rows.next().map_err(to_sqlx)? {
        Some(row) => read(row).map_err(to_sqlx),
        None => Err(sqlx::Error::RowNotFound.into()),
    }
}

/// Runs `sql` (prepared once, kept) with `values` and decodes its first row, if it has one,
/// with `decode`, as the pool's `fetch_optional` would.
pub(super) fn query_optional<T>(
    conn: &rusqlite::Connection,
    sql: &'static str,
    values: &[&dyn rusqlite::ToSql],
    decode: impl FnOnce(&rusqlite::Row<'_>) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    let mut statement = conn.prepare_cached(sql).map_err(to_sqlx)?;
    bind_numbered(&mut statement, sql, values).map_err(to_sqlx)?;
    let mut rows = statement.raw_query();
    match rows.next().map_err(to_sqlx)? {
        Some(row) => decode(row).map(Some),
        None => Ok(None),
    }
}

impl StoredRow for rusqlite::Row<'_> {
    fn column<T: ColumnValue>(&self, name: &str) -> Result<T, Error> {
        self.get(name).map_err(to_sqlx)
    }
}

/// A rusqlite error as the `sqlx::Error` the pool would have returned; see the module's
/// documentation.
pub(super) fn to_sqlx(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::{
        CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, ReadOnly, SystemIoFailure,
    };
    let e = match e.sqlite_error_code() {
        Some(
            DatabaseBusy | DatabaseLocked | SystemIoFailure | DiskFull | CannotOpen | ReadOnly,
        ) => sqlx::Error::Io(std::io::Error::other(format!("SQLite: {e}"))),
        _ => sqlx::Error::Protocol(format!("SQLite: {e}")),
    };
    e.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values go to parameters by the number in their names, not by where they first
    /// appear; a parameter without a value is refused.
    #[test]
    fn values_are_bound_by_the_number_of_their_parameter() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = "select $3, $1 || $2, $1";
        let got: (i64, String, String) = query_row(&conn, sql, &[&"a", &"b", &7], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
        assert_eq!(got, (7, "ab".to_owned(), "a".to_owned()));
        let short = query_row(&conn, sql, &[&"a", &"b"], |row| row.get::<_, i64>(0));
        assert!(
            matches!(&short, Err(Error::Statement(sqlx::Error::Protocol(m))) if m.contains("$3")),
            "{short:?}"
        );
        let none = query_row(&conn, "select 1 where $1 = 2", &[&1], |row| {
            row.get::<_, i64>(0)
        });
        assert!(
            matches!(none, Err(Error::Statement(sqlx::Error::RowNotFound))),
            "{none:?}"
        );
        // The order read from the first statement is kept for it alone: run again after
        // another, it binds as before.
        let again: (i64, String, String) = query_row(&conn, sql, &[&"c", &"d", &8], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
        assert_eq!(again, (8, "cd".to_owned(), "c".to_owned()));
    }
}
