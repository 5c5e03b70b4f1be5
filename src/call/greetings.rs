//! The operators' greetings, kept in memory so that a call's prompts need no database read
//! and run no template.
//!
//! The book (every stored greeting rendered for every `attempts_left`, and the language and call
//! options of each pool number) is rebuilt in the background whenever the database announces
//! a change to them ([`crate::storage::changes`]: in this instance, and on PostgreSQL from any
//! instance through `LISTEN`/`NOTIFY`), so an edit is heard everywhere at once and no call
//! waits for a reload. A rebuild runs off the call path ([`crate::sandbox::off_the_call_path`])
//! and renders only the templates whose source changed.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::call::prompts::{Book, Languages, Voice};
use crate::storage::{self, Db};

/// The longest a background reload may take before the last book is kept.
const RELOAD_BUDGET: Duration = Duration::from_secs(2);

/// How long a failed reload waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The greetings of every call, shared by all workers.
pub struct Greetings {
    db: Db,
    languages: Languages,
    /// `PINBRIDGE_BRAND`.
    brand: String,
    /// `PINBRIDGE_PIN_MAX_ATTEMPTS`.
    max_attempts: u8,
    book: RwLock<Arc<Book>>,
    reloading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Greetings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Greetings")
            .field("languages", &self.languages)
            .finish_non_exhaustive()
    }
}

impl Greetings {
    /// Loads every greeting from `db` and renders it with `brand` (`PINBRIDGE_BRAND`) for
    /// `0..=max_attempts` (`PINBRIDGE_PIN_MAX_ATTEMPTS`). `languages` are
    /// `PINBRIDGE_DEFAULT_LANGUAGE` and `PINBRIDGE_FALLBACK_LANGUAGE`.
    ///
    /// Errors: the database's, or the build's (see [`Greetings::reload`]).
    pub async fn load(
        db: Db,
        languages: Languages,
        brand: &str,
        max_attempts: u8,
    ) -> anyhow::Result<Self> {
        let greetings = Self {
            db,
            brand: brand.to_owned(),
            max_attempts,
            book: RwLock::new(Arc::new(Book::defaults(brand, max_attempts, &languages))),
            languages,
            reloading: tokio::sync::Mutex::new(()),
        };
        greetings.reload().await?;
        Ok(greetings)
    }

    /// The language of numbers without one of their own.
    pub fn default_language(&self) -> &str {
        &self.languages.default
    }

    /// The language of prompts the call's language has no words for.
    pub fn fallback_language(&self) -> &str {
        &self.languages.fallback
    }

    /// Rebuilds the book from the database now (after an edit), off the call path, taking
    /// over the current book's renderings of unchanged templates.
    ///
    /// Errors: the database's, or the build panicked (the last book is kept).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let _one = self.reloading.lock().await;
        let greetings = storage::greetings::list(&self.db).await?;
        let languages = storage::greetings::number_languages(&self.db).await?;
        let number_options = storage::call_options::numbers(&self.db).await?;
        let previous = self.book().await;
        let (book_languages, brand, max_attempts) = (
            self.languages.clone(),
            self.brand.clone(),
            self.max_attempts,
        );
        let book = crate::sandbox::off_the_call_path(move || {
            Book::build(
                &greetings,
                &languages,
                &book_languages,
                &brand,
                max_attempts,
                Some(&previous),
            )
            .with_number_options(number_options)
        })
        .await
        .map_err(|e| anyhow::anyhow!("building the greetings: {e}"))?;
        *self.book.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(book);
        Ok(())
    }

    /// The current book: no database read on a call's path. [`Greetings::spawn_refresh`]
    /// keeps it fresh.
    pub async fn book(&self) -> Arc<Book> {
        Arc::clone(&self.book.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reloads the book whenever greetings, a number's language or its call options change,
    /// here or on another instance ([`storage::changes`]): no polling, and an edit is heard
    /// on every instance as soon as the database has it. A failed reload keeps the book in
    /// memory (a caller still hears the last known greetings) and is tried again every
    /// [`RETRY_AFTER`] until it succeeds. Ends when the database is closed.
    pub fn spawn_refresh(self: Arc<Self>) {
        let mut changed = storage::changes::follow(&self.db);
        tokio::spawn(async move {
            while changed.changed().await.is_ok() {
                loop {
                    if self.db.is_closed() {
                        return;
                    }
                    match tokio::time::timeout(RELOAD_BUDGET, self.reload()).await {
                        Ok(Ok(())) => break,
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "reloading the greetings failed; keeping the last ones");
                        }
                        Err(_) => {
                            tracing::warn!(
                                "reloading the greetings took too long; keeping the last ones"
                            );
                        }
                    }
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        });
    }

    /// The prompts of a call to `virtual_number` (E.164).
    pub async fn voice(&self, virtual_number: Option<&str>) -> Voice {
        Voice::new(self.book().await, virtual_number)
    }
}
