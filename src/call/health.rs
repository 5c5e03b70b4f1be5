//! The health of virtual numbers: a number marked unhealthy (by an operator, or by Exotel's
//! heartbeat) gives its bookings another number, and the business is told of each move
//! (`booking.virtual_number_changed`) or of each booking left where it was for want of a
//! free number (`pool.allocation_refused`). The admin API and UI and the Exotel heartbeat
//! webhook all mark through here.

use crate::config::Allocation;
use crate::outbound::events::{EventKind, Events, NumberChangedData, PoolData};
use crate::storage::bookings::{self, Moved};
use crate::storage::pool::{self, MarkedBy};
use crate::storage::{self as store, Db};

use super::session::Sessions;

/// What marking needs: the database, the events, the call sessions (whose memory of moved
/// party PINs is dropped) and the allocation settings (cool-off, grace, headroom alert).
pub struct Health<'a> {
    pub db: &'a Db,
    pub events: &'a Events,
    pub sessions: &'a Sessions,
    pub settings: &'a Allocation,
}

/// One pool event of a kind per country and provider within this many milliseconds.
const POOL_EVENT_EVERY_MS: i64 = 60_000;

/// Marks `number` (E.164) unhealthy and moves its active bookings
/// ([`bookings::mark_unhealthy`]), then tells the business: `booking.virtual_number_changed`
/// for each booking moved, `pool.allocation_refused` (at most once a minute per country and
/// provider) when a booking found no free number and stays where it is. A failure to tell is
/// logged; the marks and moves stand. Returns the bookings concerned, or `None` when the
/// number is not in the pool.
///
/// Errors: the database's.
pub async fn mark_unhealthy(
    h: &Health<'_>,
    number: &str,
    by: MarkedBy,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<Option<Vec<Moved>>, store::Error> {
    let grace_ms = h.settings.health_grace_ms();
    let Some(moved) = bookings::mark_unhealthy(
        h.db,
        number,
        by,
        reason,
        (h.settings.cool_off_ms(), grace_ms),
        now_ms,
    )
    .await?
    else {
        return Ok(None);
    };
    for m in &moved {
        match &m.new {
            Some(new) => {
                for party_a in [true, false] {
                    h.sessions
                        .forget_order(&bookings::party_pin_id(&m.booking_id, party_a));
                }
                tracing::info!(
                    booking.id = %m.booking_id,
                    marked_by = by.as_str(),
                    "booking.virtual_number_changed: moved off an unhealthy virtual number"
                );
                let data = NumberChangedData {
                    booking_id: m.booking_id.clone(),
                    old_virtual_number: m.old.to_string(),
                    new_virtual_number: new.to_string(),
                    reason: "virtual_number_unhealthy",
                    marked_by: by.as_str(),
                    grace_until: crate::domain::clock::rfc3339(now_ms + grace_ms),
                };
                let key = format!(
                    "{}:{}:{}",
                    EventKind::BookingVirtualNumberChanged.as_str(),
                    m.booking_id,
                    now_ms
                );
                if let Err(e) = h
                    .events
                    .emit(EventKind::BookingVirtualNumberChanged, &key, data.to_json())
                    .await
                {
                    tracing::warn!(error = %e, "a booking.virtual_number_changed event was not stored");
                }
            }
            None => {
                tracing::warn!(
                    booking.id = %m.booking_id,
                    pool.country = %m.country,
                    provider = %m.provider,
                    "pool.allocation_refused: no virtual number is free to move a booking off an unhealthy one"
                );
            }
        }
    }
    if let Some(m) = moved.iter().find(|m| m.new.is_none()) {
        report_refusal(h, &m.country, &m.provider, now_ms).await;
    }
    Ok(Some(moved))
}

/// Records, counts and sends `pool.allocation_refused` for `country` and `provider`, as a
/// booking refused at creation is.
async fn report_refusal(h: &Health<'_>, country: &str, provider: &str, now_ms: i64) {
    refused(h.db, h.events, h.settings, country, provider, now_ms).await;
}

/// An allocation refused for want of a number in `country` and `provider` (`any` when the
/// booking named none): counted in `/metrics`, stored for the dashboard, and sent as
/// `pool.allocation_refused` ([`report_pool`]). A failure to store or send is logged.
pub async fn refused(
    db: &Db,
    events: &Events,
    settings: &Allocation,
    country: &str,
    provider: &str,
    now_ms: i64,
) {
    crate::metrics::allocation_refused(country, provider);
    if let Err(e) = pool::record_refusal(db, country, provider, now_ms).await {
        tracing::warn!(error = %e, "an allocation refusal was not recorded");
    }
    report_pool(
        db,
        events,
        settings,
        EventKind::PoolAllocationRefused,
        (country, provider),
        now_ms,
    )
    .await;
}

/// Sends `kind` for `country` and `provider` (`any`: every provider) with the pool's state
/// there now, at most once a minute per kind, country and provider (the dedupe key names the
/// minute): a pool that stays short would otherwise send one at every booking. A failure to
/// read the pool or store the event is logged.
pub async fn report_pool(
    db: &Db,
    events: &Events,
    settings: &Allocation,
    kind: EventKind,
    (country, provider): (&str, &str),
    now_ms: i64,
) {
    if !events.is_enabled() {
        return;
    }
    let of = if provider == "any" { "" } else { provider };
    let groups = pool::groups(db, country, of, now_ms, now_ms)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the pool's state was not read for an event");
            Vec::new()
        });
    let (allocatable, busiest) = groups.iter().fold((0, 0), |(n, b), g| {
        (n + g.allocatable, b.max(g.busiest_load))
    });
    let data = PoolData {
        country: country.to_owned(),
        provider: provider.to_owned(),
        allocatable_numbers: allocatable,
        busiest_party_load: busiest,
        headroom: allocatable - busiest,
        threshold: settings.headroom_alert,
    };
    let key = format!(
        "{}:{country}:{provider}:{}",
        kind.as_str(),
        now_ms / POOL_EVENT_EVERY_MS
    );
    if let Err(e) = events.emit(kind, &key, data.to_json()).await {
        tracing::warn!(error = %e, event = kind.as_str(), "a pool event was not stored");
    }
}

