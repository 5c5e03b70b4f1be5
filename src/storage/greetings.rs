//! Operators' versions of the spoken prompts (`greetings`) and the language of each virtual
//! number (`virtual_numbers.language`). Each change is announced to the greetings' book of
//! every instance ([`super::changes`]).

use sqlx::Row;

use super::Db;

/// One operator's version of a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// `welcome`, `enter_pin`, ...
    pub prompt: String,
    /// BCP 47 primary tag: `en`, `hi`, ...
    pub language: String,
    /// E.164, or `''` for every number of the language.
    pub virtual_number: String,
    /// `text` (a minijinja template) or `audio` (an https URL).
    pub kind: String,
    pub body: String,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// Every stored greeting, ordered by prompt, language and number.
pub async fn list(db: &Db) -> Result<Vec<Greeting>, super::Error> {
    let rows = sqlx::query(
        "select prompt, language, virtual_number, kind, body, updated_at from greetings
         order by prompt, language, virtual_number",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Greeting {
                prompt: r.try_get("prompt")?,
                language: r.try_get("language")?,
                virtual_number: r.try_get("virtual_number")?,
                kind: r.try_get("kind")?,
                body: r.try_get("body")?,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .collect()
}

/// Stores (or replaces) the operator's version of a prompt.
pub async fn upsert(db: &Db, g: &Greeting) -> Result<(), super::Error> {
    sqlx::query(
        "insert into greetings (prompt, language, virtual_number, kind, body, updated_at)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (prompt, language, virtual_number)
         do update set kind = excluded.kind, body = excluded.body, updated_at = excluded.updated_at",
    )
    .bind(&g.prompt)
    .bind(&g.language)
    .bind(&g.virtual_number)
    .bind(&g.kind)
    .bind(&g.body)
    .bind(g.updated_at)
    .execute(db.pool())
    .await?;
    super::changes::announce(db).await;
    Ok(())
}

/// Deletes the operator's version; true when there was one.
pub async fn delete(
    db: &Db,
    prompt: &str,
    language: &str,
    virtual_number: &str,
) -> Result<bool, super::Error> {
    let done = sqlx::query(
        "delete from greetings where prompt = $1 and language = $2 and virtual_number = $3",
    )
    .bind(prompt)
    .bind(language)
    .bind(virtual_number)
    .execute(db.pool())
    .await?;
    super::changes::announce(db).await;
    Ok(done.rows_affected() > 0)
}

/// The pool's numbers that have a language: (number, language).
pub async fn number_languages(db: &Db) -> Result<Vec<(String, String)>, super::Error> {
    let rows = sqlx::query(
        "select number, language from virtual_numbers where language is not null and language <> ''",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("number")?, r.try_get("language")?)))
        .collect()
}

/// Sets the language of a pool number (`None`: back to the default); false when the number is
/// not in the pool.
pub async fn set_number_language(
    db: &Db,
    number: &str,
    language: Option<&str>,
) -> Result<bool, super::Error> {
    let done = sqlx::query("update virtual_numbers set language = $1 where number = $2")
        .bind(language)
        .bind(number)
        .execute(db.pool())
        .await?;
    super::changes::announce(db).await;
    Ok(done.rows_affected() > 0)
}
