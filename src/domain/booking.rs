//! A new booking of caller-based masking, validated in one place.

use std::fmt;

use super::{OrderRules, PhoneNumber};
use crate::domain::clock::parse_rfc3339;

/// The telephony providers pinbridge speaks to, by the names the API uses.
pub const PROVIDERS: [&str; 5] = ["exotel", "twilio", "plivo", "8x8", "vonage"];

/// The longest a booking may live: 365 days, in milliseconds.
pub const MAX_BOOKING_TTL_MS: i64 = 365 * 24 * 3600 * 1000;

/// The raw fields of a booking request; `None` for absent fields.
#[derive(Debug, Clone, Default)]
pub struct BookingFields<'a> {
    pub party_a: &'a str,
    /// `None`: the booking waits for its party B ([`BookingStatus::Pending`]).
    pub party_b: Option<&'a str>,
    /// The business's own id (`ride-42`), up to 128 characters.
    pub reference: Option<&'a str>,
    /// Lifetime in seconds, 1 to 365 days; excludes `expires_at`.
    pub ttl_seconds: Option<i64>,
    /// RFC 3339; excludes `ttl_seconds`.
    pub expires_at: Option<&'a str>,
    /// A number of the pool to use instead of allocating one (reserved numbers only this way).
    pub virtual_number: Option<&'a str>,
    /// Allocate only among this provider's numbers.
    pub provider: Option<&'a str>,
    /// Allocate only among this country's numbers (ISO 3166-1 alpha-2, any case) instead of
    /// the parties'.
    pub country: Option<&'a str>,
    /// Which parties may call: [`Callers::parse`]; `None`: both.
    pub callers: Option<&'a str>,
}

/// A validated booking, ready to store.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub party_a: PhoneNumber,
    /// `None` until party B is added (`PATCH /api/v1/bookings/{id}`).
    pub party_b: Option<PhoneNumber>,
    pub reference: Option<String>,
    /// Unix milliseconds.
    pub expires_at_ms: i64,
    pub virtual_number: Option<PhoneNumber>,
    pub provider: Option<String>,
    /// Who must key a party PIN on the booking's number.
    pub pin_mode: PinMode,
    /// The country named in the request (ISO 3166-1 alpha-2, upper case); `None`: the
    /// parties' ([`NewBooking::countries`]).
    pub country: Option<String>,
    /// Which parties may call the other through the virtual number.
    pub callers: Callers,
    /// Other phones of party A ([`parse_alternates`]): a call from one is bridged as from
    /// party A's own, and each counts as party A's number in the allocation rule.
    pub party_a_alternates: Vec<PhoneNumber>,
    /// Other phones of party B, likewise.
    pub party_b_alternates: Vec<PhoneNumber>,
}

/// Which parties of a booking may call the other through its virtual number (Exotel's
/// ExoBridge connects one way as well as both ways): stored and shown as [`Callers::as_str`].
/// A party who may not call is answered as a stranger on the number (its `strangers`
/// answer), is never bridged, not even as a callback, and is given no party PIN; it can still
/// be called.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Callers {
    /// Each party calls the other.
    #[default]
    Both,
    /// Only party A calls party B.
    PartyA,
    /// Only party B calls party A.
    PartyB,
}

impl Callers {
    /// `both`, `party_a` or `party_b`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Both => "both",
            Self::PartyA => "party_a",
            Self::PartyB => "party_b",
        }
    }

    /// The value named `both`, `party_a` or `party_b`; `None` for any other text.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "both" => Some(Self::Both),
            "party_a" => Some(Self::PartyA),
            "party_b" => Some(Self::PartyB),
            _ => None,
        }
    }

    /// May party A (`party_a` true) or party B call the other?
    pub fn may_call(self, party_a: bool) -> bool {
        match self {
            Self::Both => true,
            Self::PartyA => party_a,
            Self::PartyB => !party_a,
        }
    }
}

/// The most alternate numbers a party may have (Exotel's number masking takes several
/// numbers a side; a handful keeps the allocation rule's checks few).
pub const MAX_ALTERNATES: usize = 5;

