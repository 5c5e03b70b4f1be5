//! `/api/v1/bookings`: caller-based masking. Two parties reach each other through one virtual
//! number, allocated from the pool.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::page;
use crate::admin::AdminAuth;
use crate::domain::clock::{now_ms, rfc3339};
use crate::domain::random_token;
use crate::domain::{
    BookingFields, BookingStatus, CallOptions, CallOptionsChange, NewBooking, Pin, PinChoice,
    PinMode, parse_booking_expiry, parse_party_b,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::import::admission;
use crate::state::AppState;
use crate::storage::bookings::{self, AddPartyError, Booking, Changed, CreateError};
use crate::storage::call_options::{self, Owner};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::resource("/bookings", "GET, POST")
            .route(web::post().to(create))
            .route(web::get().to(list)),
    )
    .service(
        super::resource("/bookings/{booking_id}", "GET, PATCH, DELETE")
            .route(web::get().to(get))
            .route(web::patch().to(change))
            .route(web::delete().to(close)),
    );
}

/// The body of `POST /api/v1/bookings`. Unknown fields are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBooking {
    /// One party (the rider, the customer), in any form a phone number is written.
    pub party_a: String,
    /// The other party (the driver, the agent): a different number. Absent: the booking is
    /// `pending` until party B is added (`PATCH` with `party_b`); its number is allocated for
    /// party A now, and party A calling it is answered as a stranger until then.
    pub party_b: Option<String>,
    /// Who may call the other through the virtual number: `both` (the default), `party_a`
    /// (only party A calls party B) or `party_b` (only party B calls party A). A party who may
    /// not call is answered as a stranger on the number (its `strangers` answer), is not
    /// dialled back either, and gets no party PIN. It can still be called.
    #[schema(example = "both")]
    pub callers: Option<String>,
    /// Your reference of the booking: at most 128 characters, no control characters.
    pub reference: Option<String>,
    /// Lifetime in seconds, 1 to 31536000 (365 days); or give `expires_at`; neither:
    /// `PINBRIDGE_BOOKING_TTL`.
    #[schema(minimum = 1, maximum = 31536000)]
    pub ttl_seconds: Option<i64>,
    /// RFC 3339, at most 365 days ahead; or give `ttl_seconds`.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// A number of the pool to use instead of allocating one (the only way to use a reserved
    /// number).
    pub virtual_number: Option<String>,
    /// Allocate among this provider's numbers only.
    pub provider: Option<String>,
    /// Allocate among this country's numbers (ISO 3166-1 alpha-2, `IN`) instead of the
    /// parties' own (party A's or party B's).
    #[schema(example = "IN")]
    pub country: Option<String>,
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
    /// `true`: give each party a PIN, generated (`PINBRIDGE_PIN_MIN_LENGTH` to
    /// `PINBRIDGE_PIN_MAX_LENGTH` digits, 6 when they allow it) unless chosen below. A caller
    /// who keys party A's PIN on the virtual number reaches party B, and party B's reaches
    /// party A: a party calling from another phone gets through. The same rules as an order's
    /// PIN hold (`PINBRIDGE_PIN_MAX_DENSITY`, the guessing budget, the caller's lockout).
    pub party_pins: Option<bool>,
    /// Party A's PIN, chosen (needs a token with `:pii`, as an order's PIN does); it reaches
    /// party B.
    #[schema(example = "4821")]
    pub party_a_pin: Option<String>,
    /// Party B's PIN, chosen (needs `:pii`); it reaches party A. A party who may not call
    /// (`callers`) gets no PIN: choosing one is refused (400 `invalid_pin`), and
    /// `party_pins: true` gives the other party's alone. A booking without party B takes no
    /// party PINs.
    pub party_b_pin: Option<String>,
    /// Who keys a PIN: `unknown_callers` (the default: any caller but the parties' own
    /// phones) or `always` (the parties' own phones too; needs party PINs).
    #[schema(example = "unknown_callers")]
    pub pin_mode: Option<String>,
    /// Party A's other phones, at most 5, in any form a phone number is written: a call from
    /// one of them on the virtual number reaches party B as party A's own phone does. Each
    /// counts as party A's number in the allocation rule; every number of a booking is
    /// distinct.
    #[schema(example = json!(["+919812300001"]))]
    pub party_a_alternates: Option<Vec<String>>,
    /// Party B's other phones, likewise (they reach party A).
    pub party_b_alternates: Option<Vec<String>>,
}

