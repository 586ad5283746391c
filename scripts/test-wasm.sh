#!/usr/bin/env bash
# Browser tests of the wasm layer (`make test-wasm`):
#   1. wasm-bindgen-test in headless Chromium, in a dedicated worker (OPFS),
#      against the real reference sync server and a server of malformed
#      answers, both started here on free loopback ports and stopped by PID;
#   2. the built package in Node, in-process mode (needs `make package`);
#   3. the built package's worker.js in headless Chromium (Playwright).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/wasm}"
# The whole test binary shares one timeout (default 20 s).
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_http() { # URL NAME LOG
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "test-wasm: $2 did not start; its log:" >&2
  cat "$3" >&2
  exit 1
}

echo "test-wasm: building the reference sync server"
SERVER_BIN=$("$ROOT/scripts/server-bin.sh")

SERVER_PORT=$(free_port)
"$SERVER_BIN" --database "sqlite:$TMP/server.sqlite" --listen "127.0.0.1:$SERVER_PORT" >"$TMP/server.log" 2>&1 &
PIDS+=($!)
BAD_PORT=$(free_port)
PORT=$BAD_PORT node tests/wasm/bad-server.mjs >"$TMP/bad-server.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$SERVER_PORT/api/events?since=0" "the sync server" "$TMP/server.log"
wait_http "http://127.0.0.1:$BAD_PORT/html/api/events" "the malformed-answer server" "$TMP/bad-server.log"

# Baked into the test wasm at compile time (option_env!).
export ESDB_TEST_SERVER="http://127.0.0.1:$SERVER_PORT"
export ESDB_TEST_BAD_SERVER="http://127.0.0.1:$BAD_PORT"
echo "test-wasm: wasm-bindgen-test in headless Chromium (sync server $ESDB_TEST_SERVER)"
cargo test --target wasm32-unknown-unknown --test wasm

if [ -f pkg/index.js ]; then
  echo "test-wasm: the built package in Node (in-process mode)"
  node --test tests/wasm/in-process.test.mjs
  echo "test-wasm: the built package's worker in headless Chromium"
  node tests/wasm/browser/worker.mjs
else
  echo "test-wasm: pkg/ is missing; run 'make package' for the Node tests" >&2
  exit 1
fi