/// Reads the alternate numbers of party A (`raw_a`) and party B (`raw_b`) of a booking whose
/// parties are `party_a` and `party_b` (`None` while the booking waits for it): at most
/// [`MAX_ALTERNATES`] a side, each a number `rules` may dial, and every number of the booking
/// distinct (a caller's number must name one side). Party B's side takes none until party B
/// is known, so that no caller reaches party A of a pending booking.
///
/// Errors: [`BookingFieldError`] naming `party_a_alternates` or `party_b_alternates`.
pub fn parse_alternates(
    raw_a: &[String],
    raw_b: &[String],
    parties: (&PhoneNumber, Option<&PhoneNumber>),
    rules: &OrderRules,
) -> Result<(Vec<PhoneNumber>, Vec<PhoneNumber>), BookingFieldError> {
    if parties.1.is_none() && !raw_b.is_empty() {
        return Err(error(
            "party_b_alternates",
            "party_b_alternates: the booking has no party B yet; give them with party_b",
        ));
    }
    let mut seen: Vec<PhoneNumber> = std::iter::once(parties.0)
        .chain(parties.1)
        .cloned()
        .collect();
    let mut side = |raw: &[String], field: &'static str| {
        if raw.len() > MAX_ALTERNATES {
            return Err(error(
                field,
                format!("{field}: at most {MAX_ALTERNATES} numbers"),
            ));
        }
        let mut numbers = Vec::with_capacity(raw.len());
        for r in raw {
            let n = PhoneNumber::parse(r, rules.region)
                .map_err(|e| error(field, format!("{field}: {e}")))?;
            rules
                .check_destination(&n)
                .map_err(|e| error(field, format!("{field}: {e}")))?;
            if seen.contains(&n) {
                return Err(error(
                    field,
                    format!("{field}: each number of a booking, party or alternate, appears once"),
                ));
            }
            seen.push(n.clone());
            numbers.push(n);
        }
        Ok(numbers)
    };
    let a = side(raw_a, "party_a_alternates")?;
    let b = side(raw_b, "party_b_alternates")?;
    Ok((a, b))
}

/// Who must key a party PIN to reach the other party of a booking (Plivo's number masking
/// sessions can force the PIN on known callers the same way): stored and shown as
/// [`PinMode::as_str`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PinMode {
    /// Only callers who are not a party, or a party calling from another phone: a party's own
    /// phone is bridged without a PIN.
    #[default]
    UnknownCallers,
    /// Every caller, the parties' own phones too.
    Always,
}

impl PinMode {
    /// `unknown_callers` or `always`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownCallers => "unknown_callers",
            Self::Always => "always",
        }
    }

    /// The mode named `unknown_callers` or `always`; `None` for any other text.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "unknown_callers" => Some(Self::UnknownCallers),
            "always" => Some(Self::Always),
            _ => None,
        }
    }
}

/// A field of a booking and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingFieldError {
    /// The field's name in the API.
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for BookingFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for BookingFieldError {}

fn error(field: &'static str, message: impl fmt::Display) -> BookingFieldError {
    BookingFieldError {
        field,
        message: message.to_string(),
    }
}

