//! Admin UI: orders. The newest first, a page at a time, with their total; search by the
//! start of an order id, and, for a session with access to personal data, by the last digits
//! of the customer's number, a PIN or a whole number; create one through a form with the JSON
//! API's validation (every bad field shown at once); deactivate one after a confirmation;
//! import a CSV (uploaded or pasted) all or nothing, or skipping the bad rows.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AdminSession;
use super::confirm::ConfirmPage;
use super::form::FormErrors;
use crate::domain::clock::now_ms;
use crate::domain::{NewOrder, OrderField, PhoneNumber, Pin, log_safe};
use crate::import::admission::{self, CreateError, Density};
use crate::import::thousands;
use crate::state::AppState;
use crate::storage::orders::{self, Order, OrderFilter, OrderSearch};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/orders", web::get().to(page))
        .route("/orders", web::post().to(create))
        .route("/orders/import", web::post().to(import))
        .route(
            "/orders/{order_id}/deactivate",
            web::get().to(confirm_deactivate),
        )
        .route("/orders/{order_id}/deactivate", web::post().to(deactivate));
}

/// Orders per page.
const PAGE_SIZE: i64 = 50;

/// Renders `page` with `status`, as HTML.
pub(super) fn html(status: StatusCode, page: &impl Template) -> actix_web::Result<HttpResponse> {
    let body = page
        .render()
        .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// A 303 to `to`.
pub(super) fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, to))
        .finish()
}

/// `value` for a query string.
pub(super) fn query_value(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)])
        .map(|s| s.trim_start_matches("v=").to_owned())
        .unwrap_or_default()
}

/// `value` as one segment of a path: every byte but the unreserved ones (RFC 3986) as `%XX`.
pub(super) fn path_segment(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> actix_web::Error {
    tracing::error!(error = %e, "admin UI: storage failed");
    actix_web::error::ErrorServiceUnavailable("The database did not answer. Try again.")
}

/// A form that only carries its CSRF token; a missing token is refused (403) like a wrong one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    pub csrf: String,
}

/// One order as the table shows it.
struct OrderRow {
    order_id: String,
    customer_number: String,
    pin: String,
    virtual_number: String,
    status: &'static str,
    expires_at: String,
    active: bool,
    /// Its own call options, in a few words.
    call_options: String,
}

impl OrderRow {
    /// `o` as the page shows it to `session`, its expiry in the UI's time zone `tz`.
    fn of(o: Order, now: i64, session: &AdminSession, tz: &jiff::tz::TimeZone) -> Self {
        let status = o.status(now).as_str();
        Self {
            active: status == "active",
            status,
            expires_at: super::local_time::show(tz, o.expires_at),
            customer_number: session.show(o.customer_number.into()),
            virtual_number: o.virtual_number.map_or_else(|| "any".into(), String::from),
            order_id: o.order_id,
            pin: session.show_pin(o.pin),
            call_options: String::new(),
        }
    }
}

/// The values of the create form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderForm {
    csrf: String,
    order_id: String,
    customer_number: String,
    pin: String,
    virtual_number: String,
    expires_at: String,
}

/// The create form's fields: their `id` (the API's name) and label.
const FIELDS: [(OrderField, &str, &str); 5] = [
    (OrderField::OrderId, "order_id", "Order id"),
    (
        OrderField::CustomerNumber,
        "customer_number",
        "Customer number",
    ),
    (OrderField::Pin, "pin", "PIN"),
    (
        OrderField::VirtualNumber,
        "virtual_number",
        "Virtual number",
    ),
    (OrderField::ExpiresAt, "expires_at", "Expires at"),
];

/// The `id` and label of `field` in the create form.
fn field(field: OrderField) -> (&'static str, &'static str) {
    FIELDS
        .iter()
        .find(|(f, ..)| *f == field)
        .map_or(("order_id", "Order id"), |(_, id, label)| (*id, *label))
}

#[derive(Template)]
#[template(path = "admin/orders.html")]
struct OrdersPage {
    signed_in: bool,
    section: &'static str,
    csrf: String,
    q: String,
    searched: bool,
    /// Whether the search may go by PIN and phone number.
    pii: bool,
    /// Why a search that looks like a PIN or a number went by order id only.
    search_note: &'static str,
    rows: Vec<OrderRow>,
    /// "200,000 orders": every order stored.
    total: String,
    /// "1,234 orders match": those the search finds, when searching.
    matching: String,
    /// The first page, when this is a later one; the next page, when there is one.
    first_page: Option<String>,
    next_page: Option<String>,
    form: OrderForm,
    errors: FormErrors,
    notice: String,
    csv_text: String,
    skip_bad: bool,
    /// The import's summary (as `pinbridge orders import` prints it), and whether it stopped
    /// the import (else the bad rows were skipped).
    import_errors: Vec<String>,
    import_stopped: bool,
    /// The import form had expired: nothing was imported, the pasted CSV is kept.
    import_expired: bool,
    /// The largest CSV accepted, and about how many orders it holds.
    upload_limit: String,
}

