//! What goes wrong at the storage boundary, in storage's own terms: callers learn whether
//! the database was unavailable (answer the safe fallback, say 503, keep a call's end for
//! later) or refused something, never a `sqlx` type.

/// A storage operation that did not complete.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not take the operation: unreachable, gone, too slow, full or
    /// read-only ([`super::is_unavailable`] says which `sqlx` errors these are).
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database refused a statement: a constraint, a value it can not store.
    #[error("the database refused a statement: {0}")]
    Statement(#[source] sqlx::Error),
    /// A stored value is not what pinbridge writes (a damaged row).
    #[error("a stored value is damaged: {0}")]
    Damaged(String),
    /// The writer's thread or task is gone: the process is stopping, or the writer failed.
    /// Told as the database unavailable, since nothing more can be written.
    #[error("the writer is gone")]
    WriterGone,
    /// A bug in storage itself (the writer answered a write with another's result): never
    /// the database's doing.
    #[error("storage went wrong: {0}")]
    Internal(String),
}

/// A storage operation's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the database could not take the operation ([`Error::Unavailable`], or the
    /// writer gone): the caller answers its safe fallback or 503, and may try again later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::WriterGone)
    }

    /// True when the value refused was a text holding a NUL character, which PostgreSQL can
    /// not store ([`super::is_unstorable_text`]).
    pub fn is_unstorable_text(&self) -> bool {
        matches!(self, Self::Statement(e) if super::is_unstorable_text(e))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        if super::is_unavailable(&e) {
            Self::Unavailable(e)
        } else {
            Self::Statement(e)
        }
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Self::from(sqlx::Error::Migrate(Box::new(e)))
    }
}
