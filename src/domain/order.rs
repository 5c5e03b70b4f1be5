//! A new order as the admin API and the CSV import receive it, validated in one place.

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{PhoneNumber, Pin, Region};

/// The rules an order is checked against, from the settings.
#[derive(Debug, Clone)]
pub struct OrderRules {
    /// Region for numbers written without a country code.
    pub region: Region,
    /// Shortest PIN accepted, in digits.
    pub pin_min: u8,
    /// Longest PIN accepted, in digits.
    pub pin_max: u8,
    /// Lifetime of an order created without `expires_at`, in milliseconds.
    pub default_ttl_ms: i64,
    /// Calling codes a customer may have (`PINBRIDGE_ALLOWED_COUNTRY_CODES`): nothing else is
    /// ever dialled, which stops toll fraud through premium or foreign numbers.
    pub allowed_country_codes: Vec<u16>,
}

impl OrderRules {
    /// Checks that `number` may be dialled.
    pub fn check_destination(&self, number: &PhoneNumber) -> Result<(), String> {
        match number.country_code() {
            Some(code) if self.allowed_country_codes.contains(&code) => Ok(()),
            _ => Err(format!(
                "numbers with this country code are not dialled (allowed: {})",
                self.allowed_country_codes
                    .iter()
                    .map(|c| format!("+{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

impl OrderRules {
    /// Length of a generated PIN: 6 digits, moved into `pin_min..=pin_max` when needed.
    pub fn generated_pin_len(&self) -> u8 {
        6u8.clamp(self.pin_min, self.pin_max)
    }
}

/// How the order gets its PIN.
#[derive(Debug, Clone)]
pub enum PinChoice {
    /// The business chose it.
    Given(Pin),
    /// pinbridge draws one of this many digits ([`Pin::generate`]).
    Generate { len: u8 },
}

/// A validated order, ready to store.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// The business's order id: 1 to 64 printable characters.
    pub order_id: String,
    /// The customer, who is dialled when the PIN is right.
    pub customer: PhoneNumber,
    pub pin: PinChoice,
    /// The virtual number the PIN works on; `None`: on every virtual number.
    pub virtual_number: Option<PhoneNumber>,
    /// Expiry, unix milliseconds.
    pub expires_at_ms: i64,
    /// The couriers allowed to use the PIN; empty: any caller.
    pub allowed_callers: Vec<PhoneNumber>,
}

/// The field of an order that failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderField {
    OrderId,
    CustomerNumber,
    Pin,
    VirtualNumber,
    ExpiresAt,
    AllowedCallers,
}

impl OrderField {
    /// The field's name in the API and the CSV header.
    pub fn name(self) -> &'static str {
        match self {
            Self::OrderId => "order_id",
            Self::CustomerNumber => "customer_number",
            Self::Pin => "pin",
            Self::VirtualNumber => "virtual_number",
            Self::ExpiresAt => "expires_at",
            Self::AllowedCallers => "allowed_callers",
        }
    }
}

/// A field of an order and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFieldError {
    pub field: OrderField,
    pub message: String,
}

impl fmt::Display for OrderFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field.name(), self.message)
    }
}

impl std::error::Error for OrderFieldError {}

fn field_error(field: OrderField, message: impl fmt::Display) -> OrderFieldError {
    OrderFieldError {
        field,
        message: message.to_string(),
    }
}

impl NewOrder {
    /// Validates the raw fields of an order. Optional fields are `None` when absent; a present
    /// but empty value is an error (the CSV import maps empty cells to `None` itself).
    ///
    /// `expires_at` is RFC 3339 (`2026-12-01T10:00:00Z`) and must lie after `now_ms`; absent, the
    /// order lives `rules.default_ttl_ms`.
    pub fn parse(
        order_id: &str,
        customer_number: &str,
        pin: Option<&str>,
        virtual_number: Option<&str>,
        expires_at: Option<&str>,
        rules: &OrderRules,
        now_ms: i64,
    ) -> Result<Self, OrderFieldError> {
        Self::parse_every_field(
            order_id,
            customer_number,
            pin,
            virtual_number,
            expires_at,
            rules,
            now_ms,
        )
        .map_err(|mut errors| errors.swap_remove(0))
    }

