//! Reference sync server for `@eventsourced/db`.
//!
//! Implements `PROTOCOL.md` (push and pull) and every extension: field
//! changes, per-event rejection, duplicates confirmed with their original
//! `globalSeq`, the SSE live tail, snapshots with `410 Gone` after compaction.
//! Events are ordered per scope (one scope per auth token) in an embedded
//! SQLite file or in PostgreSQL.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use eventsourced_sync_server::{CollectionRules, Database, Server};
//! let server = Server::builder()
//!     .listen("127.0.0.1:0")
//!     .database(Database::Sqlite("./events.sqlite".into()))
//!     .token("secret", "team-a")
//!     .rule(CollectionRules::demo())
//!     .start()
//!     .await?;
//! println!("serving on {}", server.url());
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod error;
pub mod heads;
pub mod http;
pub mod ingest;
pub mod server;
pub mod snapshot;
pub mod sse;
pub mod store;
pub mod validate;

pub use config::{Config, Cors, Database, Limits, SqliteSync};
pub use server::{Server, ServerBuilder, StartError};
pub use store::Backend;
pub use validate::{CollectionRules, EventValidator, Rejection};
