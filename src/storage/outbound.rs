//! Outbound: the records of click-to-calls (their `calls` row and the Exotel Call Sid behind
//! it), and the SMS after an unanswered call with its cooldown per order or booking
//! (`migrations/0005_outbound.sql`).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Db;

/// The provider of every click-to-call record.
pub const PROVIDER: &str = "exotel";

/// The `route` of a click-to-call record in the call log.
pub const ROUTE: &str = "click_to_call";

/// A click-to-call about to be placed.
#[derive(Debug, Clone)]
pub struct NewOutboundCall<'a> {
    /// pinbridge's id: the record's `call_sid` and the `CustomField` sent to Exotel.
    pub call_id: &'a str,
    pub order_id: Option<&'a str>,
    pub booking_id: Option<&'a str>,
    /// The party called first (`From`), E.164: the record's caller.
    pub from: &'a str,
    /// The party connected second (`To`), E.164: the record's destination.
    pub to: &'a str,
    /// The ExoPhone both see (`CallerId`), E.164: the record's virtual number.
    pub caller_id: &'a str,
}

/// A click-to-call as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    pub call_id: String,
    /// Exotel's Call Sid, once known.
    pub exotel_sid: Option<String>,
    pub order_id: Option<String>,
    pub booking_id: Option<String>,
    /// `requested`, `accepted`, `rejected` or `unknown`.
    pub status: String,
}

fn call_from_row(row: &AnyRow) -> Result<OutboundCall, super::Error> {
    Ok(OutboundCall {
        call_id: row.try_get("call_id")?,
        exotel_sid: row.try_get("exotel_sid")?,
        order_id: row.try_get("order_id")?,
        booking_id: row.try_get("booking_id")?,
        status: row.try_get("status")?,
    })
}

/// Creates the call record of a click-to-call (outcome `in_progress`, route `click_to_call`,
/// bridged now, so that the dialled party calling the virtual number back reaches the caller
/// through the callback route) and its `outbound_calls` row, in one transaction.
///
/// Errors: the database's; a `call_id` used before is a unique violation.
pub async fn create_call(
    db: &Db,
    call: &NewOutboundCall<'_>,
    now_ms: i64,
) -> Result<(), super::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "insert into calls (provider, call_sid, caller, virtual_number, phase, pin_attempts,
                            order_id, booking_id, destination, outcome, route, bridged_at,
                            started_at, updated_at)
         values ($1, $2, $3, $4, 'resolved', 0, $5, $6, $7, 'in_progress', $8, $9, $9, $9)",
    )
    .bind(PROVIDER)
    .bind(call.call_id)
    .bind(call.from)
    .bind(call.caller_id)
    .bind(call.order_id)
    .bind(call.booking_id)
    .bind(call.to)
    .bind(ROUTE)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into outbound_calls (call_id, order_id, booking_id, status, created_at, updated_at)
         values ($1, $2, $3, 'requested', $4, $4)",
    )
    .bind(call.call_id)
    .bind(call.order_id)
    .bind(call.booking_id)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Stores Exotel's Call Sid of an accepted click-to-call. Keeps a Sid stored already (the
