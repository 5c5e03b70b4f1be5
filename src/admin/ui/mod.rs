//! The admin web UI under `/admin`: server-rendered askama pages that work without
//! JavaScript, for the operations staff who run the masking service.
//!
//! Owns: the pages, their forms and their templates under `templates/admin/`. Must not touch:
//! SQL (storage), the JSON API's shapes (it calls the same storage functions itself).
//!
//! Every page takes an [`AdminSession`] (no session: redirect to sign-in) and every form
//! carries the session's CSRF token, checked with [`AdminSession::check_csrf`]. Page templates
//! extend `templates/admin/base.html`, whose struct fields `signed_in`, `section` (the nav
//! entry: dashboard, calls, orders, trusted-callers, bookings, greetings, test-call) and `csrf`
//! every page struct must have.
//!
//! A form sent back with mistakes shows every one at once ([`form`]); one that carried an
//! expired CSRF token is shown again, filled in, rather than refused
//! ([`AdminSession::form_is_fresh`]). An action that can not be undone asks first on a page
//! of its own (`confirm`), and every action ends on a page that says what it did (a notice,
//! after a redirect: post/redirect/get).
//!
//! A path under `/admin` that no page answers gets the 404 page of [`not_found`], with the
//! navigation. Every response under `/admin` carries the headers of [`security::headers`]; the
//! pages use no inline script or style, which that policy refuses. So does the admin API's page
//! ([`api_docs`], `/api/v1/docs`), which renders the API's OpenAPI document.

pub mod api_docs;
mod bookings;
mod call_options;
mod calls;
mod confirm;
mod dashboard;
pub mod form;
mod greetings;
mod local_time;
mod not_found;
mod orders;
pub mod security;
pub mod session;
mod test_call;
mod trusted_callers;
mod upload;

use actix_web::web;

pub use session::AdminSession;

/// Registers the admin UI's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .wrap(security::headers())
            .route("/static/admin.css", web::get().to(security::stylesheet))
            .route("/login", web::get().to(session::login_form))
            .route("/login", web::post().to(session::login))
            .route("/logout", web::post().to(session::logout))
            .configure(dashboard::configure)
            .configure(calls::configure)
            .configure(orders::configure)
            .configure(bookings::configure)
            .configure(greetings::configure)
            .configure(test_call::configure)
            .configure(trusted_callers::configure)
            .default_service(web::to(not_found::unknown_path)),
    );
}
