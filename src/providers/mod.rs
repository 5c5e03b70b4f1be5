//! Provider adapters: each turns its provider's webhooks into flow events and renders the
//! flow's decisions in its own wire format. One module per provider, the same inner shape in
//! each: `params` (what the provider sends: a serde struct, every field optional, read through
//! [`lenient`]), `response` (render a decision), `auth` (signature or secret check).
//!
//! Owns: each provider's wire contract: parameters, signatures, answers. Must not touch: flow
//! rules (the call session decides; a handler reads, calls it, renders), SQL.

pub mod eight_by_eight;
pub mod exotel;
pub mod lenient;
pub mod plivo;
pub mod twilio;
pub mod vonage;
pub mod webhook;

use crate::domain::PhoneNumber;

/// The caller ID a bridge shows the dialled party: the virtual number the caller dialled
/// (E.164), or, when it did not parse, that number as the provider sent it; empty when neither
/// is known. Every adapter renders a bridge's caller ID through this.
pub fn caller_id_text(caller_id: Option<&PhoneNumber>, dialled: Option<&str>) -> String {
    caller_id
        .map(ToString::to_string)
        .or_else(|| dialled.map(str::to_owned))
        .unwrap_or_default()
}

/// What the providers' unit tests speak: a Hindi number's whole PIN call.
#[cfg(test)]
pub(crate) mod hindi {
    use std::sync::Arc;

    use crate::call::flow::{Decision, Prompt};
    use crate::call::prompts::{Book, Languages, Voice};

    /// The virtual number whose language is Hindi.
    pub const NUMBER: &str = "+917314853246";

    /// The prompts of a call to [`NUMBER`] (only the shipped greetings).
    pub fn voice() -> Voice {
        let book = Book::build(
            &[],
            &[(NUMBER.to_owned(), "hi".to_owned())],
            &Languages::english(),
            "B",
            3,
            None,
        );
        Voice::new(Arc::new(book), Some(NUMBER))
    }

    fn ask(welcome: bool, prompt: Prompt) -> Decision {
        Decision::AskForPin {
            welcome,
            prompt,
            max_digits: 12,
            finish_on_key: '#',
            timeout_secs: 6,
        }
    }

    /// Every decision of a PIN call that speaks: welcome and enter PIN, wrong PIN, no input,
    /// attempts used up, no one to dial, try later.
    pub fn pin_call() -> Vec<Decision> {
        vec![
            ask(true, Prompt::EnterPin),
            ask(false, Prompt::WrongPin { attempts_left: 2 }),
            ask(false, Prompt::NoInput { attempts_left: 1 }),
            Decision::Goodbye {
                prompt: Prompt::AttemptsUsedUp,
            },
            Decision::Goodbye {
                prompt: Prompt::NoOneToDial,
            },
            Decision::Goodbye {
                prompt: Prompt::TryLater,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_metrics_list_every_provider_by_its_own_name() {
        let providers = [
            super::exotel::PROVIDER,
            super::twilio::PROVIDER,
            super::plivo::PROVIDER,
            super::eight_by_eight::PROVIDER,
            super::vonage::PROVIDER,
        ];
        assert_eq!(crate::metrics::PROVIDERS, providers);
    }
}
