//! The sync engine: outbox push, cursor pull, rejection handling.

mod engine;
pub mod transport;

pub use engine::{sync, SyncObserver, SyncOptions, SyncResult};
pub use transport::{Timer, Transport, TransportError};
