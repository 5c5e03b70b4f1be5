//! The call path's writes on a SQLite file, and its PIN lookup, run by the writer's own thread
//! ([`super::on_thread`]) on a connection of its own (rusqlite), with the statements of
//! [`crate::storage::calls`], [`crate::storage::attempts`], [`crate::storage::steps`],
//! [`crate::storage::seen`] and [`crate::storage::orders`]: the call's own writes
//! ([`calls`]), the guards of a call step ([`guards`]), and how values are bound and errors
//! told ([`bind`]). Only the writer uses it; no rusqlite type leaves `storage`.
//!
//! Through `sqlx`, every SQLite statement is a round trip to the connection's worker thread
//! and back: two thread wake-ups per statement, which the load benchmark's profile showed to
//! cost more than SQLite's own work. The writer runs on a thread of its own and calls SQLite
//! directly: one wake-up per batch of writes, however many statements it holds. Statements
//! are prepared once and kept (rusqlite's statement cache). Both libraries link the same
//! SQLite (`libsqlite3-sys`), so their connections share the file's locks.
//!
//! Errors come back as `sqlx::Error`, as the pool's would: busy, locked, I/O and full-disk
//! failures as [`sqlx::Error::Io`] (so [`crate::storage::is_unavailable`] holds for them and
//! the call path answers as when the database is down), anything else as
//! [`sqlx::Error::Protocol`].

mod bind;
mod calls;
mod facts;
mod guards;

use std::path::Path;
use std::time::Duration;

use crate::storage::Error;
use bind::{execute, to_sqlx};
pub use calls::{record_end, record_steps, save_state, start};
pub use facts::read;
pub use guards::{claim, record_failure};

/// A connection of the writer's own to the SQLite file.
pub struct Connection(rusqlite::Connection);

impl Connection {
    /// Opens `path` (it exists: the pool created and migrated it) with the settings of the
    /// pool's connections: `synchronous = NORMAL`, no automatic checkpoint (the pool's task
    /// checkpoints once a second, and this connection finishes each pass:
    /// [`Connection::finish_checkpoint`]), foreign keys on, and `busy_timeout` to wait for
    /// another connection's write. When the log starts over, its file is cut back to 64 MiB
    /// (`journal_size_limit`).
    ///
    /// The query planner's stability guarantee is on (`SQLITE_DBCONFIG_ENABLE_QPSG`): a plan
    /// never depends on a bound value. Without it, SQLite (3.51, as bundled) reads a bound
    /// `LIMIT` while planning, so the PIN lookup's statement ([`guards::find_active_by_pin`], with its
    /// capped counts) was compiled again on every run; the profile showed that as 10 % of the
    /// server's time at maximum rate.
    pub fn open(path: &Path, busy_timeout: Duration) -> Result<Self, Error> {
        let conn = rusqlite::Connection::open(path).map_err(to_sqlx)?;
        conn.busy_timeout(busy_timeout).map_err(to_sqlx)?;
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(to_sqlx)?;
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA journal_size_limit = 67108864;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(to_sqlx)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(Self(conn))
    }

    /// Bounds the database file to `max_bytes` on this connection, as the pool's connections
    /// are (`PINBRIDGE_SQLITE_MAX_SIZE_MB`): SQLite's `max_page_count` is kept per connection.
    /// Past it, a write that needs a new page fails with `SQLITE_FULL`, as on a full disk.
    pub fn limit_size(self, max_bytes: Option<u64>) -> Result<Self, Error> {
        if let Some(max_bytes) = max_bytes {
            let page_size: i64 = self
                .0
                .query_row("PRAGMA page_size", [], |row| row.get(0))
                .map_err(to_sqlx)?;
            let pages = crate::storage::max_pages(max_bytes, page_size);
            // A pragma that sets a value also answers it: a row to read, not a statement to
            // execute.
            self.0
                .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .map_err(to_sqlx)?;
        }
        Ok(self)
    }

