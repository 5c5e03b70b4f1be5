//! Retention of personal data (`PINBRIDGE_RETENTION_DAYS`): what is old enough is deleted.

use super::Db;

/// Rows deleted by one purge.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub calls: u64,
    pub orders: u64,
    pub bookings: u64,
    pub pin_failures: u64,
    /// Steps in `call_steps` (written through the pool; on a SQLite file, before migration
    /// 0008). The others are in their call's record and go with it.
    pub call_steps: u64,
}

/// Deletes call records started before `cutoff_ms`, orders and bookings that ended (expired,
/// deactivated, closed) before it, and wrong-PIN records older than `failures_cutoff_ms` (no
/// longer counted by any limit). Active orders and bookings are never deleted. Steps in a
/// call's record go with it; those in `call_steps` go by their own time.
pub async fn purge(
    db: &Db,
    cutoff_ms: i64,
    failures_cutoff_ms: i64,
) -> Result<Purged, super::Error> {
    let mut tx = db.begin_write().await?;
    let calls = sqlx::query("delete from calls where started_at < $1")
        .bind(cutoff_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let orders = sqlx::query(
        "delete from orders where expires_at < $1 or (deactivated_at is not null and deactivated_at < $1)",
    )
    .bind(cutoff_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // The alternates of those bookings go with them (migration 0021).
    sqlx::query(
        "delete from booking_alternates where booking_id in (select booking_id from bookings
          where expires_at < $1 or (closed_at is not null and closed_at < $1))",
    )
    .bind(cutoff_ms)
    .execute(&mut *tx)
    .await?;
    let bookings = sqlx::query(
        "delete from bookings where expires_at < $1 or (closed_at is not null and closed_at < $1)",
    )
    .bind(cutoff_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let pin_failures = sqlx::query("delete from pin_failures where at < $1")
        .bind(failures_cutoff_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let call_steps = sqlx::query("delete from call_steps where at < $1")
        .bind(cutoff_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(Purged {
        calls,
        orders,
        bookings,
        pin_failures,
        call_steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_what_ended_before_the_cutoff_is_deleted() {
        let db = crate::storage::test_db().await;
        for (id, expires, deactivated) in [
            ("old", 50, None),
            ("gone", 500, Some(40)),
            ("live", 500, None),
        ] {
            sqlx::query("insert into orders (order_id, customer_number, pin, created_at, expires_at, deactivated_at) values ($1, '+919812345678', '4821', 0, $2, $3)")
                .bind(id).bind(expires as i64).bind(deactivated.map(|d: i32| d as i64))
                .execute(db.pool()).await.unwrap();
        }
        for (sid, started) in [("c-old", 10i64), ("c-new", 200)] {
            sqlx::query("insert into calls (provider, call_sid, phase, outcome, started_at, updated_at) values ('exotel', $1, 'collecting_pin', 'abandoned', $2, $2)")
                .bind(sid).bind(started).execute(db.pool()).await.unwrap();
        }
        let mut conn = db.pool().acquire().await.unwrap();
        use crate::storage::attempts::{Budget, Counting, Weight};
        let budget = Budget::new(1.0, std::time::Duration::from_secs(3600));
        crate::storage::attempts::record_failure(
            &mut conn,
            "a",
            "b",
            10,
            Weight::default(),
            budget,
            Counting::new(0, 10),
        )
        .await
        .unwrap();
        for (sid, at) in [("c-old", 10i64), ("c-new", 200)] {
            sqlx::query("insert into call_steps (provider, call_sid, at, applet, event, decision, elapsed_us) values ('exotel', $1, $2, 'greeting', 'started', 'greet', 5)")
                .bind(sid).bind(at).execute(&mut *conn).await.unwrap();
        }
        drop(conn);
        let purged = purge(&db, 100, 20).await.unwrap();
        assert_eq!(
            purged,
            Purged {
                calls: 1,
                orders: 2,
                bookings: 0,
                pin_failures: 1,
                call_steps: 1,
            }
        );
        assert!(
            crate::storage::orders::get(&db, "live")
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn the_alternates_of_a_deleted_booking_go_with_it() {
        let db = crate::storage::test_db().await;
        for (id, expires) in [("bk_old", 50i64), ("bk_live", 500)] {
            sqlx::query("insert into bookings (booking_id, party_a, party_b, virtual_number, created_at, expires_at) values ($1, '+919812345678', '+919812345679', '+917314853246', 0, $2)")
                .bind(id).bind(expires).execute(db.pool()).await.unwrap();
            sqlx::query("insert into booking_alternates (booking_id, party, number) values ($1, 'a', '+917700000101')")
                .bind(id).execute(db.pool()).await.unwrap();
        }
        let purged = purge(&db, 100, 20).await.unwrap();
        assert_eq!(purged.bookings, 1);
        let old = crate::storage::alternates::of(&db, "bk_old").await.unwrap();
        assert_eq!(old, (vec![], vec![]));
        let live = crate::storage::alternates::of(&db, "bk_live")
            .await
            .unwrap();
        assert_eq!(live.0.len(), 1);
    }

    #[tokio::test]
    async fn a_call_s_recording_url_goes_with_the_call() {
        let db = crate::storage::test_db().await;
        for (sid, started) in [("rec-old", 10i64), ("rec-new", 200)] {
            sqlx::query("insert into calls (provider, call_sid, phase, outcome, started_at, updated_at, recording_url) values ('twilio', $1, 'resolved', 'connected', $2, $2, $3)")
                .bind(sid)
                .bind(started)
                .bind(format!("https://recordings.example/{sid}.mp3"))
                .execute(db.pool())
                .await
                .unwrap();
        }
        purge(&db, 100, 20).await.unwrap();
        let left: Vec<String> =
            sqlx::query_scalar("select recording_url from calls where recording_url is not null")
                .fetch_all(db.pool())
                .await
                .unwrap();
        assert_eq!(left, ["https://recordings.example/rec-new.mp3"]);
    }
}
