#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the PostgreSQL pass of the tests and for trying
# several instances locally. Not a production setup: trust authentication, fsync off.
#
#   scripts/postgres.sh start [--fresh]   install (Debian's postgresql) when missing, init, start
#   scripts/postgres.sh stop              stop it (fast shutdown: sessions are cut)
#   scripts/postgres.sh kill              stop it at once (immediate shutdown, like a crash)
#   scripts/postgres.sh url               print its URL: postgres://pinbridge@127.0.0.1:PORT/postgres
#   scripts/postgres.sh status
#
# TEST_PG_PORT (default 54329) is its port; TEST_PG_DIR (default
# /tmp/pinbridge-postgres-PORT) holds the cluster. As root, the server runs as Debian's
# `postgres` user (PostgreSQL refuses to run as root), which must be able to reach that
# directory: the default is outside the checkout, which may lie under a private home.
set -euo pipefail
cd "$(dirname "$0")/.."

port=${TEST_PG_PORT:-54329}
dir=${TEST_PG_DIR:-${TMPDIR:-/tmp}/pinbridge-postgres-$port}
url="postgres://pinbridge@127.0.0.1:${port}/postgres"

bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        if [[ -x "$d/initdb" ]]; then
            echo "$d"
            return
        fi
    done
    return 1
}

install() {
    if bindir >/dev/null; then
        return
    fi
    echo "postgres.sh: installing Debian's postgresql" >&2
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >&2
    # The package starts its own cluster on 5432; this script does not use it.
    $sudo service postgresql stop >/dev/null 2>&1 || true
}

# Runs a PostgreSQL program as the user that owns the cluster.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

running() {
    [[ -f "$dir/PG_VERSION" ]] && as_owner "$(bindir)/pg_ctl" -D "$dir" status >/dev/null 2>&1
}

start() {
    install
    local bin
    bin=$(bindir)
    if [[ "${1:-}" == "--fresh" ]]; then
        if running; then as_owner "$bin/pg_ctl" -D "$dir" -m immediate stop >/dev/null; fi
        rm -rf "$dir"
    fi
    if running; then
        echo "$url"
        return
    fi
    if [[ ! -f "$dir/PG_VERSION" ]]; then
        mkdir -p "$dir"
        [[ $(id -u) -ne 0 ]] || chown postgres:postgres "$dir"
        as_owner "$bin/initdb" -D "$dir" -U pinbridge --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$dir/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 400
shared_buffers = 128MB
# A test cluster: losing it on a power cut is fine, waiting for the disk is not.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    fi
    as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
    echo "$url"
}

case "${1:-}" in
start) start "${2:-}" ;;
stop) if running; then as_owner "$(bindir)/pg_ctl" -D "$dir" -m fast -w stop >/dev/null; fi ;;
kill) if running; then as_owner "$(bindir)/pg_ctl" -D "$dir" -m immediate -w stop >/dev/null; fi ;;
url) echo "$url" ;;
status) if running; then echo "running: $url"; else echo "stopped"; exit 1; fi ;;
*)
    echo "usage: scripts/postgres.sh start [--fresh] | stop | kill | url | status" >&2
    exit 2
    ;;
esac