    /// Runs `f` in one transaction that takes the write lock at once (`BEGIN IMMEDIATE`);
    /// commits when it succeeds, rolls back when it or the commit fails. `BEGIN` and `COMMIT`
    /// are prepared once and kept, like every other statement here: compiled for each
    /// transaction (as `rusqlite::Transaction` does), they were a tenth of the writer's work
    /// when each transaction held one webhook step's write.
    pub fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let conn = &self.0;
        execute(conn, "BEGIN IMMEDIATE", &[])?;
        let done = f(conn).and_then(|value| execute(conn, "COMMIT", &[]).map(|_| value));
        if done.is_err() && !conn.is_autocommit() {
            // Nothing to do when the rollback fails: the connection is closed or broken, and
            // SQLite rolls back what it did not commit.
            let _ = execute(conn, "ROLLBACK", &[]);
        }
        done
    }

    /// Copies into the database file what the write-ahead log holds beyond the background
    /// checkpoint's last pass (`PRAGMA wal_checkpoint(PASSIVE)`), so that this connection's
    /// next write starts the log over instead of growing it (see `checkpoint_every_second` in
    /// [`crate::storage`]). Called between two batches, right after a background pass, it
    /// has little to copy. Returns the frames in the log and the frames copied; a checkpoint
    /// already running elsewhere (`SQLITE_BUSY`) is an error, tried again after the next pass.
    pub fn finish_checkpoint(&self) -> Result<(i64, i64), Error> {
        self.0
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                Ok((row.get::<_, i64>(0)?, row.get(1)?, row.get(2)?))
            })
            .map_err(to_sqlx)
            .and_then(|(busy, log, copied)| {
                if busy == 0 {
                    Ok((log, copied))
                } else {
                    Err(sqlx::Error::Protocol("a checkpoint is already running".into()).into())
                }
            })
    }

    /// The connection, for statements outside a transaction (each commits alone).
    pub fn alone(&self) -> &rusqlite::Connection {
        &self.0
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::storage::{Db, PoolSettings};

    /// A migrated SQLite file, `direct.db`, in `dir`.
    pub(in crate::storage::writer) async fn file_db(dir: &tempfile::TempDir) -> Db {
        let url = format!("sqlite://{}/direct.db", dir.path().display());
        let db = Db::connect(&url, &PoolSettings::single()).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    /// Frames in the write-ahead log now, as a passive checkpoint on `conn` reports them.
    fn log_frames(conn: &Connection) -> i64 {
        conn.finish_checkpoint().unwrap().0
    }

    #[tokio::test]
    async fn finishing_the_background_checkpoint_lets_the_log_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, timeout) = db.sqlite_file().expect("a file database");
        let mut conn = Connection::open(path, timeout).unwrap();
        let write = |conn: &mut Connection, from: i64| {
            conn.in_transaction(|tx| {
                for i in from..from + 200 {
                    let sid = format!("CA{i}");
                    start(tx, "exotel", &sid, Some("+919812345678"), None, i)?;
                }
                Ok(())
            })
            .unwrap();
        };
        write(&mut conn, 0);
        // The background pass (on the pool), then writes it does not see.
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(db.pool())
            .await
            .unwrap();
        for from in (1_000..11_000).step_by(1_000) {
            write(&mut conn, from);
        }
        let (log, copied) = conn.finish_checkpoint().unwrap();
        assert!(log > 0);
        assert_eq!(copied, log, "the second pass copies what the first left");
        let grown = log;

        // The next write starts the log over: it holds only that write's frames, a tenth of
        // the eleven writes before.
        write(&mut conn, 20_000);
        let after = log_frames(&conn);
        assert!(
            after * 3 < grown,
            "{after} frames after starting over, {grown} before"
        );
    }

    /// A failed transaction leaves nothing behind and the connection ready for the next:
    /// whether the work in it failed, or `BEGIN` did (another connection held the lock).
    #[tokio::test]
    async fn a_failed_transaction_is_rolled_back_and_the_next_one_commits() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, _) = db.sqlite_file().unwrap();
        let mut conn = Connection::open(path, Duration::from_millis(50)).unwrap();
        let count = |conn: &Connection| -> i64 {
            conn.alone()
                .query_row("select count(*) from calls", [], |r| r.get(0))
                .unwrap()
        };
        let failed = conn.in_transaction(|tx| {
            start(tx, "exotel", "CA1", None, None, 1)?;
            Err::<(), _>(sqlx::Error::Protocol("the work failed".into()).into())
        });
        assert!(failed.is_err());
        assert!(conn.alone().is_autocommit(), "rolled back");
        assert_eq!(
            count(&conn),
            0,
            "the first write of the failed transaction is gone"
        );

        let holder = Connection::open(path, Duration::from_millis(50)).unwrap();
        holder.0.execute_batch("begin immediate").unwrap();
        let locked = conn.in_transaction(|tx| start(tx, "exotel", "CA2", None, None, 1));
        assert!(
            locked.unwrap_err().is_unavailable(),
            "BEGIN IMMEDIATE waited for the lock in vain"
        );
        assert!(conn.alone().is_autocommit());
        holder.0.execute_batch("rollback").unwrap();

        let created = conn.in_transaction(|tx| start(tx, "exotel", "CA3", None, None, 1));
        assert!(created.unwrap());
        assert_eq!(count(&conn), 1);
    }

    #[tokio::test]
    async fn a_write_lock_held_too_long_is_reported_as_the_database_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, _) = db.sqlite_file().unwrap();
        let mut holder = Connection::open(path, Duration::from_millis(50)).unwrap();
        let writer = Connection::open(path, Duration::from_millis(50)).unwrap();
        let held = holder
            .0
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate);
        let _held = held.unwrap();
        let e = start(writer.alone(), "exotel", "CA2", None, None, 1).unwrap_err();
        assert!(e.is_unavailable(), "{e:?}");
    }

    #[tokio::test]
    async fn a_wrong_statement_is_not_mistaken_for_an_unavailable_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir).await;
        let (path, timeout) = db.sqlite_file().unwrap();
        let conn = Connection::open(path, timeout).unwrap();
        let e = conn
            .alone()
            .execute("insert into no_such_table values (1)", [])
            .map_err(to_sqlx)
            .unwrap_err();
        assert!(!e.is_unavailable(), "{e:?}");
    }
}
