//! How a call ended, for the call log.

use super::call::Phase;

/// The status of the bridged (dialled) leg, as providers report it (Exotel `DialCallStatus`,
/// Twilio `DialCallStatus`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialStatus {
    /// The dialled party answered and the conversation took place.
    Completed,
    NoAnswer,
    Busy,
    Failed,
    /// The caller hung up while the dialled party was ringing.
    Canceled,
}

impl DialStatus {
    /// Reads the status words providers use (`completed`, `no-answer`, `busy`, `failed`,
    /// `canceled`, case-insensitive, `_` or `-`); anything else (`null`, empty) is `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "completed" | "answered" => Some(Self::Completed),
            "no-answer" | "noanswer" => Some(Self::NoAnswer),
            "busy" => Some(Self::Busy),
            "failed" => Some(Self::Failed),
            "canceled" | "cancelled" => Some(Self::Canceled),
            _ => None,
        }
    }
}

/// The outcome of a call as the call log shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Bridged, and the dialled party answered.
    Connected,
    NoAnswer,
    Busy,
    Canceled,
    Failed,
    /// The caller used up the call's PIN attempts.
    PinFailed,
    /// The call ended before anyone was dialled.
    Abandoned,
    /// The call has not ended yet.
    InProgress,
    /// The provider's end report never came, and the reconciler could not learn the outcome
    /// (no call-details API for the provider or no credentials for it, repeated look-up
    /// errors, or the give-up deadline passed): the call is closed without one.
    Unknown,
}

impl Outcome {
    /// The snake_case name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::NoAnswer => "no_answer",
            Self::Busy => "busy",
            Self::Canceled => "canceled",
            Self::Failed => "failed",
            Self::PinFailed => "pin_failed",
            Self::Abandoned => "abandoned",
            Self::InProgress => "in_progress",
            Self::Unknown => "unknown",
        }
    }

    /// Every outcome, in the order the call log's filters list them.
    pub const ALL: [Self; 9] = [
        Self::Connected,
        Self::NoAnswer,
        Self::Busy,
        Self::Canceled,
        Self::Failed,
        Self::PinFailed,
        Self::Abandoned,
        Self::InProgress,
        Self::Unknown,
    ];

    /// Reads the name [`Outcome::as_str`] writes; anything else is `None`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// The outcome of a call in `phase`, whose dialled leg ended with `dial` (if it was
    /// dialled), and which has `ended` or not.
    pub fn of(phase: &Phase, dial: Option<DialStatus>, ended: bool) -> Self {
        match (dial, phase) {
            (Some(DialStatus::Completed), _) => Self::Connected,
            (Some(DialStatus::NoAnswer), _) => Self::NoAnswer,
            (Some(DialStatus::Busy), _) => Self::Busy,
            (Some(DialStatus::Failed), _) => Self::Failed,
            (Some(DialStatus::Canceled), _) => Self::Canceled,
            (None, Phase::Exhausted) => Self::PinFailed,
            (None, _) if ended => Self::Abandoned,
            (None, _) => Self::InProgress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_reads_back_from_its_name_and_nothing_else_does() {
        for o in [
            Outcome::Connected,
            Outcome::NoAnswer,
            Outcome::Busy,
            Outcome::Canceled,
            Outcome::Failed,
            Outcome::PinFailed,
            Outcome::Abandoned,
            Outcome::InProgress,
            Outcome::Unknown,
        ] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("Connected"), None);
        assert_eq!(Outcome::parse(""), None);
    }

    #[test]
    fn exotel_dial_statuses_map_to_outcomes() {
        let resolved = Phase::Resolved {
            order_id: "o".into(),
        };
        for (raw, want) in [
            ("completed", Outcome::Connected),
            ("no-answer", Outcome::NoAnswer),
            ("busy", Outcome::Busy),
            ("failed", Outcome::Failed),
            ("canceled", Outcome::Canceled),
        ] {
            assert_eq!(Outcome::of(&resolved, DialStatus::parse(raw), true), want);
        }
        assert_eq!(DialStatus::parse("null"), None);
        assert_eq!(
            Outcome::of(&Phase::Exhausted, None, true),
            Outcome::PinFailed
        );
        assert_eq!(
            Outcome::of(&Phase::CollectingPin, None, true),
            Outcome::Abandoned
        );
        assert_eq!(
            Outcome::of(&Phase::CollectingPin, None, false),
            Outcome::InProgress
        );
    }
}
