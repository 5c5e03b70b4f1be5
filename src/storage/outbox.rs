//! The event outbox (`event_outbox`): events waiting for, or done with, delivery to the
//! business's endpoint. Delivery itself lives in [`crate::outbound::events`].
//!
//! Several instances on one PostgreSQL share the table: an instance claims a due row with a
//! lease (a conditional `update`, so only one claim wins) before posting it.

use sqlx::Row;

use super::Db;

/// A stored event, as the delivery worker needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: String,
    /// `call.completed`, ...
    pub kind: String,
    /// The exact JSON body to post.
    pub body: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// An event to store.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub id: &'a str,
    pub dedupe_key: &'a str,
    pub kind: &'a str,
    pub body: &'a str,
    /// Unix milliseconds; also when it is first due.
    pub created_at: i64,
}

/// Stores `event` as pending, unless an event with its `dedupe_key` was ever stored (and not
/// yet purged). Returns true when it was stored.
pub async fn insert(db: &Db, event: &NewEvent<'_>) -> Result<bool, super::Error> {
    let done = sqlx::query(
        "insert into event_outbox (id, dedupe_key, kind, body, status, attempts, created_at, next_attempt_at)
         values ($1, $2, $3, $4, 'pending', 0, $5, $5)
         on conflict (dedupe_key) do nothing",
    )
    .bind(event.id)
    .bind(event.dedupe_key)
    .bind(event.kind)
    .bind(event.body)
    .bind(event.created_at)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The ids of up to `limit` pending events due at `now_ms` and not leased, oldest due first.
pub async fn due(db: &Db, now_ms: i64, limit: i64) -> Result<Vec<String>, super::Error> {
    sqlx::query(
        "select id from event_outbox
         where status = 'pending' and next_attempt_at <= $1
           and (leased_until is null or leased_until < $1)
         order by next_attempt_at
         limit $2",
    )
    .bind(now_ms)
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| r.try_get("id"))
    .collect::<Result<_, sqlx::Error>>()
    .map_err(Into::into)
}

