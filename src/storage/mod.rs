//! Storage: the only module with SQL.
//!
//! Plain async functions over one [`Db`] handle, on SQLite or PostgreSQL through `sqlx::Any`.
//! The SQL is the portable subset both accept: `$1` placeholders, `TEXT` and `BIGINT` columns,
//! times as unix milliseconds (`reference/rust-anchors-and-crates.md` §3.3).
//!
//! Owns: the schema (`migrations/`), every statement, the pool, and the [`Writer`] that applies
//! the call path's writes many to a transaction (private: on a SQLite file a thread of its own
//! over rusqlite, whose types never leave this module). Rows come back as domain types
//! ([`crate::domain::PhoneNumber`], [`crate::domain::Outcome`]); errors as [`Error`].
//! Must not touch: business rules (which order is admitted, what a wrong PIN means: the
//! callers decide; where a step must check and write at once, a conditional write), the flow
//! engine, HTTP.

pub mod admin_sessions;
pub mod alternates;
pub mod attempts;
pub mod backup;
pub mod bookings;
pub mod call_facts;
pub mod call_options;
pub mod calls;
pub mod changes;
mod error;
pub mod greetings;
pub mod health;
mod keyset;
pub mod orders;
pub mod outbound;
pub mod outbox;
pub mod pool;
pub mod retention;
pub(crate) mod row;
pub mod secrets;
pub mod seen;
pub mod stats;
pub mod steps;
pub mod strangers;
pub mod trusted_callers;
mod writer;

pub use error::{Error, Result};
pub use writer::{Writer, WrongPin};

use crate::domain::{Outcome, PhoneNumber};

/// A number that pinbridge stored in E.164 (from a [`PhoneNumber`]), read back from
/// `column`.
///
/// Errors: [`Error::Damaged`] when the stored text is not E.164; the message names the
/// column, never the value (it may be a phone number).
pub(crate) fn stored_number(column: &str, stored: &str) -> Result<PhoneNumber> {
    PhoneNumber::from_e164(stored)
        .ok_or_else(|| Error::Damaged(format!("{column} is not an E.164 number")))
}

/// An outcome that pinbridge stored by its name ([`Outcome::as_str`]), read back from
/// `column`.
///
/// Errors: [`Error::Damaged`] for any other text.
pub(crate) fn stored_outcome(column: &str, stored: &str) -> Result<Outcome> {
    Outcome::parse(stored).ok_or_else(|| Error::Damaged(format!("{column} is not an outcome")))
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The SQLite database file, for the writer's own connection ([`Writer`]); `None` on
    /// PostgreSQL and for an in-memory SQLite database.
    sqlite_file: Option<std::path::PathBuf>,
    /// SQLite's `busy_timeout`, PostgreSQL's `statement_timeout`.
    statement_timeout: Duration,
    /// Set by the background checkpoint after each pass; the writer then finishes the
    /// checkpoint itself ([`Db::take_checkpoint_passed`]).
    checkpoint_passed: Arc<AtomicBool>,
    /// SQLite: the most bytes the database file may hold (`PINBRIDGE_SQLITE_MAX_SIZE_MB`).
    sqlite_max_bytes: Option<u64>,
    /// Whether writes succeed, as the latest one told ([`health`]).
    write_health: Arc<health::WriteHealth>,
    /// Wakes the followers of [`changes`] in this instance.
    changed: Arc<tokio::sync::watch::Sender<()>>,
    /// PostgreSQL: the URL [`changes`] listens with, on a connection of its own.
    listen_url: Option<secrecy::SecretString>,
}

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How a [`Db`] pools its connections: the `PINBRIDGE_DATABASE_*` settings.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// Longest wait for a connection, including opening one.
    pub acquire_timeout: Duration,
    /// Longest one statement may run (PostgreSQL `statement_timeout`), or wait for another
    /// writer (SQLite `busy_timeout`).
    pub statement_timeout: Duration,
    /// SQLite only: the most bytes the database file may hold; past it writes fail as on a
    /// full disk (SQLite's `max_page_count`, on every connection). `None`: no bound but
    /// SQLite's own.
    pub sqlite_max_bytes: Option<u64>,
}

impl PoolSettings {
    /// One connection, generous timeouts: for commands and tests.
    pub fn single() -> Self {
        Self {
            max_connections: 1,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            sqlite_max_bytes: None,
        }
    }
}

