//! `/api/v1/orders`: create, read and deactivate orders of the PIN flow.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::page;
use crate::admin::AdminAuth;
use crate::domain::clock::{now_ms, rfc3339};
use crate::domain::{
    CallOptions, CallOptionsChange, NewOrder, OrderChange, OrderFieldError, PhoneNumber, log_safe,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::import::admission::{self, CreateError, Density};
use crate::state::AppState;
use crate::storage::call_options::{self, Owner};
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
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// Your id of the order: unique, 1 to 64 characters without control characters.
    #[schema(example = "OD-1001")]
    pub order_id: String,
    /// The customer the courier is bridged to, in any form a phone number is written
    /// (`09812345678`, `+91 98123 45678`); stored in E.164. Of an allowed country
    /// (`PINBRIDGE_ALLOWED_COUNTRY_CODES`).
    #[schema(example = "+919812345678")]
    pub customer_number: String,
    /// The PIN the courier keys in, digits only, of the configured length; absent: generated.
    /// Choosing it needs a token with `:pii` (403 `pii_required` otherwise).
    pub pin: Option<String>,
    /// The virtual number the PIN works on; absent: any virtual number.
    pub virtual_number: Option<String>,
    /// RFC 3339; absent: the configured lifetime (`PINBRIDGE_ORDER_TTL`) from now.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Courier numbers allowed to use the PIN; absent or empty: any caller.
    #[serde(default)]
    pub allowed_callers: Vec<String>,
    /// The language the call speaks, a BCP 47 primary tag (`en`, `hi`); absent: the virtual
    /// number's.
    #[schema(example = "hi")]
    pub language: Option<String>,
    /// Seconds the dialled party's phone rings, 5 to 120; absent: the virtual number's, else
    /// `PINBRIDGE_MAX_RINGING_DURATION`.
    #[schema(minimum = 5, maximum = 120)]
    pub ring_timeout_secs: Option<u32>,
    /// Seconds a bridged conversation may last, 60 to 14400 (Vonage cuts at 7200); absent:
    /// the virtual number's, else `PINBRIDGE_MAX_CONVERSATION_DURATION`.
    #[schema(minimum = 60, maximum = 14400)]
    pub max_conversation_secs: Option<u32>,
    /// Record the bridged call, after the recording consent; absent: the virtual number's,
    /// else `PINBRIDGE_RECORD_CALLS`.
    pub record: Option<bool>,
    /// Say the whisper to the dialled party when they answer; absent: the virtual number's,
    /// else `PINBRIDGE_WHISPER`.
    pub whisper: Option<bool>,
}

/// An order as the API shows it: numbers in E.164, times in RFC 3339.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Order)]
pub struct OrderView {
    pub order_id: String,
    /// E.164; masked (`+91******5678`) for a token without `:pii`.
    pub customer_number: String,
    /// The PIN; `******` for a token without `:pii`, whatever its length.
    pub pin: String,
    /// E.164; `null`: the PIN works on any virtual number.
    pub virtual_number: Option<String>,
    /// `active`, `expired` or `deactivated`.
    #[schema(schema_with = super::openapi::order_status)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub deactivated_at: Option<String>,
    /// Couriers allowed to use the PIN, in E.164, masked for a token without `:pii`; empty:
    /// any caller.
    pub allowed_callers: Vec<String>,
    /// The language the call speaks, a BCP 47 primary tag (`en`, `hi`); `null`: the virtual
    /// number's.
    pub language: Option<String>,
    /// Seconds the dialled party's phone rings, 5 to 120; `null`: the virtual number's, else
    /// `PINBRIDGE_MAX_RINGING_DURATION`.
    #[schema(minimum = 5, maximum = 120)]
    pub ring_timeout_secs: Option<u32>,
    /// Seconds a bridged conversation may last, 60 to 14400 (Vonage cuts at 7200); `null`:
    /// the virtual number's, else `PINBRIDGE_MAX_CONVERSATION_DURATION`.
    #[schema(minimum = 60, maximum = 14400)]
    pub max_conversation_secs: Option<u32>,
    /// Record the bridged call, after the recording consent; `null`: the virtual number's,
    /// else `PINBRIDGE_RECORD_CALLS`.
    pub record: Option<bool>,
    /// Say the whisper (what the call is about) to the dialled party when they answer;
    /// `null`: the virtual number's, else `PINBRIDGE_WHISPER`.
    pub whisper: Option<bool>,
}

