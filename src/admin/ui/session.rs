//! Sign-in to the admin web UI: an admin token once, then a session cookie (HttpOnly,
//! SameSite=Strict, Secure when served over https), with a CSRF token on every form.
//!
//! The sign-in form has a CSRF token of its own before any session exists (login CSRF: a
//! page elsewhere must not sign an operator's browser in under a token of the attacker's
//! choosing): a random token in a cookie of the sign-in path and in the form's hidden field,
//! which must match (double submit). Another site can neither read the cookie nor make the
//! browser send it (SameSite=Strict), so it can not fill in the field.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header::LOCATION;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};
use askama::Template;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::admin::auth::find_token;
use crate::domain::clock::now_ms;
use crate::domain::{random_token, token_digest};
use crate::state::AppState;
use crate::storage::admin_sessions;

/// The session cookie's name.
pub const COOKIE: &str = "pinbridge_session";
/// The name of the cookie that holds the sign-in form's CSRF token.
pub const LOGIN_COOKIE: &str = "pinbridge_login";
/// How long a sign-in lasts.
const SESSION_HOURS: i64 = 12;
/// Characters of a sign-in form's CSRF token (about 256 bits of [`random_token`]'s alphabet).
const LOGIN_TOKEN_LEN: usize = 43;

/// A signed-in operator. Taking it as a handler argument sends anyone without a live session
/// to the sign-in page.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// The admin token's name, for logs.
    pub token_name: String,
    /// Whether personal data is shown (full phone numbers and PINs) and may be searched by.
    pub pii: bool,
    /// The token every form of this session carries in its `csrf` field.
    pub csrf: String,
    /// The cookie digest, to end the session.
    id_sha256: String,
}

impl AdminSession {
    /// Refuses (403) a form whose `csrf` field is not this session's token.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), actix_web::Error> {
        if same_token(submitted, &self.csrf) {
            Ok(())
        } else {
            tracing::warn!("admin UI: a form without its CSRF token was refused");
            Err(actix_web::error::InternalError::from_response(
                "csrf",
                HttpResponse::Forbidden()
                    .content_type("text/plain; charset=utf-8")
                    .body("This form has expired or did not come from pinbridge. Go back, reload the page and try again."),
            )
            .into())
        }
    }

    /// Whether a form that keeps what was typed carries this session's CSRF token. When it
    /// does not, the handler does nothing and shows the form again, filled in, with a fresh
    /// token (a form opened before a sign-in or sign-out is not thrown away); logged like a
    /// refusal.
    pub fn form_is_fresh(&self, submitted: &str) -> bool {
        let fresh = same_token(submitted, &self.csrf);
        if !fresh {
            tracing::warn!("admin UI: a form without its CSRF token was shown again, not applied");
        }
        fresh
    }

    /// `number` as this operator may see it: masked unless the token may see personal data.
    pub fn show(&self, number: String) -> String {
        crate::domain::number_for(self.pii, number)
    }

    /// An order's `pin` as this operator may see it: [`crate::domain::MASKED_PIN`] unless the
    /// token may see personal data.
    pub fn show_pin(&self, pin: String) -> String {
        crate::domain::pin_for(self.pii, pin)
    }
}

/// What a page says when a session without access to personal data searches by a phone
/// number or a PIN: a search that finds (or does not find) an order or a call by them would
/// confirm a guessed number or PIN, so it is not run.
pub const PII_SEARCH_REFUSED: &str = "This sign-in may not search by phone number or PIN. \
    Sign in with an admin token that may see personal data (marked :pii in PINBRIDGE_ADMIN_TOKENS) to search by them.";

/// Whether `submitted` is `expected`, compared in constant time; an empty token never is.
fn same_token(submitted: &str, expected: &str) -> bool {
    !expected.is_empty()
        && submitted.len() == expected.len()
        && bool::from(submitted.as_bytes().ct_eq(expected.as_bytes()))
}

fn to_sign_in() -> actix_web::Error {
    actix_web::error::InternalError::from_response(
        "not signed in",
        HttpResponse::SeeOther()
            .insert_header((LOCATION, "/admin/login"))
            .finish(),
    )
    .into()
}

impl FromRequest for AdminSession {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let cookie = req.cookie(COOKIE).map(|c| c.value().to_owned());
        Box::pin(async move {
            let (Some(state), Some(cookie)) = (state, cookie) else {
                return Err(to_sign_in());
            };
            let id_sha256 = hex::encode(token_digest(&cookie));
            let found = admin_sessions::find(&state.db, &id_sha256, now_ms())
                .await
                .map_err(actix_web::error::ErrorServiceUnavailable)?;
            let row = found.ok_or_else(to_sign_in)?;
            Ok(Self {
                token_name: row.token_name,
                pii: row.pii,
                csrf: row.csrf,
                id_sha256,
            })
        })
    }
}

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage<'a> {
    signed_in: bool,
    section: &'static str,
    /// The sign-in form's CSRF token, also in the [`LOGIN_COOKIE`] cookie.
    csrf: &'a str,
    error: Option<&'static str>,
}

