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

test-wasm:
	@echo "test-wasm: (wired in with the browser package)"

test-package:
	@echo "test-package: (wired in with the JS binding)"

test-e2e:
	@echo "test-e2e: (wired in with the example app)"

bench:
	cargo bench -p eventsourced-db --bench core

fmt:
	cargo fmt --all
