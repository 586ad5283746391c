#!/usr/bin/env bash
# `make test-package`: the built package (pkg/, from `make package`) in Node,
# in-process over in-memory SQLite, with and without the reference sync
# server; then the type-level tests of its declarations.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
echo "test-package: building the reference sync server"
export ESDB_SYNC_SERVER_BIN="${ESDB_SYNC_SERVER_BIN:-$("$ROOT/scripts/server-bin.sh")}"
./install-built.sh .
node --test --test-concurrency=1 binding.test.mjs server.test.mjs ordering.test.mjs
echo "test-package: type-checking the README's usage against the package's declarations"
npx --no-install tsc -p tsconfig.json
echo "test-package: passed"
