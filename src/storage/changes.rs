//! Telling every instance that what calls hear changed, without polling.
//!
//! The greetings' book ([`crate::call::greetings`]) keeps in memory what the database says
//! calls hear: the stored greetings, each virtual number's language and call options. A
//! storage function that changes one of them calls [`announce`] once its write is committed.
//!
//! - In this instance the announcement wakes every [`follow`]er at once.
//! - On PostgreSQL it is also sent to the other instances as a `NOTIFY` on
//!   [`CHANNEL`]; each instance keeps one connection that `LISTEN`s on it
//!   (PostgreSQL, "NOTIFY" and "LISTEN": a notification is delivered to every session
//!   listening when the sending transaction commits, and is lost for a session that was not
//!   connected then). So an instance whose listening connection broke counts the reconnection
//!   itself as a change: whatever it missed is read again.
//!
//! A SQLite file is served by one instance, so the in-process announcement is all it needs.

use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::sync::watch;

use super::{Backend, Db};

/// The PostgreSQL channel of the announcements. The payload is empty: a listener reads
/// everything again, so the notification need not say what changed.
pub const CHANNEL: &str = "pinbridge_greetings";

/// How long a listener waits before trying again after its connection to PostgreSQL failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Says that greetings, a number's language or a number's call options changed. Called by the
/// storage functions that change them, after their write. A `NOTIFY` that PostgreSQL refuses
/// is logged, not returned: the write itself is done, this instance has heard the
/// announcement, and the others read everything again when their listening connection comes
/// back.
pub(crate) async fn announce(db: &Db) {
    db.changed.send_replace(());
    if db.backend() == Backend::Postgres {
        // The channel is a constant identifier: no outside text reaches the statement.
        let sent = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("NOTIFY {CHANNEL}")))
            .execute(db.pool())
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "telling the other instances that greetings changed failed");
        }
    }
}

/// A receiver that wakes (`changed().await`) after each announcement, made here or, on
/// PostgreSQL, by any instance. On PostgreSQL this spawns the task that keeps the listening
/// connection; it ends when `db` is closed.
pub fn follow(db: &Db) -> watch::Receiver<()> {
    if let (Backend::Postgres, Some(url)) = (db.backend(), db.listen_url.clone()) {
        tokio::spawn(listen(db.clone(), url));
    }
    db.changed.subscribe()
}

/// Keeps a connection `LISTEN`ing on [`CHANNEL`] and passes each notification on to this
/// instance's followers; a connection that broke and came back counts as a change (what was
/// sent meanwhile is lost). Errors are logged without the URL and retried every
/// [`RECONNECT_AFTER`].
async fn listen(db: Db, url: secrecy::SecretString) {
    let closed = db.pool().close_event();
    tokio::pin!(closed);
    // The listening connection's own pool, whose only use is reconnecting: a short acquire
    // timeout keeps sqlx's backoff between attempts short (a fifth of it), so the
    // connection is back within a second or so of the database.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(RECONNECT_AFTER * 2)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy(url.expose_secret());
    let pool = match pool {
        Ok(pool) => pool,
        Err(e) => {
            tracing::error!(error = %e, "can not listen for greeting changes: the database URL was refused");
            return;
        }
    };
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = &mut closed => return,
            connected = connected => match connected {
                Ok(listener) => listener,
                Err(e) => {
                    tracing::warn!(error = %e, "listening for greeting changes failed; trying again");
                    tokio::select! {
                        () = &mut closed => return,
                        () = tokio::time::sleep(RECONNECT_AFTER) => continue,
                    }
                }
            },
        };
        // Notifications sent while no connection listened (before the first, or while the
        // connection was down) are lost: read everything once.
        db.changed.send_replace(());
        loop {
            let next = tokio::select! {
                () = &mut closed => return,
                next = listener.try_recv() => next,
            };
            match next {
                // A notification, or the connection broke and came back.
                Ok(_) => {
                    db.changed.send_replace(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the connection listening for greeting changes broke; reconnecting");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{PoolSettings, test_db};

    const WAIT: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn an_announcement_wakes_the_followers_here_and_on_postgresql_everywhere() {
        let server = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"));
        let Some(server) = server else {
            // SQLite: one instance, the announcement stays in the process.
            let db = test_db().await;
            let mut follower = follow(&db);
            assert!(!follower.has_changed().unwrap());
            announce(&db).await;
            tokio::time::timeout(WAIT, follower.changed())
                .await
                .expect("woken")
                .unwrap();
            return;
        };
        // Two instances on one PostgreSQL database, each with its own pool.
        let url = crate::storage::create_test_database(&server, "changes")
            .await
            .unwrap();
        let here = Db::connect(&url, &PoolSettings::single()).await.unwrap();
        let there = Db::connect(&url, &PoolSettings::single()).await.unwrap();
        let mut follower = follow(&here);
        // Once listening, the follower reads everything once: what changed before is not lost.
        tokio::time::timeout(WAIT, follower.changed())
            .await
            .expect("woken when the listener first connects")
            .unwrap();
        announce(&there).await;
        tokio::time::timeout(WAIT, follower.changed())
            .await
            .expect("woken by the other instance's NOTIFY")
            .unwrap();
        here.close().await;
        there.close().await;
    }
}
