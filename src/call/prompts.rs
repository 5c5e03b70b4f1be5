//! What a caller hears for each [`Prompt`]: the operator's greeting for the call's language
//! and virtual number (see [`crate::call::greetings`]), else the default that ships in
//! `templates/prompts/`.
//!
//! Prompts are minijinja templates rendered in the [`crate::sandbox`], where `{{ brand }}`
//! (`PINBRIDGE_BRAND`) and `{{ attempts_left }}` are the only variables. A greeting can also be
//! an audio file (an https URL), which each provider plays in its own way.
//!
//! A call step never renders a template: the [`Book`] renders every greeting for every
//! `attempts_left` a call can hear (`0..=PINBRIDGE_PIN_MAX_ATTEMPTS`) when it is built, off the
//! call path, and a step looks the words up.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::context;

use crate::call::flow::{Decision, Prompt};
use crate::sandbox::{Checked, Rules};

/// Every prompt, by the name greetings are stored under, with its shipped default (English).
pub const DEFAULTS: [(&str, &str); 7] = [
    (
        "welcome",
        include_str!("../../templates/prompts/welcome.txt"),
    ),
    (
        "enter_pin",
        include_str!("../../templates/prompts/enter_pin.txt"),
    ),
    (
        "wrong_pin",
        include_str!("../../templates/prompts/wrong_pin.txt"),
    ),
    (
        "no_input",
        include_str!("../../templates/prompts/no_input.txt"),
    ),
    (
        "attempts_used_up",
        include_str!("../../templates/prompts/attempts_used_up.txt"),
    ),
    (
        "no_one_to_dial",
        include_str!("../../templates/prompts/no_one_to_dial.txt"),
    ),
    (
        "try_later",
        include_str!("../../templates/prompts/try_later.txt"),
    ),
];

/// The longest greeting template or URL an operator may store, in bytes.
pub const MAX_BODY_LEN: usize = 2000;

/// The longest text a greeting may render to, in bytes: Twilio's `<Say>` with Amazon Polly
/// voices takes at most 3,000 (basic voices 4,096; Twilio warning 13521).
pub const MAX_SPOKEN_BYTES: usize = 3000;

/// What a greeting may name and produce in the [`crate::sandbox`].
pub const RULES: Rules = Rules {
    what: "a greeting",
    variables: &["brand", "attempts_left"],
    max_output_bytes: MAX_SPOKEN_BYTES,
};

/// The `attempts_left` of a preview: what a caller hears after one wrong PIN of three.
const SAMPLE_ATTEMPTS_LEFT: u8 = 2;

/// What a caller hears when even a default fails to render (it can not: they are tested).
const SORRY: &str = "Sorry, please try again later.";

/// The stored name of a prompt (`welcome`, `wrong_pin`, ...).
pub fn name(prompt: Prompt) -> &'static str {
    match prompt {
        Prompt::Welcome => "welcome",
        Prompt::EnterPin => "enter_pin",
        Prompt::WrongPin { .. } => "wrong_pin",
        Prompt::NoInput { .. } => "no_input",
        Prompt::AttemptsUsedUp => "attempts_used_up",
        Prompt::NoOneToDial => "no_one_to_dial",
        Prompt::TryLater => "try_later",
    }
}

/// The shipped default template of the prompt named `name`.
pub fn default_source(name: &str) -> Option<&'static str> {
    DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// One thing a caller hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spoken {
    /// Words for text-to-speech.
    Text(String),
    /// An audio file to play, an https URL.
    Audio(String),
}

impl Spoken {
    /// The words, if this is text.
    pub fn words(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t),
            Self::Audio(_) => None,
        }
    }

    /// The audio URL, if this is audio.
    pub fn audio(&self) -> Option<&str> {
        match self {
            Self::Audio(u) => Some(u),
            Self::Text(_) => None,
        }
    }

    /// The text, or the URL: what Exotel's Greeting applet reads from the URL.
    pub fn body(&self) -> &str {
        match self {
            Self::Text(t) | Self::Audio(t) => t,
        }
    }
}

