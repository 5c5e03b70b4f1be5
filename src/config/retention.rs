//! How long things live: call records and ended orders and bookings before they are deleted,
//! and a booking created without an end of its own. (An order's default lifetime,
//! `PINBRIDGE_ORDER_TTL`, is one of the [`crate::domain::OrderRules`] it is created under.)

use std::time::Duration;

use super::raw::Raw;

/// Lifetimes.
#[derive(Debug, Clone)]
pub struct Retention {
    /// `PINBRIDGE_RETENTION_DAYS`: call records and inactive orders and bookings older than
    /// this many days are deleted (hourly, and by `pinbridge purge`). Default 90.
    pub days: u32,
    /// `PINBRIDGE_BOOKING_TTL`: lifetime of a booking created without `ttl_seconds` or
    /// `expires_at`. Default `24h`.
    pub booking_ttl: Duration,
}

impl Retention {
    pub(super) fn parse(raw: &Raw) -> Self {
        Self {
            days: raw.retention_days,
            booking_ttl: raw.booking_ttl,
        }
    }
}
