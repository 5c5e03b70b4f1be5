//! The operators' greetings, kept in memory so that a call's prompts need no database read
//! and run no template.
//!
//! The book (every stored greeting rendered for every `attempts_left`, and the language and call
//! options of each pool number) is rebuilt after every edit made through this instance, and every half second in
//! the background, so an edit made on another instance is heard within a second and no call
//! waits for a reload. A rebuild runs off the call path ([`crate::sandbox::off_the_call_path`])
//! and renders only the templates whose source changed.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::call::prompts::{Book, Languages, Voice};
use crate::storage::{self, Db};

/// The longest a background reload may take before the last book is kept.
const RELOAD_BUDGET: Duration = Duration::from_secs(2);

/// How often the book is reloaded: an edit made on another instance is heard within this.
const FRESH_FOR: Duration = Duration::from_millis(500);

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

    /// Reloads the book every [`FRESH_FOR`] in the background, so that an edit made on another
    /// instance is heard here within that time; a failed reload keeps the book in memory (a
    /// caller still hears the last known greetings). Ends when the database is closed.
    pub fn spawn_refresh(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FRESH_FOR);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if self.db.is_closed() {
                    break;
                }
                let read = tokio::time::timeout(RELOAD_BUDGET, self.reload()).await;
                match read {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "reloading the greetings failed; keeping the last ones");
                    }
                    Err(_) => {
                        tracing::warn!(
                            "reloading the greetings took too long; keeping the last ones"
                        );
                    }
                }
            }
        });
    }

    /// The prompts of a call to `virtual_number` (E.164).
    pub async fn voice(&self, virtual_number: Option<&str>) -> Voice {
        Voice::new(self.book().await, virtual_number)
    }
}
