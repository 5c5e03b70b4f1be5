//! The limits on PIN guessing: per caller number, per virtual number (the guessing budget), and
//! the density of active PINs the budget is weighed against. DESIGN.md, "Rules that come from
//! the field": caller IDs can be forged, so they may earn a caller more allowance but never
//! reset a number's budget.

use std::time::Duration;

use anyhow::bail;

use super::raw::Raw;

/// The longest lockout window: at most half a day at once, so that at least half of a day's
/// guessing budget leaks back within the day.
const LOCKOUT_WINDOW_MAX: Duration = Duration::from_secs(12 * 3600);

/// The bounds of `PINBRIDGE_PIN_GUESSING_BUDGET`, customer numbers a day.
const BUDGET_RANGE: std::ops::RangeInclusive<f64> = 0.001..=1000.0;

/// How wrong PINs are limited.
#[derive(Debug, Clone)]
pub struct Guessing {
    /// `PINBRIDGE_CALLER_MAX_FAILURES`: wrong PINs one caller number may key within
    /// [`Guessing::lockout_window`] before the PIN flow refuses it for the window; at least 1.
    /// Default 10.
    pub caller_max_failures: u32,
    /// `PINBRIDGE_LOCKOUT_WINDOW`: the window of the caller and virtual-number limits, and the
    /// share of a day's budget that may be spent at once; above 0 and at most `12h`. Default
    /// `1h`.
    pub lockout_window: Duration,
    /// `PINBRIDGE_PIN_GUESSING_BUDGET`: the customer numbers a day that an attacker with any
    /// number of caller IDs may expect to find by guessing PINs on one virtual number, 0.001
    /// to 1000. Each wrong PIN spends the chance it had of hitting an active PIN there; once a
    /// day's budget (with a burst of one lockout window's share) is spent, callers not known on
    /// that number are refused until it leaks back. Default `1`.
    pub pin_guessing_budget: f64,
    /// `PINBRIDGE_KNOWN_CALLER_WINDOW`: a caller bridged through a virtual number within this
    /// is known there, and keeps its own allowance when the number's budget is spent (as do
    /// trusted callers). Default `30d`.
    pub known_caller_window: Duration,
    /// `PINBRIDGE_PIN_MAX_DENSITY`: the largest share of a PIN length's space that active PINs
    /// on one virtual number may fill, above 0 and at most 1; written `1%` or `0.01`. Default
    /// `1%`.
    pub pin_max_density: f64,
}

impl Guessing {
    pub(super) fn parse(raw: &Raw) -> Self {
        Self {
            caller_max_failures: raw.caller_max_failures,
            lockout_window: raw.lockout_window,
            pin_guessing_budget: raw.pin_guessing_budget,
            known_caller_window: raw.known_caller_window,
            pin_max_density: raw.pin_max_density,
        }
    }

    /// Checks each limit's range (see the fields).
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if self.caller_max_failures == 0 {
            bail!("PINBRIDGE_CALLER_MAX_FAILURES must be at least 1");
        }
        if !BUDGET_RANGE.contains(&self.pin_guessing_budget) {
            bail!(
                "PINBRIDGE_PIN_GUESSING_BUDGET must lie between 0.001 and 1000 (customer numbers a day)"
            );
        }
        if self.lockout_window.is_zero() || self.lockout_window > LOCKOUT_WINDOW_MAX {
            bail!("PINBRIDGE_LOCKOUT_WINDOW must lie above 0s and at most 12h");
        }
        if !(self.pin_max_density > 0.0 && self.pin_max_density <= 1.0) {
            bail!("PINBRIDGE_PIN_MAX_DENSITY must lie above 0% and at most 100%");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_env;

    #[test]
    fn shares_are_read_as_percentages_or_fractions() {
        for (written, share) in [
            ("2%", 0.02),
            ("0.5 %", 0.005),
            ("0.25", 0.25),
            ("100%", 1.0),
        ] {
            let s = load_env(&[("PINBRIDGE_PIN_MAX_DENSITY", written)]).unwrap();
            assert!(
                (s.guessing.pin_max_density - share).abs() < 1e-12,
                "{written}"
            );
        }
        for bad in ["0%", "101%", "a lot"] {
            let e = format!(
                "{:#}",
                load_env(&[("PINBRIDGE_PIN_MAX_DENSITY", bad)]).unwrap_err()
            );
            assert!(e.contains("pin_max_density"), "{bad}: {e}");
        }
    }

    #[test]
    fn guessing_limits_out_of_range_are_refused_with_their_name() {
        for (name, bad) in [
            ("PINBRIDGE_CALLER_MAX_FAILURES", "0"),
            ("PINBRIDGE_PIN_GUESSING_BUDGET", "0"),
            ("PINBRIDGE_PIN_GUESSING_BUDGET", "5000"),
            ("PINBRIDGE_LOCKOUT_WINDOW", "0s"),
            ("PINBRIDGE_LOCKOUT_WINDOW", "13h"),
        ] {
            let e = load_env(&[(name, bad)]).unwrap_err().to_string();
            assert!(e.contains(name), "{name}={bad}: {e}");
        }
        let s = load_env(&[
            ("PINBRIDGE_PIN_GUESSING_BUDGET", "2.5"),
            ("PINBRIDGE_LOCKOUT_WINDOW", "30m"),
        ])
        .unwrap();
        assert_eq!(s.guessing.pin_guessing_budget, 2.5);
        assert_eq!(
            s.guessing.lockout_window,
            std::time::Duration::from_secs(1800)
        );
    }
}
