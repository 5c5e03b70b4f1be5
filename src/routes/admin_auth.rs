//! Bearer-token authentication of the admin API.

use std::future::{Ready, ready};

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::startup::{AppState, token_digest};

/// Proof that the request carried the admin token (`Authorization: Bearer <token>`). Taking
/// it as a handler argument makes the handler answer 401 without it.
#[derive(Debug, Clone, Copy)]
pub struct AdminAuth;

impl FromRequest for AdminAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(ApiError::Internal(anyhow::anyhow!(
                "no application state"
            ))));
        };
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        // Digests have one length, so the comparison time says nothing about the token.
        let ok =
            token.is_some_and(|t| bool::from(token_digest(t).ct_eq(&state.admin_token_sha256)));
        ready(if ok {
            Ok(Self)
        } else {
            Err(ApiError::unauthorized())
        })
    }
}