impl NewBooking {
    /// Validates a booking request. Without `ttl_seconds` and `expires_at`, the booking lives
    /// `default_ttl_ms`. The two parties must be different numbers.
    pub fn parse(
        fields: &BookingFields<'_>,
        rules: &OrderRules,
        default_ttl_ms: i64,
        now_ms: i64,
    ) -> Result<Self, BookingFieldError> {
        let region = rules.region;
        let party_a =
            PhoneNumber::parse(fields.party_a, region).map_err(|e| error("party_a", e))?;
        rules
            .check_destination(&party_a)
            .map_err(|e| error("party_a", e))?;
        let party_b = fields
            .party_b
            .map(|raw| parse_party_b(raw, &party_a, rules))
            .transpose()?;
        let callers = fields
            .callers
            .map(|raw| {
                Callers::parse(raw).ok_or_else(|| error("callers", "give both, party_a or party_b"))
            })
            .transpose()?
            .unwrap_or_default();
        let reference = match fields.reference.map(str::trim) {
            Some(r) if r.chars().count() > 128 || r.chars().any(char::is_control) => {
                return Err(error(
                    "reference",
                    "a reference has at most 128 characters and no control characters",
                ));
            }
            Some("") | None => None,
            Some(r) => Some(r.to_owned()),
        };
        let expires_at_ms = match (fields.ttl_seconds, fields.expires_at) {
            (Some(_), Some(_)) => {
                return Err(error(
                    "expires_at",
                    "give ttl_seconds or expires_at, not both",
                ));
            }
            (Some(ttl), None) => {
                let ms = ttl.saturating_mul(1000);
                if !(1..=MAX_BOOKING_TTL_MS).contains(&ms) {
                    return Err(error(
                        "ttl_seconds",
                        "ttl_seconds lies between 1 and 31536000 (365 days)",
                    ));
                }
                now_ms + ms
            }
            (None, Some(raw)) => parse_booking_expiry(raw, now_ms)?,
            (None, None) => now_ms + default_ttl_ms,
        };
        let virtual_number = fields
            .virtual_number
            .map(|raw| PhoneNumber::parse(raw, region))
            .transpose()
            .map_err(|e| error("virtual_number", e))?;
        let provider = match fields.provider {
            None => None,
            Some(p) if PROVIDERS.contains(&p) => Some(p.to_owned()),
            Some(_) => {
                return Err(error(
                    "provider",
                    format!("the provider is one of {}", PROVIDERS.join(", ")),
                ));
            }
        };
        let country = fields
            .country
            .map(|raw| {
                super::Region::parse(raw)
                    .map(|_| raw.trim().to_ascii_uppercase())
                    .map_err(|_| {
                        error(
                            "country",
                            "the country is an ISO 3166-1 alpha-2 code such as IN or US",
                        )
                    })
            })
            .transpose()?;
        Ok(Self {
            party_a,
            party_b,
            reference,
            expires_at_ms,
            virtual_number,
            provider,
            pin_mode: PinMode::default(),
            country,
            callers,
            party_a_alternates: Vec::new(),
            party_b_alternates: Vec::new(),
        })
    }

    /// Every number of the booking's parties, E.164: theirs, then their alternates.
    pub fn numbers(&self) -> Vec<&str> {
        std::iter::once(&self.party_a)
            .chain(&self.party_b)
            .chain(&self.party_a_alternates)
            .chain(&self.party_b_alternates)
            .map(AsRef::as_ref)
            .collect()
    }

    /// The countries an allocated number may be of (ISO 3166-1 alpha-2): the one the request
    /// named, twice, or party A's and party B's (the anchors match the parties' country:
    /// Plivo's and Exotel's number masking); party A's twice while party B is not known. An
    /// empty string for a party of no country ([`PhoneNumber::country`]); two empty strings
    /// allow any country.
    pub fn countries(&self) -> (String, String) {
        match &self.country {
            Some(c) => (c.clone(), c.clone()),
            None => {
                let a = self.party_a.country().unwrap_or_default();
                let b = self
                    .party_b
                    .as_ref()
                    .map_or_else(|| a.clone(), |b| b.country().unwrap_or_default());
                match (a.is_empty(), b.is_empty()) {
                    (true, false) => (b.clone(), b),
                    (false, true) => (a.clone(), a),
                    _ => (a, b),
                }
            }
        }
    }
}

/// Party B of a booking whose party A is `party_a`, as given when the booking is created or
/// added later (`PATCH /api/v1/bookings/{id}`): a number calls may dial, not party A's.
///
/// Errors: on the field `party_b`, saying what is wrong.
pub fn parse_party_b(
    raw: &str,
    party_a: &PhoneNumber,
    rules: &OrderRules,
) -> Result<PhoneNumber, BookingFieldError> {
    let party_b = PhoneNumber::parse(raw, rules.region).map_err(|e| error("party_b", e))?;
    rules
        .check_destination(&party_b)
        .map_err(|e| error("party_b", e))?;
    if *party_a == party_b {
        return Err(error(
            "party_b",
            "the two parties must be different numbers",
        ));
    }
    Ok(party_b)
}

/// A booking's new expiry (`PATCH /api/v1/bookings/{id}`, and `expires_at` of a new one):
/// RFC 3339, after `now_ms` and at most [`MAX_BOOKING_TTL_MS`] after it; unix milliseconds.
///
/// Errors: on the field `expires_at`, saying what is wrong.
pub fn parse_booking_expiry(raw: &str, now_ms: i64) -> Result<i64, BookingFieldError> {
    let at = parse_rfc3339(raw).ok_or_else(|| {
        error(
            "expires_at",
            "expected an RFC 3339 time such as 2026-12-01T10:00:00Z",
        )
    })?;
    if at <= now_ms {
        return Err(error("expires_at", "the time is in the past"));
    }
    if at - now_ms > MAX_BOOKING_TTL_MS {
        return Err(error("expires_at", "a booking lives at most 365 days"));
    }
    Ok(at)
}