impl OrderView {
    /// The same with its own call options.
    fn with(mut self, o: CallOptions) -> Self {
        self.language = o.language;
        self.ring_timeout_secs = o.ring_timeout_secs;
        self.max_conversation_secs = o.max_conversation_secs;
        self.record = o.record;
        self.whisper = o.whisper;
        self
    }

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
            language: None,
            ring_timeout_secs: None,
            max_conversation_secs: None,
            record: None,
            whisper: None,
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

/// Create an order.
///
/// Answers 201 with the stored order, its PIN generated unless `pin` is given. Choosing the
/// PIN needs a token with `:pii`: `pin_in_use` would otherwise tell which PINs are active.
#[utoipa::path(
    operation_id = "create_order",
    post,
    path = "/api/v1/orders",
    tag = "orders",
    request_body = CreateOrder,
    responses(
        (status = 201, description = "The stored order.", body = OrderView),
        (status = 400, description = "`invalid_body`, `invalid_order_id`, `invalid_customer_number`, `invalid_pin`, `invalid_virtual_number`, `invalid_expires_at`, `invalid_allowed_callers`, `invalid_language`, `invalid_ring_timeout_secs`, `invalid_max_conversation_secs` or `invalid_text`, naming the field.", body = ErrorBody),
        (status = 403, description = "`pii_required`: a `pin` was given with a token without `:pii`.", body = ErrorBody),
        (status = 409, description = "`order_exists` (an active order has this `order_id`; the id of an expired or deactivated order may be given again), `pin_in_use` (the PIN is active on this virtual number, or for an order without one, on some virtual number) or `pin_space_crowded` (PINBRIDGE_PIN_MAX_DENSITY: use longer PINs or another virtual number).", body = ErrorBody),
    )
)]
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
    let options = super::call_options::checked(CallOptions {
        language: body.language,
        ring_timeout_secs: body.ring_timeout_secs,
        max_conversation_secs: body.max_conversation_secs,
        record: body.record,
        whisper: body.whisper,
    })?;
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
    let options = call_options::change(
        &state.db,
        Owner::Order,
        &order.order_id,
        &CallOptionsChange::setting(&options),
    )
    .await?
    .unwrap_or_default();
    // A guess on its number weighs its PIN from now on.
    tracing::info!(order.id = %log_safe(&order.order_id), admin.token = %who.name, "order created");
    Ok(HttpResponse::Created().json(OrderView::of(order, now, &who).with(options)))
}

/// Read an order.
///
/// The newest order of this id (an id is given again once its order has ended). Its
/// customer's number and PIN are masked for a token without `:pii`.
#[utoipa::path(
    operation_id = "get_order",
    get,
    path = "/api/v1/orders/{order_id}",
    tag = "orders",
    params(("order_id" = String, Path, description = "The order's `order_id`.")),
    responses(
        (status = 200, description = "The order.", body = OrderView),
        (status = 400, description = "`invalid_text`: the id holds a NUL character.", body = ErrorBody),
        (status = 404, description = "`not_found`: no order with this `order_id`.", body = ErrorBody),
    )
)]
async fn get(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = orders::get(&state.db, &path)
        .await?
        .ok_or_else(|| ApiError::not_found("no order with this order_id"))?;
    let options = own_options(&state, &order).await?;
    Ok(HttpResponse::Ok().json(OrderView::of(order, now_ms(), &who).with(options)))
}

/// The order's own call options.
async fn own_options(state: &AppState, order: &Order) -> Result<CallOptions, ApiError> {
    let found = call_options::many(&state.db, Owner::Order, &[order.order_id.as_str()]).await?;
    Ok(found
        .get(&(order.order_id.clone(), order.created_at))
        .cloned()
        .unwrap_or_default())
}

/// The body of `PATCH /api/v1/orders/{order_id}`: any of the fields; those absent (or `null`)
/// stay as they are. Unknown fields (the PIN, the virtual number) are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeOrder {
    /// E.164 or any form a number is written in.
    pub customer_number: Option<String>,
    /// RFC 3339, in the future.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Courier numbers allowed to use the PIN; empty: any caller.
    pub allowed_callers: Option<Vec<String>>,
    /// The language the call speaks (BCP 47 primary tag); `null`: the virtual number's again.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<String>)]
    pub language: Option<Option<String>>,
    /// Seconds the dialled party's phone rings, 5 to 120; `null`: inherited again.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<u32>, minimum = 5, maximum = 120)]
    pub ring_timeout_secs: Option<Option<u32>>,
    /// Seconds a bridged conversation may last, 60 to 14400; `null`: inherited again.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<u32>, minimum = 60, maximum = 14400)]
    pub max_conversation_secs: Option<Option<u32>>,
    /// Record the bridged call; `null`: inherited again.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<bool>)]
    pub record: Option<Option<bool>>,
    /// Say the whisper; `null`: inherited again.
    #[serde(default, deserialize_with = "super::call_options::nullable")]
    #[schema(value_type = Option<bool>)]
    pub whisper: Option<Option<bool>>,
}

