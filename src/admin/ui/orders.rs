//! Admin UI: orders. Search by order id, PIN or number (by order id only for a session
//! without access to personal data); create one through a form with the JSON API's
//! validation; deactivate; import a CSV (uploaded or pasted) all-or-nothing.

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::AdminSession;
use crate::domain::clock::{now_ms, rfc3339};
use crate::domain::{NewOrder, PhoneNumber, Pin, log_safe};
use crate::import::admission::{self, CreateError, Density};
use crate::state::AppState;
use crate::storage::orders::{self, Order};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/orders", web::get().to(page))
        .route("/orders", web::post().to(create))
        .route("/orders/import", web::post().to(import))
        .route("/orders/{order_id}/deactivate", web::post().to(deactivate));
}

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
}

impl OrderRow {
    fn of(o: Order, now: i64, session: &AdminSession) -> Self {
        let status = o.status(now).as_str();
        Self {
            active: status == "active",
            status,
            expires_at: rfc3339(o.expires_at),
            customer_number: session.show(o.customer_number.into()),
            virtual_number: o.virtual_number.map_or_else(|| "any".into(), String::from),
            order_id: o.order_id,
            pin: session.show_pin(o.pin),
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
    form: OrderForm,
    /// The field the create form's error is about, and the message.
    error_field: &'static str,
    error: String,
    notice: String,
    csv_text: String,
    import_errors: Vec<String>,
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
            form: OrderForm::default(),
            error_field: "",
            error: String::new(),
            notice: String::new(),
            csv_text: String::new(),
            import_errors: Vec::new(),
        }
    }

    /// Fills the table: the search `q`, or the newest orders. Without access to personal
    /// data, `q` is looked up as an order id only, and when it could be a PIN or a phone
    /// number the page says why it was not searched as one.
    async fn load(
        mut self,
        state: &AppState,
        session: &AdminSession,
        q: &str,
    ) -> actix_web::Result<Self> {
        let q = q.trim();
        let found = if q.is_empty() || session.pii {
            let number = if q.is_empty() {
                String::new()
            } else {
                PhoneNumber::parse(q, state.settings.orders.region)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| q.to_owned())
            };
            orders::search(&state.db, q, &number, 100).await
        } else {
            let settings = &state.settings;
            let pin_like = Pin::parse(q, settings.orders.pin_min, settings.orders.pin_max).is_ok();
            if pin_like || PhoneNumber::parse(q, state.settings.orders.region).is_ok() {
                self.search_note = super::session::PII_SEARCH_REFUSED;
            }
            orders::get(&state.db, q).await.map(Vec::from_iter)
        }
        .map_err(unavailable)?;
        let now = now_ms();
        self.rows = found
            .into_iter()
            .map(|o| OrderRow::of(o, now, session))
            .collect();
        self.q = q.to_owned();
        self.searched = !q.is_empty();
        Ok(self)
    }
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    imported: Option<usize>,
}

/// `GET /admin/orders?q=`.
async fn page(
    session: AdminSession,
    state: web::Data<AppState>,
    query: web::Query<SearchQuery>,
) -> actix_web::Result<HttpResponse> {
    let mut page = OrdersPage::new(&session)
        .load(&state, &session, &query.q)
        .await?;
    if let Some(n) = query.imported {
        page.notice = format!("Imported {n} orders.");
    }
    html(StatusCode::OK, &page)
}

fn option(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty()).then_some(value)
}

