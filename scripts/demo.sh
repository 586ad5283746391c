#!/usr/bin/env bash
# `make demo`: the reference sync server on its embedded SQLite (with the demo
# rule: todos need a non-empty title) and examples/todo-react at
# http://localhost:5173. make's `setup` and `package` targets run first;
# run directly, this builds only what is missing. Ctrl-C stops everything
# it started (by PID).
#
#   DEMO_SERVER_PORT=8787    the sync server's port
#   DEMO_DATA_DIR=target/demo  where the server keeps its SQLite file
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SERVER_PORT=${DEMO_SERVER_PORT:-8787}
APP_PORT=5173
DATA_DIR=${DEMO_DATA_DIR:-$ROOT/target/demo}
SYNC_URL="http://127.0.0.1:$SERVER_PORT/api/events"
APP_DIR=examples/todo-react

[ -d "$APP_DIR/node_modules" ] || scripts/setup.sh npm
[ -f pkg/index.js ] || make package

echo "demo: building the sync server"
SERVER_BIN=$(scripts/server-bin.sh)
echo "demo: building the app (sync URL $SYNC_URL)"
(cd "$APP_DIR" && VITE_SYNC_URL="$SYNC_URL" npx --no-install vite build --logLevel warn)

# Readiness by HTTP through node (always here; curl may not be).
http_ok() { node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"; }
wait_for() { # URL PID WHAT
  for _ in $(seq 1 150); do
    http_ok "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "demo: $3 exited; is port ${4:-} in use?" >&2; return 1; }
    sleep 0.2
  done
  echo "demo: $3 did not answer at $1" >&2
  return 1
}

PIDS=()
stop_all() {
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "demo: stopped"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

mkdir -p "$DATA_DIR"
"$SERVER_BIN" \
  --listen "127.0.0.1:$SERVER_PORT" \
  --database "sqlite:$DATA_DIR/sync-server.sqlite" \
  --demo-rules &
PIDS+=($!)
wait_for "http://127.0.0.1:$SERVER_PORT/healthz" "${PIDS[-1]}" "the sync server" "$SERVER_PORT"

# exec: the recorded PID is vite's own, not a wrapper's.
(cd "$APP_DIR" && exec node_modules/.bin/vite preview --port "$APP_PORT" --strictPort) &
PIDS+=($!)
wait_for "http://localhost:$APP_PORT/" "${PIDS[-1]}" "vite preview" "$APP_PORT"

cat <<MSG

  Todo demo:    http://localhost:$APP_PORT/
  Sync server:  http://127.0.0.1:$SERVER_PORT  (SQLite: $DATA_DIR/sync-server.sqlite, --demo-rules)

  Open the page in two browser profiles (or a normal and a private window) to
  see two devices sync. "Work offline" pauses sync; a todo with an empty title
  is rejected by the server and rolled back.
  Ctrl-C stops the demo.

MSG
# Whichever stops first (or Ctrl-C) ends the demo; the trap stops the other.
wait -n "${PIDS[@]}"
