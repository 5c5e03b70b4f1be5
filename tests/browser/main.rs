//! End-to-end tests of the admin web UI in headless Chromium, driven through ChromeDriver
//! (WebDriver, with fantoccini), against the app on port 0 with a fresh SQLite file.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`): `scripts/install-browser.sh` installs them, and `scripts/test.sh`
//! runs it before `cargo test`. Each page a test looks at is saved as
//! `target/screenshots/<test>-<page>.png`.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod admin;
mod harness;