/// Marks `number` (E.164) healthy again ([`bookings::mark_healthy`]): `by`
/// [`MarkedBy::Heartbeat`] clears only the heartbeat's own mark. Returns whether the number is
/// healthy now, or `None` when it is not in the pool.
///
/// Errors: the database's.
pub async fn mark_healthy(
    h: &Health<'_>,
    number: &str,
    by: MarkedBy,
) -> Result<Option<bool>, store::Error> {
    bookings::mark_healthy(h.db, number, by).await
}

/// What one heartbeat changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    /// Numbers marked unhealthy by it.
    pub marked: usize,
    /// Numbers whose heartbeat mark it cleared.
    pub restored: usize,
    /// SIDs it named that no number of the pool has.
    pub unknown_sids: usize,
}

/// Applies one Exotel heartbeat: every number whose ExoPhone SID is in `affected` (incoming
/// calls affected) is marked unhealthy by the heartbeat; every other number with a SID that
/// the heartbeat had marked is healthy again. An operator's mark is left as it is. With
/// `complete` false (Exotel's `PAYLOAD_TOO_LARGE`: the list is cut), nothing is restored.
///
/// Errors: the database's.
pub async fn apply_heartbeat(
    h: &Health<'_>,
    affected: &std::collections::HashSet<String>,
    complete: bool,
    now_ms: i64,
) -> Result<HeartbeatOutcome, store::Error> {
    let phones = pool::exophones(h.db).await?;
    let mut outcome = HeartbeatOutcome {
        unknown_sids: affected
            .iter()
            .filter(|sid| !phones.iter().any(|p| &p.sid == *sid))
            .count(),
        ..HeartbeatOutcome::default()
    };
    crate::metrics::heartbeat_unknown_sids(outcome.unknown_sids);
    for phone in &phones {
        if affected.contains(&phone.sid) {
            if phone.marked_by.is_none() {
                outcome.marked += 1;
            }
            mark_unhealthy(
                h,
                &phone.number,
                MarkedBy::Heartbeat,
                Some("Exotel heartbeat: incoming calls affected"),
                now_ms,
            )
            .await?;
        } else if complete && phone.marked_by == Some(MarkedBy::Heartbeat) {
            mark_healthy(h, &phone.number, MarkedBy::Heartbeat).await?;
            outcome.restored += 1;
        }
    }
    Ok(outcome)
}
