#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the sync server's tests and
# benchmark (there is no Docker here). Idempotent: `start` on a running
# cluster only prints its URL again.
#
#   scripts/postgres.sh start [DIR]   init (once) and start; prints the URL
#   scripts/postgres.sh url [DIR]     print the URL of the running cluster
#   scripts/postgres.sh stop [DIR]    stop the cluster (the files stay)
#   scripts/postgres.sh destroy [DIR] stop and delete DIR
#
# DIR defaults to $PGTEST_DIR, else target/pgtest. The URL is also written to
# DIR/url, so a caller can do:
#   export EVENTSOURCED_TEST_POSTGRES_URL=$(scripts/postgres.sh start)
set -euo pipefail
cd "$(dirname "$0")/.."

cmd="${1:-start}"
dir="${2:-${PGTEST_DIR:-target/pgtest}}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
data="$dir/data"
sock="$dir/socket"
log="$dir/postgres.log"
db="eventsourced_test"

log() { echo "postgres.sh: $*" >&2; }

ensure_installed() {
  if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    log "installing Debian's postgresql"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  fi
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
}

# Runs a PostgreSQL program as the cluster's owner: initdb and postgres refuse root.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

running() {
  [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

url() {
  echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/$db"
}

start() {
  ensure_installed
  if [ "$(id -u)" -eq 0 ]; then
    # The cluster's owner must reach DIR (and so traverse its parents).
    chown postgres: "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
      log "the postgres user cannot reach $dir: pick a DIR under /tmp"
      exit 1
    fi
  fi
  if running; then
    url | tee "$dir/url"
    return
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising a cluster in $data"
    # trust on loopback only: a throwaway test cluster, never exposed.
    as_owner "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
  fi
  mkdir -p "$sock"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$sock"
  local port
  port="$(free_port)"
  echo "$port" >"$dir/port"
  # fsync off by default: throwaway data, and tests should not wait on the disk.
  # PGTEST_FSYNC=on for durable figures (the benchmark notes which one it ran).
  as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $sock -c fsync=${PGTEST_FSYNC:-off} -c full_page_writes=${PGTEST_FSYNC:-off} -c max_connections=300 -c shared_buffers=128MB" >/dev/null
  as_owner "$bin/psql" -h "$sock" -p "$port" -U postgres -d postgres -qtAc \
    "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
    as_owner "$bin/psql" -h "$sock" -p "$port" -U postgres -d postgres -qc "CREATE DATABASE $db" >/dev/null
  log "running on 127.0.0.1:$port (log $log)"
  url | tee "$dir/url"
}

stop() {
  ensure_installed
  if running; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    log "stopped"
  fi
}

case "$cmd" in
  start) start ;;
  url) ensure_installed; running || { log "not running"; exit 1; }; url ;;
  stop) stop ;;
  destroy) stop; rm -rf "$dir" ;;
  *) echo "usage: $0 [start|url|stop|destroy] [DIR]" >&2; exit 2 ;;
esac
