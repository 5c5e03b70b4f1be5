//! Admin UI: greetings. Every prompt per language and virtual number, edited as a minijinja
//! template (or an https audio URL), previewed with sample values, validated (every
//! `attempts_left` a call can hear, in the [`crate::sandbox`]) before it is saved, reset to the
//! shipped default; and the language of each virtual number.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AdminSession;
use crate::call::prompts::{self, Spoken};
use crate::domain::PhoneNumber;
use crate::domain::clock::now_ms;
use crate::state::AppState;
use crate::storage::greetings::{self as store, Greeting};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/greetings", web::get().to(list))
        .route("/greetings/edit", web::get().to(edit_form))
        .route("/greetings/edit", web::post().to(edit))
        .route("/greetings/reset", web::post().to(reset))
        .route("/greetings/language", web::post().to(set_language));
}

fn html(status: StatusCode, page: &impl Template) -> actix_web::Result<HttpResponse> {
    let body = page
        .render()
        .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, to))
        .finish()
}

fn unavailable(e: impl std::fmt::Display) -> actix_web::Error {
    tracing::error!(error = %e, "admin UI: storage failed");
    actix_web::error::ErrorServiceUnavailable("The database did not answer. Try again.")
}

fn query_value(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|s| s.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}

/// The edit page's address for one greeting.
fn edit_url(prompt: &str, language: &str, virtual_number: &str) -> String {
    format!(
        "/admin/greetings/edit?prompt={}&language={}&virtual_number={}",
        query_value(prompt),
        query_value(language),
        query_value(virtual_number)
    )
}

/// A BCP 47 primary language tag: 2 or 3 letters, lower-cased.
fn parse_language(raw: &str) -> Result<String, String> {
    let l = raw.trim().to_ascii_lowercase();
    if (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(l)
    } else {
        Err("a language is a 2- or 3-letter code such as en, hi or ta".to_owned())
    }
}

/// A virtual number in E.164, or '' for every number.
fn parse_number(state: &AppState, raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(String::new());
    }
    PhoneNumber::parse(raw, state.settings.orders.region)
        .map(|n| n.to_string())
        .map_err(|_| "not a phone number; leave it empty for every number".to_owned())
}

fn known_prompt(raw: &str) -> Option<&'static str> {
    prompts::info(raw).map(|p| p.name)
}

/// The variables the template of the prompt named `prompt` may name.
fn variables(prompt: &str) -> &'static [&'static str] {
    prompts::info(prompt).map_or(&[], |p| p.rules.variables)
}

/// The shipped words of `prompt` in `language`, else those it falls back to (a party
/// whisper: the whisper), else English's: what the edit form starts from.
fn shipped_start(prompt: &str, language: &str) -> &'static str {
    let fallback = prompts::info(prompt).and_then(|p| p.falls_back_to);
    [Some(prompt), fallback]
        .into_iter()
        .flatten()
        .find_map(|p| prompts::shipped_source(language, p).or_else(|| prompts::default_source(p)))
        .unwrap_or_default()
}

/// One row of the greetings table.
struct Row {
    prompt: &'static str,
    language: String,
    virtual_number: String,
    kind: String,
    source: &'static str,
    body: String,
    edit: String,
}

/// Where one prompt's words come from in one language, for every number.
struct FoundRow {
    prompt: &'static str,
    /// "your own", "shipped", or "falls back to en (shipped)".
    source: String,
    /// Its words are another language's (or another prompt's).
    falls_back: bool,
    edit: String,
}