/// A booking as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Booking)]
pub struct BookingView {
    /// pinbridge's id of the booking (`bk_...`).
    pub booking_id: String,
    pub reference: Option<String>,
    /// E.164; masked (`+91******5678`) for a token without `:pii`.
    pub party_a: String,
    /// E.164; masked (`+91******5678`) for a token without `:pii`; `null` while the booking
    /// is `pending`.
    pub party_b: Option<String>,
    /// The number both parties call and see, in E.164. It may change once, when party B is
    /// added to a pending booking and party B holds it already.
    pub virtual_number: String,
    /// Who may call the other: `both`, `party_a` or `party_b`.
    #[schema(example = "both")]
    pub callers: &'static str,
    /// `active`, `pending` (no party B yet), `expired` or `closed`.
    #[schema(schema_with = super::openapi::booking_status)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub closed_at: Option<String>,
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
    /// Who keys a party PIN: `unknown_callers` or `always`.
    pub pin_mode: &'static str,
    /// Party A's PIN, which reaches party B; `null` without one. Masked (`****`) for a token
    /// without `:pii`.
    pub party_a_pin: Option<String>,
    /// Party B's PIN, which reaches party A; `null` without one. Masked for a token without
    /// `:pii`.
    pub party_b_pin: Option<String>,
    /// Party A's alternate numbers, E.164, masked for a token without `:pii`. In the answers
    /// about one booking (create, read, change, close); left out of lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party_a_alternates: Option<Vec<String>>,
    /// Party B's alternate numbers, likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party_b_alternates: Option<Vec<String>>,
}

impl BookingView {
    /// The same with its own call options.
    fn with(mut self, o: CallOptions) -> Self {
        self.language = o.language;
        self.ring_timeout_secs = o.ring_timeout_secs;
        self.max_conversation_secs = o.max_conversation_secs;
        self.record = o.record;
        self.whisper = o.whisper;
        self
    }

    /// The booking as `who` may see it: parties masked unless the token may see personal data.
    fn of(b: Booking, now: i64, who: &AdminAuth) -> Self {
        Self {
            status: b.status(now).as_str(),
            created_at: rfc3339(b.created_at),
            expires_at: rfc3339(b.expires_at),
            closed_at: b.closed_at.map(rfc3339),
            booking_id: b.booking_id,
            reference: b.reference,
            party_a: who.show(b.party_a.into()),
            party_b: b.party_b.map(|p| who.show(p.into())),
            virtual_number: b.virtual_number.into(),
            callers: b.callers.as_str(),
            language: None,
            ring_timeout_secs: None,
            max_conversation_secs: None,
            record: None,
            whisper: None,
            pin_mode: b.pin_mode.as_str(),
            party_a_pin: b.party_a_pin.map(|p| who.show_pin(p)),
            party_b_pin: b.party_b_pin.map(|p| who.show_pin(p)),
            party_a_alternates: None,
            party_b_alternates: None,
        }
    }

    /// The same with its parties' alternate numbers, as `who` may see them.
    async fn with_alternates(
        mut self,
        state: &AppState,
        who: &AdminAuth,
    ) -> Result<Self, ApiError> {
        let (a, b) = super::alternates::shown(state, &self.booking_id, who).await?;
        self.party_a_alternates = Some(a);
        self.party_b_alternates = Some(b);
        Ok(self)
    }
}