impl OrdersPage {
    fn new(session: &AdminSession) -> Self {
        Self {
            signed_in: true,
            section: "orders",
            csrf: session.csrf.clone(),
            q: String::new(),
            searched: false,
            pii: session.pii,
            search_note: "",
            rows: Vec::new(),
            total: String::new(),
            matching: String::new(),
            first_page: None,
            next_page: None,
            form: OrderForm::default(),
            errors: FormErrors::default(),
            notice: String::new(),
            csv_text: String::new(),
            skip_bad: false,
            import_errors: Vec::new(),
            import_stopped: false,
            import_expired: false,
            upload_limit: super::upload::limit_in_words(super::upload::ORDER_ROW_BYTES),
        }
    }

    /// Fills the table: the page after the cursor `before` of the search `q`, or of every
    /// order, newest first. Without access to personal data, `q` is looked up as the start of
    /// an order id only, and when it could be a PIN or a phone number the page says why it
    /// was not searched as one.
    async fn load(
        mut self,
        state: &AppState,
        session: &AdminSession,
        q: &str,
        before: Option<(i64, String)>,
    ) -> actix_web::Result<Self> {
        let q = q.trim();
        let search = (!q.is_empty()).then(|| {
            let (search, refused) = search_of(state, session, q);
            if refused {
                self.search_note = super::session::PII_SEARCH_REFUSED;
            }
            search
        });
        let now = now_ms();
        let mut filter = OrderFilter {
            search,
            before,
            limit: PAGE_SIZE + 1,
            now,
            ..OrderFilter::default()
        };
        let mut found = orders::list(&state.db, &filter)
            .await
            .map_err(unavailable)?;
        let later = filter.before.take().is_some();
        let total = orders::count(&state.db, &OrderFilter::default())
            .await
            .map_err(unavailable)?;
        self.total = count_of(total, "order", "orders");
        if filter.search.is_some() {
            let matching = orders::count(&state.db, &filter)
                .await
                .map_err(unavailable)?;
            self.matching = count_of(matching, "order matches", "orders match");
        }
        let search_param = if q.is_empty() {
            String::new()
        } else {
            format!("q={}&", query_value(q))
        };
        if found.len() as i64 > PAGE_SIZE {
            found.truncate(PAGE_SIZE as usize);
            if let Some(last) = found.last() {
                self.next_page = Some(format!(
                    "/admin/orders?{search_param}before={}",
                    query_value(&format!("{}.{}", last.created_at, last.order_id))
                ));
            }
        }
        if later {
            self.first_page = Some(format!(
                "/admin/orders{}",
                if q.is_empty() {
                    String::new()
                } else {
                    format!("?q={}", query_value(q))
                }
            ));
        }
        let ids: Vec<&str> = found.iter().map(|o| o.order_id.as_str()).collect();
        let mut options = crate::storage::call_options::many(
            &state.db,
            crate::storage::call_options::Owner::Order,
            &ids,
        )
        .await
        .map_err(unavailable)?;
        self.rows = found
            .into_iter()
            .map(|o| {
                let own = options
                    .remove(&(o.order_id.clone(), o.created_at))
                    .unwrap_or_default();
                let mut row = OrderRow::of(o, now, session, &state.settings.admin_ui.time_zone);
                row.call_options = super::call_options::summary(&own);
                row
            })
            .collect();
        self.q = q.to_owned();
        self.searched = !q.is_empty();
        Ok(self)
    }
}

/// `n` and the noun: "1 order", "200,000 orders".
fn count_of(n: i64, one: &str, many: &str) -> String {
    let noun = if n == 1 { one } else { many };
    format!("{} {noun}", thousands(u64::try_from(n).unwrap_or(0)))
}

/// What the search box's `q` looks for: the start of an order id always; with access to
/// personal data also the last digits of the customer's number, a PIN and a whole number
/// when `q` is written as one. The flag: `q` could be a PIN or a number, and this session
/// may not search by them.
fn search_of(state: &AppState, session: &AdminSession, q: &str) -> (OrderSearch, bool) {
    let settings = &state.settings.orders;
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let number_like = !digits.is_empty()
        && q.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let pin = Pin::parse(q, settings.pin_min, settings.pin_max).ok();
    let number = PhoneNumber::parse(q, settings.region).ok();
    let mut search = OrderSearch {
        order_id_prefix: Some(q.to_owned()),
        ..OrderSearch::default()
    };
    if !session.pii {
        return (search, pin.is_some() || number.is_some() || number_like);
    }
    if number_like {
        search.customer_suffix = Some(digits);
    }
    search.pin = pin.map(|p| p.as_ref().to_owned());
    search.number = number.map(|n| n.to_string());
    (search, false)
}

