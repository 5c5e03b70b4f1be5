//! E.164 phone numbers, normalised from the many forms providers and businesses send.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat};

/// The region assumed for numbers written without a country code (`PINBRIDGE_DEFAULT_REGION`),
/// an ISO 3166-1 alpha-2 code such as `IN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(rlibphonenumber::Region);

impl Region {
    /// Parses an ISO 3166-1 alpha-2 region code, case-insensitively (`IN`, `in`, `US`).
    /// Refuses codes that libphonenumber's metadata does not number (`XX`).
    pub fn parse(code: &str) -> Result<Self, PhoneNumberError> {
        rlibphonenumber::Region::from_str(&code.trim().to_ascii_uppercase())
            .ok()
            .filter(|r| PHONE_NUMBER_UTIL.get_country_code_for_region(*r).is_some())
            .map(Self)
            .ok_or_else(|| PhoneNumberError::UnknownRegion(code.to_owned()))
    }

    /// The international calling code of the region, without `+` (`91` for `IN`).
    pub fn calling_code(&self) -> Option<u16> {
        PHONE_NUMBER_UTIL
            .get_country_code_for_region(self.0)
            .and_then(|c| u16::try_from(c).ok())
    }
}

/// A phone number in E.164 form (`+919812345678`), checked against the numbering plan.
///
/// Parsed by [`rlibphonenumber`] (a port of Google's libphonenumber, with its metadata) from
/// the forms seen in the field: `+91 98123 45678`, `09812345678` (national, 0-prefixed, as in
/// Exotel's samples), `919812345678` (country code without `+`), `00919812345678`, and
/// ` 919812345678` (a `+` that form decoding turned into a space; `reference/exotel.md` §6).
///
/// Shared, not copied: a clone (from the cache of [`PhoneNumber::parse`], at every webhook
/// step) allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(Arc<str>);

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("the phone number is empty")]
    Empty,
    #[error("not a phone number")]
    Unparseable,
    #[error("not a valid number in its country's numbering plan")]
    Invalid,
    #[error("unknown region code {0:?}; expected an ISO 3166-1 alpha-2 code such as IN")]
    UnknownRegion(String),
}

/// Numbers parsed lately, by the text as received, with the region they were read in: every
/// step of a call names the same two numbers, and its steps land on any of the server's
/// threads. A moka cache of at most this many, which keeps the numbers of the calls in
/// progress; its keys are hashed with SipHash under a random key, so texts sent from outside
/// cannot be chosen to collide.
const RECENT: u64 = 4096;

/// A text as received, and what it parsed to in a region.
type Parsed = moka::sync::Cache<String, (Region, Result<PhoneNumber, PhoneNumberError>)>;

static PARSED: LazyLock<Parsed> = LazyLock::new(|| moka::sync::Cache::new(RECENT));

