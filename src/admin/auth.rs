//! Bearer-token authentication of the admin API, with several named tokens
//! (`PINBRIDGE_ADMIN_TOKENS`) so that one can be rotated without downtime.

use std::future::{Ready, ready};

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use subtle::{Choice, ConstantTimeEq};

use crate::config::AdminToken;
use crate::domain::token_digest;
use crate::http::error::ApiError;
use crate::http::source::client_ip;
use crate::state::AppState;

/// Proof that the request carried an admin token (`Authorization: Bearer <token>`): which one,
/// and whether it may see personal data. Taking it as a handler argument makes the handler
/// answer 401 without it, or 429 once its source has failed too often.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    /// The token's name, for logs.
    pub name: String,
    /// Whether it may see personal data: full phone numbers and PINs, and filters by them.
    pub pii: bool,
}

impl AdminAuth {
    /// `number` as this token may see it: in full with `pii`, masked (`+91******5678`) without.
    pub fn show(&self, number: String) -> String {
        crate::domain::number_for(self.pii, number)
    }

    /// An order's `pin` as this token may see it: in full with `pii`, else [`crate::domain::MASKED_PIN`]. With
    /// the public virtual number, a PIN reaches the customer as surely as their number does.
    pub fn show_pin(&self, pin: String) -> String {
        crate::domain::pin_for(self.pii, pin)
    }

    /// Ok when this token may filter by `what` (a phone number, a PIN); else 403
    /// `pii_required` ([`ApiError::pii_required`]).
    pub fn may_filter_by(&self, what: &str) -> Result<(), ApiError> {
        self.may(&format!("filtering by {what}"))
    }

    /// Ok when this token may see personal data, as `doing` (what the request does, for the
    /// message: "choosing an order's PIN") needs; else 403 `pii_required`.
    pub fn may(&self, doing: &str) -> Result<(), ApiError> {
        if self.pii {
            Ok(())
        } else {
            Err(ApiError::pii_required(doing))
        }
    }
}

impl FromRequest for AdminAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal(anyhow::anyhow!(
                "no application state"
            ))));
        };
        ready(authenticate(state, req))
    }
}

/// The admin token `token` is, if any: every stored digest is compared in constant time,
/// whatever matches, so the time taken says nothing about which token, or how much of one,
/// was right.
pub fn find_token<'a>(state: &'a AppState, token: &str) -> Option<&'a AdminToken> {
    let digest = token_digest(token);
    let mut found: Option<&AdminToken> = None;
    for candidate in state.admin_tokens() {
        let hit: Choice = digest.ct_eq(&candidate.sha256);
        if bool::from(hit) {
            found = Some(candidate);
        }
    }
    found
}

fn authenticate(state: &AppState, req: &HttpRequest) -> Result<AdminAuth, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    if let Some(t) = token.and_then(|token| find_token(state, token)) {
        return Ok(AdminAuth {
            name: t.name.clone(),
            pii: t.pii,
        });
    }
    // A failure costs the source one unit of its allowance (PINBRIDGE's fixed 10 a minute);
    // past it, failures are answered 429 until the allowance refills.
    if let Some(ip) = client_ip(req, &state.settings.access.trusted_proxies)
        && state.auth_failures.check_key(&ip).is_err()
    {
        tracing::warn!("admin API: too many failed authentications from one source");
        return Err(ApiError::client(
            actix_web::http::StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many failed authentications; wait a minute",
        ));
    }
    Err(ApiError::unauthorized())
}
