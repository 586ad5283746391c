#!/usr/bin/env bash
# Capture benchmark in headless Chromium (`make bench-browser`): the wasm core
# in a dedicated worker on OPFS, with the package's build profile, beside raw
# SQLite in the same worker (tests/wasm_bench); then end to end through the
# built package's worker (tests/wasm/browser/worker.mjs, needs `make package`).
# Prints the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/wasm}"
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-600}"
cargo test -q --profile wasm-release --target wasm32-unknown-unknown --test wasm_bench --no-run
cargo test --profile wasm-release --target wasm32-unknown-unknown --test wasm_bench -- --nocapture 2>&1 \
  | grep -E '^bench-browser|test result|panicked|error' 
if [ -f pkg/worker.js ]; then
  node tests/wasm/browser/worker.mjs | grep -E '^bench-browser|^not ok'
else
  echo "bench-browser: pkg/ is missing; run 'make package' for the end-to-end figures"
fi
