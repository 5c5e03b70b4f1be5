//! `/api/v1/orders`: create, read and deactivate orders of the PIN flow.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::page;
use crate::admin::AdminAuth;
use crate::domain::clock::{now_ms, rfc3339};
use crate::domain::{NewOrder, OrderChange, OrderFieldError, PhoneNumber, log_safe};
use crate::http::error::ApiError;
use crate::import::admission::{self, CreateError, Density};
use crate::state::AppState;
use crate::storage::orders::{self, Changed, Order};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/orders", "GET, POST")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        super::resource("/orders/{order_id}", "GET, PATCH, DELETE")
            .route(web::get().to(get))
            .route(web::patch().to(change))
            .route(web::delete().to(deactivate)),
    );
}

/// The body of `POST /api/v1/orders`. Unknown fields are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    pub order_id: String,
    pub customer_number: String,
    pub pin: Option<String>,
    pub virtual_number: Option<String>,
    /// RFC 3339.
    pub expires_at: Option<String>,
    /// Courier numbers allowed to use the PIN; absent or empty: any caller.
    #[serde(default)]
    pub allowed_callers: Vec<String>,
}

/// An order as the API shows it: numbers in E.164, times in RFC 3339.
#[derive(Debug, Serialize)]
pub struct OrderView {
    pub order_id: String,
    /// E.164; masked (`+91******5678`) for a token without `:pii`.
    pub customer_number: String,
    /// The PIN; `******` for a token without `:pii`, whatever its length.
    pub pin: String,
    pub virtual_number: Option<String>,
    /// `active`, `expired` or `deactivated`.
    pub status: &'static str,
    pub created_at: String,
    pub expires_at: String,
    pub deactivated_at: Option<String>,
    /// Couriers allowed to use the PIN; empty: any caller.
    pub allowed_callers: Vec<String>,
}

impl OrderView {
    /// The order as `who` may see it: numbers and the PIN masked unless the token may see
    /// personal data.
    fn of(order: Order, now: i64, who: &AdminAuth) -> Self {
        let shown = |n: PhoneNumber| who.show(n.into());
        Self {
            status: order.status(now).as_str(),
            allowed_callers: order.allowed_callers.into_iter().map(shown).collect(),
            created_at: rfc3339(order.created_at),
            expires_at: rfc3339(order.expires_at),
            deactivated_at: order.deactivated_at.map(rfc3339),
            order_id: order.order_id,
            customer_number: who.show(order.customer_number.into()),
            pin: who.show_pin(order.pin),
            virtual_number: order.virtual_number.map(String::from),
        }
    }
}

fn field_error(e: OrderFieldError) -> ApiError {
    let code = match e.field.name() {
        "order_id" => "invalid_order_id",
        "customer_number" => "invalid_customer_number",
        "pin" => "invalid_pin",
        "virtual_number" => "invalid_virtual_number",
        "allowed_callers" => "invalid_allowed_callers",
        _ => "invalid_expires_at",
    };
    ApiError::bad_request(code, e.to_string())
}

/// `POST /api/v1/orders`: 201 with the stored order; 400 for an invalid field; 409
/// `order_exists` (an active order has the id; the id of closed orders only may be given
/// again, their rows kept) or `pin_in_use`.
async fn create(
    who: AdminAuth,
    state: web::Data<AppState>,
    body: super::ApiJson<CreateOrder>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let body = body.into_inner();
    // `pin_in_use` would tell which PINs are active: a PIN oracle, with the public number.
    if body.pin.is_some() {
        who.may("choosing an order's PIN")?;
    }
    let new = NewOrder::parse(
        &body.order_id,
        &body.customer_number,
        body.pin.as_deref(),
        body.virtual_number.as_deref(),
        body.expires_at.as_deref(),
        &state.settings.orders,
        now,
    )
    .and_then(|o| o.with_allowed_callers(&body.allowed_callers, &state.settings.orders))
    .map_err(field_error)?;
    let density = Density(state.settings.guessing.pin_max_density);
    let order = admission::create(&state.db, &new, density, now)
        .await
        .map_err(|e| match e {
            CreateError::OrderExists => {
                ApiError::conflict(
                    "order_exists",
                    "an active order with this order_id exists already; an id is given again once its order is deactivated or expired",
                )
            }
            CreateError::PinInUse => ApiError::conflict(
                "pin_in_use",
                "this PIN is already active on this virtual number (or, for an order without one, on some virtual number)",
            ),
            CreateError::PinSpaceCrowded => ApiError::conflict(
                "pin_space_crowded",
                "active PINs of this length on this virtual number already fill PINBRIDGE_PIN_MAX_DENSITY of the PIN space; use longer PINs or another virtual number",
            ),
            CreateError::Database(e) => e.into(),
        })?;
    // A guess on its number weighs its PIN from now on.
    tracing::info!(order.id = %log_safe(&order.order_id), admin.token = %who.name, "order created");
    Ok(HttpResponse::Created().json(OrderView::of(order, now, &who)))
}

