//! Storage: the only module with SQL.
//!
//! Plain async functions over one [`Db`] handle, on SQLite or PostgreSQL through `sqlx::Any`.
//! The SQL is the portable subset both accept: `$1` placeholders, `TEXT` and `BIGINT` columns,
//! times as unix milliseconds (`reference/rust-anchors-and-crates.md` §3.3).

pub mod admin_sessions;
pub mod attempts;
pub mod bookings;
pub mod calls;
pub mod greetings;
pub mod orders;
pub mod pool;
pub mod retention;
pub mod secrets;
pub mod stats;
pub mod steps;

use std::time::Duration;

use anyhow::Context;
use sqlx::{Any, Executor, Transaction};
use sqlx::{AnyPool, any::AnyPoolOptions};

/// The database engine behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to the database, cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// Connects to `url` (`sqlite://FILE`, `sqlite::memory:`, `postgres://...`).
    ///
    /// A SQLite file is created when missing and switched to WAL mode; each SQLite connection
    /// runs with `synchronous = NORMAL`, which in WAL mode never corrupts the database and can
    /// lose only the last transactions on a power cut (not on a process crash).
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let (url, backend) = normalise_url(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        if backend == Backend::Sqlite {
            // Persistent in the file; must run outside a transaction, so not in a migration.
            pool.execute("PRAGMA journal_mode = WAL")
                .await
                .context("switching SQLite to WAL mode")?;
        }
        Ok(Self { pool, backend })
    }

    /// Applies the pending migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying database migrations")
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a write transaction that excludes every other such transaction, so that a
    /// check followed by a write (a PIN not yet active, a number no party holds) can not race.
    /// SQLite takes its write lock at once (`BEGIN IMMEDIATE`); PostgreSQL takes a
    /// transaction-scoped advisory lock, which covers several instances on one database.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("select pg_advisory_xact_lock(7231000001)")
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// True once [`Db::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Adds `mode=rwc` to SQLite URLs so the file is created when missing.
fn normalise_url(url: &str) -> anyhow::Result<(String, Backend)> {
    let url = url.trim();
    if url.starts_with("sqlite:") {
        if url.contains(":memory:") || url.contains("mode=") {
            return Ok((url.to_owned(), Backend::Sqlite));
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        return Ok((format!("{url}{sep}mode=rwc"), Backend::Sqlite));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((url.to_owned(), Backend::Postgres));
    }
    anyhow::bail!("PINBRIDGE_DATABASE_URL must start with sqlite: or postgres://")
}

/// Checks that the database answers a trivial query.
pub async fn ping(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query("select 1").execute(db.pool()).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_are_created_when_missing() {
        assert_eq!(
            normalise_url("sqlite://pinbridge.db").unwrap(),
            ("sqlite://pinbridge.db?mode=rwc".into(), Backend::Sqlite)
        );
        assert_eq!(
            normalise_url("sqlite://x.db?mode=ro").unwrap().0,
            "sqlite://x.db?mode=ro"
        );
        assert_eq!(
            normalise_url("postgres://u@localhost/db").unwrap().1,
            Backend::Postgres
        );
        assert!(normalise_url("mysql://x").is_err());
    }
}
