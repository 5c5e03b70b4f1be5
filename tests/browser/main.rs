//! End-to-end tests of the admin web UI in headless Chromium, driven through ChromeDriver
//! (WebDriver, with fantoccini), against the app on port 0 with a fresh SQLite file.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`): `scripts/install-browser.sh` installs them, and `scripts/test.sh`
//! runs it before `cargo test`. Each page a test looks at is saved as
//! `target/screenshots/<test>-<page>.png`.

// The shared helpers; this binary uses a part of them.
#[allow(dead_code, unused_imports)]
#[path = "../common/mod.rs"]
mod common;

mod admin;
mod harness;
mod operations;
