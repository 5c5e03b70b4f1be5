//! Errors of the admin API: JSON bodies `{"error": {"code": "...", "message": "..."}}`.
//!
//! Provider webhooks do not use this type: a caller must hear something playable, so their
//! handlers turn every failure into a safe answer themselves (see `routes::exotel`).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// The body of every admin API error: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(
    as = Error,
    example = json!({"error": {"code": "not_found", "message": "no order with this order_id"}})
)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable (`invalid_body`, `not_found`, `pii_required`, ...): what a
    /// client branches on. Each operation lists the codes it answers.
    pub code: &'static str,
    /// For people: names the field or parameter that is wrong, in plain words. Its wording may
    /// change.
    pub message: String,
}

/// An admin API error: an HTTP status, a stable machine-readable code, and a message for people.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A 4xx the client can fix.
    #[error("{message}")]
    Client {
        status: StatusCode,
        code: &'static str,
        message: String,
    },
    /// Anything else: logged with its cause chain, answered as a 500 without details.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::client(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 with `code`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::CONFLICT, code, message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::client(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the admin token as 'Authorization: Bearer <token>'",
        )
    }

    /// 403 `pii_required`: a filter by `what` (a phone number, a PIN) asked with an admin
    /// token that may not see personal data. Answering it, even with an empty list, would
    /// confirm or rule out a guessed number or PIN, so it is refused whatever it would find.
    pub fn pii_required(what: &str) -> Self {
        Self::client(
            StatusCode::FORBIDDEN,
            "pii_required",
            format!(
                "{what} needs an admin token that may see personal data \
                 (one marked :pii in PINBRIDGE_ADMIN_TOKENS)"
            ),
        )
    }

    /// The error's code (`invalid_body`, `internal`): what a log line may say of it, since
    /// the message can quote the request.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Client { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }

    /// Any client error.
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::Client {
            status,
            code,
            message: message.into(),
        }
    }
}

/// A database that can not be reached is a 503 the client may retry; text the database can
/// not hold (a NUL character, which PostgreSQL refuses) is a 400; anything else a 500.
impl From<crate::storage::Error> for ApiError {
    fn from(e: crate::storage::Error) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "admin API request: database unavailable");
            return Self::client(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; retry shortly",
            );
        }
        if e.is_unstorable_text() {
            return Self::bad_request(
                "invalid_text",
                "the request holds a NUL character, which no field may hold",
            );
        }
        Self::Internal(anyhow::Error::new(e).context("database error"))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Client { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (code, message) = match self {
            Self::Client { code, message, .. } => (*code, message.clone()),
            Self::Internal(e) => {
                tracing::error!(error.cause_chain = ?e, "admin API request failed");
                (
                    "internal",
                    "an internal error occurred; see the server log".to_owned(),
                )
            }
        };
        let mut response = HttpResponse::build(self.status_code());
        if self.status_code() == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let mut response = response.json(ErrorBody {
            error: ErrorDetail { code, message },
        });
        response
            .extensions_mut()
            .insert(crate::telemetry::ErrorCode(code));
        response
    }
}
