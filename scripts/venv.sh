#!/usr/bin/env bash
# Makes sure the Python virtual environment DIR holds exactly PACKAGES (pip requirements,
# pinned), creating it the first time or when the list changed; installs Debian's
# python3-venv first if Python lacks it. Used by scripts/sdk-check.sh and scripts/load.sh.
#   scripts/venv.sh DIR PACKAGE...
set -euo pipefail
venv=$1
shift
if [[ ! -f "$venv/.installed" ]] || [[ "$(cat "$venv/.installed")" != "$*" ]]; then
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        echo "== installing python3-venv (Debian)"
        sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
        "${sudo_cmd[@]}" apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$@"
    echo "$*" > "$venv/.installed"
fi
