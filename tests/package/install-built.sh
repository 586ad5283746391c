#!/usr/bin/env bash
# Installs the built package (pkg/) into this test project's node_modules
# the way a user gets it: `npm pack`, then the tarball's contents (so the
# manifest's `files` and `exports` are what is tested). Used by the Node and
# the browser tests: $1 is the test project's directory.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEST="${1:?usage: install-built.sh TEST_PROJECT_DIR}"
[ -f "$ROOT/pkg/index.js" ] || { echo "install-built: pkg/ is missing; run 'make package' first" >&2; exit 1; }
if [ -n "$(find "$ROOT/js/src" -newer "$ROOT/pkg/index.js" -name '*.ts' 2>/dev/null | head -n1)" ]; then
  echo "install-built: warning: js/src is newer than pkg/; run 'make package' to test the current sources" >&2
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TARBALL=$(cd "$ROOT/pkg" && npm pack --silent --pack-destination "$TMP" 2>/dev/null | tail -n1)
rm -rf "$DEST/node_modules/@eventsourced/db"
mkdir -p "$DEST/node_modules/@eventsourced/db"
tar -xzf "$TMP/$TARBALL" -C "$DEST/node_modules/@eventsourced/db" --strip-components=1
