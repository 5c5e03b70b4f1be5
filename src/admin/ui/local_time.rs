//! Times as the admin UI shows them: in the operators' time zone
//! (`PINBRIDGE_ADMIN_TIME_ZONE`, [`crate::config::AdminUi`]), to the second, with the zone's
//! abbreviation: `7 Dec 2026, 15:04:05 IST`. Storage keeps unix milliseconds and the admin API
//! RFC 3339 in UTC; only the pages are local.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// One hour, in milliseconds.
pub(super) const HOUR_MS: i64 = 3_600_000;

/// `ms` (unix milliseconds) in `tz`, or `None` when out of range.
fn zoned(tz: &TimeZone, ms: i64) -> Option<Zoned> {
    Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_zoned(tz.clone()))
}

/// `ms` as `7 Dec 2026, 15:04:05 IST` in `tz`: no milliseconds, the zone's abbreviation at
/// that instant (`BST` or `GMT` for Europe/London). Empty when out of range.
pub(super) fn show(tz: &TimeZone, ms: i64) -> String {
    zoned(tz, ms)
        .map(|z| z.strftime("%-d %b %Y, %H:%M:%S %Z").to_string())
        .unwrap_or_default()
}

/// `ms` as the time of day in `tz`, to the minute: `15:04 IST`.
pub(super) fn clock(tz: &TimeZone, ms: i64) -> String {
    zoned(tz, ms)
        .map(|z| z.strftime("%H:%M %Z").to_string())
        .unwrap_or_default()
}

/// A time a page shows: the local text and, for `<time datetime>`, RFC 3339 in UTC.
pub(super) struct Shown {
    /// `7 Dec 2026, 15:04:05 IST`.
    pub text: String,
    /// `2026-12-07T09:34:05Z`: what machines (and the browser tests) read.
    pub utc: String,
}

impl Shown {
    /// `ms` in `tz`.
    pub fn at(tz: &TimeZone, ms: i64) -> Self {
        Self {
            text: show(tz, ms),
            utc: crate::domain::clock::rfc3339(ms - ms.rem_euclid(1000)),
        }
    }
}

/// The zone as a page names it: `IST (Asia/Kolkata)`, with the abbreviation in use at `now_ms`.
pub(super) fn zone_label(tz: &TimeZone, now_ms: i64) -> String {
    let name = tz.iana_name().unwrap_or("UTC");
    match abbreviation(tz, now_ms) {
        a if a.is_empty() || a == name => name.to_owned(),
        a => format!("{a} ({name})"),
    }
}

/// The zone's abbreviation in use at `ms` (`IST`), as strftime's `%Z` gives it.
pub(super) fn abbreviation(tz: &TimeZone, ms: i64) -> String {
    zoned(tz, ms)
        .map(|z| z.strftime("%Z").to_string())
        .unwrap_or_default()
}

/// The start (local midnight) of the day `date` in `tz`, in unix milliseconds. Where a
/// daylight-saving change skips midnight, the day starts at the first instant it has.
pub(super) fn day_start(tz: &TimeZone, date: Date) -> Option<i64> {
    date.to_zoned(tz.clone())
        .ok()?
        .start_of_day()
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// `YYYY-MM-DD` read as a date; `None` when it is not one.
pub(super) fn parse_date(text: &str) -> Option<Date> {
    text.trim().parse::<Date>().ok()
}

/// The local date in `tz` of the instant `ms`.
pub(super) fn date_of(tz: &TimeZone, ms: i64) -> Option<Date> {
    zoned(tz, ms).map(|z| z.date())
}

/// The local hour (0 to 23) in `tz` of the instant `ms`.
pub(super) fn hour_of(tz: &TimeZone, ms: i64) -> Option<i8> {
    zoned(tz, ms).map(|z| z.hour())
}

/// The start of the local hour that holds `ms` in `tz`, in unix milliseconds. Whole-hour
/// buckets counted from it keep to local hours, also in zones half an hour off UTC (India).
pub(super) fn hour_start(tz: &TimeZone, ms: i64) -> i64 {
    let offset_ms = zoned(tz, ms).map_or(0, |z| i64::from(z.offset().seconds()) * 1000);
    (ms + offset_ms).div_euclid(HOUR_MS) * HOUR_MS - offset_ms
}

/// The local dates of the `days` days that end with the day holding `now_ms`, oldest first,
/// each with its start in unix milliseconds.
pub(super) fn last_days(tz: &TimeZone, now_ms: i64, days: i64) -> Vec<(Date, i64)> {
    let Some(today) = date_of(tz, now_ms) else {
        return Vec::new();
    };
    (0..days)
        .rev()
        .filter_map(|back| {
            let date = today.checked_sub(back.days()).ok()?;
            Some((date, day_start(tz, date)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kolkata() -> TimeZone {
        jiff::tz::db().get("Asia/Kolkata").unwrap()
    }

    #[test]
    fn times_read_in_the_operators_zone_to_the_second() {
        // 2026-12-07T09:34:05.678Z is 15:04:05 in India.
        let ms = 1_796_636_045_678;
        assert_eq!(show(&kolkata(), ms), "7 Dec 2026, 15:04:05 IST");
        assert_eq!(clock(&kolkata(), ms), "15:04 IST");
        let shown = Shown::at(&kolkata(), ms);
        assert_eq!(shown.utc, "2026-12-07T09:34:05Z");
        assert_eq!(zone_label(&kolkata(), ms), "IST (Asia/Kolkata)");
        let london = jiff::tz::db().get("Europe/London").unwrap();
        assert_eq!(show(&london, ms), "7 Dec 2026, 09:34:05 GMT");
        // Summer time: the abbreviation follows the instant.
        assert_eq!(show(&london, 1_783_000_000_000), "2 Jul 2026, 14:46:40 BST");
    }

    #[test]
    fn local_hours_and_days_start_where_the_zone_says() {
        let ms = 1_796_636_045_678; // 15:04:05 IST
        let start = hour_start(&kolkata(), ms);
        assert_eq!(show(&kolkata(), start), "7 Dec 2026, 15:00:00 IST");
        let days = last_days(&kolkata(), ms, 7);
        assert_eq!(days.len(), 7);
        assert_eq!(show(&kolkata(), days[6].1), "7 Dec 2026, 00:00:00 IST");
        assert_eq!(show(&kolkata(), days[0].1), "1 Dec 2026, 00:00:00 IST");
        assert_eq!(days[6].1 - days[5].1, 24 * HOUR_MS);
        // A day that loses an hour to summer time is 23 hours long.
        let london = jiff::tz::db().get("Europe/London").unwrap();
        let march = parse_date("2026-03-29").unwrap();
        let next = parse_date("2026-03-30").unwrap();
        assert_eq!(
            day_start(&london, next).unwrap() - day_start(&london, march).unwrap(),
            23 * HOUR_MS
        );
        assert_eq!(parse_date("07/12/2026"), None);
    }
}
