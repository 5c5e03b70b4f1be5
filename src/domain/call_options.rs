//! How a bridge is dialled, as a virtual number, an order or a booking sets it: ring time,
//! longest conversation, recording, whisper, and (orders and bookings) the language the call
//! speaks. Every field is optional: `None` inherits (the order's or booking's value, else its
//! virtual number's, else the setting).

use std::ops::RangeInclusive;

/// Seconds the dialled party's phone may ring. Twilio's `<Dial timeout>` takes 5 s at least
/// (https://www.twilio.com/docs/voice/twiml/dial#timeout); 120 s is Plivo Number Masking's
/// default `ring_timeout` (`reference/providers.md` §2) and longer than any provider's
/// no-answer treatment needs.
pub const RING_TIMEOUT_SECS: RangeInclusive<u32> = 5..=120;

/// Seconds a bridged conversation may last: at least a minute; at most 14400 s (4 h), the
/// default and largest `timeLimit` of Twilio's and Plivo's `<Dial>`
/// (https://www.twilio.com/docs/voice/twiml/dial#timelimit, https://plivo.com/docs/voice/xml/dial).
/// Vonage's `connect` takes at most 7200 s (`limit`, NCCO reference): a longer value is cut to
/// 7200 s there.
pub const MAX_CONVERSATION_SECS: RangeInclusive<u32> = 60..=14_400;

/// A bridge's options as one virtual number, order or booking sets them; `None`: inherit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// The language the call speaks (BCP 47 primary tag, `en`, `hi`): for a virtual number,
    /// the language its callers hear from the first prompt (the greetings page sets it too).
    pub language: Option<String>,
    /// Seconds the dialled party's phone rings, within [`RING_TIMEOUT_SECS`].
    pub ring_timeout_secs: Option<u32>,
    /// Seconds the bridged conversation may last, within [`MAX_CONVERSATION_SECS`].
    pub max_conversation_secs: Option<u32>,
    /// Record the bridged call (both parties hear the recording consent first).
    pub record: Option<bool>,
    /// Play the whisper (what the call is about) to the dialled party when they answer.
    pub whisper: Option<bool>,
}

/// A field of [`CallOptions`] that can not be taken, and why, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CallOptionError {
    /// The JSON field: `language`, `ring_timeout_secs` or `max_conversation_secs`.
    pub field: &'static str,
    /// What is wrong, starting with the field's name, with the bounds.
    pub message: String,
}

impl CallOptions {
    /// These options, each unset one taken from `inherited` (an order's over its virtual
    /// number's).
    #[must_use]
    pub fn or(&self, inherited: &Self) -> Self {
        Self {
            language: self.language.clone().or_else(|| inherited.language.clone()),
            ring_timeout_secs: self.ring_timeout_secs.or(inherited.ring_timeout_secs),
            max_conversation_secs: self
                .max_conversation_secs
                .or(inherited.max_conversation_secs),
            record: self.record.or(inherited.record),
            whisper: self.whisper.or(inherited.whisper),
        }
    }

    /// True when nothing is set: everything inherits.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks every bound; the first field out of its bounds is the error.
    ///
    /// Errors: a language that is not a 2- or 3-letter tag, a ring time outside
    /// [`RING_TIMEOUT_SECS`], a conversation outside [`MAX_CONVERSATION_SECS`].
    pub fn check(&self) -> Result<(), CallOptionError> {
        if let Some(l) = &self.language {
            parse_language(l)?;
        }
        if let Some(s) = self.ring_timeout_secs {
            check_range("ring_timeout_secs", "the ring time", s, &RING_TIMEOUT_SECS)?;
        }
        if let Some(s) = self.max_conversation_secs {
            check_range(
                "max_conversation_secs",
                "the longest conversation",
                s,
                &MAX_CONVERSATION_SECS,
            )?;
        }
        Ok(())
    }
}

