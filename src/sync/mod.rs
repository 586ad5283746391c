//! The sync engine: outbox push, cursor pull, rejection handling.

pub mod transport;

pub use transport::{Timer, Transport, TransportError};