/// The sign-in form's CSRF token of this browser: the one its [`LOGIN_COOKIE`] holds, when it
/// looks like one pinbridge made (several open sign-in tabs then share it), else a new one.
fn login_token(req: &HttpRequest) -> String {
    req.cookie(LOGIN_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|t| t.len() == LOGIN_TOKEN_LEN && t.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| random_token(LOGIN_TOKEN_LEN))
}

/// The cookie that carries `token`: only sent back to the sign-in form's own path, never to
/// another site's request, and out of reach of scripts.
fn login_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    Cookie::build(LOGIN_COOKIE, token.to_owned())
        .path("/admin/login")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.public_url.starts_with("https://"))
        .finish()
}

/// The sign-in page with `status`, `error` shown above the form, and the CSRF token `token`
/// in the form and in its cookie.
fn login_page(
    state: &AppState,
    status: actix_web::http::StatusCode,
    token: &str,
    error: Option<&'static str>,
) -> actix_web::Result<HttpResponse> {
    let page = LoginPage {
        signed_in: false,
        section: "login",
        csrf: token,
        error,
    };
    let body = page
        .render()
        .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(HttpResponse::build(status)
        .cookie(login_cookie(state, token))
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// `GET /admin/login`.
pub async fn login_form(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> actix_web::Result<HttpResponse> {
    login_page(
        &state,
        actix_web::http::StatusCode::OK,
        &login_token(&req),
        None,
    )
}

/// The sign-in form. A missing field is empty: a missing CSRF token is refused like a wrong
/// one, a missing admin token like a wrong one.
#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /admin/login`: a valid admin token starts a session and goes to the dashboard; an
/// invalid one shows the form again (401), and too many from one source are slowed (429).
/// A form whose CSRF token is not its cookie's (or without either) is refused first (403,
/// the form again with a fresh token), whatever token it carries.
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> actix_web::Result<HttpResponse> {
    let expected = req
        .cookie(LOGIN_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !same_token(&form.csrf, &expected) {
        tracing::warn!("admin UI: a sign-in without its CSRF token was refused");
        return login_page(
            &state,
            actix_web::http::StatusCode::FORBIDDEN,
            &random_token(LOGIN_TOKEN_LEN),
            Some("This sign-in form has expired or did not come from pinbridge. Try again."),
        );
    }
    let Some(token) = find_token(&state, form.token.trim()) else {
        let limited = crate::http::source::client_ip(&req, &state.settings.access.trusted_proxies)
            .is_some_and(|ip| state.auth_failures.check_key(&ip).is_err());
        let (status, message) = if limited {
            (
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts. Wait a minute and try again.",
            )
        } else {
            (
                actix_web::http::StatusCode::UNAUTHORIZED,
                "That token is not valid.",
            )
        };
        return login_page(&state, status, &expected, Some(message));
    };
    let cookie_value = random_token(43);
    let csrf = random_token(32);
    let now = now_ms();
    admin_sessions::create(
        &state.db,
        &hex::encode(token_digest(&cookie_value)),
        &token.name,
        token.pii,
        &csrf,
        now,
        now + SESSION_HOURS * 3600 * 1000,
    )
    .await
    .map_err(actix_web::error::ErrorServiceUnavailable)?;
    tracing::info!(admin.token = %token.name, "admin UI: signed in");
    let cookie = Cookie::build(COOKIE, cookie_value)
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.public_url.starts_with("https://"))
        .max_age(CookieDuration::hours(SESSION_HOURS))
        .finish();
    // The sign-in form's token has served its purpose.
    let mut spent = login_cookie(&state, "");
    spent.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .cookie(spent)
        .insert_header((LOCATION, "/admin"))
        .finish())
}

/// A form that only carries its CSRF token. A missing field is an empty token, refused by
/// [`AdminSession::check_csrf`] with 403 like a wrong one.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /admin/logout`: ends the session and clears the cookie.
pub async fn logout(
    state: web::Data<AppState>,
    session: AdminSession,
    form: web::Form<CsrfForm>,
) -> actix_web::Result<HttpResponse> {
    session.check_csrf(&form.csrf)?;
    admin_sessions::delete(&state.db, &session.id_sha256, now_ms())
        .await
        .map_err(actix_web::error::ErrorServiceUnavailable)?;
    let mut gone = Cookie::build(COOKIE, "").path("/admin").finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((LOCATION, "/admin/login"))
        .finish())
}
