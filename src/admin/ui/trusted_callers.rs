//! Admin UI: trusted callers, the couriers whom a virtual number's spent guessing budget never
//! stops. The list, in the order of the numbers, a page at a time; add one (or change its
//! label) with the JSON API's validation; remove one; import a CSV as `pinbridge
//! trusted-callers import` does.
//!
//! A session without access to personal data sees the numbers masked and may not add, remove
//! or import: each names a number, and its answer would tell whether that number is a
//! courier's (the JSON API's `pii_required`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AdminSession;
use super::form::FormErrors;
use super::orders::{html, see_other, unavailable};
use crate::domain::clock::now_ms;
use crate::domain::{NewTrustedCaller, PhoneNumber, TrustedCallerField};
use crate::import::trusted_callers::{ImportOutcome, import as import_csv};
use crate::state::AppState;
use crate::storage::trusted_callers::{self, Added, TrustedCaller};

/// Callers per page.
const PAGE_SIZE: i64 = 100;

/// What the page says to a session that may not add, remove or import.
const PII_NEEDED: &str = "This sign-in shows phone numbers masked, so it can not add, remove \
    or import trusted callers. Sign in with an admin token that may see personal data \
    (marked :pii in PINBRIDGE_ADMIN_TOKENS) to manage them.";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/trusted-callers", web::get().to(page))
        .route("/trusted-callers", web::post().to(add))
        .route("/trusted-callers/remove", web::post().to(remove))
        .route("/trusted-callers/import", web::post().to(import));
}

/// One trusted caller as the table shows it.
struct CallerRow {
    /// In full, or masked for a session without access to personal data.
    number: String,
    label: String,
    since: String,
}

impl CallerRow {
    fn of(c: TrustedCaller, session: &AdminSession, tz: &jiff::tz::TimeZone) -> Self {
        Self {
            number: session.show(c.number.into()),
            label: c.label.unwrap_or_default(),
            since: super::local_time::show(tz, c.created_at),
        }
    }
}

/// The values of the add form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddForm {
    csrf: String,
    number: String,
    label: String,
}

/// The remove button's form: the number travels in the body, never in a URL.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RemoveForm {
    csrf: String,
    number: String,
}

#[derive(Template)]
#[template(path = "admin/trusted_callers.html")]
struct TrustedCallersPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    /// Whether numbers show in full, and callers may be added, removed and imported.
    pii: bool,
    pii_needed: &'static str,
    rows: Vec<CallerRow>,
    total: i64,
    page: i64,
    prev: Option<String>,
    next: Option<String>,
    form: AddForm,
    /// The add form's bad fields.
    errors: FormErrors,
    /// What the page says about a request it refused as a whole.
    error: String,
    notice: String,
    csv_text: String,
    skip_bad: bool,
    /// The import's bad lines, and whether they stopped it (else they were skipped).
    import_errors: Vec<String>,
    import_stopped: bool,
    /// The largest CSV accepted, and about how many rows it holds.
    upload_limit: String,
}

impl TrustedCallersPage {
    fn new(session: &AdminSession) -> Self {
        Self {
            signed_in: true,
            section: "trusted-callers",
            csrf: session.csrf.clone(),
            pii: session.pii,
            pii_needed: PII_NEEDED,
            rows: Vec::new(),
            total: 0,
            page: 1,
            prev: None,
            next: None,
            form: AddForm::default(),
            errors: FormErrors::default(),
            error: String::new(),
            notice: String::new(),
            csv_text: String::new(),
            skip_bad: false,
            import_errors: Vec::new(),
            import_stopped: false,
            upload_limit: super::upload::limit_in_words(super::upload::CALLER_ROW_BYTES),
        }
    }