/// Create a booking.
///
/// Its two parties reach each other through one virtual number of the pool, allocated so that
/// neither party holds it in another active booking: a number of the parties' country (or of
/// `country`), one a party already knows first, never one the same two parties shared within
/// `PINBRIDGE_BOOKING_COOL_OFF`, then the least loaded. Without `party_b` the booking is
/// `pending`, its number allocated for party A alone. `callers` makes it one way. Answers 201
/// with the booking and its virtual number.
#[utoipa::path(
    operation_id = "create_booking",
    post,
    path = "/api/v1/bookings",
    tag = "bookings",
    request_body = CreateBooking,
    responses(
        (status = 201, description = "The booking, with its virtual number.", body = BookingView),
        (status = 400, description = "`invalid_body`, `invalid_party`, `invalid_callers`, `invalid_virtual_number`, `invalid_provider`, `invalid_country`, `invalid_reference`, `invalid_expiry`, `invalid_language`, `invalid_ring_timeout_secs`, `invalid_max_conversation_secs`, `unknown_virtual_number` (not in the pool), `invalid_pin`, `invalid_pin_mode`, `invalid_party_alternates` or `invalid_text`, naming the field.", body = ErrorBody),
        (status = 403, description = "`pii_required`: a party PIN was chosen with a token without `:pii`.", body = ErrorBody),
        (status = 409, description = "`pool_exhausted` (no number of their country and the provider is free for both parties), `participant_conflict` (the named number is held by a party's number, alternates included, already), `virtual_number_drained`, `virtual_number_unhealthy`, `pin_in_use` (a chosen party PIN is active on the number) or `pin_space_crowded` (PINBRIDGE_PIN_MAX_DENSITY).", body = ErrorBody),
    )
)]
async fn create(
    who: AdminAuth,
    state: web::Data<AppState>,
    body: super::ApiJson<CreateBooking>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let b = body.into_inner();
    let fields = BookingFields {
        party_a: &b.party_a,
        party_b: b.party_b.as_deref(),
        reference: b.reference.as_deref(),
        ttl_seconds: b.ttl_seconds,
        expires_at: b.expires_at.as_deref(),
        virtual_number: b.virtual_number.as_deref(),
        provider: b.provider.as_deref(),
        country: b.country.as_deref(),
        callers: b.callers.as_deref(),
    };
    let default_ttl =
        i64::try_from(state.settings.retention.booking_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    let new =
        NewBooking::parse(&fields, &state.settings.orders, default_ttl, now).map_err(|e| {
            let code = match e.field {
                "party_a" | "party_b" => "invalid_party",
                "virtual_number" => "invalid_virtual_number",
                "provider" => "invalid_provider",
                "country" => "invalid_country",
                "callers" => "invalid_callers",
                "reference" => "invalid_reference",
                _ => "invalid_expiry",
            };
            ApiError::bad_request(code, e.to_string())
        })?;
    let pins = PartyPins::parse(&who, &state, &b, &new)?;
    let options = super::call_options::checked(CallOptions {
        language: b.language,
        ring_timeout_secs: b.ring_timeout_secs,
        max_conversation_secs: b.max_conversation_secs,
        record: b.record,
        whisper: b.whisper,
    })?;
    let (party_a_alternates, party_b_alternates) = super::alternates::parse_new(
        &state,
        b.party_a_alternates.as_deref(),
        b.party_b_alternates.as_deref(),
        (&new.party_a, new.party_b.as_ref()),
    )?;
    let new = NewBooking {
        pin_mode: pins.mode,
        party_a_alternates,
        party_b_alternates,
        ..new
    };
    let booking_id = format!("bk_{}", random_token(22));
    let booking = crate::admin::allocation::create_booking(&state, &new, &booking_id, now)
        .await
        .map_err(|e| match e {
            CreateError::PoolExhausted => ApiError::conflict("pool_exhausted", e.to_string()),
            CreateError::ParticipantConflict => {
                ApiError::conflict("participant_conflict", e.to_string())
            }
            CreateError::NumberDrained => {
                ApiError::conflict("virtual_number_drained", e.to_string())
            }
            CreateError::NumberUnhealthy => {
                ApiError::conflict("virtual_number_unhealthy", e.to_string())
            }
            CreateError::UnknownNumber => {
                ApiError::bad_request("unknown_virtual_number", e.to_string())
            }
            CreateError::Database(e) => e.into(),
        })?;
    let booking = pins.store(&state, booking, now).await?;
    let options = call_options::change(
        &state.db,
        Owner::Booking,
        &booking.booking_id,
        &CallOptionsChange::setting(&options),
    )
    .await?
    .unwrap_or_default();
    tracing::info!(booking.id = %booking.booking_id, "booking created");
    let view = BookingView::of(booking, now, &who)
        .with(options)
        .with_alternates(&state, &who)
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// The party PINs a booking is created with, and who must key one.
struct PartyPins {
    /// Party A's PIN, then party B's; `None`: that party has none.
    a: Option<PinChoice>,
    b: Option<PinChoice>,
    mode: PinMode,
}

impl PartyPins {
    /// Reads `party_pins`, `party_a_pin`, `party_b_pin` and `pin_mode` of the request.
    ///
    /// Errors: 400 `invalid_pin` or `invalid_pin_mode`, naming the field; 403 `pii_required`
    /// when a PIN is chosen by a token without `:pii` (`pin_in_use` would tell which PINs are
    /// active, as for orders). A PIN is refused for a party who may not call (`callers`), and
    /// on a booking without party B (the PIN would reach no one); `party_pins: true` gives PINs
    /// to the parties who may call.
    fn parse(
        who: &AdminAuth,
        state: &AppState,
        b: &CreateBooking,
        new: &NewBooking,
    ) -> Result<Self, ApiError> {
        let rules = &state.settings.orders;
        let choice = |raw: Option<&String>,
                      field: &str,
                      party_a: bool|
         -> Result<Option<PinChoice>, ApiError> {
            let wanted = raw.is_some() || b.party_pins == Some(true);
            if wanted && new.party_b.is_none() {
                return Err(ApiError::bad_request(
                    "invalid_pin",
                    format!("{field}: a booking without party_b takes no party PINs"),
                ));
            }
            if !new.callers.may_call(party_a) {
                return match raw {
                    Some(_) => Err(ApiError::bad_request(
                        "invalid_pin",
                        format!(
                            "{field}: this party may not call (callers: {}), so it gets no PIN",
                            new.callers.as_str()
                        ),
                    )),
                    None => Ok(None),
                };
            }
            match raw {
                Some(raw) => {
                    who.may("choosing a party's PIN")?;
                    Pin::parse(raw, rules.pin_min, rules.pin_max)
                        .map(|p| Some(PinChoice::Given(p)))
                        .map_err(|e| ApiError::bad_request("invalid_pin", format!("{field}: {e}")))
                }
                None if b.party_pins == Some(true) => Ok(Some(PinChoice::Generate {
                    len: rules.generated_pin_len(),
                })),
                None => Ok(None),
            }
        };
        let a = choice(b.party_a_pin.as_ref(), "party_a_pin", true)?;
        let pin_b = choice(b.party_b_pin.as_ref(), "party_b_pin", false)?;
        let mode = match b.pin_mode.as_deref() {
            None => PinMode::default(),
            Some(raw) => PinMode::parse(raw).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_pin_mode",
                    "pin_mode: give unknown_callers or always",
                )
            })?,
        };
        if mode == PinMode::Always && a.is_none() && pin_b.is_none() {
            return Err(ApiError::bad_request(
                "invalid_pin_mode",
                "pin_mode: always needs party PINs (party_pins: true, or party_a_pin and party_b_pin), else no one could call",
            ));
        }
        Ok(Self { a, b: pin_b, mode })
    }

    /// Stores the PINs of `booking`, just created, and returns it with them. When a PIN is
    /// refused, the booking is deleted again and nothing of the request is left.
    ///
    /// Errors: 409 `pin_in_use` or `pin_space_crowded`, as for an order's PIN.
    async fn store(
        self,
        state: &AppState,
        booking: Booking,
        now: i64,
    ) -> Result<Booking, ApiError> {
        crate::admin::allocation::store_party_pins(state, booking, self.a, self.b, now)
            .await
            .map_err(|e| match e {
                admission::CreateError::PinInUse => ApiError::conflict(
                    "pin_in_use",
                    "a party PIN is already active on this booking's virtual number",
                ),
                admission::CreateError::PinSpaceCrowded => ApiError::conflict(
                    "pin_space_crowded",
                    "active PINs of this length on this booking's virtual number already fill PINBRIDGE_PIN_MAX_DENSITY of the PIN space; use longer PINs",
                ),
                admission::CreateError::OrderExists => ApiError::conflict(
                    "pin_in_use",
                    "a party PIN of this booking is active already",
                ),
                admission::CreateError::Database(e) => e.into(),
            })
    }
}

