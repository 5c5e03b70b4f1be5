#!/usr/bin/env bash
# The load benchmark (examples/load.rs): builds the release server and the load generator,
# then runs every call flow (docs/performance.md) against it on this machine. Arguments go to
# the benchmark (`--help` lists them), e.g.
#   scripts/load.sh                       # 1,000,000 orders, 20 s per phase, 2,000 steps/s
#   scripts/load.sh --flows exotel-recipe,twilio --seconds 5   # only those flows
#   scripts/load.sh --orders 100000 --seconds 10
#   scripts/load.sh --database-url postgres://...   # an empty database of yours
#   scripts/load.sh --flask               # also Exotel's recipe against the seeds' Flask design
# With --flask, Flask and gunicorn (the versions below) are installed in target/flask-venv the
# first time. Prints a table and writes target/load-report.json. Not part of the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
flask=()
for arg in "$@"; do
    if [[ "$arg" == --flask ]]; then
        venv=target/flask-venv
        packages=(Flask==3.1.3 gunicorn==27.0.1)
        scripts/venv.sh "$venv" "${packages[@]}"
        flask=(--flask-python "$venv/bin/python")
    else
        args+=("$arg")
    fi
done
cargo build --release --locked --bin pinbridge --example load
exec target/release/examples/load ${args[@]+"${args[@]}"} ${flask[@]+"${flask[@]}"}
