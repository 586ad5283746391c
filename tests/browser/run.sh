#!/usr/bin/env bash
# `make test-browser`: the built package in Debian's headless Chromium via
# playwright-core (OPFS, reloads, two contexts, the README's usage section,
# several tabs of one database) against the reference sync server on loopback.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
[ -x /usr/bin/chromium ] || { echo "test-browser: /usr/bin/chromium is missing (scripts/setup.sh apt)" >&2; exit 1; }
export ESDB_SYNC_SERVER_BIN="${ESDB_SYNC_SERVER_BIN:-$("$ROOT/scripts/server-bin.sh")}"
../package/install-built.sh .
echo "test-browser: type-checking the test pages (the README's usage) against the package"
npx --no-install tsc -p tsconfig.json
node --test --test-concurrency=1 browser.test.mjs multitab.test.mjs
echo "test-browser: passed"