/// Where a booking stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingStatus {
    /// Its parties reach each other (those [`Callers`] allows).
    Active,
    /// Not expired nor closed, but waiting for its party B: party A calling is answered as a
    /// stranger until party B is added.
    Pending,
    /// Its expiry time has passed.
    Expired,
    /// It was closed (`DELETE /api/v1/bookings/{id}`).
    Closed,
}

impl BookingStatus {
    /// The status of a booking with these times, all unix milliseconds ([`Self::Active`] for
    /// a live one, with or without its party B).
    pub fn at(now_ms: i64, expires_at_ms: i64, closed_at_ms: Option<i64>) -> Self {
        if closed_at_ms.is_some() {
            Self::Closed
        } else if expires_at_ms <= now_ms {
            Self::Expired
        } else {
            Self::Active
        }
    }

    /// `active`, `pending`, `expired` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Expired => "expired",
            Self::Closed => "closed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;

    fn parse(f: BookingFields<'_>) -> Result<NewBooking, BookingFieldError> {
        let rules = OrderRules {
            region: crate::domain::Region::parse("IN").unwrap(),
            pin_min: 4,
            pin_max: 12,
            default_ttl_ms: 86_400_000,
            allowed_country_codes: vec![91],
        };
        NewBooking::parse(&f, &rules, 86_400_000, NOW)
    }

    fn fields<'a>() -> BookingFields<'a> {
        BookingFields {
            party_a: "09812345678",
            party_b: Some("09988776655"),
            ..BookingFields::default()
        }
    }

    #[test]
    fn a_booking_lives_its_ttl_or_the_default() {
        assert_eq!(parse(fields()).unwrap().expires_at_ms, NOW + 86_400_000);
        let b = parse(BookingFields {
            ttl_seconds: Some(7200),
            reference: Some("ride-42"),
            ..fields()
        })
        .unwrap();
        assert_eq!(b.expires_at_ms, NOW + 7_200_000);
        assert_eq!(b.reference.as_deref(), Some("ride-42"));
        assert_eq!(b.party_a.as_ref(), "+919812345678");
    }

    #[test]
    fn a_booking_without_party_b_takes_party_a_country() {
        let b = parse(BookingFields {
            party_b: None,
            callers: Some("party_a"),
            ..fields()
        })
        .unwrap();
        assert_eq!(b.party_b, None);
        assert_eq!(b.callers, Callers::PartyA);
        assert_eq!(b.countries(), ("IN".to_owned(), "IN".to_owned()));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (
                BookingFields {
                    party_a: "12",
                    ..fields()
                },
                "party_a",
            ),
            (
                BookingFields {
                    party_b: Some("09812345678"),
                    ..fields()
                },
                "party_b",
            ),
            (
                BookingFields {
                    callers: Some("nobody"),
                    ..fields()
                },
                "callers",
            ),
            (
                BookingFields {
                    country: Some("XX"),
                    ..fields()
                },
                "country",
            ),
            (
                BookingFields {
                    ttl_seconds: Some(0),
                    ..fields()
                },
                "ttl_seconds",
            ),
            (
                BookingFields {
                    ttl_seconds: Some(i64::MAX),
                    ..fields()
                },
                "ttl_seconds",
            ),
            (
                BookingFields {
                    ttl_seconds: Some(5),
                    expires_at: Some("2099-01-01T00:00:00Z"),
                    ..fields()
                },
                "expires_at",
            ),
            (
                BookingFields {
                    expires_at: Some("2001-01-01T00:00:00Z"),
                    ..fields()
                },
                "expires_at",
            ),
            (
                BookingFields {
                    expires_at: Some("2099-01-01T00:00:00Z"),
                    ..fields()
                },
                "expires_at",
            ),
            (
                BookingFields {
                    virtual_number: Some("x"),
                    ..fields()
                },
                "virtual_number",
            ),
            (
                BookingFields {
                    provider: Some("skype"),
                    ..fields()
                },
                "provider",
            ),
        ];
        for (f, field) in cases {
            assert_eq!(parse(f.clone()).unwrap_err().field, field, "{f:?}");
        }
    }
}