impl Db {
    /// Connects to `url` (`sqlite://FILE`, `sqlite::memory:`, `postgres://...`).
    ///
    /// A SQLite file is created when missing and switched to WAL mode; each SQLite connection
    /// runs with `synchronous = NORMAL`, which in WAL mode never corrupts the database and can
    /// lose only the last transactions on a power cut (not on a process crash). Each
    /// PostgreSQL connection runs with `statement_timeout` set. Connections that broke (a
    /// database restart) are noticed when next taken from the pool and replaced, so service
    /// resumes by itself. While writes fail ([`health`]), a PostgreSQL connection is closed
    /// instead of going back to the pool: a connection keeps the read-only default it was
    /// opened with (a standby's, or `default_transaction_read_only`), so only a new one finds
    /// the database writable again.
    ///
    /// Errors: a malformed URL, or a database that can not be reached now.
    pub async fn connect(url: &str, pool: &PoolSettings) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let (url, backend) = normalise_url(url)?;
        let pool_settings_timeout = pool.statement_timeout;
        let timeout_ms = pool
            .statement_timeout
            .as_millis()
            .clamp(1, i32::MAX as u128);
        let max_bytes = pool.sqlite_max_bytes;
        let write_health = Arc::new(health::WriteHealth::default());
        let pool_opts = AnyPoolOptions::new()
            // A pooled PostgreSQL connection may have been cut (a database restart): check it
            // before use, so service resumes by itself. A SQLite file can not go away under
            // an open connection, and the check would cost a round trip to the connection's
            // worker thread on every statement.
            .test_before_acquire(backend == Backend::Postgres)
            .max_connections(pool.max_connections.max(1))
            .min_connections(pool.min_connections.min(pool.max_connections.max(1)))
            .acquire_timeout(pool.acquire_timeout)
            // On a full disk or an I/O error SQLite may roll a transaction back by itself;
            // sqlx's own rollback then fails and the connection still counts itself inside a
            // transaction, so that every later `begin` on it fails ("non-zero transaction
            // depth"). Such a connection is closed rather than handed out. A check of a
            // counter, no round trip: the rollback was settled when the connection came back.
            .before_acquire(|conn, _meta| {
                let settled = !sqlx::Connection::is_in_transaction(conn);
                Box::pin(async move { Ok(settled) })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    // Numbers only: the statements can carry no outside text.
                    if conn.backend_name().eq_ignore_ascii_case("sqlite") {
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        // Checkpoints run in the background ([`checkpoint_every_second`]),
                        // not in the commit that happens to cross 1,000 pages.
                        conn.execute("PRAGMA wal_autocheckpoint = 0").await?;
                        conn.execute(sqlx::AssertSqlSafe(format!(
                            "PRAGMA busy_timeout = {timeout_ms}"
                        )))
                        .await?;
                        if let Some(max_bytes) = max_bytes {
                            let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
                                .fetch_one(&mut *conn)
                                .await?;
                            conn.execute(sqlx::AssertSqlSafe(format!(
                                "PRAGMA max_page_count = {}",
                                max_pages(max_bytes, page_size)
                            )))
                            .await?;
                        }
                    } else {
                        conn.execute(sqlx::AssertSqlSafe(format!(
                            "SET statement_timeout = {timeout_ms}"
                        )))
                        .await?;
                    }
                    Ok(())
                })
            });
        let pool_opts = if backend == Backend::Postgres {
            let health = Arc::clone(&write_health);
            pool_opts.after_release(move |_conn, _meta| {
                let keep = !health.is_failing();
                Box::pin(async move { Ok(keep) })
            })
        } else {
            pool_opts
        };
        let pool = pool_opts
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the {backend:?} database"))?;
        let checkpoint_passed = Arc::new(AtomicBool::new(false));
        if backend == Backend::Sqlite {
            // Persistent in the file; must run outside a transaction, so not in a migration.
            pool.execute("PRAGMA journal_mode = WAL")
                .await
                .context("switching SQLite to WAL mode")?;
            tokio::spawn(checkpoint_every_second(
                pool.clone(),
                Arc::clone(&checkpoint_passed),
            ));
        }
        let sqlite_file = if backend == Backend::Sqlite && !url.contains(":memory:") {
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
                .context("reading the SQLite URL")?;
            Some(options.get_filename().to_path_buf())
        } else {
            None
        };
        Ok(Self {
            pool,
            backend,
            sqlite_file,
            statement_timeout: pool_settings_timeout,
            checkpoint_passed,
            sqlite_max_bytes: max_bytes,
            write_health,
            changed: Arc::new(tokio::sync::watch::Sender::new(())),
            listen_url: (backend == Backend::Postgres).then(|| url.clone().into()),
        })
    }

    /// Applies the pending migrations, then writes the search keys of orders stored before
    /// migration 0013 ([`orders::fill_search_keys`]; nothing to do once they are written).
    pub async fn migrate(&self) -> anyhow::Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying database migrations")?;
        // Keys that SQL alone can not compute on both engines (migration 0013).
        orders::fill_search_keys(self)
            .await
            .context("writing the search keys of orders stored before migration 0013")?;
        pool::fill_countries(self)
            .await
            .context("writing the countries of virtual numbers stored before migration 0018")?;
        Ok(())
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a write transaction that excludes every other such transaction, so that a
    /// check followed by a write (a PIN not yet active, a number no party holds) can not race.
    /// SQLite takes its write lock at once (`BEGIN IMMEDIATE`); PostgreSQL takes a
    /// transaction-scoped advisory lock, which covers several instances on one database.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, Error> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("select pg_advisory_xact_lock(7231000001)")
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    /// Begins a transaction for a batch of the call path's writes ([`Writer`]). On
    /// SQLite it takes the write lock at once (`BEGIN IMMEDIATE`): a transaction that reads
    /// before it writes could otherwise fail when another connection wrote in between.
    pub(crate) async fn begin_batch(&self) -> Result<Transaction<'static, Any>, Error> {
        match self.backend {
            Backend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => Ok(self.pool.begin().await?),
        }
    }

    /// The SQLite database file and its `busy_timeout`, when this is a SQLite file (not
    /// PostgreSQL, not an in-memory database): for a connection of one's own on it (the
    /// writer's).
    pub(crate) fn sqlite_file(&self) -> Option<(&std::path::Path, Duration)> {
        self.sqlite_file
            .as_deref()
            .map(|path| (path, self.statement_timeout))
    }

    /// The SQLite database file, when this is one (not PostgreSQL, not an in-memory
    /// database): where the operator's files beside it go (a generated admin token, backups).
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        self.sqlite_file.as_deref()
    }

    /// SQLite: the most bytes the database file may hold (`PINBRIDGE_SQLITE_MAX_SIZE_MB`), for
    /// a connection of one's own (the writer's).
    pub(crate) fn sqlite_max_bytes(&self) -> Option<u64> {
        self.sqlite_max_bytes
    }

    /// Whether writes succeed, as the latest one told: noted by the writers, read by
    /// `/readyz` ([`health::check`]).
    pub fn write_health(&self) -> &health::WriteHealth {
        &self.write_health
    }

    /// True once after each pass of the background checkpoint: time for the writer to finish
    /// it (`writer::direct::Connection::finish_checkpoint`).
    pub(crate) fn take_checkpoint_passed(&self) -> bool {
        self.checkpoint_passed.swap(false, Ordering::AcqRel)
    }

    /// A connection from the pool, for several statements in a row.
    pub(crate) async fn acquire(&self) -> Result<sqlx::pool::PoolConnection<Any>, Error> {
        Ok(self.pool.acquire().await?)
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

/// SQLite's `max_page_count` for at most `max_bytes` in pages of `page_size` bytes: at least
/// one page.
pub(crate) fn max_pages(max_bytes: u64, page_size: i64) -> u64 {
    let page_size = u64::try_from(page_size).unwrap_or(4096).max(512);
    (max_bytes / page_size).max(1)
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

/// SQLite: copies the pages committed to the write-ahead log into the database file once a
/// second, until the pool closes, and then sets `passed` for the writer. `PASSIVE` waits for no
/// reader or writer. Left to SQLite, the checkpoint runs inside the commit that takes the log
/// past 1,000 pages, with two fsyncs, and every write queued behind that commit waits for it
/// (pauses of 200 ms in the load benchmark).
///
/// This pass alone never lets the log start over while writes keep coming: SQLite rewinds the
/// log only when a write begins with every frame already copied, and frames committed during
/// the pass are left. Under a steady load the log then grew by 35 MB a second at 2,000 call
/// steps a second. So the writer, told by `passed`, runs a second pass between two batches
/// (`writer::direct::Connection::finish_checkpoint`): it copies only what came during the
/// first, and its next write rewinds the log.
async fn checkpoint_every_second(pool: AnyPool, passed: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        match pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await {
            Ok(_) => passed.store(true, Ordering::Release),
            Err(e) => {
                tracing::debug!(error = %e, "SQLite checkpoint failed; trying again in a second");
            }
        }
    }
}

/// True when `e` says the database can not be reached or can not take writes now, rather
/// than that a statement was wrong: the condition `/readyz` reports, the admin API answers
/// 503 `database_unavailable` for, and a retry may cure once the operator acts.
///
/// - The pool: a timeout, a closed pool, a refused or cut connection (I/O, TLS), a crashed
///   SQLite worker.
/// - SQLite, by primary result code: `SQLITE_BUSY` and `SQLITE_LOCKED` (the write lock held
///   past `busy_timeout`), `SQLITE_READONLY` (a read-only file or file system, a database
///   moved away), `SQLITE_IOERR`, `SQLITE_FULL` ("database or disk is full"),
///   `SQLITE_CANTOPEN`. The writer's own connection classifies the same way
///   (`writer::direct`).
/// - PostgreSQL, by SQLSTATE: class 08 (connection exception), 53 (insufficient resources:
///   `53100` disk full, `53200` out of memory, `53300` too many connections), 57P01..57P03
///   (administrator or crash shutdown, starting up), 58 (I/O error outside PostgreSQL), and
///   `25006` (a read-only transaction: a hot standby, a demoted primary after a failover,
///   or `default_transaction_read_only` turned on).
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else {
                return false;
            };
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The code is SQLite's extended result code; its low byte is the primary one.
                const BUSY: i32 = 5;
                const LOCKED: i32 = 6;
                const READONLY: i32 = 8;
                const IOERR: i32 = 10;
                const FULL: i32 = 13;
                const CANTOPEN: i32 = 14;
                code.parse::<i32>().is_ok_and(|extended| {
                    matches!(
                        extended & 0xff,
                        BUSY | LOCKED | READONLY | IOERR | FULL | CANTOPEN
                    )
                })
            } else {
                ["08", "53", "57P", "58"]
                    .iter()
                    .any(|class| code.starts_with(class))
                    || code == "25006"
            }
        }
        _ => false,
    }
}

