//! What a caller hears for each [`Prompt`], and what the dialled party hears before a bridge
//! (the recording consent and the whisper): the operator's greeting for the call's language and
//! virtual number (see [`crate::call::greetings`]), else the default that ships in
//! `templates/prompts/` (English) and `templates/prompts/hi/` (Hindi).
//!
//! Every prompt is looked up in the call's language first and then, prompt by prompt, in the
//! fallback language (`PINBRIDGE_FALLBACK_LANGUAGE`), then in English: a Hindi number whose
//! operator wrote only a Hindi welcome hears the shipped Hindi PIN prompt, and a Tamil number
//! with no Tamil words at all hears the fallback. Each [`Spoken`] carries the language its
//! words are in, so a provider reads each with a voice of that language.
//!
//! Prompts are minijinja templates rendered in the [`crate::sandbox`]. The IVR prompts and the
//! recording consent may name `{{ brand }}` (`PINBRIDGE_BRAND`) and `{{ attempts_left }}`; the
//! whispers `{{ brand }}`, `{{ reference }}` and `{{ last_digits }}` (see [`Whisper`]). A
//! greeting can also be an audio file (an https URL), which each provider plays in its own way.
//!
//! A call step never renders an IVR prompt: the [`Book`] renders every greeting for every
//! `attempts_left` a call can hear (`0..=PINBRIDGE_PIN_MAX_ATTEMPTS`) when it is built, off the
//! call path, and a step looks the words up. A whisper names the call's order or booking, so it
//! is compiled when the book is built and rendered, within the sandbox's fuel, at the bridge.

use std::collections::HashMap;
use std::sync::Arc;

use minijinja::context;

use crate::call::flow::{Decision, Prompt};
use crate::sandbox::{Checked, Rules};

/// The language every shipped prompt exists in, and the last fallback of every lookup.
pub const ENGLISH: &str = "en";

/// One prompt of the catalogue: what operators can edit on the greetings page.
#[derive(Debug, Clone, Copy)]
pub struct PromptInfo {
    /// The name greetings are stored under (`welcome`, `whisper_to_party_a`, ...).
    pub name: &'static str,
    /// When it is heard, for the admin UI.
    pub heard: &'static str,
    /// What its template may name.
    pub rules: Rules,
    /// The prompt whose words it falls back to when no language has its own (the party
    /// whispers fall back to the whisper); `None` for a prompt with shipped defaults.
    pub falls_back_to: Option<&'static str>,
}

/// The longest greeting template or URL an operator may store, in bytes.
pub const MAX_BODY_LEN: usize = 2000;

/// The longest text a greeting may render to, in bytes: Twilio's `<Say>` with Amazon Polly
/// voices takes at most 3,000 (basic voices 4,096; Twilio warning 13521).
pub const MAX_SPOKEN_BYTES: usize = 3000;

/// What an IVR prompt or the recording consent may name and produce in the
/// [`crate::sandbox`].
pub const RULES: Rules = Rules {
    what: "a greeting",
    variables: &["brand", "attempts_left"],
    max_output_bytes: MAX_SPOKEN_BYTES,
};

/// What a whisper may name and produce in the [`crate::sandbox`]: only what the dialled party
/// may learn about the call (see [`Whisper`]).
pub const WHISPER_RULES: Rules = Rules {
    what: "a whisper",
    variables: &["brand", "reference", "last_digits"],
    max_output_bytes: MAX_SPOKEN_BYTES,
};

/// Every prompt operators can edit, in the order the greetings page lists them.
pub const CATALOGUE: [PromptInfo; 11] = [
    ivr("welcome", "first, when a PIN call comes in"),
    ivr("enter_pin", "asking for the PIN"),
    ivr("wrong_pin", "after a wrong PIN"),
    ivr("no_input", "when no key was pressed"),
    ivr(
        "attempts_used_up",
        "after the last wrong PIN, before hanging up",
    ),
    ivr(
        "no_one_to_dial",
        "when there is no one to bridge the caller to",
    ),
    ivr("try_later", "when PINs are not taken on the number for now"),
    ivr(
        "recording_consent",
        "by both parties before a recorded bridge",
    ),
    whisper("whisper", "by the dialled party when they answer", None),
    whisper(
        "whisper_to_party_a",
        "by a booking's party A when party B calls",
        Some("whisper"),
    ),
    whisper(
        "whisper_to_party_b",
        "by a booking's party B when party A calls",
        Some("whisper"),
    ),
];

const fn ivr(name: &'static str, heard: &'static str) -> PromptInfo {
    PromptInfo {
        name,
        heard,
        rules: RULES,
        falls_back_to: None,
    }
}

const fn whisper(
    name: &'static str,
    heard: &'static str,
    falls_back_to: Option<&'static str>,
) -> PromptInfo {
    PromptInfo {
        name,
        heard,
        rules: WHISPER_RULES,
        falls_back_to,
    }
}

/// The prompt of the catalogue named `name`.
pub fn info(name: &str) -> Option<&'static PromptInfo> {
    CATALOGUE.iter().find(|p| p.name == name)
}