/// A greeting's words for each `attempts_left`, by index (`0..=max_attempts`), trimmed.
type Words = Arc<[String]>;

/// Renders a greeting template for every `attempts_left` in `0..=max_attempts`, with `brand`:
/// every variant a call can hear. Runs operator code: call it off the call path
/// ([`crate::sandbox::off_the_call_path`]).
///
/// Errors: the template breaks a rule of the [`crate::sandbox`], or one variant fails to
/// render or says nothing; the message names the `attempts_left` that failed.
pub fn render_variants(source: &str, brand: &str, max_attempts: u8) -> Result<Vec<String>, String> {
    let checked = Checked::new(RULES, source)?;
    (0..=max_attempts)
        .map(|attempts_left| {
            let words = checked
                .render(context! { brand => brand, attempts_left => attempts_left })
                .map_err(|e| format!("with attempts_left = {attempts_left}: {e}"))?;
            let words = words.trim();
            if words.is_empty() {
                return Err(format!(
                    "with attempts_left = {attempts_left} it says nothing"
                ));
            }
            Ok(words.to_owned())
        })
        .collect()
}

/// Checks an operator's greeting before it is saved or previewed: a text template must pass
/// the [`crate::sandbox`] and render every variant a call can hear (see [`render_variants`]);
/// audio must be an https URL. Returns the preview: the rendering with `attempts_left` = 2 (or
/// `max_attempts`, if lower) for text, the URL for audio. Runs operator code: call it off the
/// call path ([`crate::sandbox::off_the_call_path`]).
pub fn validate(kind: &str, body: &str, brand: &str, max_attempts: u8) -> Result<Spoken, String> {
    let body = body.trim();
    if body.is_empty() {
        return Err("enter the words to say, or the URL of the audio file".to_owned());
    }
    if body.len() > MAX_BODY_LEN {
        return Err(format!("at most {MAX_BODY_LEN} characters"));
    }
    match kind {
        "text" => {
            let mut variants = render_variants(body, brand, max_attempts)?;
            let sample = usize::from(SAMPLE_ATTEMPTS_LEFT.min(max_attempts));
            Ok(Spoken::Text(variants.swap_remove(sample)))
        }
        "audio" => {
            let ok = body
                .strip_prefix("https://")
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
            if ok {
                Ok(Spoken::Audio(body.to_owned()))
            } else {
                Err("an audio greeting is an https:// URL of the file".to_owned())
            }
        }
        _ => Err("choose text or audio".to_owned()),
    }
}

/// A greeting of the book.
#[derive(Debug, Clone)]
enum Entry {
    Text(Words),
    Audio(String),
}

