//! `pinbridge backup`: an online, consistent copy of a SQLite database, taken while the
//! server may be running.

use std::path::Path;

use anyhow::{Context, bail};

use super::{Backend, Db, PoolSettings};

/// Copies the SQLite database at `url` (`PINBRIDGE_DATABASE_URL`) into the new file
/// `target`, and returns the copy's size in bytes.
///
/// The copy is SQLite's `VACUUM INTO`: one read transaction, so it is the database as of one
/// moment, every committed transaction in it and none half; in WAL mode a running server goes
/// on committing meanwhile (<https://sqlite.org/lang_vacuum.html#vacuuminto>). The copy is
/// created readable by its owner only (it holds phone numbers and PINs), synced to disk, and
/// is a database that `pinbridge serve` starts on as it is. Nothing is migrated: a newer
/// binary may back up the database of an older server before the upgrade.
///
/// Errors: `target` exists (a backup never overwrites); the URL names PostgreSQL (use
/// `pg_dump`) or an in-memory database; no database file at the URL; the copy fails (the
/// partial file is removed).
pub async fn sqlite_copy(url: &str, target: &Path) -> anyhow::Result<u64> {
    let (normalised, backend) = super::normalise_url(url)?;
    if backend == Backend::Postgres {
        bail!(
            "pinbridge backup copies a SQLite database, and PINBRIDGE_DATABASE_URL names PostgreSQL: \
             back it up with pg_dump (e.g. `pg_dump --format=custom --file=pinbridge.dump \"$PINBRIDGE_DATABASE_URL\"`)"
        );
    }
    if normalised.contains(":memory:") {
        bail!(
            "PINBRIDGE_DATABASE_URL names an in-memory SQLite database: there is nothing to back up"
        );
    }
    let source = {
        use std::str::FromStr;
        sqlx::sqlite::SqliteConnectOptions::from_str(&normalised)
            .context("reading the SQLite URL")?
            .get_filename()
            .to_path_buf()
    };
    if !source.is_file() {
        bail!("no SQLite database at {}", source.display());
    }
    let Some(target_text) = target.to_str() else {
        bail!("{}: SQLite takes only UTF-8 file names", target.display());
    };
    // SQLite writes into an empty file: creating it first refuses an existing one, even one
    // made meanwhile, and gives the copy its mode.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(target).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!(
                "{} exists: pinbridge backup never overwrites a file; name a new one",
                target.display()
            )
        } else {
            anyhow::Error::new(e).context(format!("creating {}", target.display()))
        }
    })?;
    let copied = async {
        let db = Db::connect(url, &PoolSettings::single()).await?;
        let vacuumed = sqlx::query("VACUUM INTO $1")
            .bind(target_text)
            .execute(db.pool())
            .await
            .context("copying the database (VACUUM INTO)");
        db.close().await;
        vacuumed?;
        let file = std::fs::File::open(target)?;
        file.sync_all()?;
        anyhow::Ok(file.metadata()?.len())
    }
    .await;
    if copied.is_err() {
        let _ = std::fs::remove_file(target);
    }
    copied
}
