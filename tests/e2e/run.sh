#!/usr/bin/env bash
# `make test-e2e`: the demo app against the reference sync server in Debian's
# headless Chromium. Builds only what is missing (the package if pkg/ is
# absent, the server's debug binary incrementally); the node test starts
# and stops the server, `vite preview` and Chromium by PID.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
[ -x /usr/bin/chromium ] || { echo "test-e2e: /usr/bin/chromium is missing (scripts/setup.sh apt)" >&2; exit 1; }
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
[ -d "$ROOT/examples/todo-react/node_modules" ] || (cd "$ROOT/examples/todo-react" && npm ci --no-audit --no-fund --loglevel=error)
[ -f "$ROOT/pkg/index.js" ] || make -C "$ROOT" package
export ESDB_SYNC_SERVER_BIN="${ESDB_SYNC_SERVER_BIN:-$("$ROOT/scripts/server-bin.sh")}"
echo "test-e2e: type-checking the demo app"
(cd "$ROOT/examples/todo-react" && npx --no-install tsc -p tsconfig.json)
SHOTS="${E2E_SCREENSHOTS:-$ROOT/target/e2e-screenshots}"
node --test --test-concurrency=1 e2e.test.mjs || { echo "test-e2e: FAILED; screenshots in $SHOTS" >&2; exit 1; }
echo "test-e2e: passed; screenshots in $SHOTS"
