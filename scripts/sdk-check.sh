#!/usr/bin/env bash
# pinbridge's provider answers checked against the providers' official Python SDKs
# (scripts/sdk_check.py says what is checked). Installs the SDKs, at the versions below, in
# target/sdk-venv the first time; then runs the checks against the server binary given, or
# target/debug/pinbridge (built by `cargo build` or `cargo test`).
#   scripts/sdk-check.sh [path/to/pinbridge]
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/sdk-venv
# The SDKs the checks were written against; pip resolves their own dependencies.
packages=(twilio==9.13.0 plivo==4.63.0 vonage==4.9.1 PyJWT==2.15.1)
scripts/venv.sh "$venv" "${packages[@]}"
binary=${1:-target/debug/pinbridge}
if [[ ! -x "$binary" ]]; then
    cargo build --bin pinbridge
fi
"$venv/bin/python" scripts/sdk_check.py "$binary"
