//! What a caller hears for each [`Prompt`]: the operator's greeting for the call's language
//! and virtual number (see [`crate::greetings`]), else the default that ships in
//! `templates/prompts/`.
//!
//! Prompts are minijinja templates rendered in a sandboxed environment: no loader (no
//! `include`, no file access), undefined variables are errors, and `{{ brand }}`
//! (`PINBRIDGE_BRAND`) and `{{ attempts_left }}` are the only variables. A greeting can also be
//! an audio file (an https URL), which each provider plays in its own way.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::{Environment, UndefinedBehavior, context};

use crate::flow::{Decision, Prompt};

/// Every prompt, by the name greetings are stored under, with its shipped default (English).
pub const DEFAULTS: [(&str, &str); 7] = [
    ("welcome", include_str!("../templates/prompts/welcome.txt")),
    (
        "enter_pin",
        include_str!("../templates/prompts/enter_pin.txt"),
    ),
    (
        "wrong_pin",
        include_str!("../templates/prompts/wrong_pin.txt"),
    ),
    (
        "no_input",
        include_str!("../templates/prompts/no_input.txt"),
    ),
    (
        "attempts_used_up",
        include_str!("../templates/prompts/attempts_used_up.txt"),
    ),
    (
        "no_one_to_dial",
        include_str!("../templates/prompts/no_one_to_dial.txt"),
    ),
    (
        "try_later",
        include_str!("../templates/prompts/try_later.txt"),
    ),
];

/// The longest greeting template or URL an operator may store, in bytes.
pub const MAX_BODY_LEN: usize = 2000;

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

/// A sandboxed minijinja environment: no loader, strict undefined, no auto-escaping (the
/// provider templates escape).
pub fn sandbox() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// Renders a template source with `brand` and `attempts_left`, trimmed.
pub fn render_source(source: &str, brand: &str, attempts_left: u8) -> Result<String, String> {
    sandbox()
        .render_str(
            source,
            context! { brand => brand, attempts_left => attempts_left },
        )
        .map(|s| s.trim().to_owned())
        .map_err(|e| describe(&e))
}

/// A template error as an operator reads it: what is wrong, and on which line.
pub fn describe(e: &minijinja::Error) -> String {
    let mut out = if e.kind() == minijinja::ErrorKind::UndefinedError {
        "unknown variable: only {{ brand }} and {{ attempts_left }} can be used".to_owned()
    } else {
        match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        }
    };
    if let Some(line) = e.line() {
        out.push_str(&format!(" (line {line})"));
    }
    out
}

/// Checks an operator's greeting before it is saved: a text template must parse and render
/// with sample values; audio must be an https URL. Returns the sample rendering (text), or
/// the URL (audio).
pub fn validate(kind: &str, body: &str, brand: &str) -> Result<Spoken, String> {
    let body = body.trim();
    if body.is_empty() {
        return Err("enter the words to say, or the URL of the audio file".to_owned());
    }
    if body.len() > MAX_BODY_LEN {
        return Err(format!("at most {MAX_BODY_LEN} characters"));
    }
    match kind {
        "text" => render_source(body, brand, 2).map(Spoken::Text),
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

/// A compiled greeting of the book.
#[derive(Debug, Clone)]
enum Entry {
    /// The template is in the book's environment under this name.
    Text(String),
    Audio(String),
}

/// Every greeting, compiled, and the language of each pool number: what a call's prompts are
/// looked up in, without touching the database.
pub struct Book {
    env: Environment<'static>,
    /// (prompt, language, virtual number or '') → greeting.
    entries: HashMap<(String, String, String), Entry>,
    /// Pool number → its language.
    languages: HashMap<String, String>,
    default_language: String,
    /// What a template rendered to, by [`Rendering`]: the same template, brand and attempts
    /// left give the same words, and rendering with minijinja was about 3 % of a PIN step's
    /// instructions in the load benchmark (`scripts/instructions.py`). A new book (greetings
    /// edited) starts empty.
    rendered: quick_cache::sync::Cache<Rendering, String>,
}

/// The key of [`Book::rendered`]: template name, brand, attempts left.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Rendering(String, String, u8);

/// A [`Rendering`] to look up, borrowed: a hit allocates nothing.
#[derive(Hash)]
struct RenderingRef<'a>(&'a str, &'a str, u8);

impl quick_cache::Equivalent<Rendering> for RenderingRef<'_> {
    fn equivalent(&self, key: &Rendering) -> bool {
        self.0 == key.0 && self.1 == key.1 && self.2 == key.2
    }
}

/// Renderings kept per book: templates (a handful of prompts, each per language and number)
/// times brands times attempts left.
const RENDERINGS: usize = 4096;

impl std::fmt::Debug for Book {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Book")
            .field("greetings", &self.entries.len())
            .field("languages", &self.languages.len())
            .finish_non_exhaustive()
    }
}