/// True when `e` is PostgreSQL refusing a text with a NUL character (SQLSTATE 22021), which
/// SQLite stores: such a value can be neither stored nor found.
pub fn is_unstorable_text(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("22021"))
}

/// Checks that the database answers a trivial query.
pub async fn ping(db: &Db) -> Result<(), Error> {
    sqlx::query("select 1").execute(db.pool()).await?;
    Ok(())
}

/// Creates a new, empty database on the PostgreSQL server of `server_url` (any database URL
/// on it, e.g. `postgres://pinbridge@127.0.0.1:54329/postgres`) and returns its URL: for the
/// PostgreSQL pass of the tests, where each test needs a database of its own. The name is
/// `{prefix}_{process}_{counter}_{nanoseconds}`; the database is not dropped afterwards
/// (`scripts/postgres.sh start --fresh` starts from an empty server).
///
/// Errors: the server can not be reached, or refuses `create database`.
pub async fn create_test_database(server_url: &str, prefix: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    anyhow::ensure!(
        prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
        "a test database prefix is made of a-z and _"
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let name = format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(server_url)
        .await
        .context("reaching the test PostgreSQL server (scripts/postgres.sh start)")?;
    // The name is made of a-z, _ and digits only (checked above).
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .context("creating a test database")?;
    admin.close().await.ok();
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server_url, String::new()),
    };
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    Ok(format!("{base}/{name}{query}"))
}

