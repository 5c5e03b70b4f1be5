//! What the test binaries share (`api`, `browser`, `cluster`): the settings tests use, the
//! application on port 0 with a fresh database ([`app`]), the test databases ([`database`]),
//! the Exotel call a test places ([`exotel`]), signing in to the admin UI ([`admin_ui`]) and the
//! check of every admin API answer against the OpenAPI document ([`openapi`]).
//! Each binary declares it with `#[path = "../common/mod.rs"] mod common;` (a plain
//! `mod common;` in `tests/<binary>/main.rs` would name `tests/<binary>/common.rs`); what is
//! of use to one binary only stays in that binary.

mod admin_ui;
mod app;
mod database;
mod exotel;
mod openapi;

pub use admin_ui::{admin_csrf, set_cookie, sign_in_at, sign_in_form};
pub use app::{TestApp, spawn_app, spawn_app_with};
pub use database::{fresh_database_url, test_postgres_url};
pub use exotel::Call;
pub use openapi::{ApiCheck, Checker, document as openapi_document};

/// The admin token of every test app and instance.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The Exotel URL secret of every test app and instance.
pub const EXOTEL_SECRET: &str = "test-exotel-secret-0123456789";

/// The virtual number of the seeds (`CallTo=07314853246`).
pub const VIRTUAL_NUMBER: &str = "07314853246";
/// The customer tests create orders for, and its E.164 form.
pub const CUSTOMER: &str = "09812345678";
/// [`CUSTOMER`] in E.164.
pub const CUSTOMER_E164: &str = "+919812345678";
