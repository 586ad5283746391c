#!/usr/bin/env bash
# Builds the reference sync server (incrementally) and prints its path, so
# every test layer and script runs the same binary from one target dir.
#
#   scripts/server-bin.sh            debug build (tests)
#   scripts/server-bin.sh release    release build (demo, benchmarks)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
profile="${1:-debug}"
dir="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$profile" in
  debug) flags=() ;;
  release) flags=(--release) ;;
  *) echo "usage: $0 [debug|release]" >&2; exit 2 ;;
esac
(cd "$ROOT" && CARGO_TARGET_DIR="$dir" cargo build -q "${flags[@]}" -p eventsourced-sync-server --bin eventsourced-sync-server) >&2
echo "$dir/$profile/eventsourced-sync-server"