/// The cursor of a page: `<created_at>.<order_id>` of the last order of the page before.
fn cursor(raw: &str) -> Option<(i64, String)> {
    let (at, id) = raw.split_once('.')?;
    Some((at.parse().ok()?, id.to_owned()))
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    /// The cursor of the page ([`cursor`]).
    #[serde(default)]
    before: String,
    /// What was just done (post/redirect/get): `created`, `deactivated` (of the order `q`).
    #[serde(default)]
    done: String,
    #[serde(default)]
    imported: Option<usize>,
}

/// `GET /admin/orders?q=&before=`.
async fn page(
    session: AdminSession,
    state: web::Data<AppState>,
    query: web::Query<SearchQuery>,
) -> actix_web::Result<HttpResponse> {
    let mut page = OrdersPage::new(&session)
        .load(&state, &session, &query.q, cursor(&query.before))
        .await?;
    let id = query.q.trim();
    page.notice = match (query.done.as_str(), query.imported) {
        ("created", _) => format!("Order {id} created."),
        ("deactivated", _) => format!("Order {id} deactivated: its PIN no longer works."),
        (_, Some(n)) => format!(
            "Imported {} {}.",
            thousands(n as u64),
            if n == 1 { "order" } else { "orders" }
        ),
        _ => String::new(),
    };
    html(StatusCode::OK, &page)
}

fn option(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty()).then_some(value)
}

/// The create form again with `errors`, what was typed kept, and the session's token.
async fn form_again(
    state: &AppState,
    session: &AdminSession,
    status: StatusCode,
    form: OrderForm,
    errors: FormErrors,
) -> actix_web::Result<HttpResponse> {
    let mut page = OrdersPage::new(session)
        .load(state, session, "", None)
        .await?;
    page.errors = errors;
    page.form = form;
    page.form.csrf = String::new();
    html(status, &page)
}

/// `POST /admin/orders`: creates an order; on success, to the order's search with a notice;
/// else the form again (400, 403 for a PIN this session may not choose or an expired form,
/// 409 for a conflict) with every bad field's message beside it.
async fn create(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<OrderForm>,
) -> actix_web::Result<HttpResponse> {
    let form = form.into_inner();
    if !session.form_is_fresh(&form.csrf) {
        let errors = FormErrors::expired("order_id");
        return form_again(&state, &session, StatusCode::FORBIDDEN, form, errors).await;
    }
    let now = now_ms();
    let parsed = NewOrder::parse_every_field(
        &form.order_id,
        &form.customer_number,
        option(&form.pin),
        option(&form.virtual_number),
        option(&form.expires_at),
        &state.settings.orders,
        now,
    );
    let mut errors = FormErrors::default();
    let status = match parsed {
        Err(bad) => {
            for e in bad {
                let (id, label) = field(e.field);
                errors.add(id, label, &e.message);
            }
            // "PIN already in use" would tell which PINs are active: a PIN oracle.
            if !session.pii && option(&form.pin).is_some() {
                errors.add("pin", "PIN", PIN_NOT_ALLOWED);
            }
            StatusCode::BAD_REQUEST
        }
        Ok(_) if !session.pii && option(&form.pin).is_some() => {
            errors.add("pin", "PIN", PIN_NOT_ALLOWED);
            StatusCode::FORBIDDEN
        }
        Ok(new) => {
            let density = Density(state.settings.guessing.pin_max_density);
            match admission::create(&state.db, &new, density, now).await {
                Ok(order) => {
                    // A guess on its number weighs its PIN from now on.
                    tracing::info!(order.id = %log_safe(&order.order_id), admin.token = %session.token_name, "order created in the admin UI");
                    return Ok(see_other(&format!(
                        "/admin/orders?q={}&done=created",
                        query_value(&order.order_id)
                    )));
                }
                Err(CreateError::OrderExists) => {
                    errors.add(
                        "order_id",
                        "Order id",
                        "an active order has this order id: an order id can be used again once its order is closed",
                    );
                    StatusCode::CONFLICT
                }
                Err(CreateError::PinInUse) => {
                    errors.add(
                        "pin",
                        "PIN",
                        "this PIN is already in use on this virtual number (or on every number): choose another, or leave it empty to have one generated",
                    );
                    StatusCode::CONFLICT
                }
                Err(CreateError::PinSpaceCrowded) => {
                    errors.add(
                        "pin",
                        "PIN",
                        "too many active PINs of this length on this virtual number: use a longer PIN or another virtual number",
                    );
                    StatusCode::CONFLICT
                }
                Err(CreateError::Database(e)) => return Err(unavailable(e)),
            }
        }
    };
    form_again(&state, &session, status, form, errors).await
}