/// Claims the pending event `id` until `lease_until_ms`, unless another instance holds an
/// unexpired lease on it (or it is no longer pending). Returns the event when this claim won.
pub async fn claim(
    db: &Db,
    id: &str,
    now_ms: i64,
    lease_until_ms: i64,
) -> Result<Option<OutboxEvent>, super::Error> {
    let claimed = sqlx::query(
        "update event_outbox set leased_until = $1
         where id = $2 and status = 'pending' and (leased_until is null or leased_until < $3)",
    )
    .bind(lease_until_ms)
    .bind(id)
    .bind(now_ms)
    .execute(db.pool())
    .await?
    .rows_affected();
    if claimed != 1 {
        return Ok(None);
    }
    let row =
        sqlx::query("select id, kind, body, attempts, created_at from event_outbox where id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    row.map(|r| {
        Ok(OutboxEvent {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            body: r.try_get("body")?,
            attempts: r.try_get("attempts")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, Copy)]
pub enum Attempt<'a> {
    /// The endpoint answered 2xx: done.
    Delivered { status: u16 },
    /// Try again from `next_attempt_at` (unix ms).
    Retry {
        status: Option<u16>,
        error: &'a str,
        next_attempt_at: i64,
    },
    /// Given up: kept as `abandoned`, never tried again.
    Abandoned { status: Option<u16>, error: &'a str },
}

/// Records an attempt on the event `id` at `now_ms` and releases its lease.
pub async fn record_attempt(
    db: &Db,
    id: &str,
    attempt: Attempt<'_>,
    now_ms: i64,
) -> Result<(), super::Error> {
    let (status, last_status, last_error, next, done_at) = match attempt {
        Attempt::Delivered { status } => ("delivered", Some(status), None, now_ms, Some(now_ms)),
        Attempt::Retry {
            status,
            error,
            next_attempt_at,
        } => ("pending", status, Some(error), next_attempt_at, None),
        Attempt::Abandoned { status, error } => {
            ("abandoned", status, Some(error), now_ms, Some(now_ms))
        }
    };
    sqlx::query(
        "update event_outbox
         set status = $1, attempts = attempts + 1, last_status = $2, last_error = $3,
             next_attempt_at = $4, done_at = $5, leased_until = null
         where id = $6",
    )
    .bind(status)
    .bind(last_status.map(i64::from))
    .bind(last_error)
    .bind(next)
    .bind(done_at)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// How many events wait for delivery (pending, due or not).
pub async fn backlog(db: &Db) -> Result<i64, super::Error> {
    sqlx::query("select count(*) as n from event_outbox where status = 'pending'")
        .fetch_one(db.pool())
        .await?
        .try_get("n")
        .map_err(Into::into)
}

/// Deletes delivered and abandoned events done before `cutoff_ms` (their dedupe keys are then
/// forgotten). Returns how many.
pub async fn purge_done(db: &Db, cutoff_ms: i64) -> Result<u64, super::Error> {
    Ok(
        sqlx::query("delete from event_outbox where status <> 'pending' and done_at < $1")
            .bind(cutoff_ms)
            .execute(db.pool())
            .await?
            .rows_affected(),
    )
}

/// A booking whose expiry has not produced a `booking.expired` event yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredBooking {
    pub booking_id: String,
    pub reference: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// Up to `limit` bookings, not closed, that expired in `(since_ms, now_ms]` and have no event
/// under the dedupe key `{dedupe_prefix}{booking_id}` yet, soonest expired first.
pub async fn expired_bookings_without_event(
    db: &Db,
    dedupe_prefix: &str,
    since_ms: i64,
    now_ms: i64,
    limit: i64,
) -> Result<Vec<ExpiredBooking>, super::Error> {
    sqlx::query(
        "select b.booking_id, b.reference, b.created_at, b.expires_at from bookings b
         where b.closed_at is null and b.expires_at <= $1 and b.expires_at > $2
           and not exists (select 1 from event_outbox o where o.dedupe_key = $3 || b.booking_id)
         order by b.expires_at
         limit $4",
    )
    .bind(now_ms)
    .bind(since_ms)
    .bind(dedupe_prefix)
    .bind(limit)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        Ok(ExpiredBooking {
            booking_id: r.try_get("booking_id")?,
            reference: r.try_get("reference")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(id: &'a str, key: &'a str, at: i64) -> NewEvent<'a> {
        NewEvent {
            id,
            dedupe_key: key,
            kind: "pin.locked",
            body: "{}",
            created_at: at,
        }
    }

    #[tokio::test]
    async fn a_dedupe_key_is_stored_once_and_a_lease_is_won_once() {
        let db = crate::storage::test_db().await;
        assert!(insert(&db, &event("evt_1", "k", 10)).await.unwrap());
        assert!(!insert(&db, &event("evt_2", "k", 11)).await.unwrap());
        assert_eq!(backlog(&db).await.unwrap(), 1);
        assert_eq!(due(&db, 9, 10).await.unwrap(), Vec::<String>::new());
        assert_eq!(due(&db, 10, 10).await.unwrap(), vec!["evt_1".to_owned()]);

        let won = claim(&db, "evt_1", 10, 100).await.unwrap();
        assert_eq!(won.map(|e| e.id).as_deref(), Some("evt_1"));
        assert!(
            claim(&db, "evt_1", 50, 150).await.unwrap().is_none(),
            "leased"
        );
        assert!(
            due(&db, 50, 10).await.unwrap().is_empty(),
            "leased rows are not due"
        );
        assert!(
            claim(&db, "evt_1", 101, 200).await.unwrap().is_some(),
            "lease expired"
        );

        let retry = Attempt::Retry {
            status: Some(500),
            error: "HTTP 500",
            next_attempt_at: 300,
        };
        record_attempt(&db, "evt_1", retry, 120).await.unwrap();
        assert!(due(&db, 299, 10).await.unwrap().is_empty());
        let again = claim(&db, "evt_1", 300, 400).await.unwrap().unwrap();
        assert_eq!(again.attempts, 1);
        record_attempt(&db, "evt_1", Attempt::Delivered { status: 204 }, 310)
            .await
            .unwrap();
        assert_eq!(backlog(&db).await.unwrap(), 0);
        assert!(claim(&db, "evt_1", 1000, 2000).await.unwrap().is_none());
        assert!(
            !insert(&db, &event("evt_3", "k", 320)).await.unwrap(),
            "a delivered key is remembered"
        );
        assert_eq!(purge_done(&db, 311).await.unwrap(), 1);
        assert!(insert(&db, &event("evt_4", "k", 400)).await.unwrap());
    }
}
