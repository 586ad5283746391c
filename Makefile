# The two commands of the README: `make demo` and `make test`.
# Every target installs what it needs first (scripts/setup.sh is idempotent).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export CARGO_TERM_COLOR ?= never
# One cargo target dir for every layer and script, outside the clone: a fresh
# clone on a machine that built before (CI runs on the developer's machine)
# reuses those builds instead of starting cold.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/eventsourced-db/target

.PHONY: setup test demo lint test-native test-server test-wasm test-package test-browser \
        test-e2e package bench bench-core bench-browser bench-binding fmt

setup:
	scripts/setup.sh

## test: every test layer, from a fresh machine.
test: setup lint test-native test-server test-wasm test-package test-e2e
	@echo "make test: all layers passed"

## lint: formatting, clippy with -D warnings natively and for wasm32, TypeScript strict (in package).
lint: setup
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown --lib --tests -- -D warnings

## test-native: the core's tests (native SQLite, in-process server stand-in).
test-native: setup
	cargo test -p eventsourced-db

## test-server: the reference server's contract suite over HTTP, on its
## embedded SQLite and on a real PostgreSQL started on loopback for the run.
test-server: setup
	export EVENTSOURCED_TEST_POSTGRES_URL=$$(scripts/postgres.sh start); \
	  rc=0; cargo test -p eventsourced-sync-server || rc=$$?; \
	  scripts/postgres.sh stop; exit $$rc

## test-wasm: wasm-bindgen-test in headless Chromium (OPFS, the reference
## server, malformed answers), then the built package in Node (in-process).
test-wasm: package
	scripts/test-wasm.sh

## test-package: the built package in Node, then in headless Chromium (incl. multi-tab).
test-package: package
	tests/package/run.sh
	tests/browser/run.sh

## test-browser: only the Chromium part of test-package.
test-browser: package
	tests/browser/run.sh

## test-e2e: the demo app and the sync server in headless Chromium, two contexts; prints the screenshots' folder.
test-e2e: package
	tests/e2e/run.sh

## demo: the sync server (--demo-rules) and examples/todo-react at http://localhost:5173; Ctrl-C stops both.
demo: setup package
	scripts/demo.sh

## package: pkg/, the npm package (release wasm, wasm-bindgen, wasm-opt, js/); prints sizes.
package: setup
	scripts/package.sh

## bench: the native core bench, then ours beside raw SQLite and TanStack's own
## persistence in headless Chromium (bench/); one table, target/bench/results.json.
bench: package
	bench/run.sh

## bench-core: only the native core benchmark.
bench-core: setup
	cargo bench -p eventsourced-db --bench core

## bench-browser: capture latency and burst throughput beside raw SQLite, in headless Chromium.
bench-browser: package
	scripts/bench-browser.sh

## bench-binding: cold start (10k/100k rows on OPFS) and 10k pulled events into a live query.
bench-binding: package
	tests/package/install-built.sh tests/browser
	ESDB_SYNC_SERVER_BIN=$$(scripts/server-bin.sh release) node tests/browser/bench.mjs

fmt:
	cargo fmt --all