/// Why a session without access to personal data may not choose a PIN.
const PIN_NOT_ALLOWED: &str = "this sign-in may not choose a PIN (an answer that a PIN is in use would give it away): leave it empty to have one generated, or sign in with an admin token marked :pii";

/// `GET /admin/orders/{order_id}/deactivate`: asks before deactivating (the pages run no
/// script, so the question is a page of its own). 404 when there is no such order.
async fn confirm_deactivate(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    let order_id = path.into_inner();
    let order = orders::get(&state.db, &order_id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| actix_web::error::ErrorNotFound("No order with this order id."))?;
    let back = format!("/admin/orders?q={}", query_value(&order.order_id));
    let page = ConfirmPage {
        signed_in: true,
        section: "orders",
        csrf: session.csrf.clone(),
        title: format!("Deactivate order {}?", order.order_id),
        consequence: "Its PIN stops working at once: a courier who keys it in is no longer connected to the customer. This can not be undone.".into(),
        action: format!("/admin/orders/{}/deactivate", path_segment(&order.order_id)),
        button: "Deactivate the order".into(),
        back,
    };
    html(StatusCode::OK, &page)
}

/// `POST /admin/orders/{order_id}/deactivate`: then back to the order with a notice.
async fn deactivate(
    session: AdminSession,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> actix_web::Result<HttpResponse> {
    session.check_csrf(&form.csrf)?;
    let order_id = path.into_inner();
    let found = orders::deactivate(&state.db, &order_id, now_ms())
        .await
        .map_err(unavailable)?;
    if found.is_none() {
        return Err(actix_web::error::ErrorNotFound(
            "No order with this order id.",
        ));
    }
    state.sessions.forget_order(&order_id);
    tracing::info!(order.id = %log_safe(&order_id), admin.token = %session.token_name, "order deactivated in the admin UI");
    Ok(see_other(&format!(
        "/admin/orders?q={}&done=deactivated",
        query_value(&order_id)
    )))
}

/// `POST /admin/orders/import`: an uploaded CSV file (or pasted CSV text), as `pinbridge
/// orders import` imports it: one bad row imports nothing, unless "skip the bad rows" is
/// ticked; the bad rows are reported in the words of the command ([`crate::import::summarise`]),
/// at the top of the page.
async fn import(
    session: AdminSession,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let form = super::upload::read_csv_form(&req, payload).await?;
    let again = |mut page: OrdersPage, errors: Vec<String>| {
        page.import_errors = errors;
        page.import_stopped = true;
        page.csv_text = form.csv_text.clone();
        page.skip_bad = form.skip_bad;
        page
    };
    if !session.form_is_fresh(&form.csrf) {
        let page = OrdersPage::new(&session)
            .load(&state, &session, "", None)
            .await?;
        let mut page = again(page, Vec::new());
        page.import_expired = true;
        return html(StatusCode::FORBIDDEN, &page);
    }
    if !session.pii {
        // An import reports PINs already in use, row by row: a PIN oracle.
        let page = OrdersPage::new(&session)
            .load(&state, &session, "", None)
            .await?;
        let page = again(page, vec![
            "This sign-in may not import orders: the report of PINs already in use would give them away. Sign in with an admin token marked :pii.".to_owned(),
        ]);
        return html(StatusCode::FORBIDDEN, &page);
    }
    let density = Density(state.settings.guessing.pin_max_density);
    let outcome = crate::import::import(
        &state.db,
        form.csv_text.as_bytes(),
        &state.settings.orders,
        density,
        form.skip_bad,
        &|_, _| {},
    )
    .await;
    let (status, notice, errors, stopped) = match outcome {
        Ok(o) if o.refused.is_empty() => {
            tracing::info!(imported = o.imported, admin.token = %session.token_name, "orders imported in the admin UI");
            return Ok(see_other(&format!("/admin/orders?imported={}", o.imported)));
        }
        Ok(o) if form.skip_bad => {
            tracing::info!(imported = o.imported, skipped = o.refused.len(), admin.token = %session.token_name, "orders imported in the admin UI");
            let notice = format!(
                "Imported {} {}; {} skipped.",
                thousands(o.imported as u64),
                if o.imported == 1 { "order" } else { "orders" },
                count_of(o.refused.len() as i64, "bad row was", "bad rows were")
            );
            (
                StatusCode::OK,
                notice,
                crate::import::summarise(&o.refused),
                false,
            )
        }
        Ok(o) => (
            StatusCode::BAD_REQUEST,
            String::new(),
            crate::import::summarise(&o.refused),
            true,
        ),
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
    let page = OrdersPage::new(&session)
        .load(&state, &session, "", None)
        .await?;
    let mut page = if stopped {
        again(page, errors)
    } else {
        let mut page = page;
        page.import_errors = errors;
        page
    };
    page.notice = notice;
    html(status, &page)
}
