#!/usr/bin/env bash
# The load benchmark (examples/load.rs): builds the release server and the load generator,
# then runs every call flow (docs/performance.md) against it on this machine. Arguments go to
# the benchmark (`--help` lists them), e.g.
#   scripts/load.sh                       # 1,000,000 orders, 20 s per phase, 2,000 steps/s
#   scripts/load.sh --flows exotel-recipe,twilio --seconds 5   # only those flows
#   scripts/load.sh --orders 100000 --seconds 10
#   scripts/load.sh --database-url postgres://...   # an empty database of yours
# Prints a table and writes target/load-report.json. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --bin pinbridge --example load
exec target/release/examples/load "$@"