    /// As [`NewOrder::parse`], but checks every field and reports each bad one, in the order
    /// of the arguments (a form shows them all at once; the first is [`NewOrder::parse`]'s).
    /// The list of errors is never empty.
    pub fn parse_every_field(
        order_id: &str,
        customer_number: &str,
        pin: Option<&str>,
        virtual_number: Option<&str>,
        expires_at: Option<&str>,
        rules: &OrderRules,
        now_ms: i64,
    ) -> Result<Self, Vec<OrderFieldError>> {
        let order_id = order_id.trim();
        let order_id = if order_id.is_empty() || order_id.chars().count() > 64 {
            Err(field_error(
                OrderField::OrderId,
                "an order id has 1 to 64 characters",
            ))
        } else if order_id.chars().any(char::is_control) {
            Err(field_error(
                OrderField::OrderId,
                "an order id holds no control characters",
            ))
        } else {
            Ok(order_id.to_owned())
        };
        let customer = parse_customer(customer_number, rules);
        let pin = match pin {
            None => Ok(PinChoice::Generate {
                len: rules.generated_pin_len(),
            }),
            Some(raw) => Pin::parse(raw, rules.pin_min, rules.pin_max)
                .map(PinChoice::Given)
                .map_err(|e| field_error(OrderField::Pin, e)),
        };
        let virtual_number = virtual_number
            .map(|raw| PhoneNumber::parse(raw, rules.region))
            .transpose()
            .map_err(|e| field_error(OrderField::VirtualNumber, e));
        let expires_at_ms = match expires_at {
            None => Ok(now_ms + rules.default_ttl_ms),
            Some(raw) => parse_expires_at(raw, now_ms),
        };
        match (order_id, customer, pin, virtual_number, expires_at_ms) {
            (Ok(order_id), Ok(customer), Ok(pin), Ok(virtual_number), Ok(expires_at_ms)) => {
                Ok(Self {
                    order_id,
                    customer,
                    pin,
                    virtual_number,
                    expires_at_ms,
                    allowed_callers: Vec::new(),
                })
            }
            (order_id, customer, pin, virtual_number, expires_at_ms) => Err([
                order_id.err(),
                customer.err(),
                pin.err(),
                virtual_number.err(),
                expires_at_ms.err(),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }
}

impl NewOrder {
    /// Restricts the PIN to these callers (courier numbers, in any written form); at most 50.
    pub fn with_allowed_callers(
        mut self,
        callers: &[String],
        rules: &OrderRules,
    ) -> Result<Self, OrderFieldError> {
        self.allowed_callers = parse_allowed_callers(callers, rules)?;
        Ok(self)
    }
}

/// The customer of an order: a number of an allowed country ([`OrderRules::check_destination`]).
fn parse_customer(raw: &str, rules: &OrderRules) -> Result<PhoneNumber, OrderFieldError> {
    let customer = PhoneNumber::parse(raw, rules.region)
        .map_err(|e| field_error(OrderField::CustomerNumber, e))?;
    rules
        .check_destination(&customer)
        .map_err(|e| field_error(OrderField::CustomerNumber, e))?;
    Ok(customer)
}

/// An order's expiry: RFC 3339 (`2026-12-01T10:00:00Z`), after `now_ms`; unix milliseconds.
fn parse_expires_at(raw: &str, now_ms: i64) -> Result<i64, OrderFieldError> {
    let t = OffsetDateTime::parse(raw.trim(), &Rfc3339).map_err(|_| {
        field_error(
            OrderField::ExpiresAt,
            "expected an RFC 3339 time such as 2026-12-01T10:00:00Z",
        )
    })?;
    let ms = i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| field_error(OrderField::ExpiresAt, "the time is out of range"))?;
    if ms <= now_ms {
        return Err(field_error(
            OrderField::ExpiresAt,
            "the time is in the past",
        ));
    }
    Ok(ms)
}

/// The couriers allowed to use a PIN (any written form); at most 50.
fn parse_allowed_callers(
    callers: &[String],
    rules: &OrderRules,
) -> Result<Vec<PhoneNumber>, OrderFieldError> {
    if callers.len() > 50 {
        return Err(field_error(
            OrderField::AllowedCallers,
            "at most 50 callers",
        ));
    }
    callers
        .iter()
        .map(|c| PhoneNumber::parse(c, rules.region))
        .collect::<Result<_, _>>()
        .map_err(|e| field_error(OrderField::AllowedCallers, e))
}

/// A change to an active order (`PATCH /api/v1/orders/{id}`): each field `None` stays as it
/// is. Checked by the rules of a new order ([`NewOrder::parse`]), so an order can not be
/// changed into one that could not have been created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderChange {
    /// New expiry, unix milliseconds.
    pub expires_at_ms: Option<i64>,
    pub customer: Option<PhoneNumber>,
    /// New couriers allowed to use the PIN; `Some` of empty: any caller.
    pub allowed_callers: Option<Vec<PhoneNumber>>,
}

impl OrderChange {
    /// Validates the raw fields of a change, as [`NewOrder::parse`] and
    /// [`NewOrder::with_allowed_callers`] validate them; `expires_at` must lie after `now_ms`.
    pub fn parse(
        customer_number: Option<&str>,
        expires_at: Option<&str>,
        allowed_callers: Option<&[String]>,
        rules: &OrderRules,
        now_ms: i64,
    ) -> Result<Self, OrderFieldError> {
        Ok(Self {
            customer: customer_number
                .map(|c| parse_customer(c, rules))
                .transpose()?,
            expires_at_ms: expires_at
                .map(|e| parse_expires_at(e, now_ms))
                .transpose()?,
            allowed_callers: allowed_callers
                .map(|c| parse_allowed_callers(c, rules))
                .transpose()?,
        })
    }

