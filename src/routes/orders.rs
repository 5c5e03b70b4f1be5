//! `/api/v1/orders`: create, read and deactivate orders of the PIN flow.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AdminAuth;
use crate::clock::{now_ms, rfc3339};
use crate::domain::{NewOrder, OrderFieldError};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::storage::orders::{self, CreateError, Order};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/orders", web::post().to(create))
        .route("/orders/{order_id}", web::get().to(get))
        .route("/orders/{order_id}", web::delete().to(deactivate));
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
}

/// An order as the API shows it: numbers in E.164, times in RFC 3339.
#[derive(Debug, Serialize)]
pub struct OrderView {
    pub order_id: String,
    pub customer_number: String,
    pub pin: String,
    pub virtual_number: Option<String>,
    /// `active`, `expired` or `deactivated`.
    pub status: &'static str,
    pub created_at: String,
    pub expires_at: String,
    pub deactivated_at: Option<String>,
}

impl OrderView {
    fn of(order: Order, now: i64) -> Self {
        Self {
            status: order.status(now).as_str(),
            created_at: rfc3339(order.created_at),
            expires_at: rfc3339(order.expires_at),
            deactivated_at: order.deactivated_at.map(rfc3339),
            order_id: order.order_id,
            customer_number: order.customer_number,
            pin: order.pin,
            virtual_number: order.virtual_number,
        }
    }
}

fn field_error(e: OrderFieldError) -> ApiError {
    let code = match e.field.name() {
        "order_id" => "invalid_order_id",
        "customer_number" => "invalid_customer_number",
        "pin" => "invalid_pin",
        "virtual_number" => "invalid_virtual_number",
        _ => "invalid_expires_at",
    };
    ApiError::bad_request(code, e.to_string())
}

/// `POST /api/v1/orders`: 201 with the stored order; 400 for an invalid field; 409
/// `order_exists` or `pin_in_use`.
async fn create(
    _: AdminAuth,
    state: web::Data<AppState>,
    body: web::Json<CreateOrder>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let body = body.into_inner();
    let new = NewOrder::parse(
        &body.order_id,
        &body.customer_number,
        body.pin.as_deref(),
        body.virtual_number.as_deref(),
        body.expires_at.as_deref(),
        &state.rules,
        now,
    )
    .map_err(field_error)?;
    let order = orders::create(&state.db, &new, now)
        .await
        .map_err(|e| match e {
            CreateError::OrderExists => {
                ApiError::conflict("order_exists", "an order with this order_id exists already")
            }
            CreateError::PinInUse => ApiError::conflict(
                "pin_in_use",
                "this PIN is already active on this virtual number (or, for an order without one, on some virtual number)",
            ),
            CreateError::Database(e) => e.into(),
        })?;
    tracing::info!(order.id = %order.order_id, "order created");
    Ok(HttpResponse::Created().json(OrderView::of(order, now)))
}

/// `GET /api/v1/orders/{order_id}`: 200 with the order, 404 when there is none.
async fn get(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = orders::get(&state.db, &path)
        .await?
        .ok_or_else(|| ApiError::not_found("no order with this order_id"))?;
    Ok(HttpResponse::Ok().json(OrderView::of(order, now_ms())))
}

/// `DELETE /api/v1/orders/{order_id}`: deactivates the order (its PIN stops working at once)
/// and answers 200 with it; 404 when there is none.
async fn deactivate(
    _: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let order = orders::deactivate(&state.db, &path, now)
        .await?
        .ok_or_else(|| ApiError::not_found("no order with this order_id"))?;
    tracing::info!(order.id = %order.order_id, "order deactivated");
    Ok(HttpResponse::Ok().json(OrderView::of(order, now)))
}