impl PhoneNumber {
    /// Parses a number, reading it in `default_region` when it carries no country code, and
    /// refuses numbers that libphonenumber does not consider valid (`rlibphonenumber`). A
    /// number parsed lately is not parsed again: the same numbers come back at every step of
    /// a call.
    ///
    /// Errors: [`PhoneNumberError::Empty`], [`PhoneNumberError::Unparseable`] (letters, masked
    /// digits such as `07995679xx`, too short) and [`PhoneNumberError::Invalid`].
    pub fn parse(raw: &str, default_region: Region) -> Result<Self, PhoneNumberError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PhoneNumberError::Empty);
        }
        if trimmed.len() > 32 || trimmed.chars().any(|c| c.is_ascii_alphabetic()) {
            return Err(PhoneNumberError::Unparseable);
        }
        if let Some((region, known)) = PARSED.get(trimmed)
            && region == default_region
        {
            return known;
        }
        let parsed = Self::parse_uncached(trimmed, default_region);
        PARSED.insert(trimmed.to_owned(), (default_region, parsed.clone()));
        parsed
    }

    /// [`PhoneNumber::parse`] of a trimmed, non-empty text of at most 32 characters, without
    /// letters.
    fn parse_uncached(trimmed: &str, default_region: Region) -> Result<Self, PhoneNumberError> {
        // A number written with `+` carries its country code: read it without a default
        // region, whose national prefix rules would otherwise be applied to it (found by the
        // `phone_number` fuzz target: `+911264554271` was refused when re-read in `US`).
        let region = (!trimmed.starts_with('+')).then_some(default_region.0);
        let parsed = PHONE_NUMBER_UTIL
            .parse(trimmed, region)
            .map_err(|_| PhoneNumberError::Unparseable)?;
        if !parsed.is_valid() {
            // `919812345678`: a country code written without `+`. libphonenumber reads it as a
            // national number first; retry with the `+` the sender left out.
            if !trimmed.starts_with('+')
                && !trimmed.starts_with('0')
                && let Ok(again) = PHONE_NUMBER_UTIL.parse(format!("+{trimmed}"), None)
                && again.is_valid()
            {
                return Self::from_parsed(&again);
            }
            return Err(PhoneNumberError::Invalid);
        }
        Self::from_parsed(&parsed)
    }

    /// The E.164 form of a number libphonenumber found valid, refused when longer than the 15
    /// digits E.164 allows (ITU-T E.164 §6.1): libphonenumber's metadata accepts some longer
    /// ones (German numbers of up to 15 national digits, found by the `phone_number` fuzz
    /// target: `+49*09*0  9851  9851 089*0   0`), which [`PhoneNumber::from_e164`], the gate
    /// for stored numbers, and the providers would then refuse.
    fn from_parsed(n: &rlibphonenumber::PhoneNumber) -> Result<Self, PhoneNumberError> {
        let e164 = n.format_as(PhoneNumberFormat::E164);
        Self::from_e164(&e164).ok_or(PhoneNumberError::Invalid)
    }

    /// Rebuilds a number that was stored in E.164 form by this type. Returns `None` for
    /// anything else, so a damaged database row can not smuggle in a number.
    pub fn from_e164(stored: &str) -> Option<Self> {
        let digits = stored.strip_prefix('+')?;
        (!digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(stored.into()))
    }

    /// The country calling code (`91` for `+919812345678`).
    pub fn country_code(&self) -> Option<u16> {
        PHONE_NUMBER_UTIL
            .parse(&*self.0, None)
            .ok()
            .and_then(|n| u16::try_from(n.country_code).ok())
    }

    /// The number's country, an ISO 3166-1 alpha-2 code (`IN` for `+919812345678`, `US` for
    /// `+14155550100`), as libphonenumber's metadata places it; `None` for numbers of no
    /// country (`+800` freephone) or that its metadata does not place.
    pub fn country(&self) -> Option<String> {
        let parsed = PHONE_NUMBER_UTIL.parse(&*self.0, None).ok()?;
        let region = PHONE_NUMBER_UTIL.get_region_for_number(&parsed)?;
        let code = region.to_string();
        (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic())).then_some(code)
    }

    /// The national form with the `0` trunk prefix (`09812345678` for `+919812345678`) when
    /// the number belongs to `region`'s country, else `None`. For Exotel's Connect applet
    /// (`reference/exotel.md` §1.4), whose countries all dial national numbers after `0`.
    pub fn zero_national(&self, region: Region) -> Option<String> {
        let code = region.calling_code()?.to_string();
        let national = self.0.strip_prefix('+')?.strip_prefix(code.as_str())?;
        (self.country_code() == region.calling_code()).then(|| format!("0{national}"))
    }

    /// The E.164 form, shared: for a write that outlives the request
    /// ([`crate::storage::calls::CallKey`]).
    pub fn shared(&self) -> Arc<str> {
        Arc::clone(&self.0)
    }

    /// The number masked for logs: `+91******5678`.
    pub fn masked(&self) -> String {
        super::mask(&self.0)
    }
}