/// Change an order.
///
/// Changes the customer, the expiry, the allowed callers or the call options (language, ring
/// time, longest conversation, recording, whisper) of an active order, checked as when it was
/// created; its PIN and virtual number stay. Answers 200 with the order.
#[utoipa::path(
    operation_id = "change_order",
    patch,
    path = "/api/v1/orders/{order_id}",
    tag = "orders",
    params(("order_id" = String, Path, description = "The order's `order_id`.")),
    request_body = ChangeOrder,
    responses(
        (status = 200, description = "The changed order.", body = OrderView),
        (status = 400, description = "`invalid_body` (an unknown field, or none to change), `invalid_customer_number`, `invalid_expires_at`, `invalid_allowed_callers`, `invalid_language`, `invalid_ring_timeout_secs`, `invalid_max_conversation_secs` or `invalid_text`, naming the field.", body = ErrorBody),
        (status = 404, description = "`not_found`: no order with this `order_id`.", body = ErrorBody),
        (status = 409, description = "`order_not_active`: the order is expired or deactivated.", body = ErrorBody),
    )
)]
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
    let options = super::call_options::checked_change(CallOptionsChange {
        language: body.language,
        ring_timeout_secs: body.ring_timeout_secs,
        max_conversation_secs: body.max_conversation_secs,
        record: body.record,
        whisper: body.whisper,
    })?;
    if change.is_empty() && options.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "give at least one of customer_number, expires_at, allowed_callers, language, ring_timeout_secs, max_conversation_secs, record, whisper",
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
    call_options::change(&state.db, Owner::Order, &order.order_id, &options).await?;
    let options = own_options(&state, &order).await?;
    // The dial that follows a PIN must not reach the customer the order had.
    state.sessions.forget_order(&order.order_id);
    tracing::info!(order.id = %log_safe(&order.order_id), admin.token = %who.name, "order changed");
    Ok(HttpResponse::Ok().json(OrderView::of(order, now, &who).with(options)))
}

/// The query of `GET /api/v1/orders`. Unknown parameters are refused.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListOrders {
    /// `active`, `expired` or `deactivated`; absent: all.
    #[param(schema_with = super::openapi::order_status)]
    pub status: Option<String>,
    /// Only orders on this virtual number (any form a number may be written in).
    pub virtual_number: Option<String>,
    /// Only orders for this customer; for tokens with `:pii` (403 `pii_required` otherwise).
    pub customer_number: Option<String>,
    /// The `next` of the page before.
    pub cursor: Option<String>,
    /// Orders a page, 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A page of orders: `orders` newest first, and `next`, the `cursor` of the following page
/// (`null` on the last).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderPage {
    /// Newest first.
    pub orders: Vec<OrderView>,
    /// The `cursor` of the next page; `null` on the last page.
    pub next: Option<String>,
}

/// List orders.
///
/// A page of orders, newest first, filtered by status, virtual number and (for `:pii` tokens)
/// customer. Pass the `next` of a page as `cursor` for the following one.
#[utoipa::path(
    operation_id = "list_orders",
    get,
    path = "/api/v1/orders",
    tag = "orders",
    params(ListOrders),
    responses(
        (status = 200, description = "A page of orders.", body = OrderPage),
        (status = 400, description = "`invalid_status`, `invalid_number`, `invalid_limit`, `invalid_cursor`, `invalid_query` (an unknown parameter) or `invalid_text`.", body = ErrorBody),
        (status = 403, description = "`pii_required`: `customer_number` with a token without `:pii`.", body = ErrorBody),
    )
)]
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
    let ids: Vec<&str> = found.iter().map(|o| o.order_id.as_str()).collect();
    let mut options = call_options::many(&state.db, Owner::Order, &ids).await?;
    let orders = found
        .into_iter()
        .map(|o| {
            let own = options
                .remove(&(o.order_id.clone(), o.created_at))
                .unwrap_or_default();
            OrderView::of(o, now, &who).with(own)
        })
        .collect();
    Ok(HttpResponse::Ok().json(OrderPage { orders, next }))
}

/// Deactivate an order.
///
/// Its PIN stops working at once, and so does the callback to its customer. Answers 200 with
/// the order, `deactivated`.
#[utoipa::path(
    operation_id = "deactivate_order",
    delete,
    path = "/api/v1/orders/{order_id}",
    tag = "orders",
    params(("order_id" = String, Path, description = "The order's `order_id`.")),
    responses(
        (status = 200, description = "The deactivated order.", body = OrderView),
        (status = 400, description = "`invalid_text`: the id holds a NUL character.", body = ErrorBody),
        (status = 404, description = "`not_found`: no order with this `order_id`.", body = ErrorBody),
    )
)]
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
    let options = own_options(&state, &order).await?;
    tracing::info!(order.id = %log_safe(&order.order_id), admin.token = %who.name, "order deactivated");
    Ok(HttpResponse::Ok().json(OrderView::of(order, now, &who).with(options)))
}
