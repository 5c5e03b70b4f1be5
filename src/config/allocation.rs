//! How bookings are given their virtual numbers, and when the pool's headroom is reported.

use std::time::Duration;

use super::raw::Raw;

/// Allocation settings.
#[derive(Debug, Clone)]
pub struct Allocation {
    /// `PINBRIDGE_BOOKING_COOL_OFF`: after a booking ends, the same two parties are not given
    /// its number again for this long, so that a past party never reaches a new booking
    /// (Plivo and Exotel wait out an hour to a day). Default `1h`; `0s` turns it off.
    pub cool_off: Duration,
    /// `PINBRIDGE_POOL_HEADROOM_ALERT`: a booking that leaves the busiest party of its
    /// country and provider fewer than this many more numbers emits `pool.headroom_low`.
    /// Default 1 (the busiest party can be given no other booking); 0 turns it off.
    pub headroom_alert: u32,
    /// `PINBRIDGE_HEALTH_GRACE`: after a booking is moved off a number marked unhealthy, a
    /// party calling the old number still reaches the other party for this long, so that a
    /// party not yet told of the new number is not lost. Default `24h`; `0s` turns it off; at
    /// most 30 days (a booking rarely lives longer).
    pub health_grace: Duration,
}

/// The longest [`Allocation::health_grace`].
const MAX_HEALTH_GRACE: Duration = Duration::from_secs(30 * 86_400);

impl Allocation {
    pub(super) fn parse(raw: &Raw) -> Self {
        Self {
            cool_off: raw.booking_cool_off,
            headroom_alert: raw.pool_headroom_alert,
            health_grace: raw.health_grace,
        }
    }

    /// Checks that the grace is at most 30 days.
    ///
    /// Errors: the setting out of range, named.
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.health_grace > MAX_HEALTH_GRACE {
            anyhow::bail!("PINBRIDGE_HEALTH_GRACE is at most 30d");
        }
        Ok(())
    }

    /// [`Allocation::health_grace`] in milliseconds.
    pub fn health_grace_ms(&self) -> i64 {
        i64::try_from(self.health_grace.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// [`Allocation::cool_off`] in milliseconds.
    pub fn cool_off_ms(&self) -> i64 {
        i64::try_from(self.cool_off.as_millis()).unwrap_or(i64::MAX / 2)
    }
}