/// status callback may have come first and stored it).
pub async fn accepted(
    db: &Db,
    call_id: &str,
    exotel_sid: &str,
    now_ms: i64,
) -> Result<(), super::Error> {
    sqlx::query(
        "update outbound_calls
         set exotel_sid = coalesce(exotel_sid, $2), status = 'accepted', updated_at = $3
         where call_id = $1",
    )
    .bind(call_id)
    .bind(exotel_sid)
    .bind(now_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Records that Exotel did not take a click-to-call. `certain`: Exotel refused it, so the call
/// record ends now with outcome `failed`; otherwise the outcome is unknown and the record
/// stays open for the status callback. `http_status`: Exotel's answer, if any.
pub async fn not_accepted(
    db: &Db,
    call_id: &str,
    certain: bool,
    http_status: Option<u16>,
    now_ms: i64,
) -> Result<(), super::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "update outbound_calls set status = $2, http_status = $3, updated_at = $4
         where call_id = $1 and status = 'requested'",
    )
    .bind(call_id)
    .bind(if certain { "rejected" } else { "unknown" })
    .bind(http_status.map(i64::from))
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    if certain {
        sqlx::query(
            "update calls set outcome = 'failed', ended_at = $3, updated_at = $3
             where provider = $1 and call_sid = $2 and ended_at is null",
        )
        .bind(PROVIDER)
        .bind(call_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The click-to-call a status callback is about: the one with Exotel's `CallSid`, else the one
/// named by `CustomField` (our id) unless that one is tied to another Sid. A click-to-call
/// found by its id alone gets the Sid stored (the callback came before Exotel's answer was
/// read).
pub async fn find_for_status(
    db: &Db,
    exotel_sid: Option<&str>,
    custom_field: Option<&str>,
    now_ms: i64,
) -> Result<Option<OutboundCall>, super::Error> {
    const COLUMNS: &str = "call_id, exotel_sid, order_id, booking_id, status";
    if let Some(sid) = exotel_sid {
        let sql = sqlx::AssertSqlSafe(format!(
            "select {COLUMNS} from outbound_calls where exotel_sid = $1"
        ));
        if let Some(row) = sqlx::query(sql).bind(sid).fetch_optional(db.pool()).await? {
            return call_from_row(&row).map(Some);
        }
    }
    let Some(call_id) = custom_field else {
        return Ok(None);
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from outbound_calls where call_id = $1"
    ));
    let Some(found) = sqlx::query(sql)
        .bind(call_id)
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(call_from_row)
        .transpose()?
    else {
        return Ok(None);
    };
    match (&found.exotel_sid, exotel_sid) {
        (Some(stored), Some(given)) if stored != given => Ok(None),
        (None, Some(given)) => {
            sqlx::query(
                "update outbound_calls set exotel_sid = $2, updated_at = $3
                 where call_id = $1 and exotel_sid is null",
            )
            .bind(call_id)
            .bind(given)
            .bind(now_ms)
            .execute(db.pool())
            .await?;
            Ok(Some(OutboundCall {
                exotel_sid: Some(given.to_owned()),
                ..found
            }))
        }
        _ => Ok(Some(found)),
    }
}

/// What [`claim_sms`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsClaim {
    /// This call may send the SMS: it now holds the subject's cooldown.
    Claimed,
    /// This call's SMS was decided before (a repeated delivery of its end): nothing to do.
    AlreadyDecided,
    /// Another call sent one for the same subject within the cooldown: no SMS.
    CoolingDown,
}

/// Decides, once per call and at most once per `subject` (`order:<id>`, `booking:<id>`) within
/// `cooldown_ms`, whether the SMS after this unanswered call is sent. Both rules hold over
/// every instance: the per-call row is a primary key, the cooldown a conditional upsert, in
/// one transaction.
pub async fn claim_sms(
    db: &Db,
    provider: &str,
    call_sid: &str,
    subject: &str,
    cooldown_ms: i64,
    now_ms: i64,
) -> Result<SmsClaim, super::Error> {
    let mut tx = db.pool().begin().await?;
    let first = sqlx::query(
        "insert into outbound_sms (provider, call_sid, subject, status, created_at, updated_at)
         values ($1, $2, $3, 'sending', $4, $4)
         on conflict (provider, call_sid) do nothing",
    )
    .bind(provider)
    .bind(call_sid)
    .bind(subject)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if first == 0 {
        tx.rollback().await?;
        return Ok(SmsClaim::AlreadyDecided);
    }
    let claimed = sqlx::query(
        "insert into sms_cooldowns (subject, claimed_at, claimed_by) values ($1, $2, $3)
         on conflict (subject) do update
             set claimed_at = excluded.claimed_at, claimed_by = excluded.claimed_by
             where sms_cooldowns.claimed_at <= $4",
    )
    .bind(subject)
    .bind(now_ms)
    .bind(format!("{provider}:{call_sid}"))
    .bind(now_ms.saturating_sub(cooldown_ms))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let decision = if claimed == 1 {
        SmsClaim::Claimed
    } else {
        sqlx::query(
            "update outbound_sms set status = 'cooldown' where provider = $1 and call_sid = $2",
        )
        .bind(provider)
        .bind(call_sid)
        .execute(&mut *tx)
        .await?;
        SmsClaim::CoolingDown
    };
    tx.commit().await?;
    Ok(decision)
}

/// Records how a claimed SMS went: sent (with Exotel's `SMSMessage.Sid`) or failed. A failed
/// one gives its subject's cooldown back, so the next unanswered call may try again.
pub async fn finish_sms(
    db: &Db,
    provider: &str,
    call_sid: &str,
    subject: &str,
    exotel_sid: Option<&str>,
    now_ms: i64,
) -> Result<(), super::Error> {
    let mut tx = db.pool().begin().await?;
    sqlx::query(
        "update outbound_sms set status = $3, exotel_sid = $4, updated_at = $5
         where provider = $1 and call_sid = $2",
    )
    .bind(provider)
    .bind(call_sid)
    .bind(if exotel_sid.is_some() {
        "sent"
    } else {
        "failed"
    })
    .bind(exotel_sid)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    if exotel_sid.is_none() {
        sqlx::query("delete from sms_cooldowns where subject = $1 and claimed_by = $2")
            .bind(subject)
            .bind(format!("{provider}:{call_sid}"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The SMS decision of one call: its status (`sending`, `sent`, `failed`, `cooldown`) and
/// Exotel's Sid, if any.
pub async fn sms_of_call(
    db: &Db,
    provider: &str,
    call_sid: &str,
) -> Result<Option<(String, Option<String>)>, super::Error> {
    sqlx::query("select status, exotel_sid from outbound_sms where provider = $1 and call_sid = $2")
        .bind(provider)
        .bind(call_sid)
        .fetch_optional(db.pool())
        .await?
        .map(|r| Ok((r.try_get("status")?, r.try_get("exotel_sid")?)))
        .transpose()
        .map_err(|e: sqlx::Error| e.into())
}

/// Deletes click-to-call and SMS rows created before `cutoff_ms`, and cooldowns claimed before
/// it (long past any cooldown). For `PINBRIDGE_RETENTION_DAYS`.
pub async fn purge(db: &Db, cutoff_ms: i64) -> Result<u64, super::Error> {
    let mut deleted = 0;
    for sql in [
        "delete from outbound_calls where created_at < $1",
        "delete from outbound_sms where created_at < $1",
        "delete from sms_cooldowns where claimed_at < $1",
    ] {
        deleted += sqlx::query(sql)
            .bind(cutoff_ms)
            .execute(db.pool())
            .await?
            .rows_affected();
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Outcome;
    use crate::storage::test_db;

    const MINUTE: i64 = 60_000;

    #[tokio::test]
    async fn one_sms_per_call_and_one_per_subject_within_the_cooldown() {
        let db = test_db().await;
        let t = 1_000_000;
        let claim = |sid: &'static str, at: i64| {
            let db = db.clone();
            async move {
                claim_sms(&db, "exotel", sid, "order:OD-1", 30 * MINUTE, at)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(claim("a", t).await, SmsClaim::Claimed);
        assert_eq!(claim("a", t + 1).await, SmsClaim::AlreadyDecided);
        assert_eq!(claim("b", t + 10 * MINUTE).await, SmsClaim::CoolingDown);
        assert_eq!(claim("b", t + 40 * MINUTE).await, SmsClaim::AlreadyDecided);
        assert_eq!(claim("c", t + 31 * MINUTE).await, SmsClaim::Claimed);
        assert_eq!(
            sms_of_call(&db, "exotel", "b").await.unwrap(),
            Some(("cooldown".into(), None))
        );
    }

    #[tokio::test]
    async fn two_instances_racing_for_one_subject_send_one_sms() {
        // Two pools on one database stand for two instances.
        let dir = tempfile::tempdir().unwrap();
        let url = match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        {
            Some(server) => crate::storage::create_test_database(&server, "u")
                .await
                .unwrap(),
            None => format!("sqlite://{}/race.db", dir.path().display()),
        };
        let settings = crate::storage::PoolSettings {
            max_connections: 4,
            ..crate::storage::PoolSettings::single()
        };
        let one = Db::connect(&url, &settings).await.unwrap();
        one.migrate().await.unwrap();
        let two = Db::connect(&url, &settings).await.unwrap();
        let claims = (0..8).map(|i| {
            let db = if i % 2 == 0 { one.clone() } else { two.clone() };
            tokio::spawn(async move {
                claim_sms(
                    &db,
                    "exotel",
                    &format!("call-{i}"),
                    "order:OD-R",
                    MINUTE,
                    1_000,
                )
                .await
                .unwrap()
            })
        });
        let mut claimed = 0;
        for claim in claims.collect::<Vec<_>>() {
            if claim.await.unwrap() == SmsClaim::Claimed {
                claimed += 1;
            }
        }
        assert_eq!(claimed, 1);
    }

    #[tokio::test]
    async fn a_failed_sms_gives_its_cooldown_back() {
        let db = test_db().await;
        let t = 5_000_000;
        let cd = 30 * MINUTE;
        assert_eq!(
            claim_sms(&db, "exotel", "a", "booking:bk_1", cd, t)
                .await
                .unwrap(),
            SmsClaim::Claimed
        );
        finish_sms(&db, "exotel", "a", "booking:bk_1", None, t + 1)
            .await
            .unwrap();
        assert_eq!(
            claim_sms(&db, "exotel", "b", "booking:bk_1", cd, t + 2)
                .await
                .unwrap(),
            SmsClaim::Claimed
        );
        finish_sms(&db, "exotel", "b", "booking:bk_1", Some("sms-sid"), t + 3)
            .await
            .unwrap();
        assert_eq!(
            claim_sms(&db, "exotel", "c", "booking:bk_1", cd, t + 4)
                .await
                .unwrap(),
            SmsClaim::CoolingDown
        );
        assert_eq!(
            sms_of_call(&db, "exotel", "b").await.unwrap(),
            Some(("sent".into(), Some("sms-sid".into())))
        );
    }

    #[tokio::test]
    async fn a_status_callback_finds_its_call_by_sid_or_by_our_id() {
        let db = test_db().await;
        let new = NewOutboundCall {
            call_id: "ctc_1",
            order_id: Some("OD-1"),
            booking_id: None,
            from: "+917709562799",
            to: "+919812345678",
            caller_id: "+917314853246",
        };
        create_call(&db, &new, 1).await.unwrap();
        // The callback came before Exotel's answer was read: found by our id, Sid stored.
        let found = find_for_status(&db, Some("sid-1"), Some("ctc_1"), 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.exotel_sid.as_deref(), Some("sid-1"));
        accepted(&db, "ctc_1", "sid-1", 3).await.unwrap();
        let by_sid = find_for_status(&db, Some("sid-1"), None, 4)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_sid.call_id, "ctc_1");
        assert_eq!(by_sid.status, "accepted");
        // Our id with another call's Sid is not believed.
        assert_eq!(
            find_for_status(&db, Some("sid-2"), Some("ctc_1"), 5)
                .await
                .unwrap(),
            None
        );
        let record = crate::storage::calls::get(&db, PROVIDER, "ctc_1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(record.route.as_deref(), Some(ROUTE));
        assert_eq!(record.outcome, Outcome::InProgress);
        assert_eq!(record.destination.as_deref(), Some("+919812345678"));
    }

    #[tokio::test]
    async fn a_refused_click_to_call_ends_as_failed_and_an_uncertain_one_stays_open() {
        let db = test_db().await;
        for id in ["ctc_r", "ctc_u"] {
            let new = NewOutboundCall {
                call_id: id,
                order_id: None,
                booking_id: Some("bk_1"),
                from: "+917709562799",
                to: "+919812345678",
                caller_id: "+917314853246",
            };
            create_call(&db, &new, 1).await.unwrap();
        }
        not_accepted(&db, "ctc_r", true, Some(400), 2)
            .await
            .unwrap();
        not_accepted(&db, "ctc_u", false, None, 2).await.unwrap();
        let get = |id: &'static str| {
            let db = db.clone();
            async move {
                crate::storage::calls::get(&db, PROVIDER, id)
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        assert_eq!(get("ctc_r").await.outcome, Outcome::Failed);
        assert_eq!(get("ctc_r").await.ended_at, Some(2));
        assert_eq!(get("ctc_u").await.outcome, Outcome::InProgress);
        assert_eq!(purge(&db, 10).await.unwrap(), 2);
    }
}
