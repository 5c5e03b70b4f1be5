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
}

impl Allocation {
    pub(super) fn parse(raw: &Raw) -> Self {
        Self {
            cool_off: raw.booking_cool_off,
            headroom_alert: raw.pool_headroom_alert,
        }
    }

    /// [`Allocation::cool_off`] in milliseconds.
    pub fn cool_off_ms(&self) -> i64 {
        i64::try_from(self.cool_off.as_millis()).unwrap_or(i64::MAX / 2)
    }
}
