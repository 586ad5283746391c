//! The browser's clock and randomness for the core ([`Environment`]).

use wasm_bindgen::{JsCast, JsValue};

use crate::env::Environment;
use crate::error::{Error, Result};

/// `Date.now()` and `crypto.getRandomValues`, from whatever global scope the
/// module runs in (a dedicated worker, a window, or Node 20+).
pub struct BrowserEnvironment {
    crypto: web_sys::Crypto,
}

impl BrowserEnvironment {
    /// Finds `globalThis.crypto`; fails only on a platform without Web Crypto,
    /// where event ids could not be minted safely.
    pub fn new() -> Result<Self> {
        let crypto = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
            .ok()
            .filter(|c| c.is_object())
            .ok_or_else(|| {
                Error::InvalidConfig("globalThis.crypto is missing: Web Crypto is required".into())
            })?;
        Ok(Self {
            crypto: crypto.unchecked_into(),
        })
    }
}

impl Environment for BrowserEnvironment {
    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn fill_random(&self, buf: &mut [u8]) {
        // getRandomValues refuses more than 65536 bytes per call.
        for chunk in buf.chunks_mut(65536) {
            // Cannot fail for a plain Uint8Array of at most 65536 bytes; a
            // failure here means the platform is broken, not recoverable.
            self.crypto
                .get_random_values_with_u8_array(chunk)
                .expect("crypto.getRandomValues failed");
        }
    }
}
