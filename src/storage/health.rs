//! Whether the database takes writes now, for `/readyz`.
//!
//! A database can answer reads and refuse every write: a full disk (SQLite's "database or disk
//! is full", PostgreSQL's `53100`), a read-only file or file system, a PostgreSQL hot standby
//! or demoted primary (`25006`). A `select 1` says nothing of that. So the writes themselves
//! tell: the call path's writer notes the outcome of each batch ([`crate::storage::Writer`]),
//! and when no write was noted for a second, `/readyz` makes one of its own ([`check`]), a
//! small row written and removed in one transaction. Either way, the latest outcome is what readiness
//! reports, so it turns ready again by itself once a write succeeds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Db;

/// How long a noted outcome answers `/readyz` before a probe is written instead: at most one
/// probe a second, however often readiness is asked (the endpoint is unauthenticated).
const FRESH: Duration = Duration::from_secs(1);

/// The probe's value, in bytes: more than a SQLite page (4,096 bytes), so that writing it
/// needs a page the database does not yet hold (an overflow page). A database filled to its
/// last page (`PINBRIDGE_SQLITE_MAX_SIZE_MB`, a full disk) then refuses the probe, as it
/// refuses a new call record, even while a short row still fits in a page it has.
const PROBE_BYTES: usize = 8 * 1024;

/// The outcome of the latest write, shared by every clone of a [`Db`].
#[derive(Debug)]
pub struct WriteHealth {
    failing: AtomicBool,
    /// When the latest outcome was noted, in ms since `epoch`; 0: never.
    noted_at: AtomicU64,
    epoch: Instant,
    /// One probe at a time: concurrent `/readyz` requests share its outcome.
    probing: tokio::sync::Mutex<()>,
}

impl Default for WriteHealth {
    fn default() -> Self {
        Self {
            failing: AtomicBool::new(false),
            noted_at: AtomicU64::new(0),
            epoch: Instant::now(),
            probing: tokio::sync::Mutex::new(()),
        }
    }
}

impl WriteHealth {
    /// Notes the outcome of a write. A success, or a failure that says the database can not
    /// take writes ([`super::Error::is_unavailable`]), replaces the previous outcome; any other failure (a
    /// wrong statement, a constraint) says nothing of the database and is not noted. Logs
    /// when writes start or stop failing.
    pub(crate) fn note<T>(&self, outcome: &Result<T, super::Error>) {
        let failing = match outcome {
            Ok(_) => false,
            Err(e) if e.is_unavailable() => true,
            Err(_) => return,
        };
        self.set(failing, outcome.as_ref().err());
    }

    /// True while the latest write noted failed because the database could not take it.
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    fn set(&self, failing: bool, error: Option<&super::Error>) {
        let since_epoch = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.noted_at.store(since_epoch.max(1), Ordering::Release);
        let was = self.failing.swap(failing, Ordering::AcqRel);
        match (was, failing, error) {
            (false, true, Some(e)) => {
                tracing::warn!(error = %e, "database writes are failing; /readyz answers 503");
            }
            (false, true, None) => {
                tracing::warn!("database writes are failing; /readyz answers 503");
            }
            (true, false, _) => tracing::info!("database writes succeed again"),
            _ => {}
        }
    }

    /// The latest outcome, when it was noted within [`FRESH`]: `Some(true)` for failing.
    fn fresh(&self) -> Option<bool> {
        let noted = self.noted_at.load(Ordering::Acquire);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let fresh_ms = u64::try_from(FRESH.as_millis()).unwrap_or(u64::MAX);
        (noted != 0 && now.saturating_sub(noted) < fresh_ms).then(|| self.is_failing())
    }
}

/// Ok when the database takes writes: the latest write noted within the last second says so,
/// or else a probe written now does. A probe that fails for any reason counts as writes
/// failing: it is one fixed row, written and removed in one transaction (in
/// `instance_secrets`, under a name no secret has), which nothing but the database can refuse.
///
/// Errors: the probe's error, or, when a recent write failed, [`super::Error::Unavailable`]
/// saying so.
pub async fn check(db: &Db) -> Result<(), super::Error> {
    let health = db.write_health();
    let recent = || match health.fresh() {
        Some(false) => Some(Ok(())),
        Some(true) => Some(Err(super::Error::Unavailable(sqlx::Error::Io(
            std::io::Error::other("the latest write failed: the database can not take writes"),
        )))),
        None => None,
    };
    if let Some(outcome) = recent() {
        return outcome;
    }
    let _probing = health.probing.lock().await;
    // Another request may have probed while this one waited.
    if let Some(outcome) = recent() {
        return outcome;
    }
    let probed = probe(db).await;
    match &probed {
        Err(e) if !e.is_unavailable() => health.set(true, Some(e)),
        _ => health.note(&probed),
    }
    probed
}

/// Writes [`PROBE_BYTES`] into `instance_secrets` and removes them, in one transaction.
async fn probe(db: &Db) -> Result<(), super::Error> {
    // Per process, so that instances sharing a PostgreSQL database do not wait on each
    // other's probe row.
    let name = format!("readyz_probe_{}", std::process::id());
    let mut tx = db.begin_batch().await?;
    sqlx::query("insert into instance_secrets (name, value, created_at) values ($1, $2, $3)")
        .bind(&name)
        .bind("0".repeat(PROBE_BYTES))
        .bind(crate::domain::clock::now_ms())
        .execute(&mut *tx)
        .await?;
    sqlx::query("delete from instance_secrets where name = $1")
        .bind(&name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