/// The templates that ship, as (language, prompt, source): every prompt with no
/// `falls_back_to` in English, and a Hindi set.
pub const SHIPPED: [(&str, &str, &str); 18] = [
    (
        "en",
        "welcome",
        include_str!("../../templates/prompts/welcome.txt"),
    ),
    (
        "en",
        "enter_pin",
        include_str!("../../templates/prompts/enter_pin.txt"),
    ),
    (
        "en",
        "wrong_pin",
        include_str!("../../templates/prompts/wrong_pin.txt"),
    ),
    (
        "en",
        "no_input",
        include_str!("../../templates/prompts/no_input.txt"),
    ),
    (
        "en",
        "attempts_used_up",
        include_str!("../../templates/prompts/attempts_used_up.txt"),
    ),
    (
        "en",
        "no_one_to_dial",
        include_str!("../../templates/prompts/no_one_to_dial.txt"),
    ),
    (
        "en",
        "try_later",
        include_str!("../../templates/prompts/try_later.txt"),
    ),
    (
        "en",
        "recording_consent",
        include_str!("../../templates/prompts/recording_consent.txt"),
    ),
    (
        "en",
        "whisper",
        include_str!("../../templates/prompts/whisper.txt"),
    ),
    (
        "hi",
        "welcome",
        include_str!("../../templates/prompts/hi/welcome.txt"),
    ),
    (
        "hi",
        "enter_pin",
        include_str!("../../templates/prompts/hi/enter_pin.txt"),
    ),
    (
        "hi",
        "wrong_pin",
        include_str!("../../templates/prompts/hi/wrong_pin.txt"),
    ),
    (
        "hi",
        "no_input",
        include_str!("../../templates/prompts/hi/no_input.txt"),
    ),
    (
        "hi",
        "attempts_used_up",
        include_str!("../../templates/prompts/hi/attempts_used_up.txt"),
    ),
    (
        "hi",
        "no_one_to_dial",
        include_str!("../../templates/prompts/hi/no_one_to_dial.txt"),
    ),
    (
        "hi",
        "try_later",
        include_str!("../../templates/prompts/hi/try_later.txt"),
    ),
    (
        "hi",
        "recording_consent",
        include_str!("../../templates/prompts/hi/recording_consent.txt"),
    ),
    (
        "hi",
        "whisper",
        include_str!("../../templates/prompts/hi/whisper.txt"),
    ),
];

/// The `attempts_left` of a preview: what a caller hears after one wrong PIN of three.
const SAMPLE_ATTEMPTS_LEFT: u8 = 2;

/// The reference a whisper is checked and previewed with.
const SAMPLE_REFERENCE: &str = "ORD-20481234";

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

/// Whether the prompt named `name` is a whisper (rendered at the bridge, with
/// [`WHISPER_RULES`]).
pub fn is_whisper(name: &str) -> bool {
    info(name).is_some_and(|i| i.rules.what == WHISPER_RULES.what)
}

/// The shipped template of the prompt named `name` in `language`, if one ships.
pub fn shipped_source(language: &str, name: &str) -> Option<&'static str> {
    SHIPPED
        .iter()
        .find(|(l, n, _)| *l == language && *n == name)
        .map(|(_, _, s)| *s)
}

/// The shipped English template of the prompt named `name` (every prompt with no
/// `falls_back_to` has one).
pub fn default_source(name: &str) -> Option<&'static str> {
    shipped_source(ENGLISH, name)
}

/// The languages prompts ship in.
pub fn shipped_languages() -> Vec<&'static str> {
    let mut out: Vec<&str> = SHIPPED.iter().map(|(l, _, _)| *l).collect();
    out.dedup();
    out
}

/// One thing a caller hears, and the language it is in (a BCP 47 primary tag: `en`, `hi`):
/// the language whose greeting or shipped default was found, which a provider reads with a
/// voice of that language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spoken {
    /// Words for text-to-speech.
    Text { words: String, language: Arc<str> },
    /// An audio file to play, an https URL.
    Audio { url: String, language: Arc<str> },
}

impl Spoken {
    /// Words in `language`.
    pub fn text(words: impl Into<String>, language: &str) -> Self {
        Self::Text {
            words: words.into(),
            language: language.into(),
        }
    }

    /// The words, if this is text.
    pub fn words(&self) -> Option<&str> {
        match self {
            Self::Text { words, .. } => Some(words),
            Self::Audio { .. } => None,
        }
    }

    /// The audio URL, if this is audio.
    pub fn audio(&self) -> Option<&str> {
        match self {
            Self::Audio { url, .. } => Some(url),
            Self::Text { .. } => None,
        }
    }

    /// The text, or the URL: what Exotel's Greeting applet reads from the URL.
    pub fn body(&self) -> &str {
        match self {
            Self::Text { words, .. } => words,
            Self::Audio { url, .. } => url,
        }
    }

    /// The language of the words (for audio, of the greeting it was stored as).
    pub fn language(&self) -> &str {
        match self {
            Self::Text { language, .. } | Self::Audio { language, .. } => language,
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

/// What a whisper says about the call it announces: the order id or the booking's reference
/// (its id when it has none). Nothing else about the call reaches a whisper template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whisper<'a> {
    /// `{{ reference }}`: the order id, or the booking's reference.
    pub reference: &'a str,
}

impl Whisper<'_> {
    /// `{{ last_digits }}`: the last four digits of the reference, spaced so a voice reads
    /// them one by one (`"1 2 3 4"`); the last four characters when it has fewer digits.
    pub fn last_digits(&self) -> String {
        let digits: Vec<char> = self
            .reference
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let chars: Vec<char> = if digits.len() >= 4 {
            digits
        } else {
            self.reference
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect()
        };
        let tail = &chars[chars.len().saturating_sub(4)..];
        let mut out = String::with_capacity(tail.len() * 2);
        for (i, c) in tail.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push(*c);
        }
        out
    }
}

