//! `setTimeout` as the sync engine's [`Timer`], in a worker, a window or Node.

use std::future::Future;

use wasm_bindgen::prelude::*;

use crate::sync::Timer;

#[wasm_bindgen]
extern "C" {
    // The global functions, not `window.setTimeout`: a worker has no window.
    #[wasm_bindgen(js_name = setTimeout)]
    pub(crate) fn set_timeout(handler: &js_sys::Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    pub(crate) fn clear_timeout(id: &JsValue);
}

/// Sleeps with `setTimeout`.
#[derive(Debug, Default, Clone, Copy)]
pub struct BrowserTimer;

/// Resolves after `ms` milliseconds.
pub async fn sleep(ms: u64) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        set_timeout(&resolve, ms as f64);
    });
    // The promise only ever resolves.
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

impl Timer for BrowserTimer {
    fn sleep(&self, ms: u64) -> impl Future<Output = ()> {
        sleep(ms)
    }
}