impl AsRef<str> for PhoneNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<PhoneNumber> for String {
    fn from(n: PhoneNumber) -> Self {
        n.0.as_ref().to_owned()
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn india() -> Region {
        Region::parse("IN").unwrap()
    }

    #[test]
    fn a_number_knows_its_country() {
        let n = |raw: &str| PhoneNumber::from_e164(raw).unwrap().country();
        assert_eq!(n("+919812345678").as_deref(), Some("IN"));
        assert_eq!(n("+12015550123").as_deref(), Some("US"));
        assert_eq!(n("+442079460000").as_deref(), Some("GB"));
        assert_eq!(n("+80012345678"), None);
    }

    #[test]
    fn the_forms_seen_in_the_field_all_normalise_to_e164() {
        for raw in [
            "07709562799",
            "+91 77095 62799",
            "917709562799",
            "+917709562799",
            "7709562799",
            " 917709562799",
            "00917709562799",
            "+91-770-956-2799",
        ] {
            assert_eq!(
                PhoneNumber::parse(raw, india()).map(|n| n.to_string()),
                Ok("+917709562799".to_owned()),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_seed_virtual_number_is_a_valid_indian_landline() {
        let n = PhoneNumber::parse("07314853246", india()).unwrap();
        assert_eq!(n.as_ref(), "+917314853246");
    }

    #[test]
    fn numbers_of_other_countries_keep_their_own_code() {
        let n = PhoneNumber::parse("+1 415 555 2671", india()).unwrap();
        assert_eq!(n.as_ref(), "+14155552671");
        let n = PhoneNumber::parse("+44 20 7946 0958", india()).unwrap();
        assert_eq!(n.as_ref(), "+442079460958");
    }

    #[test]
    fn garbage_and_masked_numbers_are_refused() {
        assert_eq!(
            PhoneNumber::parse("", india()),
            Err(PhoneNumberError::Empty)
        );
        assert_eq!(
            PhoneNumber::parse("07995679xx", india()),
            Err(PhoneNumberError::Unparseable)
        );
        assert_eq!(
            PhoneNumber::parse("call me", india()),
            Err(PhoneNumberError::Unparseable)
        );
        assert!(PhoneNumber::parse("12", india()).is_err());
        assert!(PhoneNumber::parse("0000000000", india()).is_err());
    }

    #[test]
    fn a_number_written_with_its_country_code_reads_the_same_in_every_region() {
        // Cases the fuzzer found: an E.164 result must parse again, whatever the region.
        for (raw, region) in [
            ("+911264554271", "US"),
            ("+911175198198", "US"),
            ("+911123456789", "US"),
        ] {
            let n = PhoneNumber::parse(raw, Region::parse(region).unwrap()).unwrap();
            assert_eq!(n.as_ref(), raw);
        }
        let italy = PhoneNumber::parse("+39 06 6982 1234", india()).unwrap();
        assert_eq!(italy.as_ref(), "+390669821234");
        assert_eq!(italy.country_code(), Some(39));
    }

    #[test]
    fn numbers_longer_than_e164_allows_are_refused() {
        // libphonenumber finds this German number valid: 17 digits with the country code.
        assert_eq!(
            PhoneNumber::parse("+49*09*0  9851  9851 089*0   0", india()),
            Err(PhoneNumberError::Invalid)
        );
    }

    #[test]
    fn the_country_code_is_known() {
        assert_eq!(
            PhoneNumber::parse("09812345678", india())
                .unwrap()
                .country_code(),
            Some(91)
        );
        assert_eq!(
            PhoneNumber::parse("+14155552671", india())
                .unwrap()
                .country_code(),
            Some(1)
        );
    }

    #[test]
    fn unknown_regions_are_refused() {
        assert!(matches!(
            Region::parse("XX"),
            Err(PhoneNumberError::UnknownRegion(_))
        ));
        assert_eq!(india().calling_code(), Some(91));
    }

    #[test]
    fn stored_numbers_round_trip_and_damaged_ones_do_not() {
        assert_eq!(
            PhoneNumber::from_e164("+919812345678").map(|n| n.to_string()),
            Some("+919812345678".into())
        );
        assert_eq!(PhoneNumber::from_e164("919812345678"), None);
        assert_eq!(PhoneNumber::from_e164("+91 98"), None);
    }

    proptest! {
        #[test]
        fn every_indian_mobile_number_parses_in_each_written_form(rest in "[6-9][0-9]{9}") {
            let want = format!("+91{rest}");
            for raw in [format!("0{rest}"), format!("91{rest}"), format!("+91{rest}"), rest.clone()] {
                let got = PhoneNumber::parse(&raw, india());
                // libphonenumber knows which mobile ranges are allocated; an unallocated range is
                // refused in every form alike, never turned into another number.
                if let Ok(n) = got {
                    prop_assert_eq!(n.as_ref(), want.as_str());
                }
            }
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC{0,40}") {
            if let Ok(n) = PhoneNumber::parse(&s, india()) {
                prop_assert!(PhoneNumber::from_e164(n.as_ref()).is_some());
                // Stable: what was accepted reads the same again, in any region.
                for region in ["IN", "US", "SG", "GB"] {
                    let again = PhoneNumber::parse(n.as_ref(), Region::parse(region).unwrap());
                    prop_assert_eq!(again.as_ref().ok(), Some(&n));
                }
            }
        }
    }
}