/// A compiled whisper template.
struct WhisperTemplate(Checked);

impl WhisperTemplate {
    fn compile(source: &str, brand: &str) -> Result<Self, String> {
        let checked = Checked::new(WHISPER_RULES, source)?;
        let template = Self(checked);
        template.render(
            brand,
            Whisper {
                reference: SAMPLE_REFERENCE,
            },
        )?;
        Ok(template)
    }

    fn render(&self, brand: &str, whisper: Whisper<'_>) -> Result<String, String> {
        let words = self.0.render(context! {
            brand => brand,
            reference => whisper.reference,
            last_digits => whisper.last_digits(),
        })?;
        let words = words.trim();
        if words.is_empty() {
            return Err("it says nothing".to_owned());
        }
        Ok(words.to_owned())
    }
}

/// Checks an operator's greeting for the prompt named `prompt` before it is saved or
/// previewed: a text template must pass the [`crate::sandbox`] with the prompt's rules and
/// render every variant a call can hear (see [`render_variants`]; a whisper renders with a
/// sample reference); audio must be an https URL. Returns the preview in `language`: the
/// rendering with `attempts_left` = 2 (or `max_attempts`, if lower) for text, the URL for
/// audio. Runs operator code: call it off the call path
/// ([`crate::sandbox::off_the_call_path`]).
///
/// Errors: an unknown prompt, an empty or too long body, or the template's first fault, as an
/// operator reads it.
pub fn validate(
    prompt: &str,
    language: &str,
    kind: &str,
    body: &str,
    brand: &str,
    max_attempts: u8,
) -> Result<Spoken, String> {
    if info(prompt).is_none() {
        return Err("choose one of the prompts listed".to_owned());
    }
    let body = body.trim();
    if body.is_empty() {
        return Err("enter the words to say, or the URL of the audio file".to_owned());
    }
    if body.len() > MAX_BODY_LEN {
        return Err(format!("at most {MAX_BODY_LEN} characters"));
    }
    match kind {
        "text" if is_whisper(prompt) => {
            let template = WhisperTemplate::compile(body, brand)?;
            let words = template.render(
                brand,
                Whisper {
                    reference: SAMPLE_REFERENCE,
                },
            )?;
            Ok(Spoken::text(words, language))
        }
        "text" => {
            let mut variants = render_variants(body, brand, max_attempts)?;
            let sample = usize::from(SAMPLE_ATTEMPTS_LEFT.min(max_attempts));
            Ok(Spoken::text(variants.swap_remove(sample), language))
        }
        "audio" => {
            let ok = body
                .strip_prefix("https://")
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace));
            if ok {
                Ok(Spoken::Audio {
                    url: body.to_owned(),
                    language: language.into(),
                })
            } else {
                Err("an audio greeting is an https:// URL of the file".to_owned())
            }
        }
        _ => Err("choose text or audio".to_owned()),
    }
}

/// A greeting of the book.
enum Entry {
    Text(Words),
    Audio(String),
    Whisper(Arc<WhisperTemplate>),
}

impl Clone for Entry {
    fn clone(&self) -> Self {
        match self {
            Self::Text(w) => Self::Text(Arc::clone(w)),
            Self::Audio(u) => Self::Audio(u.clone()),
            Self::Whisper(t) => Self::Whisper(Arc::clone(t)),
        }
    }
}

/// Where a lookup found a prompt's words, for the admin UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// An operator's greeting in the asked language (for this number, or for every number).
    Operator { virtual_number: Option<String> },
    /// The shipped default of the asked language.
    Shipped,
    /// Nothing of its own in the asked language: the words of `prompt` (itself, or the prompt
    /// it falls back to) in `language`, an operator's greeting or the shipped default there.
    FallsBack {
        prompt: &'static str,
        language: String,
        shipped: bool,
    },
}

/// Every greeting rendered for every `attempts_left`, and the language of each pool number:
/// what a call's prompts are looked up in, without touching the database or running a
/// template (but a whisper's).
pub struct Book {
    /// `PINBRIDGE_BRAND`, as rendered.
    brand: String,
    /// `PINBRIDGE_PIN_MAX_ATTEMPTS`: the highest `attempts_left` rendered, and the
    /// `attempts_left` of prompts that carry none.
    max_attempts: u8,
    /// (prompt, language, virtual number or '') → the operator's greeting.
    entries: HashMap<(String, String, String), Entry>,
    /// (prompt, language) → the shipped greeting.
    shipped: HashMap<(String, String), Entry>,
    /// Pool number → its language.
    languages: HashMap<String, String>,
    /// Pool number → how bridges through it are dialled, for the numbers that set any option.
    number_options: HashMap<String, crate::domain::CallOptions>,
    default_language: String,
    /// `PINBRIDGE_FALLBACK_LANGUAGE`.
    fallback_language: String,
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

/// The languages a [`Book`] speaks by default: `PINBRIDGE_DEFAULT_LANGUAGE` for numbers with
/// none set, and `PINBRIDGE_FALLBACK_LANGUAGE` for prompts a language lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Languages {
    pub default: String,
    pub fallback: String,
}