/// Every greeting rendered for every `attempts_left`, and the language of each pool number:
/// what a call's prompts are looked up in, without touching the database or running a
/// template.
pub struct Book {
    /// `PINBRIDGE_BRAND`, as rendered.
    brand: String,
    /// `PINBRIDGE_PIN_MAX_ATTEMPTS`: the highest `attempts_left` rendered, and the
    /// `attempts_left` of prompts that carry none.
    max_attempts: u8,
    /// (prompt, language, virtual number or '') → greeting.
    entries: HashMap<(String, String, String), Entry>,
    /// Prompt → the shipped default's words.
    defaults: HashMap<&'static str, Words>,
    /// Pool number → its language.
    languages: HashMap<String, String>,
    default_language: String,
    /// Text template source → its words, or why it has none: the next book takes them over for
    /// the sources that did not change, so a reload renders only what was edited.
    rendered: HashMap<String, Result<Words, String>>,
}

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book")
            .field("greetings", &self.entries.len())
            .field("languages", &self.languages.len())
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Book {
    /// The shipped defaults only, rendered with `brand` for `0..=max_attempts`.
    pub fn defaults(brand: &str, max_attempts: u8, default_language: &str) -> Self {
        Self::build(&[], &[], default_language, brand, max_attempts, None)
    }

    /// Renders stored greetings (prompt, language, number, kind, body) with `brand` for every
    /// `attempts_left` in `0..=max_attempts`, and keeps the number languages. What `previous`
    /// rendered with the same brand and attempts is taken over, not rendered again.
    ///
    /// A stored template that breaks a rule of the [`crate::sandbox`] or fails any variant is
    /// left out, logged once (prompt, language, masked number): its callers hear the next
    /// greeting down the lookup (the language's, then the shipped default). Runs operator code:
    /// call it off the call path ([`crate::sandbox::off_the_call_path`]).
    pub fn build(
        greetings: &[crate::storage::greetings::Greeting],
        languages: &[(String, String)],
        default_language: &str,
        brand: &str,
        max_attempts: u8,
        previous: Option<&Book>,
    ) -> Self {
        let reusable = previous
            .filter(|p| p.brand == brand && p.max_attempts == max_attempts)
            .map(|p| &p.rendered);
        let mut rendered: HashMap<String, Result<Words, String>> = HashMap::new();
        // (words, whether this build rendered them): a failure is logged when first seen.
        let mut words_of = |source: &str| -> (Result<Words, String>, bool) {
            if let Some(words) = rendered.get(source) {
                return (words.clone(), false);
            }
            let (words, fresh) = match reusable.and_then(|r| r.get(source)) {
                Some(words) => (words.clone(), false),
                None => (
                    render_variants(source, brand, max_attempts).map(Words::from),
                    true,
                ),
            };
            rendered.insert(source.to_owned(), words.clone());
            (words, fresh)
        };
        let defaults = DEFAULTS
            .iter()
            .map(|(name, source)| {
                let words = words_of(source).0.unwrap_or_else(|e| {
                    // They can not fail: every default is rendered for every attempts_left in
                    // the tests.
                    tracing::error!(prompt = name, error = %e, "a shipped prompt failed to render");
                    vec![SORRY.to_owned(); usize::from(max_attempts) + 1].into()
                });
                (*name, words)
            })
            .collect();
        let mut entries = HashMap::new();
        for g in greetings {
            let entry = match g.kind.as_str() {
                "audio" => Entry::Audio(g.body.clone()),
                _ => match words_of(&g.body) {
                    (Ok(words), _) => Entry::Text(words),
                    (Err(e), fresh) => {
                        if fresh {
                            tracing::error!(
                                prompt = %g.prompt,
                                language = %g.language,
                                virtual_number = %crate::domain::mask(&g.virtual_number),
                                error = %e,
                                "a stored greeting breaks the template rules; callers hear the next one down the lookup"
                            );
                        }
                        continue;
                    }
                },
            };
            entries.insert(
                (
                    g.prompt.clone(),
                    g.language.clone(),
                    g.virtual_number.clone(),
                ),
                entry,
            );
        }
        Self {
            brand: brand.to_owned(),
            max_attempts,
            entries,
            defaults,
            languages: languages.iter().cloned().collect(),
            default_language: default_language.to_owned(),
            rendered,
        }
    }

    /// The language callers of `virtual_number` hear.
    pub fn language_of(&self, virtual_number: &str) -> &str {
        self.languages
            .get(virtual_number)
            .map_or(self.default_language.as_str(), String::as_str)
    }

    /// The words of `prompt`'s shipped default for `attempts_left`.
    fn default_text(&self, name: &str, attempts_left: u8) -> String {
        self.defaults
            .get(name)
            .map_or_else(|| SORRY.to_owned(), |words| pick(words, attempts_left))
    }
}

/// The variant of `words` for `attempts_left`. The flow never counts more attempts left than
/// the policy's attempts; should it, the policy's attempts are read.
fn pick(words: &Words, attempts_left: u8) -> String {
    words
        .get(usize::from(attempts_left))
        .or_else(|| words.last())
        .cloned()
        .unwrap_or_else(|| SORRY.to_owned())
}

/// The prompts of one call: its greeting book, language and virtual number.
#[derive(Debug, Clone)]
pub struct Voice {
    book: Arc<Book>,
    language: String,
    virtual_number: String,
}