/// One language in use: who hears it, the voice each provider reads it with, and where each
/// prompt's words come from ([`prompts::Book::found`]).
struct LanguageView {
    language: String,
    /// Why it is in use: "default", "fallback", "shipped", "3 numbers", "greetings".
    uses: String,
    /// The voice of each provider, for people (`Twilio hi-IN Polly.Aditi`, ...).
    voices: Vec<(&'static str, String)>,
    rows: Vec<FoundRow>,
    /// The languages some of its prompts fall back to, each once: callers hear a mix.
    mixed_with: Vec<String>,
}

/// The provider names as the voices setting knows them, with the names people read.
const PROVIDERS: [(&str, &str); 5] = [
    ("twilio", "Twilio"),
    ("plivo", "Plivo"),
    ("vonage", "Vonage"),
    ("8x8", "8x8"),
    ("exotel", "Exotel"),
];

/// Every language in use, with where each prompt's words come from in it.
fn language_views(state: &AppState, book: &prompts::Book) -> Vec<LanguageView> {
    let shipped = prompts::shipped_languages();
    let numbers = book.number_languages();
    book.languages_in_use()
        .into_iter()
        .map(|language| {
            let mut uses = Vec::new();
            if language == state.greetings.default_language() {
                uses.push("the default".to_owned());
            }
            if language == state.greetings.fallback_language() {
                uses.push("the fallback".to_owned());
            }
            match numbers.iter().filter(|(_, l)| **l == language).count() {
                0 => {}
                1 => uses.push("1 number".to_owned()),
                n => uses.push(format!("{n} numbers")),
            }
            if shipped.contains(&language.as_str()) {
                uses.push("ships".to_owned());
            }
            if uses.is_empty() {
                uses.push("greetings written in it".to_owned());
            }
            let mut mixed_with: Vec<String> = Vec::new();
            let rows = prompts::CATALOGUE
                .iter()
                .map(|info| {
                    let (source, falls_back) = match book.found(info.name, &language, "") {
                        prompts::Found::Operator { .. } => ("your own".to_owned(), false),
                        prompts::Found::Shipped => ("shipped".to_owned(), false),
                        prompts::Found::FallsBack {
                            prompt,
                            language: to,
                            shipped,
                        } => {
                            if to != language && !mixed_with.contains(&to) {
                                mixed_with.push(to.clone());
                            }
                            let whose = if shipped { "shipped" } else { "your own" };
                            let what = if prompt == info.name {
                                format!("falls back to {to} ({whose})")
                            } else {
                                format!("falls back to {prompt} in {to} ({whose})")
                            };
                            (what, to != language)
                        }
                    };
                    FoundRow {
                        prompt: info.name,
                        source,
                        falls_back,
                        edit: edit_url(info.name, &language, ""),
                    }
                })
                .collect();
            let voices = PROVIDERS
                .iter()
                .map(|(key, shown)| (*shown, state.settings.voices.describe(key, &language)))
                .collect();
            LanguageView {
                uses: uses.join(", "),
                voices,
                rows,
                mixed_with,
                language,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin/greetings.html")]
struct ListPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    rows: Vec<Row>,
    default_language: String,
    languages: Vec<(String, String)>,
    /// Every language in use, prompt by prompt.
    language_views: Vec<LanguageView>,
    /// Every prompt, for the form that opens one.
    prompt_names: Vec<&'static str>,
    fallback_language: String,
    language_saved: bool,
    nl_error: Option<String>,
    nl_number: String,
    nl_language: String,
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    language_saved: Option<String>,
}

async fn list_page(
    state: &AppState,
    session: &AdminSession,
    language_saved: bool,
    nl_error: Option<String>,
    nl_number: String,
    nl_language: String,
) -> actix_web::Result<ListPage> {
    let stored = store::list(&state.db).await.map_err(unavailable)?;
    let languages = store::number_languages(&state.db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .map(|(n, l)| (session.show(n), l))
        .collect();
    let default_language = state.greetings.default_language().to_owned();
    let mut rows = Vec::new();
    for info in prompts::CATALOGUE {
        let prompt = info.name;
        for (language, _, source) in prompts::SHIPPED.iter().filter(|(_, n, _)| *n == prompt) {
            rows.push(Row {
                prompt,
                language: (*language).to_owned(),
                virtual_number: String::new(),
                kind: "text".to_owned(),
                source: "shipped default",
                body: source.trim().to_owned(),
                edit: edit_url(prompt, language, ""),
            });
        }
        for g in stored.iter().filter(|g| g.prompt == prompt) {
            rows.push(Row {
                prompt,
                language: g.language.clone(),
                virtual_number: g.virtual_number.clone(),
                kind: g.kind.clone(),
                source: "operator",
                body: g.body.clone(),
                edit: edit_url(prompt, &g.language, &g.virtual_number),
            });
        }
    }
    let book = state.greetings.book().await;
    Ok(ListPage {
        signed_in: true,
        section: "greetings",
        csrf: session.csrf.clone(),
        rows,
        default_language,
        languages,
        language_views: language_views(state, &book),
        prompt_names: prompts::CATALOGUE.iter().map(|p| p.name).collect(),
        fallback_language: state.greetings.fallback_language().to_owned(),
        language_saved,
        nl_error,
        nl_number,
        nl_language,
    })
}

/// `GET /admin/greetings`.
async fn list(
    state: web::Data<AppState>,
    session: AdminSession,
    query: web::Query<ListQuery>,
) -> actix_web::Result<HttpResponse> {
    let page = list_page(
        &state,
        &session,
        query.language_saved.is_some(),
        None,
        String::new(),
        String::new(),
    )
    .await?;
    html(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "admin/greetings_edit.html")]
struct EditPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    prompt: String,
    /// What the prompt's template may name (`brand`, `reference`, ...).
    variables: &'static [&'static str],
    /// Whether it is a whisper (said to the dialled party, naming the call's reference).
    whisper: bool,
    kind: String,
    body: String,
    language: String,
    virtual_number: String,
    /// The operator's version is stored (else the shipped default is spoken).
    customised: bool,
    saved: bool,
    reset_done: bool,
    preview: Option<Spoken>,
    body_error: Option<String>,
    language_error: Option<String>,
    number_error: Option<String>,
    nl_error: Option<String>,
    nl_number: String,
    nl_language: String,
    default_language: String,
    /// The form had expired: nothing was saved, what was typed is shown again.
    expired: bool,
}

#[derive(Deserialize)]
struct EditQuery {
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    virtual_number: String,
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    reset: Option<String>,
}

async fn stored(
    state: &AppState,
    prompt: &str,
    language: &str,
    virtual_number: &str,
) -> actix_web::Result<Option<Greeting>> {
    Ok(store::list(&state.db)
        .await
        .map_err(unavailable)?
        .into_iter()
        .find(|g| {
            g.prompt == prompt && g.language == language && g.virtual_number == virtual_number
        }))
}

fn not_found() -> actix_web::Error {
    actix_web::error::ErrorNotFound("There is no such prompt.")
}

/// `GET /admin/greetings/edit?prompt=welcome&language=en&virtual_number=`.
async fn edit_form(
    state: web::Data<AppState>,
    session: AdminSession,
    query: web::Query<EditQuery>,
) -> actix_web::Result<HttpResponse> {
    let prompt = known_prompt(&query.prompt).ok_or_else(not_found)?;
    let language = if query.language.trim().is_empty() {
        state.greetings.default_language().to_owned()
    } else {
        query.language.trim().to_ascii_lowercase()
    };
    let language_error = parse_language(&language).err();
    let (virtual_number, number_error) = match parse_number(&state, &query.virtual_number) {
        Ok(n) => (n, None),
        Err(e) => (query.virtual_number.clone(), Some(e)),
    };
    let current = if language_error.is_none() && number_error.is_none() {
        stored(&state, prompt, &language, &virtual_number).await?
    } else {
        None
    };
    let (kind, body) = match &current {
        Some(g) => (g.kind.clone(), g.body.clone()),
        None => (
            "text".to_owned(),
            shipped_start(prompt, &language).trim().to_owned(),
        ),
    };
    html(
        StatusCode::OK,
        &EditPage {
            signed_in: true,
            section: "greetings",
            csrf: session.csrf.clone(),
            prompt: prompt.to_owned(),
            variables: variables(prompt),
            whisper: prompts::is_whisper(prompt),
            kind,
            body,
            language,
            virtual_number,
            customised: current.is_some(),
            saved: query.saved.is_some(),
            reset_done: query.reset.is_some(),
            preview: None,
            body_error: None,
            language_error,
            number_error,
            nl_error: None,
            nl_number: String::new(),
            nl_language: String::new(),
            default_language: state.greetings.default_language().to_owned(),
            expired: false,
        },
    )
}

#[derive(Deserialize)]
struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    virtual_number: String,
    #[serde(default)]
    action: String,
}

/// `POST /admin/greetings/edit`: `action=preview` renders with sample values and saves
/// nothing; `action=save` validates, saves, reloads the greetings and goes back to the form.
/// Both render every variant first, off the call path ([`crate::sandbox::off_the_call_path`]);
/// a template that breaks a rule or fails a variant gets 422 and the reason beside the field.
async fn edit(
    state: web::Data<AppState>,
    session: AdminSession,
    form: web::Form<EditForm>,
) -> actix_web::Result<HttpResponse> {
    let fresh = session.form_is_fresh(&form.csrf);
    let form = form.into_inner();
    let prompt = known_prompt(&form.prompt).ok_or_else(not_found)?;
    let language = parse_language(&form.language);
    let number = parse_number(&state, &form.virtual_number);
    // Operator code: rendered for every attempts_left, off the call path (never on this
    // actix worker, which also answers call steps).
    let preview_language = language.clone().unwrap_or_default();
    let (kind, body, brand) = (
        form.kind.clone(),
        form.body.clone(),
        state.settings.calls.brand.clone(),
    );
    let max_attempts = state.sessions.policy().max_attempts;
    let checked = crate::sandbox::off_the_call_path(move || {
        prompts::validate(
            prompt,
            &preview_language,
            &kind,
            &body,
            &brand,
            max_attempts,
        )
    })
    .await
    .and_then(|checked| checked);
    let customised = match (&language, &number) {
        (Ok(l), Ok(n)) => stored(&state, prompt, l, n).await?.is_some(),
        _ => false,
    };
    let mut page = EditPage {
        signed_in: true,
        section: "greetings",
        csrf: session.csrf.clone(),
        prompt: prompt.to_owned(),
        variables: variables(prompt),
        whisper: prompts::is_whisper(prompt),
        kind: if form.kind == "audio" {
            "audio"
        } else {
            "text"
        }
        .to_owned(),
        body: form.body.clone(),
        language: language.clone().unwrap_or_else(|_| form.language.clone()),
        virtual_number: number
            .clone()
            .unwrap_or_else(|_| form.virtual_number.clone()),
        customised,
        saved: false,
        reset_done: false,
        preview: None,
        body_error: checked.clone().err(),
        language_error: language.clone().err(),
        number_error: number.clone().err(),
        nl_error: None,
        nl_number: String::new(),
        nl_language: String::new(),
        default_language: state.greetings.default_language().to_owned(),
        expired: !fresh,
    };
    if !fresh {
        return html(StatusCode::FORBIDDEN, &page);
    }
    let (Ok(spoken), Ok(language), Ok(number)) = (checked, language, number) else {
        return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    if form.action != "save" {
        page.preview = Some(spoken);
        return html(StatusCode::OK, &page);
    }
    let greeting = Greeting {
        prompt: prompt.to_owned(),
        language: language.clone(),
        virtual_number: number.clone(),
        kind: page.kind.clone(),
        body: form.body.trim().to_owned(),
        updated_at: now_ms(),
    };
    store::upsert(&state.db, &greeting)
        .await
        .map_err(unavailable)?;
    state.greetings.reload().await.map_err(unavailable)?;
    tracing::info!(admin.token = %session.token_name, prompt, language = %language, "admin UI: greeting saved");
    Ok(see_other(&format!(
        "{}&saved=1",
        edit_url(prompt, &language, &number)
    )))
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    virtual_number: String,
}

/// `POST /admin/greetings/reset`: deletes the operator's version; the default is spoken again.
async fn reset(
    state: web::Data<AppState>,
    session: AdminSession,
    form: web::Form<KeyForm>,
) -> actix_web::Result<HttpResponse> {
    session.check_csrf(&form.csrf)?;
    let prompt = known_prompt(&form.prompt).ok_or_else(not_found)?;
    let language = parse_language(&form.language).map_err(actix_web::error::ErrorBadRequest)?;
    let number =
        parse_number(&state, &form.virtual_number).map_err(actix_web::error::ErrorBadRequest)?;
    store::delete(&state.db, prompt, &language, &number)
        .await
        .map_err(unavailable)?;
    state.greetings.reload().await.map_err(unavailable)?;
    tracing::info!(admin.token = %session.token_name, prompt, language = %language, "admin UI: greeting reset");
    Ok(see_other(&format!(
        "{}&reset=1",
        edit_url(prompt, &language, &number)
    )))
}

#[derive(Deserialize)]
struct LanguageForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    language: String,
}

/// `POST /admin/greetings/language`: sets the language callers of a pool number hear (empty:
/// back to `PINBRIDGE_DEFAULT_LANGUAGE`).
async fn set_language(
    state: web::Data<AppState>,
    session: AdminSession,
    form: web::Form<LanguageForm>,
) -> actix_web::Result<HttpResponse> {
    session.check_csrf(&form.csrf)?;
    let number = match parse_number(&state, &form.number) {
        Ok(n) if !n.is_empty() => Ok(n),
        Ok(_) => Err("enter a virtual number of the pool".to_owned()),
        Err(e) => Err(e),
    };
    let language = if form.language.trim().is_empty() {
        Ok(None)
    } else {
        parse_language(&form.language).map(Some)
    };
    let outcome = match (&number, &language) {
        (Ok(n), Ok(l)) => {
            if store::set_number_language(&state.db, n, l.as_deref())
                .await
                .map_err(unavailable)?
            {
                Ok(())
            } else {
                Err("this number is not in the pool".to_owned())
            }
        }
        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
    };
    match outcome {
        Ok(()) => {
            state.greetings.reload().await.map_err(unavailable)?;
            tracing::info!(admin.token = %session.token_name, "admin UI: number language set");
            Ok(see_other("/admin/greetings?language_saved=1"))
        }
        Err(e) => {
            let page = list_page(
                &state,
                &session,
                false,
                Some(e),
                form.number.clone(),
                form.language.clone(),
            )
            .await?;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
