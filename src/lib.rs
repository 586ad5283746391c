//! # eventsourced-db
//!
//! The core of `@eventsourced/db`: an event-sourced, local-first store for
//! TanStack DB. Every mutation is captured as an event in a SQLite log; an
//! outbox pushes events to a sync server that orders them; a cursor pulls
//! everyone's events back and replays them, rebasing still-pending local
//! events on top.
//!
//! This crate has no browser dependency: the same code runs natively (tests,
//! the reference server's client tests) and on wasm32 behind `src/wasm/`.
#![warn(missing_docs)]

pub mod env;
pub mod error;
pub mod fold;
pub mod model;
pub mod protocol;
pub mod store;
pub mod sync;
pub mod vfs_coalesce;

pub use env::Environment;
pub use error::{Error, Result};
pub use store::{
    CollectionDef, Journal, KeyKind, PageShape, Store, StoreConfig, VisibleRow, VisibleRowsPage,
};
pub use sync::{sync, SyncObserver, SyncOptions, SyncResult};

#[cfg(target_arch = "wasm32")]
pub mod wasm;
