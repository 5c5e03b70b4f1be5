#!/usr/bin/env bash
# The whole test suite: installs Debian's Chromium and ChromeDriver for the browser tests
# (tests/browser) when they are missing, then `cargo test` with this script's arguments.
# The environment (TEST_LOG_FILE, TEST_LOG, RUST_LOG, ...) passes through unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-browser.sh
exec cargo test "$@"
