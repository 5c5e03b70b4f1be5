//! What an order or a booking may be: the region its numbers are read in, the calling codes
//! that may be dialled, the lengths of its PIN and its default lifetime, all read into the
//! [`OrderRules`] the admin API, the admin UI, the CSV import and the call flow hold them to.

use anyhow::{Context, bail};

use crate::domain::{OrderRules, Region};

use super::raw::Raw;

/// The longest PIN the length settings may allow, in digits.
const PIN_LENGTH_MAX: u8 = 20;

/// Reads the order rules:
/// - `PINBRIDGE_DEFAULT_REGION` ([`OrderRules::region`]): ISO 3166-1 region for numbers
///   written without a country code. Default `IN`.
/// - `PINBRIDGE_ALLOWED_COUNTRY_CODES` ([`OrderRules::allowed_country_codes`]): calling codes
///   (`91,65`, a `+` allowed) a customer or booking party may have; nothing else is ever
///   dialled. Default: the default region's code.
/// - `PINBRIDGE_PIN_MIN_LENGTH`, `PINBRIDGE_PIN_MAX_LENGTH` ([`OrderRules::pin_min`],
///   [`OrderRules::pin_max`]): shortest and longest PIN, digits, within 1 to 20. Defaults 4
///   and 12.
/// - `PINBRIDGE_ORDER_TTL` ([`OrderRules::default_ttl_ms`]): lifetime of an order created
///   without `expires_at`. Default `24h`.
///
/// Errors: a region or a calling code that is not one, naming the setting.
pub(super) fn parse(raw: &Raw) -> anyhow::Result<OrderRules> {
    let region = Region::parse(&raw.default_region)
        .with_context(|| "PINBRIDGE_DEFAULT_REGION is not a region code".to_string())?;
    let allowed_country_codes = match &raw.allowed_country_codes {
        Some(list) => list
            .split(',')
            .map(|c| c.trim().trim_start_matches('+'))
            .filter(|c| !c.is_empty())
            .map(|c| {
                c.parse::<u16>().with_context(|| {
                    format!(
                        "PINBRIDGE_ALLOWED_COUNTRY_CODES: {c:?} is not a calling code such as 91"
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?,
        None => region.calling_code().into_iter().collect(),
    };
    Ok(OrderRules {
        region,
        pin_min: raw.pin_min_length,
        pin_max: raw.pin_max_length,
        default_ttl_ms: i64::try_from(raw.order_ttl.as_millis()).unwrap_or(i64::MAX / 2),
        allowed_country_codes,
    })
}

/// Checks the PIN lengths: within 1 to 20 digits, the shortest no longer than the longest.
pub(super) fn check(rules: &OrderRules) -> anyhow::Result<()> {
    if rules.pin_min == 0 || rules.pin_max > PIN_LENGTH_MAX {
        bail!("PIN lengths must lie between 1 and 20 digits");
    }
    if rules.pin_min > rules.pin_max {
        bail!("PINBRIDGE_PIN_MIN_LENGTH is larger than PINBRIDGE_PIN_MAX_LENGTH");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_env;

    #[test]
    fn out_of_range_pin_lengths_and_unknown_regions_are_refused_with_their_name() {
        let e = load_env(&[
            ("PINBRIDGE_PIN_MIN_LENGTH", "8"),
            ("PINBRIDGE_PIN_MAX_LENGTH", "6"),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("PIN_MIN_LENGTH"), "{e}");
        let e = load_env(&[("PINBRIDGE_PIN_MAX_LENGTH", "21")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("PIN lengths"), "{e}");
        let e = load_env(&[("PINBRIDGE_DEFAULT_REGION", "XX")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("PINBRIDGE_DEFAULT_REGION"), "{e}");
    }

    #[test]
    fn calling_codes_are_read_as_written_or_follow_the_region() {
        let s = load_env(&[("PINBRIDGE_ALLOWED_COUNTRY_CODES", "91, +65")]).unwrap();
        assert_eq!(s.orders.allowed_country_codes, vec![91, 65]);
        assert_eq!(
            load_env(&[]).unwrap().orders.allowed_country_codes,
            vec![91]
        );
        let s = load_env(&[("PINBRIDGE_DEFAULT_REGION", "SG")]).unwrap();
        assert_eq!(s.orders.allowed_country_codes, vec![65]);
        let e = load_env(&[("PINBRIDGE_ALLOWED_COUNTRY_CODES", "91,india")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("PINBRIDGE_ALLOWED_COUNTRY_CODES"), "{e}");
        assert!(e.contains("\"india\""), "{e}");
    }
}
