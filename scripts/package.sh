#!/usr/bin/env bash
# Builds the npm package into pkg/: the release wasm (opt-level z; SQLite's
# C at -Os, see .cargo/config.toml), its
# wasm-bindgen glue (--target web), wasm-opt -Oz, the compiled TypeScript of
# js/, and our own manifest from pkg-template/. Prints raw and gzip sizes and
# fails when the package exceeds its gzip budget.
#
#   scripts/package.sh            build pkg/
#   scripts/package.sh --glue     only the glue in js/wasm/ (what tsc needs)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# A target dir of its own: wasm builds never wait on native builds' lock.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/wasm}"
BUDGET_GZIP_BYTES=$((600 * 1024))
PROFILE=${ESDB_WASM_PROFILE:-wasm-release}   # defined in .cargo/config.toml
NAME=eventsourced_db
BINDGEN_DIR="$CARGO_TARGET_DIR/bindgen"

echo "package: building the wasm ($PROFILE)"
cargo build -q --lib --target wasm32-unknown-unknown --profile "$PROFILE"
rm -rf "$BINDGEN_DIR"
wasm-bindgen --target web --out-dir "$BINDGEN_DIR" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/$PROFILE/$NAME.wasm"
mkdir -p js/wasm
cp "$BINDGEN_DIR/$NAME.js" "$BINDGEN_DIR/$NAME.d.ts" js/wasm/
if [ "${1:-}" = "--glue" ]; then exit 0; fi

echo "package: wasm-opt -Oz"
{ [ -x js/node_modules/.bin/wasm-opt ] && [ -x js/node_modules/.bin/esbuild ]; } ||
  (cd js && npm ci --no-audit --no-fund --loglevel=error)
# npm's binaryen, not Debian's: binaryen 108 (Debian) re-points the
# `__wbindgen_externrefs` export at the funcref table, and the glue then
# fails at init ("WebAssembly.Table.set(): Argument 1 is invalid").
# The flags are the features rustc enables by default on wasm32; wasm-opt
# must know them (TOOLCHAIN.md).
# ESDB_WASM_NAMES=1 keeps function names, for profiling.
STRIP=(--strip-debug --strip-producers)
[ -n "${ESDB_WASM_NAMES:-}" ] && STRIP=(-g)
js/node_modules/.bin/wasm-opt "${ESDB_WASM_OPT:--Oz}" "${STRIP[@]}" \
  --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-multivalue --enable-reference-types \
  -o "$BINDGEN_DIR/${NAME}_bg.opt.wasm" "$BINDGEN_DIR/${NAME}_bg.wasm"

echo "package: compiling js/"
rm -rf js/dist
(cd js && npx --no-install tsc -p tsconfig.json)

rm -rf pkg
mkdir -p pkg
cp pkg-template/package.json pkg-template/README.md pkg/
cp js/dist/*.js js/dist/*.d.ts pkg/
cp js/wasm/$NAME.js js/wasm/$NAME.d.ts pkg/
cp "$BINDGEN_DIR/${NAME}_bg.opt.wasm" "pkg/${NAME}_bg.wasm"
# The glue declares `[Symbol.dispose]()`, which needs TypeScript's
# esnext.disposable lib: apps with an older `lib` and `skipLibCheck: false`
# would fail to type-check. Apps never hold the core object (the worker
# does), so the public types drop the disposer; the runtime keeps it.
# The worker entry as one file (the glue, the host and the protocol in it): a
# page that loads the package without a bundler starts the worker with one
# request instead of a second round for its imports (~15 ms of a new tab's
# cold start here). The separate modules stay for the page and for Node.
js/node_modules/.bin/esbuild pkg/worker.js --bundle --format=esm --minify --legal-comments=none \
  --log-level=warning --allow-overwrite --outfile=pkg/worker.js
sed -i '/\[Symbol\.dispose\]()/d' "pkg/$NAME.d.ts"
if grep -q 'Symbol\.dispose' pkg/*.d.ts; then
  echo "package: Symbol.dispose is still in the public types" >&2
  exit 1
fi

gz() { gzip -9 -c "$1" | wc -c; }
raw_wasm=$(wc -c < "pkg/${NAME}_bg.wasm")
gz_wasm=$(gz "pkg/${NAME}_bg.wasm")
raw_js=0; gz_js=0
for f in pkg/*.js; do
  raw_js=$((raw_js + $(wc -c < "$f"))); gz_js=$((gz_js + $(gz "$f")))
done
total_gz=$((gz_wasm + gz_js))
printf 'package: %-28s %9s bytes raw %9s bytes gzip\n' "${NAME}_bg.wasm" "$raw_wasm" "$gz_wasm"
printf 'package: %-28s %9s bytes raw %9s bytes gzip\n' "JavaScript ($(ls pkg/*.js | wc -l) files)" "$raw_js" "$gz_js"
printf 'package: %-28s %9s bytes gzip (budget %s)\n' "wasm + JavaScript" "$total_gz" "$BUDGET_GZIP_BYTES"
if [ "$total_gz" -gt "$BUDGET_GZIP_BYTES" ]; then
  echo "package: over the gzip budget" >&2
  exit 1
fi
echo "package: pkg/ is ready"
