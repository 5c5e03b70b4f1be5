//! Creating a booking as the admin API and the admin UI both do: the storage's allocation,
//! then what the pool's operators are told of it (a refusal recorded, counted and sent as
//! `pool.allocation_refused`; a pool left short sent as `pool.headroom_low`).

use crate::domain::NewBooking;
use crate::outbound::events::{EventKind, PoolData};
use crate::state::AppState;
use crate::storage::bookings::{self, Booking, CreateError};
use crate::storage::pool;

/// One event of a kind per country and provider within this many milliseconds: a pool that
/// stays short would otherwise send one at every booking.
const EVENT_EVERY_MS: i64 = 60_000;

/// Creates the booking `new` under `booking_id` at `now_ms` with the settings' cool-off
/// ([`crate::config::Allocation`]), and reports the pool's state: on `pool_exhausted`, the
/// refusal is stored for the dashboard, counted in `/metrics` and sent as
/// `pool.allocation_refused`; after an allocation that leaves the busiest party of the
/// number's country and provider less headroom than `PINBRIDGE_POOL_HEADROOM_ALERT`,
/// `pool.headroom_low` is sent. Each event at most once a minute per country and provider.
/// A failure to report is logged; the booking's outcome stands.
///
/// Errors: [`bookings::create`]'s.
pub async fn create_booking(
    state: &AppState,
    new: &NewBooking,
    booking_id: &str,
    now_ms: i64,
) -> Result<Booking, CreateError> {
    let settings = &state.settings.allocation;
    let created =
        bookings::create(&state.db, new, booking_id, settings.cool_off_ms(), now_ms).await;
    match &created {
        Err(CreateError::PoolExhausted) => {
            let country = new.countries().0;
            let provider = new.provider.as_deref().unwrap_or("any");
            crate::metrics::allocation_refused(&country, provider);
            tracing::warn!(
                pool.country = %country,
                provider,
                "pool.allocation_refused: no virtual number is free for both parties"
            );
            if let Err(e) = pool::record_refusal(&state.db, &country, provider, now_ms).await {
                tracing::warn!(error = %e, "an allocation refusal was not recorded");
            }
            report(
                state,
                EventKind::PoolAllocationRefused,
                &country,
                provider,
                now_ms,
            )
            .await;
        }
        Ok(booking) if settings.headroom_alert > 0 && new.virtual_number.is_none() => {
            if let Err(e) = check_headroom(state, booking, now_ms).await {
                tracing::warn!(error = %e, "the pool's headroom was not read");
            }
        }
        _ => {}
    }
    created
}

/// Sends `pool.headroom_low` when `booking` left the busiest party of its number's country and
/// provider less headroom than `PINBRIDGE_POOL_HEADROOM_ALERT`.
async fn check_headroom(
    state: &AppState,
    booking: &Booking,
    now_ms: i64,
) -> Result<(), crate::storage::Error> {
    let Some(number) = pool::get(&state.db, booking.virtual_number.as_ref(), now_ms).await? else {
        return Ok(());
    };
    let country = number.country.unwrap_or_default();
    let groups = pool::groups(&state.db, &country, &number.provider, now_ms, now_ms).await?;
    let threshold = i64::from(state.settings.allocation.headroom_alert);
    if let Some(g) = groups.iter().find(|g| g.headroom() < threshold) {
        tracing::warn!(
            pool.country = %country,
            provider = %number.provider,
            pool.headroom = g.headroom(),
            "pool.headroom_low: the busiest party is close to holding every number"
        );
        report(
            state,
            EventKind::PoolHeadroomLow,
            &country,
            &number.provider,
            now_ms,
        )
        .await;
    }
    Ok(())
}

/// Sends `kind` for `country` and `provider` with the pool's state there now, at most once a
/// minute (the dedupe key names the minute).
async fn report(state: &AppState, kind: EventKind, country: &str, provider: &str, now_ms: i64) {
    if !state.events.is_enabled() {
        return;
    }
    let of = if provider == "any" { "" } else { provider };
    let group = pool::groups(&state.db, country, of, now_ms, now_ms)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the pool's state was not read for an event");
            Vec::new()
        });
    let (allocatable, busiest) = group.iter().fold((0, 0), |(n, b), g| {
        (n + g.allocatable, b.max(g.busiest_load))
    });
    let data = PoolData {
        country: country.to_owned(),
        provider: provider.to_owned(),
        allocatable_numbers: allocatable,
        busiest_party_load: busiest,
        headroom: allocatable - busiest,
        threshold: state.settings.allocation.headroom_alert,
    };
    let key = format!(
        "{}:{country}:{provider}:{}",
        kind.as_str(),
        now_ms / EVENT_EVERY_MS
    );
    if let Err(e) = state.events.emit(kind, &key, data.to_json()).await {
        tracing::warn!(error = %e, event = kind.as_str(), "a pool event was not stored");
    }
}