/// The session's memory of a booking's party PINs is dropped, so that a change or a close
/// holds for the next call at once.
fn forget_party_pins(state: &AppState, booking_id: &str) {
    for party_a in [true, false] {
        state
            .sessions
            .forget_order(&bookings::party_pin_id(booking_id, party_a));
    }
}

/// Read a booking.
///
/// Its parties are masked for a token without `:pii`.
#[utoipa::path(
    operation_id = "get_booking",
    get,
    path = "/api/v1/bookings/{booking_id}",
    tag = "bookings",
    params(("booking_id" = String, Path, description = "The booking's `booking_id`.")),
    responses(
        (status = 200, description = "The booking.", body = BookingView),
        (status = 400, description = "`invalid_text`: the id holds a NUL character.", body = ErrorBody),
        (status = 404, description = "`not_found`: no booking with this `booking_id`.", body = ErrorBody),
    )
)]
async fn get(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let booking = bookings::get(&state.db, &path)
        .await?
        .ok_or_else(|| ApiError::not_found("no booking with this booking_id"))?;
    let options = own_options(&state, &booking.booking_id).await?;
    let view = BookingView::of(booking, now_ms(), &who)
        .with(options)
        .with_alternates(&state, &who)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The booking's own call options.
async fn own_options(state: &AppState, booking_id: &str) -> Result<CallOptions, ApiError> {
    Ok(call_options::get(&state.db, Owner::Booking, booking_id)
        .await?
        .unwrap_or_default())
}

/// The query of `GET /api/v1/bookings`. Unknown parameters are refused.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListBookings {
    /// `active`, `pending`, `expired` or `closed`; absent: all.
    #[param(schema_with = super::openapi::booking_status)]
    pub status: Option<String>,
    /// Only bookings on this virtual number (any form a number may be written in).
    pub virtual_number: Option<String>,
    /// Only bookings with this number as either party; for tokens with `:pii` (403
    /// `pii_required` otherwise).
    pub party_number: Option<String>,
    /// The `next` of the page before.
    pub cursor: Option<String>,
    /// Bookings a page, 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A page of bookings: `bookings` newest first, and `next`, the `cursor` of the following
/// page (`null` on the last).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingPage {
    /// Newest first.
    pub bookings: Vec<BookingView>,
    /// The `cursor` of the next page; `null` on the last page.
    pub next: Option<String>,
}

