//! Admin UI: the page of a path or a record that does not exist, with the navigation (when
//! signed in) and a way back, instead of a bare text answer.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::AdminSession;
use super::orders::html;

#[derive(Template)]
#[template(path = "admin/not_found.html")]
struct NotFoundPage<'a> {
    signed_in: bool,
    section: &'a str,
    csrf: String,
    heading: &'a str,
    message: &'a str,
    back_href: &'a str,
    back_text: &'a str,
}

/// A 404 page: `heading`, `message`, and the link `back` (`(href, text)`); with the navigation
/// of `session` (marking `section`), or a sign-in link without one.
pub(super) fn page(
    session: Option<&AdminSession>,
    section: &str,
    heading: &str,
    message: &str,
    back: (&str, &str),
) -> actix_web::Result<HttpResponse> {
    let (back_href, back_text) = match session {
        Some(_) => back,
        None => ("/admin/login", "Sign in"),
    };
    html(
        StatusCode::NOT_FOUND,
        &NotFoundPage {
            signed_in: session.is_some(),
            section,
            csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
            heading,
            message,
            back_href,
            back_text,
        },
    )
}

/// Any path under `/admin` that no page answers: 404 with the navigation. The admin API's
/// unknown paths (`/api/...`) keep their JSON error.
pub(super) async fn unknown_path(session: Option<AdminSession>) -> actix_web::Result<HttpResponse> {
    page(
        session.as_ref(),
        "",
        "Page not found",
        "There is no admin page at this address. It may have been mistyped, or the link that led \
         here may be out of date.",
        ("/admin", "Go to the dashboard"),
    )
}
