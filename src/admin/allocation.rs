//! Creating a booking as the admin API and the admin UI both do: the storage's allocation,
//! then what the pool's operators are told of it (a refusal recorded, counted and sent as
//! `pool.allocation_refused`; a pool left short sent as `pool.headroom_low`).

use crate::call::health;
use crate::domain::{NewBooking, NewOrder, PhoneNumber, PinChoice};
use crate::import::admission::{self, Density};
use crate::outbound::events::EventKind;
use crate::state::AppState;
use crate::storage::bookings::{self, Booking, CreateError};
use crate::storage::pool;

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
            tracing::warn!(
                pool.country = %country,
                provider,
                "pool.allocation_refused: no virtual number is free for both parties"
            );
            health::refused(
                &state.db,
                &state.events,
                settings,
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

/// Stores the party PINs of `booking`, just created: party A's (`a`, which reaches party B)
/// and party B's, and returns the booking with them. When a PIN is refused, the booking is
/// deleted again and nothing of the request is left. A booking without party B keeps none
/// (its PINs would reach no one).
///
/// Errors: [`admission::CreateError`], as for an order's PIN (`PINBRIDGE_PIN_MAX_DENSITY`).
pub async fn store_party_pins(
    state: &AppState,
    mut booking: Booking,
    a: Option<PinChoice>,
    b: Option<PinChoice>,
    now_ms: i64,
) -> Result<Booking, admission::CreateError> {
    let Some(party_b) = booking.party_b.clone() else {
        return Ok(booking);
    };
    let keyed = |choice: Option<PinChoice>, party_a: bool, reaches: &PhoneNumber| {
        choice.map(|pin| NewOrder {
            order_id: bookings::party_pin_id(&booking.booking_id, party_a),
            customer: reaches.clone(),
            pin,
            virtual_number: Some(booking.virtual_number.clone()),
            expires_at_ms: booking.expires_at,
            allowed_callers: Vec::new(),
        })
    };
    let pins: Vec<NewOrder> = [keyed(a, true, &party_b), keyed(b, false, &booking.party_a)]
        .into_iter()
        .flatten()
        .collect();
    if pins.is_empty() {
        return Ok(booking);
    }
    let density = Density(state.settings.guessing.pin_max_density);
    let stored =
        match admission::create_party_pins(&state.db, &booking.booking_id, &pins, density, now_ms)
            .await
        {
            Ok(stored) => stored,
            Err(e) => {
                bookings::discard(&state.db, &booking.booking_id).await?;
                return Err(e);
            }
        };
    for (new, pin) in pins.iter().zip(stored) {
        let pin = Some(pin.as_ref().to_owned());
        if new.order_id.ends_with(":a") {
            booking.party_a_pin = pin;
        } else {
            booking.party_b_pin = pin;
        }
    }
    Ok(booking)
}

/// Adds party B to a pending booking ([`bookings::add_party_b`]) with the allocation's
/// cool-off (`PINBRIDGE_BOOKING_COOL_OFF`); the booking moves to another number when its own
/// does not keep the rule with party B.
///
/// Errors: [`bookings::AddPartyError`].
pub async fn add_party_b(
    state: &AppState,
    booking_id: &str,
    party_b: &PhoneNumber,
    now_ms: i64,
) -> Result<Booking, bookings::AddPartyError> {
    let cool_off = state.settings.allocation.cool_off_ms();
    let added = bookings::add_party_b(&state.db, booking_id, party_b, cool_off, now_ms).await;
    if let Ok(booking) = &added {
        tracing::info!(
            booking.id = %booking.booking_id,
            virtual_number = %booking.virtual_number.masked(),
            "booking: party B added"
        );
    }
    added
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
        health::report_pool(
            &state.db,
            &state.events,
            &state.settings.allocation,
            EventKind::PoolHeadroomLow,
            (&country, &number.provider),
            now_ms,
        )
        .await;
    }
    Ok(())
}