/// List bookings.
///
/// A page of bookings, newest first, filtered by status, virtual number and (for `:pii`
/// tokens) party. Pass the `next` of a page as `cursor` for the following one. Parties are
/// masked for a token without `:pii`.
#[utoipa::path(
    operation_id = "list_bookings",
    get,
    path = "/api/v1/bookings",
    tag = "bookings",
    params(ListBookings),
    responses(
        (status = 200, description = "A page of bookings.", body = BookingPage),
        (status = 400, description = "`invalid_status`, `invalid_number`, `invalid_limit`, `invalid_cursor`, `invalid_query` (an unknown parameter) or `invalid_text`.", body = ErrorBody),
        (status = 403, description = "`pii_required`: `party_number` with a token without `:pii`.", body = ErrorBody),
    )
)]
async fn list(
    who: AdminAuth,
    state: web::Data<AppState>,
    query: web::Query<ListBookings>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let now = now_ms();
    let status = page::one_of(
        "status",
        "invalid_status",
        q.status.as_deref(),
        &[
            ("active", BookingStatus::Active),
            ("pending", BookingStatus::Pending),
            ("expired", BookingStatus::Expired),
            ("closed", BookingStatus::Closed),
        ],
    )?;
    let region = state.settings.orders.region;
    let party = page::number("party_number", q.party_number.as_deref(), region)?;
    if party.is_some() && !who.pii {
        return Err(ApiError::pii_required("filter bookings by party_number"));
    }
    let paging = page::Paging::parse(q.limit, q.cursor)?;
    let filter = bookings::BookingFilter {
        status,
        virtual_number: page::number("virtual_number", q.virtual_number.as_deref(), region)?,
        party,
        before: paging.before.clone(),
        limit: paging.fetch(),
        now,
    };
    let mut found = bookings::list(&state.db, &filter).await?;
    let next = paging.cut(&mut found, |b| (b.created_at, &b.booking_id));
    let ids: Vec<&str> = found.iter().map(|b| b.booking_id.as_str()).collect();
    let mut options = call_options::many(&state.db, Owner::Booking, &ids).await?;
    let bookings = found
        .into_iter()
        .map(|b| {
            let own = options
                .remove(&(b.booking_id.clone(), b.created_at))
                .unwrap_or_default();
            BookingView::of(b, now, &who).with(own)
        })
        .collect();
    Ok(HttpResponse::Ok().json(BookingPage { bookings, next }))
}

