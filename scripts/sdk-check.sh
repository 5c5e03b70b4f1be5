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
if [[ ! -f "$venv/.installed" ]] || [[ "$(cat "$venv/.installed")" != "${packages[*]}" ]]; then
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        echo "== installing python3-venv (Debian)"
        sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
        "${sudo_cmd[@]}" apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "${packages[@]}"
    echo "${packages[*]}" > "$venv/.installed"
fi
binary=${1:-target/debug/pinbridge}
if [[ ! -x "$binary" ]]; then
    cargo build --bin pinbridge
fi
"$venv/bin/python" scripts/sdk_check.py "$binary"
