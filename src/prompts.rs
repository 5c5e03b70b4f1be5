//! The text of each [`Prompt`], rendered from the askama templates in `templates/prompts/`.
//!
//! The templates are compiled into the binary; `{{ brand }}` is `PINBRIDGE_BRAND` and
//! `{{ attempts_left }}` the PIN entries the call still has.

use askama::Template;

use crate::flow::Prompt;

#[derive(Template)]
#[template(path = "prompts/welcome.txt")]
struct Welcome<'a> {
    brand: &'a str,
}

#[derive(Template)]
#[template(path = "prompts/enter_pin.txt")]
struct EnterPin;

#[derive(Template)]
#[template(path = "prompts/wrong_pin.txt")]
struct WrongPin {
    attempts_left: u8,
}

#[derive(Template)]
#[template(path = "prompts/no_input.txt")]
struct NoInput {
    attempts_left: u8,
}

#[derive(Template)]
#[template(path = "prompts/attempts_used_up.txt")]
struct AttemptsUsedUp<'a> {
    brand: &'a str,
}

#[derive(Template)]
#[template(path = "prompts/no_one_to_dial.txt")]
struct NoOneToDial<'a> {
    brand: &'a str,
}

/// The words spoken for `prompt`, with surrounding whitespace trimmed.
pub fn text(prompt: Prompt, brand: &str) -> String {
    let rendered = match prompt {
        Prompt::Welcome => Welcome { brand }.render(),
        Prompt::EnterPin => EnterPin.render(),
        Prompt::WrongPin { attempts_left } => WrongPin { attempts_left }.render(),
        Prompt::NoInput { attempts_left } => NoInput { attempts_left }.render(),
        Prompt::AttemptsUsedUp => AttemptsUsedUp { brand }.render(),
        Prompt::NoOneToDial => NoOneToDial { brand }.render(),
    };
    // The templates are compiled and take only plain values: rendering can not fail at run time.
    // Should it ever, a caller still hears something sensible.
    rendered
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "Sorry, please try again later.".to_owned())
}

/// The words a decision speaks, in order: for a first PIN prompt, the welcome and then the
/// prompt. Empty for a bridge or a record.
pub fn spoken(decision: &crate::flow::Decision, brand: &str) -> Vec<String> {
    use crate::flow::Decision;
    match decision {
        Decision::AskForPin {
            welcome, prompt, ..
        } => {
            let mut out = Vec::with_capacity(2);
            if *welcome {
                out.push(text(Prompt::Welcome, brand));
            }
            out.push(text(*prompt, brand));
            out
        }
        Decision::Greet { prompt } | Decision::Goodbye { prompt } => vec![text(*prompt, brand)],
        Decision::Bridge { .. } | Decision::Recorded => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brand_is_spoken_in_the_greeting() {
        assert_eq!(
            text(Prompt::Welcome, "Swift Couriers"),
            "Welcome to Swift Couriers."
        );
    }

    #[test]
    fn a_wrong_pin_prompt_differs_from_the_first_and_counts_attempts() {
        let first = text(Prompt::EnterPin, "B");
        let again = text(Prompt::WrongPin { attempts_left: 2 }, "B");
        assert_ne!(first, again);
        assert!(again.contains("not recognised"));
        assert!(again.contains("2 attempts left"));
        assert!(text(Prompt::WrongPin { attempts_left: 1 }, "B").contains("one attempt left"));
    }
}