impl Book {
    /// The shipped defaults only.
    pub fn defaults(default_language: &str) -> Self {
        Self::build(&[], &[], default_language)
    }

    /// Compiles stored greetings (prompt, language, number, kind, body) and number languages.
    /// A stored template that no longer compiles is skipped (logged): the default is spoken.
    pub fn build(
        greetings: &[crate::storage::greetings::Greeting],
        languages: &[(String, String)],
        default_language: &str,
    ) -> Self {
        let mut env = sandbox();
        for (name, source) in DEFAULTS {
            env.add_template_owned(format!("default/{name}"), source)
                .expect("the shipped prompt templates compile");
        }
        let mut entries = HashMap::new();
        for g in greetings {
            let key = (
                g.prompt.clone(),
                g.language.clone(),
                g.virtual_number.clone(),
            );
            let entry = match g.kind.as_str() {
                "audio" => Entry::Audio(g.body.clone()),
                _ => {
                    let name = format!("{}|{}|{}", g.prompt, g.language, g.virtual_number);
                    if let Err(e) = env.add_template_owned(name.clone(), g.body.clone()) {
                        tracing::error!(prompt = %g.prompt, language = %g.language, error = %e,
                            "a stored greeting does not compile; the default is spoken");
                        continue;
                    }
                    Entry::Text(name)
                }
            };
            entries.insert(key, entry);
        }
        Self {
            env,
            entries,
            languages: languages.iter().cloned().collect(),
            default_language: default_language.to_owned(),
            rendered: quick_cache::sync::Cache::new(RENDERINGS),
        }
    }

    /// The language callers of `virtual_number` hear.
    pub fn language_of(&self, virtual_number: &str) -> &str {
        self.languages
            .get(virtual_number)
            .map_or(self.default_language.as_str(), String::as_str)
    }

    /// `template` rendered with `brand` and `attempts_left`, trimmed; `None` (logged) when it
    /// fails to render. Kept in [`Book::rendered`].
    fn render(&self, template: &str, brand: &str, attempts_left: u8) -> Option<String> {
        let key = RenderingRef(template, brand, attempts_left);
        if let Some(words) = self.rendered.get(&key) {
            return Some(words);
        }
        let words = self.render_uncached(template, brand, attempts_left)?;
        self.rendered.insert(
            Rendering(template.to_owned(), brand.to_owned(), attempts_left),
            words.clone(),
        );
        Some(words)
    }

    fn render_uncached(&self, template: &str, brand: &str, attempts_left: u8) -> Option<String> {
        let rendered = self
            .env
            .get_template(template)
            .and_then(|t| t.render(context! { brand => brand, attempts_left => attempts_left }));
        match rendered {
            Ok(s) => Some(s.trim().to_owned()),
            Err(e) => {
                tracing::error!(template, error = %e, "a greeting failed to render");
                None
            }
        }
    }

    fn default_text(&self, name: &str, brand: &str, attempts_left: u8) -> String {
        self.render(&format!("default/{name}"), brand, attempts_left)
            .unwrap_or_else(|| SORRY.to_owned())
    }
}

/// The prompts of one call: its greeting book, brand, language and virtual number.
#[derive(Debug, Clone)]
pub struct Voice {
    book: Arc<Book>,
    brand: String,
    /// The call's PIN attempts: `attempts_left` of prompts that carry none.
    max_attempts: u8,
    language: String,
    virtual_number: String,
}