/// The body of `PATCH /api/v1/bookings/{booking_id}`: any of the fields; those absent stay
/// as they are. Unknown fields are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeBooking {
    /// Party B of a `pending` booking (any form a phone number is written in); set once. When
    /// party B holds the booking's virtual number in another active booking, or the two parties
    /// shared it within `PINBRIDGE_BOOKING_COOL_OFF`, the booking moves to another number of
    /// the same country and provider, allocated as at creation: the answer shows the new
    /// `virtual_number`, which party A must be told.
    pub party_b: Option<String>,
    /// RFC 3339: in the future, at most 365 days ahead.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
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
    /// Party A's alternate numbers, all of them (`[]`: none), checked as when the booking was
    /// created; absent: as they are.
    pub party_a_alternates: Option<Vec<String>>,
    /// Party B's alternate numbers, likewise.
    pub party_b_alternates: Option<Vec<String>>,
}

/// Change a booking.
///
/// Adds party B to a pending booking (the booking may move to another virtual number, see
/// `party_b`), moves the expiry of an active booking, checked as when it was created, or
/// changes its call options (language, ring time, longest conversation, recording, whisper).
/// Answers 200 with the booking. When party B is refused, nothing of the request is changed.
#[utoipa::path(
    operation_id = "change_booking",
    patch,
    path = "/api/v1/bookings/{booking_id}",
    tag = "bookings",
    params(("booking_id" = String, Path, description = "The booking's `booking_id`.")),
    request_body = ChangeBooking,
    responses(
        (status = 200, description = "The changed booking.", body = BookingView),
        (status = 400, description = "`invalid_party`, `invalid_expiry`, `invalid_language`, `invalid_ring_timeout_secs`, `invalid_max_conversation_secs`, `invalid_party_alternates`, `invalid_body` (an unknown field, or none to change) or `invalid_text`, naming the field.", body = ErrorBody),
        (status = 404, description = "`not_found`: no booking with this `booking_id`.", body = ErrorBody),
        (status = 409, description = "`booking_not_active` (the booking is expired or closed), `party_b_set` (`party_b` given and the booking has its party B already), `pool_exhausted` (party B holds the booking's number, or shared it with party A within the cool-off, and no other number of its country and provider is free for both) or `participant_conflict` (an alternate holds the booking's virtual number in another active booking).", body = ErrorBody),
    )
)]
async fn change(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: super::ApiJson<ChangeBooking>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let body = body.into_inner();
    let expires_at = body
        .expires_at
        .as_deref()
        .map(|e| parse_booking_expiry(e, now))
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_expiry", e.to_string()))?;
    let options = super::call_options::checked_change(CallOptionsChange {
        language: body.language,
        ring_timeout_secs: body.ring_timeout_secs,
        max_conversation_secs: body.max_conversation_secs,
        record: body.record,
        whisper: body.whisper,
    })?;
    let alternates = (
        body.party_a_alternates.as_deref(),
        body.party_b_alternates.as_deref(),
    );
    if body.party_b.is_none()
        && expires_at.is_none()
        && options.is_empty()
        && alternates == (None, None)
    {
        return Err(ApiError::bad_request(
            "invalid_body",
            "give at least one of party_b, expires_at, language, ring_timeout_secs, max_conversation_secs, record, whisper, party_a_alternates, party_b_alternates",
        ));
    }
    if let Some(raw) = &body.party_b {
        add_party_b(&state, &path, raw, now).await?;
    }
    if alternates != (None, None) {
        super::alternates::change(&state, &path, alternates.0, alternates.1, now).await?;
    }
    let changed = match expires_at {
        Some(at) => bookings::change_expiry(&state.db, &path, at, now).await?,
        None => match bookings::get(&state.db, &path).await? {
            None => Changed::Missing,
            Some(b)
                if matches!(
                    b.status(now),
                    BookingStatus::Active | BookingStatus::Pending
                ) =>
            {
                Changed::Changed(b)
            }
            Some(b) => Changed::NotActive(b),
        },
    };
    let booking = match changed {
        Changed::Changed(booking) => booking,
        Changed::NotActive(booking) => {
            return Err(ApiError::conflict(
                "booking_not_active",
                format!(
                    "this booking is {}: only an active booking can be changed",
                    booking.status(now).as_str()
                ),
            ));
        }
        Changed::Missing => return Err(ApiError::not_found("no booking with this booking_id")),
    };
    forget_party_pins(&state, &booking.booking_id);
    let options = call_options::change(&state.db, Owner::Booking, &booking.booking_id, &options)
        .await?
        .unwrap_or_default();
    tracing::info!(booking.id = %booking.booking_id, "booking changed");
    let view = BookingView::of(booking, now, &who)
        .with(options)
        .with_alternates(&state, &who)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Adds party B (`raw`, as the request wrote it) to the pending booking `booking_id`.
///
/// Errors: 400 `invalid_party`; 404 `not_found`; 409 `booking_not_active`, `party_b_set` or
/// `pool_exhausted`.
async fn add_party_b(
    state: &AppState,
    booking_id: &str,
    raw: &str,
    now: i64,
) -> Result<Booking, ApiError> {
    let booking = bookings::get(&state.db, booking_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no booking with this booking_id"))?;
    let party_b = parse_party_b(raw, &booking.party_a, &state.settings.orders)
        .map_err(|e| ApiError::bad_request("invalid_party", e.to_string()))?;
    crate::admin::allocation::add_party_b(state, booking_id, &party_b, now)
        .await
        .map_err(|e| match e {
            AddPartyError::Missing => ApiError::not_found(e.to_string()),
            AddPartyError::NotActive(_) => ApiError::conflict("booking_not_active", e.to_string()),
            AddPartyError::AlreadySet => ApiError::conflict("party_b_set", e.to_string()),
            AddPartyError::SameParty => {
                ApiError::bad_request("invalid_party", format!("party_b: {e}"))
            }
            AddPartyError::PoolExhausted => ApiError::conflict("pool_exhausted", e.to_string()),
            AddPartyError::Database(e) => e.into(),
        })
}

/// Close a booking.
///
/// Its parties stop reaching each other at once, callbacks included. Answers 200 with the
/// booking, `closed`.
#[utoipa::path(
    operation_id = "close_booking",
    delete,
    path = "/api/v1/bookings/{booking_id}",
    tag = "bookings",
    params(("booking_id" = String, Path, description = "The booking's `booking_id`.")),
    responses(
        (status = 200, description = "The closed booking.", body = BookingView),
        (status = 400, description = "`invalid_text`: the id holds a NUL character.", body = ErrorBody),
        (status = 404, description = "`not_found`: no booking with this `booking_id`.", body = ErrorBody),
    )
)]
async fn close(
    who: AdminAuth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let booking = bookings::close(&state.db, &path, now)
        .await?
        .ok_or_else(|| ApiError::not_found("no booking with this booking_id"))?;
    forget_party_pins(&state, &booking.booking_id);
    let options = own_options(&state, &booking.booking_id).await?;
    tracing::info!(booking.id = %booking.booking_id, "booking closed");
    let view = BookingView::of(booking, now, &who)
        .with(options)
        .with_alternates(&state, &who)
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
