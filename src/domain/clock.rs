//! Wall-clock time as stored: unix milliseconds, and RFC 3339 for the API.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Now, in unix milliseconds.
pub fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Unix milliseconds as RFC 3339 in UTC (`2026-12-01T10:00:00Z`, with fractional seconds
/// when there are any).
pub fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// RFC 3339 text as unix milliseconds; `None` when it is not RFC 3339.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let ms = parse_rfc3339("2026-12-01T10:00:00Z").unwrap();
        assert_eq!(ms, 1_796_119_200_000);
        assert_eq!(rfc3339(ms), "2026-12-01T10:00:00Z");
        assert_eq!(parse_rfc3339("2026-12-01T15:30:00+05:30"), Some(ms));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