    /// Fills the table with page `page` (from 1).
    async fn load(
        mut self,
        state: &AppState,
        session: &AdminSession,
        page: i64,
    ) -> actix_web::Result<Self> {
        // Past the last page is an empty page; the bound keeps the next page's number and
        // the offset far from overflow (and SQLite's LIMIT plus OFFSET with them).
        let page = page.clamp(1, 10_000_000);
        let offset = (page - 1) * PAGE_SIZE;
        let mut rows = trusted_callers::list(&state.db, PAGE_SIZE + 1, offset)
            .await
            .map_err(unavailable)?;
        self.total = trusted_callers::count(&state.db)
            .await
            .map_err(unavailable)?;
        let more = rows.len() as i64 > PAGE_SIZE;
        rows.truncate(PAGE_SIZE as usize);
        self.rows = rows
            .into_iter()
            .map(|c| CallerRow::of(c, session, &state.settings.admin_ui.time_zone))
            .collect();
        self.page = page;
        self.prev = (page > 1).then(|| format!("/admin/trusted-callers?page={}", page - 1));
        self.next = more.then(|| format!("/admin/trusted-callers?page={}", page + 1));
        Ok(self)
    }

    /// The page answering a request that only a session with access to personal data may
    /// make: 403, with why in plain words.
    async fn pii_needed(
        state: &AppState,
        session: &AdminSession,
    ) -> actix_web::Result<HttpResponse> {
        let mut page = Self::new(session).load(state, session, 1).await?;
        page.error = PII_NEEDED.to_owned();
        html(StatusCode::FORBIDDEN, &page)
    }
}

/// What the page was reached with: its page number, and what the redirect after a change
/// tells.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    page: i64,
    /// `new` or `updated`, after the add form.
    saved: String,
    removed: bool,
    /// After an import without bad lines: numbers registered now, and numbers whose label
    /// was replaced.
    new: Option<usize>,
    updated: Option<usize>,
}