impl Languages {
    /// English for both: for tests.
    pub fn english() -> Self {
        Self {
            default: ENGLISH.to_owned(),
            fallback: ENGLISH.to_owned(),
        }
    }
}

impl Book {
    /// The shipped defaults only, rendered with `brand` for `0..=max_attempts`.
    pub fn defaults(brand: &str, max_attempts: u8, languages: &Languages) -> Self {
        Self::build(&[], &[], languages, brand, max_attempts, None)
    }

    /// Renders the shipped prompts and the stored greetings (prompt, language, number, kind,
    /// body) with `brand` for every `attempts_left` in `0..=max_attempts`, compiles the
    /// whispers, and keeps the number languages. What `previous` rendered with the same brand
    /// and attempts is taken over, not rendered again.
    ///
    /// A stored template that breaks a rule of the [`crate::sandbox`] or fails any variant is
    /// left out, logged once (prompt, language, masked number): its callers hear the next
    /// greeting down the lookup. Runs operator code: call it off the call path
    /// ([`crate::sandbox::off_the_call_path`]).
    pub fn build(
        greetings: &[crate::storage::greetings::Greeting],
        number_languages: &[(String, String)],
        languages: &Languages,
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
        let mut entries = HashMap::new();
        let mut shipped = HashMap::new();
        for (language, prompt, source) in SHIPPED {
            let entry = if is_whisper(prompt) {
                WhisperTemplate::compile(source, brand).map(|t| Entry::Whisper(Arc::new(t)))
            } else {
                words_of(source).0.map(Entry::Text)
            };
            // They can not fail: every shipped prompt is rendered for every attempts_left in
            // the tests.
            let entry = entry.unwrap_or_else(|e| {
                tracing::error!(prompt, language, error = %e, "a shipped prompt failed to render");
                Entry::Text(vec![SORRY.to_owned(); usize::from(max_attempts) + 1].into())
            });
            shipped.insert((prompt.to_owned(), language.to_owned()), entry);
        }
        for g in greetings {
            let entry = match g.kind.as_str() {
                "audio" => Ok(Entry::Audio(g.body.clone())),
                _ if is_whisper(&g.prompt) => WhisperTemplate::compile(&g.body, brand)
                    .map(|t| Entry::Whisper(Arc::new(t)))
                    .map_err(|e| (e, true)),
                _ => match words_of(&g.body) {
                    (Ok(words), _) => Ok(Entry::Text(words)),
                    (Err(e), fresh) => Err((e, fresh)),
                },
            };
            let entry = match entry {
                Ok(entry) => entry,
                Err((e, fresh)) => {
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
            languages: number_languages.iter().cloned().collect(),
            number_options: HashMap::new(),
            default_language: languages.default.clone(),
            fallback_language: languages.fallback.clone(),
            shipped,
            rendered,
        }
    }

    /// Every language in use, sorted, each once: the shipped ones, the default and the
    /// fallback, the pool numbers' and those operators wrote greetings in.
    pub fn languages_in_use(&self) -> Vec<String> {
        let mut out: Vec<String> = shipped_languages()
            .into_iter()
            .map(str::to_owned)
            .chain([
                self.default_language.clone(),
                self.fallback_language.clone(),
            ])
            .chain(self.languages.values().cloned())
            .chain(self.entries.keys().map(|(_, l, _)| l.clone()))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Each pool number with a language of its own (E.164 → language).
    pub fn number_languages(&self) -> &HashMap<String, String> {
        &self.languages
    }

    /// The book, with the options of the numbers that set any (language, limits, recording,
    /// whisper): what [`Voice::number_options`] answers.
    #[must_use]
    pub fn with_number_options(
        mut self,
        options: impl IntoIterator<Item = (String, crate::domain::CallOptions)>,
    ) -> Self {
        self.number_options = options.into_iter().collect();
        self
    }

    /// The language callers of `virtual_number` hear.
    pub fn language_of(&self, virtual_number: &str) -> &str {
        self.languages
            .get(virtual_number)
            .map_or(self.default_language.as_str(), String::as_str)
    }

    /// The languages a prompt is looked up in, in order: `language`, the fallback, English.
    fn chain<'a>(&'a self, language: &'a str) -> impl Iterator<Item = &'a str> {
        let mut seen: Vec<&str> = Vec::with_capacity(3);
        for l in [language, self.fallback_language.as_str(), ENGLISH] {
            if !seen.contains(&l) {
                seen.push(l);
            }
        }
        seen.into_iter()
    }

    /// The entry for `name` heard on `virtual_number` in `language`, with the language and
    /// the prompt it was found under: the number's greeting, then every number's, then the
    /// shipped one, in the call's language, then in the fallback, then in English; then the
    /// same for the prompt it falls back to (a party whisper: the whisper).
    fn find(
        &self,
        name: &'static str,
        language: &str,
        virtual_number: &str,
    ) -> Option<(&Entry, String, &'static str)> {
        let mut name = Some(name);
        while let Some(n) = name {
            for l in self.chain(language) {
                let key = |number: &str| (n.to_owned(), l.to_owned(), number.to_owned());
                let found = if virtual_number.is_empty() {
                    None
                } else {
                    self.entries.get(&key(virtual_number))
                }
                .or_else(|| self.entries.get(&key("")))
                .or_else(|| self.shipped.get(&(n.to_owned(), l.to_owned())));
                if let Some(entry) = found {
                    return Some((entry, l.to_owned(), n));
                }
            }
            name = info(n).and_then(|i| i.falls_back_to);
        }
        None
    }

    /// Where the words of the prompt named `name` in `language` come from, for every number
    /// (`virtual_number` '') or one: an operator's greeting, the shipped default, or the
    /// prompt and language it falls back to.
    pub fn found(&self, name: &'static str, language: &str, virtual_number: &str) -> Found {
        let operators = |number: &str| {
            self.entries
                .contains_key(&(name.to_owned(), language.to_owned(), number.to_owned()))
        };
        match self.find(name, language, virtual_number) {
            Some((_, l, n)) if l == language && n == name => {
                if !virtual_number.is_empty() && operators(virtual_number) {
                    Found::Operator {
                        virtual_number: Some(virtual_number.to_owned()),
                    }
                } else if operators("") {
                    Found::Operator {
                        virtual_number: None,
                    }
                } else {
                    Found::Shipped
                }
            }
            Some((_, l, n)) => Found::FallsBack {
                shipped: !self
                    .entries
                    .contains_key(&(n.to_owned(), l.clone(), String::new()))
                    && !self.entries.contains_key(&(
                        n.to_owned(),
                        l.clone(),
                        virtual_number.to_owned(),
                    )),
                prompt: n,
                language: l,
            },
            None => Found::FallsBack {
                prompt: name,
                language: ENGLISH.to_owned(),
                shipped: true,
            },
        }
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

/// Which party of the call a whisper is played to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callee {
    /// The dialled party of a PIN or callback call: `whisper`.
    Any,
    /// A booking's party A, called by party B: `whisper_to_party_a`, else `whisper`.
    PartyA,
    /// A booking's party B, called by party A: `whisper_to_party_b`, else `whisper`.
    PartyB,
}

impl Callee {
    fn prompt(self) -> &'static str {
        match self {
            Self::Any => "whisper",
            Self::PartyA => "whisper_to_party_a",
            Self::PartyB => "whisper_to_party_b",
        }
    }
}

/// The prompts of one call: its greeting book, language and virtual number.
#[derive(Debug, Clone)]
pub struct Voice {
    book: Arc<Book>,
    language: String,
    virtual_number: String,
}

impl Voice {
    /// The prompts of a call to `virtual_number` (E.164; `None` when it did not parse), in the
    /// number's language.
    pub fn new(book: Arc<Book>, virtual_number: Option<&str>) -> Self {
        let virtual_number = virtual_number.unwrap_or_default().to_owned();
        let language = book.language_of(&virtual_number).to_owned();
        Self {
            book,
            language,
            virtual_number,
        }
    }

    /// The same prompts in `language` (an order's or a booking's own), when it names one.
    #[must_use]
    pub fn in_language(mut self, language: Option<&str>) -> Self {
        if let Some(l) = language.filter(|l| !l.is_empty()) {
            l.clone_into(&mut self.language);
        }
        self
    }

    /// Only the shipped defaults, in English, with `brand` and `max_attempts` PIN attempts:
    /// for tests.
    pub fn plain(brand: &str, max_attempts: u8) -> Self {
        Self::new(
            Arc::new(Book::defaults(brand, max_attempts, &Languages::english())),
            None,
        )
    }

    /// The language of the call.
    pub fn language(&self) -> &str {
        &self.language
    }

    /// How bridges through the call's virtual number are dialled, as the number sets them
    /// (unset: the settings), from memory: the book reloads them with the greetings.
    pub fn number_options(&self) -> crate::domain::CallOptions {
        self.book
            .number_options
            .get(&self.virtual_number)
            .cloned()
            .unwrap_or_default()
    }

    fn attempts_left(&self, prompt: Prompt) -> u8 {
        match prompt {
            Prompt::WrongPin { attempts_left } | Prompt::NoInput { attempts_left } => attempts_left,
            _ => self.book.max_attempts,
        }
    }

    /// The prompt named `name` with `attempts_left`: see [`Book`] for the lookup.
    fn say_named(&self, name: &'static str, attempts_left: u8) -> Spoken {
        match self.book.find(name, &self.language, &self.virtual_number) {
            Some((Entry::Audio(url), l, _)) => Spoken::Audio {
                url: url.clone(),
                language: l.into(),
            },
            Some((Entry::Text(words), l, _)) => Spoken::text(pick(words, attempts_left), &l),
            // Whispers are said by `Voice::whisper`; every other prompt ships in English.
            Some((Entry::Whisper(_), _, _)) | None => Spoken::text(SORRY, ENGLISH),
        }
    }

    /// What the caller hears for `prompt`: in the call's language, else the fallback's, else
    /// English; the number's greeting before every number's, before the shipped default. A
    /// lookup: nothing is rendered here.
    pub fn say(&self, prompt: Prompt) -> Spoken {
        self.say_named(name(prompt), self.attempts_left(prompt))
    }

    /// The recording consent both parties hear before a recorded bridge.
    pub fn consent(&self) -> Spoken {
        self.say_named("recording_consent", self.book.max_attempts)
    }

    /// The whisper `callee` hears when they answer, naming `whisper`'s reference. Renders the
    /// template (within the sandbox's fuel); one that fails for this reference says the
    /// shipped whisper instead.
    pub fn whisper(&self, callee: Callee, whisper: Whisper<'_>) -> Spoken {
        match self
            .book
            .find(callee.prompt(), &self.language, &self.virtual_number)
        {
            Some((Entry::Whisper(t), l, _)) => match t.render(&self.book.brand, whisper) {
                Ok(words) => Spoken::text(words, &l),
                Err(e) => {
                    tracing::warn!(language = %l, error = %e, "a whisper failed to render; saying the shipped one");
                    self.shipped_whisper(whisper)
                }
            },
            Some((Entry::Audio(url), l, _)) => Spoken::Audio {
                url: url.clone(),
                language: l.into(),
            },
            _ => self.shipped_whisper(whisper),
        }
    }

    fn shipped_whisper(&self, whisper: Whisper<'_>) -> Spoken {
        let words = WhisperTemplate::compile(
            default_source("whisper").unwrap_or("{{ brand }}"),
            &self.book.brand,
        )
        .and_then(|t| t.render(&self.book.brand, whisper))
        .unwrap_or_else(|_| self.book.brand.clone());
        Spoken::text(words, ENGLISH)
    }

    /// `prompt` as words only: an audio greeting is replaced by the text the lookup finds
    /// without it (for 8x8's `sayAndCapture`, which can not play a file), at worst English.
    pub fn text(&self, prompt: Prompt) -> Spoken {
        match self.say(prompt) {
            text @ Spoken::Text { .. } => text,
            Spoken::Audio { .. } => {
                let name = name(prompt);
                let attempts_left = self.attempts_left(prompt);
                self.book
                    .chain(&self.language)
                    .find_map(
                        |l| match self.book.shipped.get(&(name.to_owned(), l.to_owned())) {
                            Some(Entry::Text(words)) => {
                                Some(Spoken::text(pick(words, attempts_left), l))
                            }
                            _ => None,
                        },
                    )
                    .unwrap_or_else(|| Spoken::text(SORRY, ENGLISH))
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
    pub fn spoken_text(&self, decision: &Decision) -> Vec<Spoken> {
        Self::prompts(decision)
            .into_iter()
            .map(|p| self.text(p))
            .collect()
    }
}

/// The words of `prompt` from the shipped English default, with surrounding whitespace
/// trimmed.
pub fn text(prompt: Prompt, brand: &str) -> String {
    Voice::plain(brand, 3)
        .text(prompt)
        .words()
        .unwrap_or_default()
        .to_owned()
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
            for (language, name, source) in SHIPPED {
                if is_whisper(name) {
                    let t = WhisperTemplate::compile(source, "B").unwrap();
                    let words = t.render("B", Whisper { reference: "A-77" }).unwrap();
                    assert!(words.contains("A - 7 7"), "{language} {name}: {words}");
                    continue;
                }
                let words = render_variants(source, "B", max_attempts).unwrap();
                assert_eq!(
                    words.len(),
                    usize::from(max_attempts) + 1,
                    "{language} {name}"
                );
            }
        }
    }

    #[test]
    fn bad_templates_and_urls_are_refused() {
        assert!(validate("welcome", "en", "text", "Hello {{ brand ", "B", 3).is_err());
        let unknown =
            validate("welcome", "en", "text", "Hello {{ customer }}", "B", 3).unwrap_err();
        assert!(unknown.contains("unknown variable"), "{unknown}");
        assert!(validate("welcome", "en", "text", "{% include 'x' %}", "B", 3).is_err());
        assert!(validate("welcome", "en", "audio", "http://a.example/x.mp3", "B", 3).is_err());
        assert_eq!(
            validate("welcome", "en", "audio", "https://a.example/x.mp3", "B", 3),
            Ok(Spoken::Audio {
                url: "https://a.example/x.mp3".into(),
                language: "en".into()
            })
        );
        assert_eq!(
            validate(
                "welcome",
                "en",
                "text",
                "Hi {{ brand }}, {{ attempts_left }}",
                "B",
                3
            ),
            Ok(Spoken::text("Hi B, 2", "en"))
        );
        assert_eq!(
            validate("welcome", "en", "text", "{{ attempts_left }} left", "B", 1),
            Ok(Spoken::text("1 left", "en")),
            "the preview shows no attempts_left a call can not hear"
        );
    }

    #[test]
    fn a_string_doubling_template_is_refused_before_it_runs() {
        // About a hundred characters that, run, double a string 31 times: 2 GiB.
        let bomb = "{% set ns = namespace(s=brand) %}{% for i in range(31) %}\
                    {% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";
        let e = validate("welcome", "en", "text", bomb, "Swift Couriers", 3).unwrap_err();
        assert!(
            e.starts_with("`{% set %}` is not allowed in a greeting (line 1)"),
            "{e}"
        );
        let unrolled = "{% set a = brand ~ brand %}{% set b = a ~ a %}{{ b ~ b }}";
        assert!(
            validate("welcome", "en", "text", unrolled, "B", 3)
                .unwrap_err()
                .contains("`{% set %}`")
        );
    }

    #[test]
    fn nested_loops_and_recursion_are_refused_before_they_run() {
        let loops = "{% for a in range(1000) %}{% for b in range(1000) %}\
                     {% for c in range(1000) %}x{% endfor %}{% endfor %}{% endfor %}";
        let e = validate("welcome", "en", "text", loops, "B", 3).unwrap_err();
        assert!(e.contains("`{% for %}` is not allowed"), "{e}");
        let recursion = "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}";
        let e = validate("welcome", "en", "text", recursion, "B", 3).unwrap_err();
        assert!(e.contains("`{% macro %}` is not allowed"), "{e}");
        let recursive_loop = "{% for x in [[1]] recursive %}{{ loop(x) }}{% endfor %}";
        assert!(validate("welcome", "en", "text", recursive_loop, "B", 3).is_err());
    }

    #[test]
    fn a_template_that_fails_only_when_attempts_left_is_not_2_is_refused() {
        let broken = "{% if attempts_left != 2 %}{{ brand - attempts_left }}{% endif %}Hi";
        let e = validate("welcome", "en", "text", broken, "Swift Couriers", 3).unwrap_err();
        assert!(e.starts_with("with attempts_left = 0: "), "{e}");
        let heavy = format!(
            "{{% if attempts_left != 2 %}}{{{{ brand{} }}}}{{% endif %}}Hi",
            " ~ brand".repeat(230)
        );
        assert!(heavy.len() <= MAX_BODY_LEN);
        let e = validate("welcome", "en", "text", &heavy, "Swift Couriers", 3).unwrap_err();
        assert_eq!(
            e,
            format!("with attempts_left = 0: it renders longer than {MAX_SPOKEN_BYTES} bytes")
        );
        let silent = "{% if attempts_left == 3 %}Welcome{% endif %}";
        let e = validate("welcome", "en", "text", silent, "B", 3).unwrap_err();
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

    fn english() -> Languages {
        Languages::english()
    }

    #[test]
    fn lookup_goes_number_then_language_then_shipped_then_fallback() {
        let book = Arc::new(Book::build(
            &[
                greeting("welcome", "hi", "+911", "text", "Namaste {{ brand }}"),
                greeting("welcome", "hi", "", "text", "Hindi for all"),
                greeting("enter_pin", "en", "", "audio", "https://a.example/pin.mp3"),
                greeting("welcome", "ta", "", "text", "Vanakkam {{ brand }}"),
            ],
            &[
                ("+911".into(), "hi".into()),
                ("+912".into(), "hi".into()),
                ("+914".into(), "ta".into()),
            ],
            &english(),
            "B",
            3,
            None,
        ));
        let one = Voice::new(book.clone(), Some("+911"));
        let two = Voice::new(book.clone(), Some("+912"));
        let other = Voice::new(book.clone(), Some("+913"));
        let tamil = Voice::new(book, Some("+914"));
        assert_eq!(one.say(Prompt::Welcome), Spoken::text("Namaste B", "hi"));
        assert_eq!(
            two.say(Prompt::Welcome),
            Spoken::text("Hindi for all", "hi")
        );
        assert_eq!(
            other.say(Prompt::Welcome),
            Spoken::text("Welcome to B.", "en")
        );
        // A Hindi number without the operator's own enter_pin hears the shipped Hindi one.
        let pin = one.say(Prompt::EnterPin);
        assert_eq!(pin.language(), "hi");
        assert!(pin.body().contains("पिन"), "{pin:?}");
        assert_eq!(
            other.say(Prompt::EnterPin),
            Spoken::Audio {
                url: "https://a.example/pin.mp3".into(),
                language: "en".into()
            }
        );
        // 8x8 can not play audio: the shipped words of the language instead.
        assert!(other.text(Prompt::EnterPin).body().contains("order PIN"));
        // Tamil ships nothing: its own welcome, then every other prompt in the fallback.
        assert_eq!(tamil.say(Prompt::Welcome), Spoken::text("Vanakkam B", "ta"));
        let wrong = tamil.say(Prompt::WrongPin { attempts_left: 1 });
        assert_eq!(wrong.language(), "en");
        assert!(wrong.body().contains("one attempt left"), "{wrong:?}");
    }

    #[test]
    fn the_languages_in_use_are_the_shipped_configured_numbers_and_greetings_ones() {
        let languages = Languages {
            default: "mr".into(),
            fallback: "hi".into(),
        };
        let book = Book::build(
            &[greeting("welcome", "ta", "", "text", "Vanakkam")],
            &[("+911".into(), "bn".into()), ("+912".into(), "hi".into())],
            &languages,
            "B",
            3,
            None,
        );
        assert_eq!(book.languages_in_use(), ["bn", "en", "hi", "mr", "ta"]);
    }

    #[test]
    fn a_configured_fallback_language_is_tried_before_english() {
        let languages = Languages {
            default: "ta".into(),
            fallback: "hi".into(),
        };
        let book = Arc::new(Book::build(&[], &[], &languages, "B", 3, None));
        let voice = Voice::new(book.clone(), Some("+915"));
        assert_eq!(voice.language(), "ta");
        let said = voice.say(Prompt::AttemptsUsedUp);
        assert_eq!(said.language(), "hi");
        assert!(said.body().contains("धन्यवाद"), "{said:?}");
        assert_eq!(
            book.found("attempts_used_up", "ta", ""),
            Found::FallsBack {
                prompt: "attempts_used_up",
                language: "hi".into(),
                shipped: true
            }
        );
        assert_eq!(book.found("welcome", "hi", ""), Found::Shipped);
    }

    #[test]
    fn an_order_or_booking_language_replaces_the_numbers() {
        let book = Arc::new(Book::defaults("B", 3, &english()));
        let voice = Voice::new(book, Some("+911")).in_language(Some("hi"));
        assert_eq!(voice.language(), "hi");
        for spoken in voice.spoken(&Decision::Goodbye {
            prompt: Prompt::NoOneToDial,
        }) {
            assert_eq!(spoken.language(), "hi");
        }
        let same = voice.clone().in_language(None);
        assert_eq!(same.language(), "hi");
    }

    #[test]
    fn found_tells_the_operators_words_from_the_shipped_and_the_fallback() {
        let book = Book::build(
            &[
                greeting("welcome", "hi", "", "text", "Namaste"),
                greeting("welcome", "ta", "+914", "text", "Vanakkam"),
            ],
            &[],
            &english(),
            "B",
            3,
            None,
        );
        assert_eq!(
            book.found("welcome", "hi", ""),
            Found::Operator {
                virtual_number: None
            }
        );
        assert_eq!(book.found("enter_pin", "hi", ""), Found::Shipped);
        assert_eq!(
            book.found("welcome", "ta", "+914"),
            Found::Operator {
                virtual_number: Some("+914".into())
            }
        );
        assert_eq!(
            book.found("welcome", "ta", ""),
            Found::FallsBack {
                prompt: "welcome",
                language: "en".into(),
                shipped: true
            }
        );
        assert_eq!(
            book.found("whisper_to_party_a", "hi", ""),
            Found::FallsBack {
                prompt: "whisper",
                language: "hi".into(),
                shipped: true
            },
            "a party whisper falls back to the whisper"
        );
    }

    #[test]
    fn a_whisper_names_the_reference_and_each_party_can_have_its_own() {
        let book = Arc::new(Book::build(
            &[
                greeting(
                    "whisper_to_party_b",
                    "en",
                    "",
                    "text",
                    "Your rider, trip {{ last_digits }}",
                ),
                greeting("whisper", "hi", "", "text", "{{ brand }}: {{ reference }}"),
            ],
            &[("+912".into(), "hi".into())],
            &english(),
            "B",
            3,
            None,
        ));
        let voice = Voice::new(book.clone(), None);
        let order = Whisper {
            reference: "ORD-5512345",
        };
        assert_eq!(
            voice.whisper(Callee::PartyB, order),
            Spoken::text("Your rider, trip 2 3 4 5", "en")
        );
        assert_eq!(
            voice.whisper(Callee::PartyA, order),
            Spoken::text(
                "This is a call from B, about reference ending 2 3 4 5.",
                "en"
            )
        );
        let hindi = Voice::new(book, Some("+912"));
        assert_eq!(
            hindi.whisper(Callee::PartyA, order),
            Spoken::text("B: ORD-5512345", "hi")
        );
        assert_eq!(hindi.consent().language(), "hi");
        let e = validate("whisper", "en", "text", "{{ customer }}", "B", 3).unwrap_err();
        assert!(e.contains("unknown variable"), "{e}");
        assert!(
            validate("welcome", "en", "text", "{{ reference }}", "B", 3).is_err(),
            "an IVR prompt can not name the reference"
        );
        assert_eq!(
            validate("whisper", "en", "text", "Ref {{ last_digits }}", "B", 3),
            Ok(Spoken::text("Ref 1 2 3 4", "en"))
        );
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
            &english(),
            "B",
            3,
            None,
        ));
        let voice = Voice::new(book, None);
        let wrong = |attempts_left| {
            voice
                .text(Prompt::WrongPin { attempts_left })
                .body()
                .to_owned()
        };
        assert_eq!(
            [wrong(0), wrong(1), wrong(2)],
            ["last", "1 left", "2 left"].map(String::from)
        );
        assert_eq!(
            voice.text(Prompt::Welcome).body(),
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
            &english(),
            "B",
            3,
            None,
        ));
        let voice = Voice::new(book, Some("+911"));
        assert_eq!(voice.text(Prompt::Welcome), Spoken::text("Namaste B", "hi"));
        for attempts_left in 0..=3 {
            let words = voice.text(Prompt::WrongPin { attempts_left });
            assert_eq!(
                words.language(),
                "hi",
                "the shipped Hindi, not the broken one"
            );
            assert!(words.body().contains("पिन"), "{words:?}");
        }
    }

    #[test]
    fn a_rebuilt_book_takes_over_what_it_rendered_while_the_source_is_unchanged() {
        let stored = [greeting("welcome", "en", "", "text", "Hi {{ brand }}")];
        let first = Book::build(&stored, &[], &english(), "B", 3, None);
        let again = Book::build(&stored, &[], &english(), "B", 3, Some(&first));
        let words =
            |book: &Book| match &book.entries[&("welcome".into(), "en".into(), String::new())] {
                Entry::Text(words) => Arc::clone(words),
                Entry::Audio(_) | Entry::Whisper(_) => unreachable!("a text greeting"),
            };
        assert!(Arc::ptr_eq(&words(&first), &words(&again)), "taken over");
        let rebranded = Book::build(&stored, &[], &english(), "C", 3, Some(&again));
        assert!(!Arc::ptr_eq(&words(&again), &words(&rebranded)));
        assert_eq!(words(&rebranded)[3], "Hi C");
        let edited = [greeting("welcome", "en", "", "text", "Hello {{ brand }}")];
        let edited = Book::build(&edited, &[], &english(), "C", 3, Some(&rebranded));
        assert_eq!(words(&edited)[3], "Hello C");
        assert_eq!(
            edited.rendered.len(),
            SHIPPED.iter().filter(|(_, n, _)| !is_whisper(n)).count() + 1,
            "the old source is let go"
        );
    }
}
