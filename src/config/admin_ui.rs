//! How the admin web UI shows times: the operators' time zone.

use anyhow::bail;
use jiff::tz::TimeZone;

use super::raw::Raw;

/// The admin web UI's presentation settings. The admin API is not affected: it speaks RFC 3339
/// in UTC whatever these say.
#[derive(Debug, Clone)]
pub struct AdminUi {
    /// `PINBRIDGE_ADMIN_TIME_ZONE`: the IANA time zone (`Asia/Kolkata`, `Europe/London`, `UTC`)
    /// the UI shows every time in, and the dashboard's hours and days are counted in. Default
    /// `Asia/Kolkata`. Read from the time zone database bundled into the binary (or the
    /// system's, when it has one), so it works in a container without `/usr/share/zoneinfo`.
    pub time_zone: TimeZone,
}

impl AdminUi {
    /// Errors: a name that is not in the IANA time zone database, naming the setting.
    pub(super) fn parse(raw: &Raw) -> anyhow::Result<Self> {
        Ok(Self {
            time_zone: time_zone(&raw.admin_time_zone)?,
        })
    }

    /// The time zone's IANA name as the database spells it (`Asia/Kolkata`).
    pub fn time_zone_name(&self) -> &str {
        self.time_zone.iana_name().unwrap_or("UTC")
    }
}

/// `name` (an IANA name, any case) as a time zone. Fixed offsets such as `+05:30` are refused:
/// they do not follow a region's daylight-saving rules, and the UI names the zone it shows.
fn time_zone(name: &str) -> anyhow::Result<TimeZone> {
    let name = name.trim();
    if name.is_empty() {
        bail!(
            "PINBRIDGE_ADMIN_TIME_ZONE is empty: give an IANA time zone such as Asia/Kolkata or UTC"
        );
    }
    match jiff::tz::db().get(name) {
        Ok(tz) if tz.iana_name().is_some() => Ok(tz),
        _ => bail!(
            "PINBRIDGE_ADMIN_TIME_ZONE: {name:?} is not an IANA time zone name; use one such as \
             Asia/Kolkata, Asia/Dubai, Europe/London or UTC (the tz database's list)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_env;

    #[test]
    fn the_time_zone_defaults_to_india_and_an_unknown_one_stops_the_start() {
        let s = load_env(&[]).unwrap();
        assert_eq!(s.admin_ui.time_zone_name(), "Asia/Kolkata");
        let s = load_env(&[("PINBRIDGE_ADMIN_TIME_ZONE", "europe/london")]).unwrap();
        assert_eq!(s.admin_ui.time_zone_name(), "Europe/London");
        for bad in ["Asia/Kolkatta", "+05:30", " "] {
            let e = format!(
                "{:#}",
                load_env(&[("PINBRIDGE_ADMIN_TIME_ZONE", bad)]).unwrap_err()
            );
            assert!(e.contains("PINBRIDGE_ADMIN_TIME_ZONE"), "{bad}: {e}");
            assert!(e.contains("Asia/Kolkata"), "{bad}: {e}");
        }
    }
}