/// `GET /api/v1/orders/{order_id}`: 200 with the newest order of this id, 404 when there is
/// none.
async fn get(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = orders::get(&state.db, &path)
        .await?
        .ok_or_else(|| ApiError::not_found("no order with this order_id"))?;
    Ok(HttpResponse::Ok().json(OrderView::of(order, now_ms(), &who)))
}

/// The body of `PATCH /api/v1/orders/{order_id}`: any of the fields; those absent (or `null`)
/// stay as they are. Unknown fields (the PIN, the virtual number) are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeOrder {
    /// E.164 or any form a number is written in.
    pub customer_number: Option<String>,
    /// RFC 3339, in the future.
    pub expires_at: Option<String>,
    /// Courier numbers allowed to use the PIN; empty: any caller.
    pub allowed_callers: Option<Vec<String>>,
}

/// `PATCH /api/v1/orders/{order_id}`: changes the customer, the expiry or the allowed callers
/// of an active order, checked as when it was created; 200 with the order. 400 for an invalid
/// field or an empty change, 404 when there is none, 409 `order_not_active` when it is expired
/// or deactivated.
async fn change(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: super::ApiJson<ChangeOrder>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let body = body.into_inner();
    let change = OrderChange::parse(
        body.customer_number.as_deref(),
        body.expires_at.as_deref(),
        body.allowed_callers.as_deref(),
        &state.settings.orders,
        now,
    )
    .map_err(field_error)?;
    if change.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "give at least one of customer_number, expires_at, allowed_callers",
        ));
    }
    let order = match orders::change(&state.db, &path, &change, now).await? {
        Changed::Changed(order) => order,
        Changed::NotActive(order) => {
            return Err(ApiError::conflict(
                "order_not_active",
                format!(
                    "this order is {}: only an active order can be changed",
                    order.status(now).as_str()
                ),
            ));
        }
        Changed::Missing => return Err(ApiError::not_found("no order with this order_id")),
    };
    // The dial that follows a PIN must not reach the customer the order had.
    state.sessions.forget_order(&order.order_id);
    tracing::info!(order.id = %log_safe(&order.order_id), admin.token = %who.name, "order changed");
    Ok(HttpResponse::Ok().json(OrderView::of(order, now, &who)))
}

/// The query of `GET /api/v1/orders`. Unknown parameters are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListOrders {
    /// `active`, `expired` or `deactivated`; absent: all.
    pub status: Option<String>,
    /// Only orders on this virtual number (any form a number may be written in).
    pub virtual_number: Option<String>,
    /// Only orders for this customer; for tokens that may see personal data.
    pub customer_number: Option<String>,
    /// The `next` of the page before.
    pub cursor: Option<String>,
    /// Orders a page, 1 to 500; default 100.
    pub limit: Option<i64>,
}

/// A page of orders: `orders` newest first, and `next`, the `cursor` of the following page
/// (`null` on the last).
#[derive(Debug, Serialize)]
pub struct OrderPage {
    pub orders: Vec<OrderView>,
    pub next: Option<String>,
}

/// `GET /api/v1/orders`: a page of orders, newest first, filtered by status, virtual number
/// and (for `:pii` tokens) customer; 400 for a bad parameter or cursor, 403 `pii_required`
/// for a customer filter without `:pii`.
async fn list(
    who: AdminAuth,
    state: web::Data<AppState>,
    query: web::Query<ListOrders>,
) -> Result<HttpResponse, ApiError> {
    use crate::domain::OrderStatus;
    let q = query.into_inner();
    let now = now_ms();
    let status = page::one_of(
        "status",
        "invalid_status",
        q.status.as_deref(),
        &[
            ("active", OrderStatus::Active),
            ("expired", OrderStatus::Expired),
            ("deactivated", OrderStatus::Deactivated),
        ],
    )?;
    let region = state.settings.orders.region;
    let customer_number = page::number("customer_number", q.customer_number.as_deref(), region)?;
    if customer_number.is_some() && !who.pii {
        return Err(ApiError::pii_required("filter orders by customer_number"));
    }
    let paging = page::Paging::parse(q.limit, q.cursor)?;
    let filter = orders::OrderFilter {
        status,
        virtual_number: page::number("virtual_number", q.virtual_number.as_deref(), region)?,
        customer_number,
        search: None,
        before: paging.before.clone(),
        limit: paging.fetch(),
        now,
    };
    let mut found = orders::list(&state.db, &filter).await?;
    let next = paging.cut(&mut found, |o| (o.created_at, &o.order_id));
    let orders = found
        .into_iter()
        .map(|o| OrderView::of(o, now, &who))
        .collect();
    Ok(HttpResponse::Ok().json(OrderPage { orders, next }))
}

/// `DELETE /api/v1/orders/{order_id}`: deactivates the order (its PIN stops working at once)
/// and answers 200 with it; 404 when there is none.
async fn deactivate(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let order = orders::deactivate(&state.db, &path, now)
        .await?
        .ok_or_else(|| ApiError::not_found("no order with this order_id"))?;
    state.sessions.forget_order(&order.order_id);
    tracing::info!(order.id = %log_safe(&order.order_id), admin.token = %who.name, "order deactivated");
    Ok(HttpResponse::Ok().json(OrderView::of(order, now, &who)))
}
