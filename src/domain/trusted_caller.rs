//! Trusted callers: numbers an operator vouches for (the fleet's couriers), so that a virtual
//! number's spent guessing budget never stops them; only their own wrong-PIN limit does.

use std::fmt;

use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use super::{PhoneNumber, Region};

/// The longest label, in characters (Unicode scalar values) after trimming.
pub const MAX_LABEL_CHARS: usize = 100;

/// A trusted caller as an operator registers it, validated: the same rules for the JSON API,
/// the admin UI and the CSV import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTrustedCaller {
    pub number: PhoneNumber,
    /// The operator's name for the caller (`Ravi, bike 12`); `None` when left out or blank.
    pub label: Option<String>,
}

/// The field of a trusted caller that failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustedCallerField {
    Number,
    Label,
}

impl TrustedCallerField {
    /// The field's name in the API, the admin form and the CSV header.
    pub fn name(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::Label => "label",
        }
    }
}

/// A field of a trusted caller and what is wrong with it. The message never quotes the value:
/// it may be a phone number, and it is shown back to a token that may not see numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedCallerFieldError {
    pub field: TrustedCallerField,
    pub message: String,
}

impl fmt::Display for TrustedCallerFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field.name(), self.message)
    }
}

impl std::error::Error for TrustedCallerFieldError {}

impl NewTrustedCaller {
    /// Validates a trusted caller: `number` in any form a phone number is written (read in
    /// `region` when it has no country code), and `label`, trimmed, at most
    /// [`MAX_LABEL_CHARS`] printable characters; an absent or blank label is `None`.
    ///
    /// Errors: [`TrustedCallerField::Number`] for a number that does not parse or is not valid
    /// in its numbering plan; [`TrustedCallerField::Label`] for a label too long or holding a
    /// character that is not printable ([`is_printable`]).
    pub fn parse(
        number: &str,
        label: Option<&str>,
        region: Region,
    ) -> Result<Self, TrustedCallerFieldError> {
        Self::parse_every_field(number, label, region).map_err(|mut errors| errors.swap_remove(0))
    }

    /// As [`NewTrustedCaller::parse`], but checks both fields and reports each bad one, the
    /// number first (a form shows them all at once). The list of errors is never empty.
    pub fn parse_every_field(
        number: &str,
        label: Option<&str>,
        region: Region,
    ) -> Result<Self, Vec<TrustedCallerFieldError>> {
        let number = PhoneNumber::parse(number, region).map_err(|e| TrustedCallerFieldError {
            field: TrustedCallerField::Number,
            message: e.to_string(),
        });
        let label = label.map(str::trim).filter(|l| !l.is_empty());
        let label_error = |message: String| TrustedCallerFieldError {
            field: TrustedCallerField::Label,
            message,
        };
        let label = match label {
            Some(label) if label.chars().count() > MAX_LABEL_CHARS => Err(label_error(format!(
                "a label has at most {MAX_LABEL_CHARS} characters"
            ))),
            Some(label) if !label.chars().all(is_printable) => Err(label_error(
                "a label holds printable characters only: no line breaks, tabs, control \
                 or invisible formatting characters"
                    .to_owned(),
            )),
            label => Ok(label.map(str::to_owned)),
        };
        match (number, label) {
            (Ok(number), Ok(label)) => Ok(Self { number, label }),
            (number, label) => Err([number.err(), label.err()].into_iter().flatten().collect()),
        }
    }
}

/// Whether `c` may stand in a label: anything but Unicode's "other" characters (controls,
/// invisible format characters such as the bidirectional overrides that make a label read
/// differently from what it holds, private-use and unassigned code points) and the line and
/// paragraph separators. The zero-width joiner and non-joiner are kept: Indic and Arabic
/// scripts need them to spell names, and emoji sequences to draw them.
pub fn is_printable(c: char) -> bool {
    matches!(c, '\u{200C}' | '\u{200D}')
        || (c.general_category_group() != GeneralCategoryGroup::Other
            && !matches!(
                c.general_category(),
                GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
            ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn india() -> Region {
        Region::parse("IN").unwrap()
    }

    #[test]
    fn a_number_is_stored_in_e164_and_a_blank_label_is_none() {
        let caller = NewTrustedCaller::parse("098123 45678", Some("  "), india()).unwrap();
        assert_eq!(caller.number.as_ref(), "+919812345678");
        assert_eq!(caller.label, None);
        let caller = NewTrustedCaller::parse("+919812345678", Some(" Ravi "), india()).unwrap();
        assert_eq!(caller.label.as_deref(), Some("Ravi"));
    }

    #[test]
    fn a_bad_number_or_label_names_its_field() {
        let e = NewTrustedCaller::parse("98", None, india()).unwrap_err();
        assert_eq!(e.field, TrustedCallerField::Number);
        assert!(e.to_string().starts_with("number: "), "{e}");
        let long = "x".repeat(MAX_LABEL_CHARS + 1);
        let e = NewTrustedCaller::parse("09812345678", Some(&long), india()).unwrap_err();
        assert_eq!(e.field, TrustedCallerField::Label);
        assert!(e.to_string().starts_with("label: "), "{e}");
    }

    #[test]
    fn a_label_of_a_hundred_characters_in_any_script_is_accepted() {
        let hindi = "र".repeat(MAX_LABEL_CHARS);
        assert!(NewTrustedCaller::parse("09812345678", Some(&hindi), india()).is_ok());
        // The joiners that Devanagari conjuncts and emoji sequences are spelt with.
        for label in ["क्\u{200D}ष", "श्\u{200C}र", "👩\u{200D}🔧 Priya"] {
            assert!(
                NewTrustedCaller::parse("09812345678", Some(label), india()).is_ok(),
                "{label:?}"
            );
        }
    }

    #[test]
    fn control_and_invisible_formatting_characters_are_refused_in_a_label() {
        for label in [
            "Ravi\nKumar",
            "Ravi\tKumar",
            "Ravi\u{7}",
            "Ravi\u{202E}ramuK",
            "Ravi\u{2066}",
            "\u{FEFF}Ravi",
            "Ravi\u{AD}",
            "Ravi\u{2028}Kumar",
            "Ravi\u{E000}",
        ] {
            let e = NewTrustedCaller::parse("09812345678", Some(label), india()).unwrap_err();
            assert_eq!(e.field, TrustedCallerField::Label, "{label:?}");
        }
    }
}