/// A new, empty, migrated database for a unit test: in-memory SQLite, or, in the PostgreSQL
/// pass of the tests (`TEST_DATABASE_URL=postgres://...`, see `scripts/test.sh`), a database of
/// its own created on that server.
#[cfg(test)]
pub(crate) async fn test_db() -> Db {
    let server = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    let url = match server {
        None => "sqlite::memory:".to_owned(),
        Some(server) => create_test_database(&server, "u").await.unwrap(),
    };
    let db = Db::connect(&url, &PoolSettings::single()).await.unwrap();
    db.migrate().await.unwrap();
    db
}

/// An empty, migrated in-memory SQLite database, whatever `TEST_DATABASE_URL` says: for tests
/// of SQLite's own behaviour (its query plans, its single connection).
#[cfg(test)]
pub(crate) async fn sqlite_test_db() -> Db {
    let db = Db::connect("sqlite::memory:", &PoolSettings::single())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db
}

/// SQLite's plan for `sql` on `db`, one step a line (`EXPLAIN QUERY PLAN`), for tests that
/// check a statement searches the index it was written for.
#[cfg(test)]
pub(crate) async fn test_plan(db: &Db, sql: &str) -> String {
    sqlx::query(sqlx::AssertSqlSafe(format!("explain query plan {sql}")))
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| sqlx::Row::try_get::<String, _>(row, "detail").unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_database_is_told_apart_from_a_wrong_statement() {
        // Nothing listens on port 9 (discard) on loopback: the connection is refused.
        let pool = PoolSettings {
            acquire_timeout: Duration::from_millis(300),
            ..PoolSettings::single()
        };
        let err = Db::connect("postgres://nobody@127.0.0.1:9/none", &pool)
            .await
            .unwrap_err();
        let sqlx_err = err
            .chain()
            .find_map(|c| c.downcast_ref::<sqlx::Error>())
            .expect("a sqlx error");
        assert!(is_unavailable(sqlx_err), "{sqlx_err:?}");

        let db = test_db().await;
        let wrong = sqlx::query("select * from no_such_table")
            .execute(db.pool())
            .await
            .unwrap_err();
        assert!(!is_unavailable(&wrong), "{wrong:?}");
        assert!(!is_unstorable_text(&wrong));
    }

    /// Real refusals, not made-up errors: a read-only transaction on either engine, a file
    /// bounded by `sqlite_max_bytes` filled up ("database or disk is full"), a file that can
    /// not be opened. Each is what `/readyz` and the admin API's 503 are about.
    #[tokio::test]
    async fn a_write_refused_for_want_of_room_or_write_access_is_unavailable() {
        let db = test_db().await;
        let insert = "insert into instance_secrets (name, value, created_at) values ('x', 'y', 0)";
        let read_only = match db.backend() {
            Backend::Sqlite => {
                let mut conn = db.acquire().await.unwrap();
                conn.execute("PRAGMA query_only = 1").await.unwrap();
                let refused = conn.execute(insert).await.unwrap_err();
                conn.execute("PRAGMA query_only = 0").await.unwrap();
                refused
            }
            Backend::Postgres => {
                let mut tx = db.pool().begin().await.unwrap();
                tx.execute("set transaction read only").await.unwrap();
                tx.execute(insert).await.unwrap_err()
            }
        };
        assert!(is_unavailable(&read_only), "{read_only:?}");
        // The connection is still good for writes once the cause is gone.
        db.pool().execute(insert).await.unwrap();

        let bounded = PoolSettings {
            sqlite_max_bytes: Some(64 * 1024),
            ..PoolSettings::single()
        };
        let small = Db::connect("sqlite::memory:", &bounded).await.unwrap();
        small
            .pool()
            .execute("create table t (b blob)")
            .await
            .unwrap();
        let mut rows = 0;
        let full = loop {
            match small
                .pool()
                .execute("insert into t values (zeroblob(4000))")
                .await
            {
                Ok(_) => rows += 1,
                Err(e) => break e,
            }
            assert!(rows < 100, "64 KiB hold 16 pages of 4 KiB");
        };
        assert!(full.to_string().contains("full"), "{full}");
        assert!(is_unavailable(&full), "{full:?}");

        let dir = tempfile::tempdir().unwrap();
        let missing = format!("sqlite://{}/no/such/dir/x.db", dir.path().display());
        let err = Db::connect(&missing, &PoolSettings::single())
            .await
            .unwrap_err();
        let cant_open = err
            .chain()
            .find_map(|c| c.downcast_ref::<sqlx::Error>())
            .expect("a sqlx error");
        assert!(is_unavailable(cant_open), "{cant_open:?}");
    }

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