impl Voice {
    /// The prompts of a call to `virtual_number` (E.164; `None` when it did not parse).
    pub fn new(book: Arc<Book>, virtual_number: Option<&str>) -> Self {
        let virtual_number = virtual_number.unwrap_or_default().to_owned();
        let language = book.language_of(&virtual_number).to_owned();
        Self {
            book,
            language,
            virtual_number,
        }
    }

    /// Only the shipped defaults, in English, with `brand` and `max_attempts` PIN attempts:
    /// for tests.
    pub fn plain(brand: &str, max_attempts: u8) -> Self {
        Self::new(Arc::new(Book::defaults(brand, max_attempts, "en")), None)
    }

    /// The language of the call.
    pub fn language(&self) -> &str {
        &self.language
    }

    fn attempts_left(&self, prompt: Prompt) -> u8 {
        match prompt {
            Prompt::WrongPin { attempts_left } | Prompt::NoInput { attempts_left } => attempts_left,
            _ => self.book.max_attempts,
        }
    }

    /// What the caller hears for `prompt`: (prompt, language, number) → (prompt, language,
    /// every number) → the shipped default. A lookup: nothing is rendered here.
    pub fn say(&self, prompt: Prompt) -> Spoken {
        let name = name(prompt);
        let attempts_left = self.attempts_left(prompt);
        let lookup = |number: &str| {
            self.book
                .entries
                .get(&(name.to_owned(), self.language.clone(), number.to_owned()))
        };
        let found = if self.virtual_number.is_empty() {
            None
        } else {
            lookup(&self.virtual_number)
        }
        .or_else(|| lookup(""));
        match found {
            Some(Entry::Audio(url)) => Spoken::Audio(url.clone()),
            Some(Entry::Text(words)) => Spoken::Text(pick(words, attempts_left)),
            None => Spoken::Text(self.book.default_text(name, attempts_left)),
        }
    }

    /// `prompt` as words only: an audio greeting is replaced by the shipped default text
    /// (for 8x8's `sayAndCapture`, which can not play a file).
    pub fn text(&self, prompt: Prompt) -> String {
        match self.say(prompt) {
            Spoken::Text(t) => t,
            Spoken::Audio(_) => self
                .book
                .default_text(name(prompt), self.attempts_left(prompt)),
        }
    }

    /// The prompts a decision speaks, in order: for a first PIN prompt, the welcome and then
    /// the prompt. Empty for a bridge or a record.
    pub fn prompts(decision: &Decision) -> Vec<Prompt> {
        match decision {
            Decision::AskForPin {
                welcome, prompt, ..
            } => {
                let mut out = Vec::with_capacity(2);
                if *welcome {
                    out.push(Prompt::Welcome);
                }
                out.push(*prompt);
                out
            }
            Decision::Greet { prompt } | Decision::Goodbye { prompt } => vec![*prompt],
            Decision::Bridge { .. } | Decision::Recorded => Vec::new(),
        }
    }

    /// What a decision makes the caller hear, in order.
    pub fn spoken(&self, decision: &Decision) -> Vec<Spoken> {
        Self::prompts(decision)
            .into_iter()
            .map(|p| self.say(p))
            .collect()
    }

    /// What a decision says, as words only (see [`Voice::text`]).
    pub fn spoken_text(&self, decision: &Decision) -> Vec<String> {
        Self::prompts(decision)
            .into_iter()
            .map(|p| self.text(p))
            .collect()
    }
}

