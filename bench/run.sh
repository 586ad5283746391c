#!/usr/bin/env bash
# `make bench`: the native core bench, then the browser suite side by side
# (run.mjs). Release builds only: the package (pkg/, `make package`) is
# installed from its packed tarball as a user gets it; the floor crate and the
# sync server are built here. Writes target/bench/results.json, prints a table.
#   BENCH_RUNS=5 (default)  BENCH_QUICK=1 (2 runs, 10k pull)
#   BENCH_CASES=latency,burst,batch,cold10k,cold100k,pull,roundTrip,sizes (a subset)
#   BENCH_BURST10K_RUNS=1 (ours' 10k separate inserts take 1-2 minutes each)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
[ -x /usr/bin/chromium ] || { echo "bench: /usr/bin/chromium is missing (scripts/setup.sh apt)" >&2; exit 1; }
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error

# The floor's wasm: same SQLite, VFS opener, profile and wasm-opt as the package's
# (its own workspace, in a sub-directory of the shared cargo target dir).
FLOOR_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/bench-floor"
echo "bench: building the floor wasm (raw SQLite, wasm-release)"
(cd floor && CARGO_TARGET_DIR="$FLOOR_TARGET" cargo build -q --lib --target wasm32-unknown-unknown --profile wasm-release)
wasm-bindgen --target web --out-dir "$FLOOR_TARGET/bindgen" \
  "$FLOOR_TARGET/wasm32-unknown-unknown/wasm-release/eventsourced_bench_floor.wasm"
[ -x "$ROOT/js/node_modules/.bin/wasm-opt" ] || (cd "$ROOT/js" && npm ci --no-audit --no-fund --loglevel=error)
"$ROOT/js/node_modules/.bin/wasm-opt" -Oz --strip-debug --strip-producers \
  --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-multivalue --enable-reference-types \
  -o "$FLOOR_TARGET/bindgen/eventsourced_bench_floor_bg.wasm" "$FLOOR_TARGET/bindgen/eventsourced_bench_floor_bg.wasm"
export BENCH_FLOOR_DIR="$FLOOR_TARGET/bindgen"

echo "bench: building the reference sync server (release)"
ESDB_SYNC_SERVER_BIN=$("$ROOT/scripts/server-bin.sh" release)
export ESDB_SYNC_SERVER_BIN

"$ROOT/tests/package/install-built.sh" "$PWD"

# The native core bench first (no browser); run.mjs folds its table into the one it prints.
mkdir -p "$ROOT/target/bench"
echo "bench: native core bench (cargo bench --bench core)"
(cd "$ROOT" && cargo bench -q -p eventsourced-db --bench core 2>/dev/null) | tee "$ROOT/target/bench/core.txt"
node run.mjs