    /// True when the change changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Its PIN works.
    Active,
    /// Its expiry time has passed.
    Expired,
    /// It was deactivated (`DELETE /api/v1/orders/{id}`).
    Deactivated,
}

impl OrderStatus {
    /// The status of an order with these times, all unix milliseconds.
    pub fn at(now_ms: i64, expires_at_ms: i64, deactivated_at_ms: Option<i64>) -> Self {
        if deactivated_at_ms.is_some() {
            Self::Deactivated
        } else if expires_at_ms <= now_ms {
            Self::Expired
        } else {
            Self::Active
        }
    }

    /// `active`, `expired` or `deactivated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Deactivated => "deactivated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000; // 2026-09-21

    fn rules() -> OrderRules {
        OrderRules {
            region: Region::parse("IN").unwrap(),
            pin_min: 4,
            pin_max: 12,
            default_ttl_ms: 24 * 3600 * 1000,
            allowed_country_codes: vec![91],
        }
    }

    #[test]
    fn a_customer_outside_the_allowed_countries_is_refused() {
        let e = parse("OD", "+14155552671", None, None, None).unwrap_err();
        assert_eq!(e.field, OrderField::CustomerNumber);
        assert!(e.message.contains("+91"), "{e}");
    }

    fn parse(
        id: &str,
        customer: &str,
        pin: Option<&str>,
        vn: Option<&str>,
        exp: Option<&str>,
    ) -> Result<NewOrder, OrderFieldError> {
        NewOrder::parse(id, customer, pin, vn, exp, &rules(), NOW)
    }