/// The words of `prompt` from the shipped default, with surrounding whitespace trimmed.
pub fn text(prompt: Prompt, brand: &str) -> String {
    Voice::plain(brand, 3).text(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::greetings::Greeting;

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

    #[test]
    fn every_default_renders_for_every_attempts_left() {
        for max_attempts in [1, 3, 10] {
            for (name, source) in DEFAULTS {
                let words = render_variants(source, "B", max_attempts).unwrap();
                assert_eq!(words.len(), usize::from(max_attempts) + 1, "{name}");
            }
        }
    }

    #[test]
    fn bad_templates_and_urls_are_refused() {
        assert!(validate("text", "Hello {{ brand ", "B", 3).is_err());
        let unknown = validate("text", "Hello {{ customer }}", "B", 3).unwrap_err();
        assert!(unknown.contains("unknown variable"), "{unknown}");
        assert!(validate("text", "{% include 'x' %}", "B", 3).is_err());
        assert!(validate("audio", "http://a.example/x.mp3", "B", 3).is_err());
        assert_eq!(
            validate("audio", "https://a.example/x.mp3", "B", 3),
            Ok(Spoken::Audio("https://a.example/x.mp3".into()))
        );
        assert_eq!(
            validate("text", "Hi {{ brand }}, {{ attempts_left }}", "B", 3),
            Ok(Spoken::Text("Hi B, 2".into()))
        );
        assert_eq!(
            validate("text", "{{ attempts_left }} left", "B", 1),
            Ok(Spoken::Text("1 left".into())),
            "the preview shows no attempts_left a call can not hear"
        );
    }

    #[test]
    fn a_string_doubling_template_is_refused_before_it_runs() {
        // About a hundred characters that, run, double a string 31 times: 2 GiB.
        let bomb = "{% set ns = namespace(s=brand) %}{% for i in range(31) %}\
                    {% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";
        let e = validate("text", bomb, "Swift Couriers", 3).unwrap_err();
        assert!(
            e.starts_with("`{% set %}` is not allowed in a greeting (line 1)"),
            "{e}"
        );
        let unrolled = "{% set a = brand ~ brand %}{% set b = a ~ a %}{{ b ~ b }}";
        assert!(
            validate("text", unrolled, "B", 3)
                .unwrap_err()
                .contains("`{% set %}`")
        );
    }

    #[test]
    fn nested_loops_and_recursion_are_refused_before_they_run() {
        let loops = "{% for a in range(1000) %}{% for b in range(1000) %}\
                     {% for c in range(1000) %}x{% endfor %}{% endfor %}{% endfor %}";
        let e = validate("text", loops, "B", 3).unwrap_err();
        assert!(e.contains("`{% for %}` is not allowed"), "{e}");
        let recursion = "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}";
        let e = validate("text", recursion, "B", 3).unwrap_err();
        assert!(e.contains("`{% macro %}` is not allowed"), "{e}");
        let recursive_loop = "{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}";
        assert!(validate("text", recursive_loop, "B", 3).is_err());
    }

    #[test]
    fn a_template_that_fails_only_when_attempts_left_is_not_2_is_refused() {
        let broken = "{% if attempts_left != 2 %}{{ brand - attempts_left }}{% endif %}Hi";
        let e = validate("text", broken, "Swift Couriers", 3).unwrap_err();
        assert!(e.starts_with("with attempts_left = 0: "), "{e}");
        let heavy = format!(
            "{{% if attempts_left != 2 %}}{{{{ brand{} }}}}{{% endif %}}Hi",
            " ~ brand".repeat(230)
        );
        assert!(heavy.len() <= MAX_BODY_LEN);
        let e = validate("text", &heavy, "Swift Couriers", 3).unwrap_err();
        assert_eq!(
            e,
            format!("with attempts_left = 0: it renders longer than {MAX_SPOKEN_BYTES} bytes")
        );
        let silent = "{% if attempts_left == 3 %}Welcome{% endif %}";
        let e = validate("text", silent, "B", 3).unwrap_err();
        assert_eq!(e, "with attempts_left = 0 it says nothing");
    }

    fn greeting(prompt: &str, language: &str, number: &str, kind: &str, body: &str) -> Greeting {
        Greeting {
            prompt: prompt.into(),
            language: language.into(),
            virtual_number: number.into(),
            kind: kind.into(),
            body: body.into(),
            updated_at: 0,
        }
    }

    #[test]
    fn lookup_goes_number_then_language_then_default() {
        let book = Arc::new(Book::build(
            &[
                greeting("welcome", "hi", "+911", "text", "Namaste {{ brand }}"),
                greeting("welcome", "hi", "", "text", "Hindi for all"),
                greeting("enter_pin", "en", "", "audio", "https://a.example/pin.mp3"),
            ],
            &[("+911".into(), "hi".into()), ("+912".into(), "hi".into())],
            "en",
            "B",
            3,
            None,
        ));
        let one = Voice::new(book.clone(), Some("+911"));
        let two = Voice::new(book.clone(), Some("+912"));
        let other = Voice::new(book, Some("+913"));
        assert_eq!(one.say(Prompt::Welcome), Spoken::Text("Namaste B".into()));
        assert_eq!(
            two.say(Prompt::Welcome),
            Spoken::Text("Hindi for all".into())
        );
        assert_eq!(
            other.say(Prompt::Welcome),
            Spoken::Text("Welcome to B.".into())
        );
        // Hindi numbers without a Hindi enter_pin hear the shipped default.
        assert!(one.text(Prompt::EnterPin).contains("order PIN"));
        assert_eq!(
            other.say(Prompt::EnterPin),
            Spoken::Audio("https://a.example/pin.mp3".into())
        );
        assert!(other.text(Prompt::EnterPin).contains("order PIN"));
    }

    #[test]
    fn a_call_hears_the_variant_of_its_attempts_left() {
        let source = "{% if attempts_left == 0 %}last{% else %}{{ attempts_left }} left{% endif %}";
        let book = Arc::new(Book::build(
            &[
                greeting("wrong_pin", "en", "", "text", source),
                greeting("welcome", "en", "", "text", source),
            ],
            &[],
            "en",
            "B",
            3,
            None,
        ));
        let voice = Voice::new(book, None);
        let wrong = |attempts_left| voice.text(Prompt::WrongPin { attempts_left });
        assert_eq!(
            [wrong(0), wrong(1), wrong(2)],
            ["last", "1 left", "2 left"].map(String::from)
        );
        assert_eq!(
            voice.text(Prompt::Welcome),
            "3 left",
            "the policy's attempts"
        );
    }

    #[test]
    fn a_stored_greeting_that_breaks_the_rules_is_left_out_for_the_next_one_down() {
        let book = Arc::new(Book::build(
            &[
                greeting(
                    "welcome",
                    "hi",
                    "+911",
                    "text",
                    "{% for i in [1] %}x{% endfor %}",
                ),
                greeting("welcome", "hi", "", "text", "Namaste {{ brand }}"),
                greeting(
                    "wrong_pin",
                    "hi",
                    "",
                    "text",
                    "{% if attempts_left == 1 %}{{ brand - 1 }}{% endif %}Galat PIN",
                ),
            ],
            &[("+911".into(), "hi".into())],
            "en",
            "B",
            3,
            None,
        ));
        let voice = Voice::new(book, Some("+911"));
        assert_eq!(voice.text(Prompt::Welcome), "Namaste B");
        for attempts_left in 0..=3 {
            let words = voice.text(Prompt::WrongPin { attempts_left });
            assert!(words.contains("not recognised"), "{words}");
        }
    }

    #[test]
    fn a_rebuilt_book_takes_over_what_it_rendered_while_the_source_is_unchanged() {
        let stored = [greeting("welcome", "en", "", "text", "Hi {{ brand }}")];
        let first = Book::build(&stored, &[], "en", "B", 3, None);
        let again = Book::build(&stored, &[], "en", "B", 3, Some(&first));
        let words =
            |book: &Book| match &book.entries[&("welcome".into(), "en".into(), String::new())] {
                Entry::Text(words) => Arc::clone(words),
                Entry::Audio(_) => unreachable!("a text greeting"),
            };
        assert!(Arc::ptr_eq(&words(&first), &words(&again)), "taken over");
        let rebranded = Book::build(&stored, &[], "en", "C", 3, Some(&again));
        assert!(!Arc::ptr_eq(&words(&again), &words(&rebranded)));
        assert_eq!(words(&rebranded)[3], "Hi C");
        let edited = [greeting("welcome", "en", "", "text", "Hello {{ brand }}")];
        let edited = Book::build(&edited, &[], "en", "C", 3, Some(&rebranded));
        assert_eq!(words(&edited)[3], "Hello C");
        assert_eq!(
            edited.rendered.len(),
            DEFAULTS.len() + 1,
            "the old source is let go"
        );
    }
}
