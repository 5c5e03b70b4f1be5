#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver (packages chromium and chromium-driver) for the
# browser tests (tests/browser), only when /usr/bin/chromium or /usr/bin/chromedriver is
# missing: once they are there it does nothing. Nothing downloads a browser of its own.
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
fi

echo "install-browser: installing Debian's chromium and chromium-driver" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver; } \
    >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-browser: apt-get failed" >&2
    exit 1
fi

if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    echo "install-browser: /usr/bin/chromium or /usr/bin/chromedriver is still missing" >&2
    exit 1
fi