impl Voice {
    /// The prompts of a call to `virtual_number` (E.164; `None` when it did not parse).
    pub fn new(
        book: Arc<Book>,
        brand: &str,
        max_attempts: u8,
        virtual_number: Option<&str>,
    ) -> Self {
        let virtual_number = virtual_number.unwrap_or_default().to_owned();
        let language = book.language_of(&virtual_number).to_owned();
        Self {
            book,
            brand: brand.to_owned(),
            max_attempts,
            language,
            virtual_number,
        }
    }

    /// Only the shipped defaults, in English: for tests and for a call nothing is known of.
    pub fn plain(brand: &str, max_attempts: u8) -> Self {
        Self::new(Arc::new(Book::defaults("en")), brand, max_attempts, None)
    }

    /// The language of the call.
    pub fn language(&self) -> &str {
        &self.language
    }

    fn attempts_left(&self, prompt: Prompt) -> u8 {
        match prompt {
            Prompt::WrongPin { attempts_left } | Prompt::NoInput { attempts_left } => attempts_left,
            _ => self.max_attempts,
        }
    }

    /// What the caller hears for `prompt`: (prompt, language, number) → (prompt, language,
    /// every number) → the shipped default.
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
            Some(Entry::Text(template)) => Spoken::Text(
                self.book
                    .render(template, &self.brand, attempts_left)
                    .unwrap_or_else(|| self.book.default_text(name, &self.brand, attempts_left)),
            ),
            None => Spoken::Text(self.book.default_text(name, &self.brand, attempts_left)),
        }
    }

    /// `prompt` as words only: an audio greeting is replaced by the shipped default text
    /// (for 8x8's `sayAndCapture`, which can not play a file).
    pub fn text(&self, prompt: Prompt) -> String {
        match self.say(prompt) {
            Spoken::Text(t) => t,
            Spoken::Audio(_) => {
                self.book
                    .default_text(name(prompt), &self.brand, self.attempts_left(prompt))
            }
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
    fn a_book_asked_again_keeps_brands_and_attempts_apart() {
        // One book for every voice, as the server has: its renderings are kept.
        let book = Arc::new(Book::defaults("en"));
        let voice = |brand: &str| Voice::new(Arc::clone(&book), brand, 3, None);
        for _ in 0..2 {
            assert_eq!(voice("A").text(Prompt::Welcome), "Welcome to A.");
            assert_eq!(voice("B").text(Prompt::Welcome), "Welcome to B.");
            let two = voice("A").text(Prompt::WrongPin { attempts_left: 2 });
            let one = voice("A").text(Prompt::WrongPin { attempts_left: 1 });
            assert!(two.contains("2 attempts left"), "{two}");
            assert!(one.contains("one attempt left"), "{one}");
        }
        assert_eq!(book.rendered.len(), 4);
        // Found by the borrowed key a step looks it up with.
        let kept = book.rendered.get(&RenderingRef("default/welcome", "B", 3));
        assert_eq!(kept.as_deref(), Some("Welcome to B."));
    }

    #[test]
    fn every_default_renders() {
        for (name, source) in DEFAULTS {
            let out = render_source(source, "B", 2).unwrap();
            assert!(!out.is_empty(), "{name}");
        }
    }

    #[test]
    fn bad_templates_and_urls_are_refused() {
        assert!(validate("text", "Hello {{ brand ", "B").is_err());
        let unknown = validate("text", "Hello {{ customer }}", "B").unwrap_err();
        assert!(unknown.contains("unknown variable"), "{unknown}");
        assert!(validate("text", "{% include 'x' %}", "B").is_err());
        assert!(validate("audio", "http://a.example/x.mp3", "B").is_err());
        assert_eq!(
            validate("audio", "https://a.example/x.mp3", "B"),
            Ok(Spoken::Audio("https://a.example/x.mp3".into()))
        );
        assert_eq!(
            validate("text", "Hi {{ brand }}, {{ attempts_left }}", "B"),
            Ok(Spoken::Text("Hi B, 2".into()))
        );
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
        ));
        let one = Voice::new(book.clone(), "B", 3, Some("+911"));
        let two = Voice::new(book.clone(), "B", 3, Some("+912"));
        let other = Voice::new(book, "B", 3, Some("+913"));
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
}
