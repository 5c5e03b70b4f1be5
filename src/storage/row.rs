//! A row as the call path's reads decode it, from either connection that answers them: the
//! pool's (`sqlx::any::AnyRow`) or the writer's own SQLite connection's (`rusqlite::Row`,
//! implemented in the writer). Each read's decoder is written once against [`StoredRow`], so
//! that both connections read a column the same way.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Error;

/// A value both connections decode from a column: text, integers, and their `Option`s.
pub(crate) trait ColumnValue:
    for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl<T> ColumnValue for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

/// A row of a statement of the call path, read by column name.
pub(crate) trait StoredRow {
    /// The value of the column `name`.
    ///
    /// Errors: no such column, or a value of another type ([`Error::Statement`]).
    fn column<T: ColumnValue>(&self, name: &str) -> Result<T, Error>;
}

impl StoredRow for AnyRow {
    fn column<T: ColumnValue>(&self, name: &str) -> Result<T, Error> {
        Ok(self.try_get(name)?)
    }
}
