# The two commands of the README: `make demo` and `make test`.
# Every target installs what it needs first (scripts/setup.sh is idempotent).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export CARGO_TERM_COLOR ?= never

.PHONY: setup test demo lint test-native test-server test-wasm test-package test-e2e bench package fmt

setup:
	scripts/setup.sh

## test: every test layer, from a fresh machine.
test: setup lint test-native test-server test-wasm test-package test-e2e
	@echo "make test: all layers passed"

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings

test-native:
	cargo test -p eventsourced-db

test-server:
	@echo "test-server: (wired in with the reference server)"

## test-wasm: wasm-bindgen-test in headless Chromium (OPFS, the reference
## server, malformed answers), then the built package in Node (in-process).
test-wasm: package
	scripts/test-wasm.sh

## test-package: the built package (make package first) in Node, then in headless Chromium.
test-package:
	tests/package/run.sh
	tests/browser/run.sh

.PHONY: test-browser bench-binding
## test-browser: only the Chromium part of test-package.
test-browser:
	tests/browser/run.sh

## bench-binding: cold start (10k/100k rows on OPFS) and 10k pulled events into a live query.
bench-binding:
	tests/package/install-built.sh tests/browser
	CARGO_TARGET_DIR=target/server cargo build -q -p eventsourced-sync-server --bin eventsourced-sync-server
	node tests/browser/bench.mjs

## demo: the sync server (--demo-rules) and examples/todo-react at http://localhost:5173; Ctrl-C stops both.
demo: setup package
	scripts/demo.sh

## test-e2e: the demo app and the sync server in headless Chromium, two contexts; prints the screenshots' folder.
test-e2e:
	tests/e2e/run.sh

bench:
	cargo bench -p eventsourced-db --bench core

fmt:
	cargo fmt --all

## package: pkg/, the npm package (release wasm, wasm-bindgen, wasm-opt, js/); prints sizes.
package: setup
	scripts/package.sh

## bench-browser: capture latency and burst throughput beside raw SQLite, in headless Chromium.
.PHONY: bench-browser
bench-browser: package
	scripts/bench-browser.sh