/// A change of a virtual number's, order's or booking's [`CallOptions`]: for each field,
/// `None` keeps it, `Some(None)` clears it (it inherits again), `Some(Some(v))` sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallOptionsChange {
    /// [`CallOptions::language`].
    pub language: Option<Option<String>>,
    /// [`CallOptions::ring_timeout_secs`].
    pub ring_timeout_secs: Option<Option<u32>>,
    /// [`CallOptions::max_conversation_secs`].
    pub max_conversation_secs: Option<Option<u32>>,
    /// [`CallOptions::record`].
    pub record: Option<Option<bool>>,
    /// [`CallOptions::whisper`].
    pub whisper: Option<Option<bool>>,
}

impl CallOptionsChange {
    /// Sets what `options` sets, keeps the rest: what a new order or booking is stored with.
    pub fn setting(options: &CallOptions) -> Self {
        Self {
            language: options.language.clone().map(Some),
            ring_timeout_secs: options.ring_timeout_secs.map(Some),
            max_conversation_secs: options.max_conversation_secs.map(Some),
            record: options.record.map(Some),
            whisper: options.whisper.map(Some),
        }
    }

    /// True when it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the values it sets, and lower-cases the language ([`CallOptions::check`]).
    ///
    /// Errors: the first value out of its bounds.
    pub fn check(&mut self) -> Result<(), CallOptionError> {
        if let Some(Some(l)) = &mut self.language {
            *l = parse_language(l)?;
        }
        CallOptions {
            language: None,
            ring_timeout_secs: self.ring_timeout_secs.flatten(),
            max_conversation_secs: self.max_conversation_secs.flatten(),
            record: None,
            whisper: None,
        }
        .check()
    }
}

fn check_range(
    field: &'static str,
    what: &str,
    secs: u32,
    range: &RangeInclusive<u32>,
) -> Result<(), CallOptionError> {
    if range.contains(&secs) {
        return Ok(());
    }
    Err(CallOptionError {
        field,
        message: format!(
            "{field}: {what} is {} to {} seconds",
            range.start(),
            range.end()
        ),
    })
}

/// A BCP 47 primary language tag, lower-cased: 2 or 3 ASCII letters (`en`, `hi`, `tam`).
///
/// Errors: anything else, with the field named `language`.
pub fn parse_language(raw: &str) -> Result<String, CallOptionError> {
    let l = raw.trim().to_ascii_lowercase();
    if (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(l)
    } else {
        Err(CallOptionError {
            field: "language",
            message: "language: a language is a 2- or 3-letter code such as en, hi or ta".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_s_options_win_over_its_number_s_field_by_field() {
        let order = CallOptions {
            language: Some("hi".into()),
            record: Some(false),
            ..CallOptions::default()
        };
        let number = CallOptions {
            language: Some("en".into()),
            ring_timeout_secs: Some(20),
            record: Some(true),
            whisper: Some(true),
            ..CallOptions::default()
        };
        let merged = order.or(&number);
        assert_eq!(merged.language.as_deref(), Some("hi"));
        assert_eq!(merged.ring_timeout_secs, Some(20));
        assert_eq!(merged.record, Some(false));
        assert_eq!(merged.whisper, Some(true));
        assert_eq!(merged.max_conversation_secs, None);
    }

    #[test]
    fn bounds_are_checked_and_the_field_is_named() {
        for (options, field) in [
            (
                CallOptions {
                    ring_timeout_secs: Some(4),
                    ..CallOptions::default()
                },
                "ring_timeout_secs",
            ),
            (
                CallOptions {
                    ring_timeout_secs: Some(121),
                    ..CallOptions::default()
                },
                "ring_timeout_secs",
            ),
            (
                CallOptions {
                    max_conversation_secs: Some(59),
                    ..CallOptions::default()
                },
                "max_conversation_secs",
            ),
            (
                CallOptions {
                    max_conversation_secs: Some(14_401),
                    ..CallOptions::default()
                },
                "max_conversation_secs",
            ),
            (
                CallOptions {
                    language: Some("english".into()),
                    ..CallOptions::default()
                },
                "language",
            ),
        ] {
            let e = options.check().unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.message.contains(field), "{}", e.message);
        }
        let fine = CallOptions {
            language: Some("ta".into()),
            ring_timeout_secs: Some(5),
            max_conversation_secs: Some(14_400),
            record: Some(true),
            whisper: Some(false),
        };
        assert_eq!(fine.check(), Ok(()));
    }
}
