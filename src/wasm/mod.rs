//! The wasm-bindgen layer: converts between JavaScript and the core, and
//! delegates. No logic lives here.
//!
//! - [`api`]: the exported `EventSourcedCore` class;
//! - [`opfs`]: SQLite files on OPFS (sahpool VFS), one pool per database;
//! - [`http`], [`js_transport`]: the sync transports;
//! - [`env`], [`timer`]: the platform services of the core;
//! - [`errors`], [`convert`]: JS `Error` objects and serde conversions.

pub mod api;
pub mod convert;
pub mod env;
pub mod errors;
pub mod http;
pub mod js_transport;
pub mod opfs;
pub mod timer;
pub mod transport;
mod types;

pub use api::EventSourcedCore;
