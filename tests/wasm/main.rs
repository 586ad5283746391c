//! Browser tests of the wasm layer, in headless Chromium in a dedicated
//! worker (where OPFS sync access handles exist). Run with `make test-wasm`,
//! which starts the reference sync server and a server of malformed answers
//! on loopback and bakes their URLs in (`ESDB_TEST_SERVER`,
//! `ESDB_TEST_BAD_SERVER`).
#![cfg(target_arch = "wasm32")]

mod malformed;
mod storage;
mod sync;
mod util;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);
