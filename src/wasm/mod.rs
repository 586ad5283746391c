//! The wasm-bindgen layer: converts between JavaScript and the core, and
//! delegates. No logic lives here.