/// `POST /admin/orders`: creates an order; on success, to the order's search; else the form
/// again (400, or 409 for a conflict) with the API's message beside the field.
async fn create(
    session: AdminSession,
    state: web::Data<AppState>,
    form: web::Form<OrderForm>,
) -> actix_web::Result<HttpResponse> {
    let form = form.into_inner();
    session.check_csrf(&form.csrf)?;
    let now = now_ms();
    let parsed = NewOrder::parse(
        &form.order_id,
        &form.customer_number,
        option(&form.pin),
        option(&form.virtual_number),
        option(&form.expires_at),
        &state.settings.orders,
        now,
    );
    let failure = match parsed {
        // "PIN already in use" would tell which PINs are active: a PIN oracle.
        Ok(_) if !session.pii && option(&form.pin).is_some() => Some((
            StatusCode::FORBIDDEN,
            "pin",
            "This sign-in may not choose a PIN (an answer that a PIN is in use would give it away). Leave the PIN empty to have one generated, or sign in with an admin token marked :pii.".to_owned(),
        )),
        Err(e) => Some((StatusCode::BAD_REQUEST, e.field.name(), e.to_string())),
        Ok(new) => {
            let density = Density(state.settings.guessing.pin_max_density);
            match admission::create(&state.db, &new, density, now).await {
                Ok(order) => {
                    // A guess on its number weighs its PIN from now on.
                    tracing::info!(order.id = %log_safe(&order.order_id), admin.token = %session.token_name, "order created in the admin UI");
                    return Ok(see_other(&format!(
                        "/admin/orders?q={}",
                        query_value(&order.order_id)
                    )));
                }
                Err(CreateError::OrderExists) => Some((
                    StatusCode::CONFLICT,
                    "order_id",
                    "an active order with this order_id exists already".to_owned(),
                )),
                Err(CreateError::PinInUse) => Some((
                    StatusCode::CONFLICT,
                    "pin",
                    "this PIN is already active on this virtual number (or, for an order without one, on some virtual number)".to_owned(),
                )),
                Err(CreateError::PinSpaceCrowded) => Some((
                    StatusCode::CONFLICT,
                    "pin",
                    "active PINs of this length on this virtual number already fill PINBRIDGE_PIN_MAX_DENSITY of the PIN space; use longer PINs or another virtual number".to_owned(),
                )),
                Err(CreateError::Database(e)) => return Err(unavailable(e)),
            }
        }
    };
    let (status, field, message) = failure.unwrap_or((StatusCode::BAD_REQUEST, "", String::new()));
    let mut page = OrdersPage::new(&session).load(&state, &session, "").await?;
    page.error_field = field;
    page.error = message;
    page.form = form;
    page.form.csrf = String::new();
    html(status, &page)
}

/// `POST /admin/orders/{order_id}/deactivate`.
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
        "/admin/orders?q={}",
        query_value(&order_id)
    )))
}

/// `POST /admin/orders/import`: an uploaded CSV file (or pasted CSV text), all or nothing, as
/// `pinbridge orders import`.
async fn import(
    session: AdminSession,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let form = super::upload::read_csv_form(&req, payload).await?;
    session.check_csrf(&form.csrf)?;
    if !session.pii {
        // An import reports PINs already in use, row by row: a PIN oracle.
        let mut page = OrdersPage::new(&session).load(&state, &session, "").await?;
        page.import_errors = vec![
            "This sign-in may not import orders: the report of PINs already in use would give them away. Sign in with an admin token marked :pii.".to_owned(),
        ];
        page.csv_text = form.csv_text;
        return html(StatusCode::FORBIDDEN, &page);
    }
    let density = Density(state.settings.guessing.pin_max_density);
    let outcome = crate::import::import(
        &state.db,
        form.csv_text.as_bytes(),
        &state.settings.orders,
        density,
        false,
        &|_, _| {},
    )
    .await;
    let errors = match outcome {
        Ok(o) if o.refused.is_empty() => {
            tracing::info!(imported = o.imported, admin.token = %session.token_name, "orders imported in the admin UI");
            return Ok(see_other(&format!("/admin/orders?imported={}", o.imported)));
        }
        Ok(o) => crate::import::summarise(&o.refused),
        Err(e) => vec![format!("{e:#}")],
    };
    let mut page = OrdersPage::new(&session).load(&state, &session, "").await?;
    page.import_errors = errors;
    page.csv_text = form.csv_text;
    html(StatusCode::BAD_REQUEST, &page)
}
