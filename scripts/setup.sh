#!/usr/bin/env bash
# Installs everything the build and the tests need, idempotently: a second run
# on a ready machine does nothing but check. Used by `make demo`, `make test`
# and CI, so nothing installed by hand is ever needed.
#
#   scripts/setup.sh            everything
#   scripts/setup.sh rust       only the Rust side (target, wasm-bindgen-cli)
set -euo pipefail
cd "$(dirname "$0")/.."


# Debian packages: clang builds SQLite's C for wasm32; chromium + driver run the
# browser tests; binaryen gives wasm-opt; postgresql is the server's second backend.
APT_PACKAGES=(clang chromium chromium-driver binaryen postgresql)

need_sudo() { if [ "$(id -u)" -ne 0 ]; then echo sudo; fi; }

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    $(need_sudo) apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $(need_sudo) apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_rust() {
  # wasm-bindgen-cli must match the wasm-bindgen crate exactly (pinned with `=`).
  local WASM_BINDGEN_VERSION
  WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' Cargo.toml | head -n1)
  : "${WASM_BINDGEN_VERSION:?could not read the pinned wasm-bindgen version from Cargo.toml}"
  if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
    echo "setup: adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    echo "setup: installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 90 s)"
    # Not --locked: its lockfile may pin crates newer than the registry here.
    cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
}

install_npm() {
  # Each JS project installs from its own lockfile; `npm ci` only when the tree is stale.
  for dir in js tests/browser tests/package tests/e2e tests/wasm/browser examples/todo-react; do
    [ -f "$dir/package.json" ] || continue
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
      echo "setup: npm install in $dir"
      (cd "$dir" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi)
    fi
  done
}

case "${1:-all}" in
  apt) install_apt ;;
  rust) install_rust ;;
  npm) install_npm ;;
  all) install_apt; install_rust; install_npm ;;
  *) echo "usage: $0 [all|apt|rust|npm]" >&2; exit 2 ;;
esac