    #[test]
    fn a_minimal_order_gets_a_generated_pin_and_a_day_of_life() {
        let o = parse("OD-1001", "09812345678", None, None, None).unwrap();
        assert_eq!(o.customer.as_ref(), "+919812345678");
        assert!(matches!(o.pin, PinChoice::Generate { len: 6 }));
        assert_eq!(o.expires_at_ms, NOW + 24 * 3600 * 1000);
        assert!(o.virtual_number.is_none());
    }

    #[test]
    fn a_full_order_is_normalised() {
        let o = parse(
            "OD-1001",
            "09812345678",
            Some("4821"),
            Some("07314853246"),
            Some("2026-12-01T10:00:00Z"),
        )
        .unwrap();
        assert_eq!(o.virtual_number.unwrap().as_ref(), "+917314853246");
        assert_eq!(o.expires_at_ms, 1_796_119_200_000);
        assert!(matches!(o.pin, PinChoice::Given(p) if p.as_ref() == "4821"));
    }

    #[test]
    fn each_bad_field_is_named() {
        type Case<'a> = (
            &'a str,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<&'a str>,
            OrderField,
        );
        let cases: [Case; 7] = [
            ("", "09812345678", None, None, None, OrderField::OrderId),
            ("a\nb", "09812345678", None, None, None, OrderField::OrderId),
            ("OD", "98", None, None, None, OrderField::CustomerNumber),
            (
                "OD",
                "09812345678",
                Some("12a4"),
                None,
                None,
                OrderField::Pin,
            ),
            (
                "OD",
                "09812345678",
                None,
                Some("x"),
                None,
                OrderField::VirtualNumber,
            ),
            (
                "OD",
                "09812345678",
                None,
                None,
                Some("tomorrow"),
                OrderField::ExpiresAt,
            ),
            (
                "OD",
                "09812345678",
                None,
                None,
                Some("2020-01-01T00:00:00Z"),
                OrderField::ExpiresAt,
            ),
        ];
        for (id, c, p, v, e, field) in cases {
            assert_eq!(
                parse(id, c, p, v, e).unwrap_err().field,
                field,
                "{id:?} {c:?} {p:?} {v:?} {e:?}"
            );
        }
    }

    #[test]
    fn the_generated_pin_length_respects_the_bounds() {
        let mut r = rules();
        r.pin_max = 4;
        assert_eq!(r.generated_pin_len(), 4);
        r.pin_min = 8;
        r.pin_max = 12;
        assert_eq!(r.generated_pin_len(), 8);
    }

    #[test]
    fn a_change_is_checked_by_the_rules_of_a_new_order() {
        let change = OrderChange::parse(
            Some("09812345678"),
            Some("2026-12-01T10:00:00Z"),
            Some(&["09988776655".to_owned()]),
            &rules(),
            NOW,
        )
        .unwrap();
        assert_eq!(change.customer.unwrap().as_ref(), "+919812345678");
        assert_eq!(change.expires_at_ms, Some(1_796_119_200_000));
        assert_eq!(change.allowed_callers.unwrap().len(), 1);
        assert!(
            OrderChange::parse(None, None, None, &rules(), NOW)
                .unwrap()
                .is_empty()
        );
        let fields = [
            OrderChange::parse(Some("+14155552671"), None, None, &rules(), NOW),
            OrderChange::parse(None, Some("2020-01-01T00:00:00Z"), None, &rules(), NOW),
            OrderChange::parse(None, None, Some(&["x".to_owned()]), &rules(), NOW),
        ]
        .map(|r| r.unwrap_err().field);
        assert_eq!(
            fields,
            [
                OrderField::CustomerNumber,
                OrderField::ExpiresAt,
                OrderField::AllowedCallers
            ]
        );
    }

    #[test]
    fn status_follows_deactivation_then_expiry() {
        assert_eq!(OrderStatus::at(10, 20, None), OrderStatus::Active);
        assert_eq!(OrderStatus::at(20, 20, None), OrderStatus::Expired);
        assert_eq!(OrderStatus::at(10, 20, Some(5)), OrderStatus::Deactivated);
    }
}