/// `GET /admin/trusted-callers?page=`.
async fn page(
    session: AdminSession,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> actix_web::Result<HttpResponse> {
    let mut page = TrustedCallersPage::new(&session)
        .load(&state, &session, query.page)
        .await?;
    page.notice = match (
        query.saved.as_str(),
        query.removed,
        query.new,
        query.updated,
    ) {
        ("new", ..) => "Trusted caller added.".to_owned(),
        ("updated", ..) => {
            "That number was a trusted caller already; its label is updated.".to_owned()
        }
        (_, true, ..) => "Trusted caller removed.".to_owned(),
        (_, _, Some(new), Some(updated)) => imported(new, updated),
        _ => String::new(),
    };
    html(StatusCode::OK, &page)
}

fn imported(new: usize, updated: usize) -> String {
    format!(
        "Imported {} trusted callers: {new} new, {updated} with their label updated.",
        new + updated
    )
}

/// `POST /admin/trusted-callers`: registers a number, or updates its label; then back to the
/// list. A bad field shows the form again (400) with the API's message beside it.
async fn add(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<AddForm>,
) -> actix_web::Result<HttpResponse> {
    let form = form.into_inner();
    let fresh = session.form_is_fresh(&form.csrf);
    if fresh && !session.pii {
        return TrustedCallersPage::pii_needed(&state, &session).await;
    }
    let label = Some(form.label.as_str());
    let (status, errors) = if !fresh {
        (StatusCode::FORBIDDEN, FormErrors::expired("number"))
    } else {
        match NewTrustedCaller::parse_every_field(&form.number, label, state.settings.orders.region)
        {
            Ok(new) => {
                let (_, added) = trusted_callers::add(&state.db, &new, now_ms())
                    .await
                    .map_err(unavailable)?;
                tracing::info!(
                    caller.number = %new.number.masked(),
                    admin.token = %session.token_name,
                    new = added == Added::New,
                    "trusted caller registered in the admin UI"
                );
                let saved = match added {
                    Added::New => "new",
                    Added::Updated => "updated",
                };
                return Ok(see_other(&format!("/admin/trusted-callers?saved={saved}")));
            }
            Err(bad) => {
                let mut errors = FormErrors::default();
                for e in bad {
                    match e.field {
                        TrustedCallerField::Number => {
                            errors.add("number", "Phone number", &e.message)
                        }
                        TrustedCallerField::Label => errors.add("label", "Label", &e.message),
                    }
                }
                (StatusCode::BAD_REQUEST, errors)
            }
        }
    };
    let mut page = TrustedCallersPage::new(&session)
        .load(&state, &session, 1)
        .await?;
    page.errors = errors;
    page.form = form;
    page.form.csrf = String::new();
    html(status, &page)
}

/// `POST /admin/trusted-callers/remove`: the number is no longer trusted; then back to the
/// list. 404 with the page when it was not registered.
async fn remove(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<RemoveForm>,
) -> actix_web::Result<HttpResponse> {
    session.check_csrf(&form.csrf)?;
    if !session.pii {
        return TrustedCallersPage::pii_needed(&state, &session).await;
    }
    let removed = match PhoneNumber::parse(&form.number, state.settings.orders.region) {
        Ok(number) => {
            let removed = trusted_callers::remove(&state.db, &number)
                .await
                .map_err(unavailable)?;
            if removed {
                tracing::info!(
                    caller.number = %number.masked(),
                    admin.token = %session.token_name,
                    "trusted caller removed in the admin UI"
                );
            }
            removed
        }
        Err(_) => false,
    };
    if removed {
        return Ok(see_other("/admin/trusted-callers?removed=true"));
    }
    let mut page = TrustedCallersPage::new(&session)
        .load(&state, &session, 1)
        .await?;
    page.error = "That number is not a trusted caller: it may have been removed already.".into();
    html(StatusCode::NOT_FOUND, &page)
}

/// `POST /admin/trusted-callers/import`: an uploaded CSV file (or pasted CSV text), with the
/// rules of `pinbridge trusted-callers import`: one bad line imports nothing, unless "skip
/// the bad lines" is ticked.
async fn import(
    session: AdminSession,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let form = super::upload::read_csv_form(&req, payload).await?;
    session.check_csrf(&form.csrf)?;
    if !session.pii {
        return TrustedCallersPage::pii_needed(&state, &session).await;
    }
    let outcome = import_csv(
        &state.db,
        form.csv_text.as_bytes(),
        state.settings.orders.region,
        form.skip_bad,
    )
    .await;
    let (status, notice, errors, stopped) = match outcome {
        Ok(ImportOutcome { added, refused }) if refused.is_empty() => {
            tracing::info!(
                new = added.new,
                updated = added.updated,
                admin.token = %session.token_name,
                "trusted callers imported in the admin UI"
            );
            return Ok(see_other(&format!(
                "/admin/trusted-callers?new={}&updated={}",
                added.new, added.updated
            )));
        }
        Ok(ImportOutcome { added, refused }) => {
            let errors = refused.iter().map(ToString::to_string).collect();
            if form.skip_bad {
                tracing::info!(
                    new = added.new,
                    updated = added.updated,
                    skipped = refused.len(),
                    admin.token = %session.token_name,
                    "trusted callers imported in the admin UI"
                );
                let notice = imported(added.new, added.updated);
                (StatusCode::OK, notice, errors, false)
            } else {
                (StatusCode::BAD_REQUEST, String::new(), errors, true)
            }
        }
        Err(e) if e.downcast_ref::<crate::storage::Error>().is_some() => {
            return Err(unavailable(e));
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            String::new(),
            vec![format!("{e:#}")],
            true,
        ),
    };
    let mut page = TrustedCallersPage::new(&session)
        .load(&state, &session, 1)
        .await?;
    page.notice = notice;
    page.import_errors = errors;
    page.import_stopped = stopped;
    if stopped {
        page.csv_text = form.csv_text;
        page.skip_bad = form.skip_bad;
    }
    html(status, &page)
}
