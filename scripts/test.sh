#!/usr/bin/env bash
# The whole test suite, on both database engines:
#   1. installs Debian's Chromium and ChromeDriver for the browser tests when missing;
#   2. `cargo test` on SQLite (a file per test), then scripts/sdk-check.sh: the provider
#      answers of the server binary checked against Twilio's, Plivo's and Vonage's Python SDKs
#      (installed in target/sdk-venv);
#   3. `cargo test` again on PostgreSQL: scripts/postgres.sh installs Debian's postgresql when
#      missing and starts a fresh server on loopback; each test gets a database of its own;
#   4. the multi-instance tests (tests/cluster, ignored in a plain `cargo test`): several
#      `pinbridge serve` processes on that server, which they stop and start, one at a time.
# Arguments go to every `cargo test` (e.g. `--locked`). SKIP_POSTGRES=1 runs step 2 only.
# The environment (TEST_LOG_FILE, TEST_LOG, RUST_LOG, ...) passes through unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-browser.sh

echo "== tests on SQLite"
env -u TEST_DATABASE_URL cargo test "$@"

echo "== provider answers against the providers' official Python SDKs"
scripts/sdk-check.sh target/debug/pinbridge

if [[ "${SKIP_POSTGRES:-}" == 1 ]]; then
    exit 0
fi

echo "== tests on PostgreSQL"
url=$(scripts/postgres.sh start --fresh)
trap 'scripts/postgres.sh stop || true' EXIT
TEST_DATABASE_URL="$url" cargo test "$@"

echo "== several instances on one PostgreSQL"
TEST_DATABASE_URL="$url" cargo test "$@" --test cluster -- --include-ignored --test-threads=1
