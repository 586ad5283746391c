//! The one error type of the core, with stable codes that cross to JavaScript.

use std::fmt;

/// Result alias of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every failure the core reports. Each variant has a stable [`Error::code`]
/// that the wasm layer puts on the JavaScript `Error` (`err.code`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device has no room left for the database (`SQLITE_FULL`). Nothing
    /// of the failed write was kept; earlier writes are intact.
    #[error("storage is full: {0}")]
    StorageFull(String),

    /// The database could not be opened or used (missing OPFS, locked by
    /// another tab, corrupt file).
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),

    /// Any other SQLite failure.
    #[error("storage error: {0}")]
    Storage(String),

    /// The database was written by a newer version of this library.
    #[error("database schema version {found} is newer than this library supports ({supported})")]
    SchemaTooNew {
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },

    /// A mutation handed to capture is not valid (no collection, a key that is
    /// neither string nor number, a row that is not an object).
    #[error("invalid mutation in collection '{collection}': {reason}")]
    InvalidMutation {
        /// The collection of the mutation.
        collection: String,
        /// What is wrong.
        reason: String,
    },

    /// A value cannot be stored as JSON (a function, a symbol, a BigInt, a
    /// cycle, a class instance, a non-finite number).
    #[error("value in collection '{collection}' is not serialisable at '{path}': {reason}")]
    NotSerializable {
        /// The collection of the row.
        collection: String,
        /// The field path, for example `tags[2]`.
        path: String,
        /// What the value was.
        reason: String,
    },

    /// The server answered with something that is not the protocol (an HTML
    /// error page, truncated JSON, wrong types). Nothing was applied.
    #[error("malformed server response: {0}")]
    MalformedResponse(String),

    /// A transient transport failure (network, timeout, 408, 429, 5xx) that
    /// outlasted the retries. Nothing was lost; the next sync retries.
    #[error("network error{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Network {
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// What failed.
        message: String,
    },

    /// The server refused the credentials (401/403). Pending events are kept
    /// and retried once the app supplies valid headers.
    #[error("unauthorized (HTTP {status}): {message}")]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// The server's message.
        message: String,
    },

    /// The server refused a request for a reason that is not about the events
    /// (404/405 on a misconfigured URL, 410 without snapshot support).
    #[error("server refused the request (HTTP {status}): {message}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },

    /// A pulled event this version cannot apply (an unknown type or shape,
    /// or a collection the app did not declare). It is kept in the log and
    /// the sync goes on; this only reports it.
    #[error("pulled event {event_id} of '{collection}' was kept but not applied: {reason}")]
    UnrecognizedEvent {
        /// The event.
        event_id: String,
        /// Its collection.
        collection: String,
        /// Why it was not applied.
        reason: String,
    },

    /// The configuration is not usable (bad URL, unknown option value).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The database was closed.
    #[error("the database is closed")]
    Closed,
}

impl Error {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::StorageFull(_) => "STORAGE_FULL",
            Error::StorageUnavailable(_) => "STORAGE_UNAVAILABLE",
            Error::Storage(_) => "STORAGE",
            Error::SchemaTooNew { .. } => "SCHEMA_TOO_NEW",
            Error::InvalidMutation { .. } => "INVALID_MUTATION",
            Error::NotSerializable { .. } => "NOT_SERIALIZABLE",
            Error::MalformedResponse(_) => "MALFORMED_RESPONSE",
            Error::Network { .. } => "NETWORK",
            Error::Unauthorized { .. } => "UNAUTHORIZED",
            Error::Http { .. } => "HTTP",
            Error::UnrecognizedEvent { .. } => "UNRECOGNIZED_EVENT",
            Error::InvalidConfig(_) => "INVALID_CONFIG",
            Error::Closed => "CLOSED",
        }
    }

    /// True for failures that a later retry may cure without any change.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Network { .. })
    }

    pub(crate) fn invalid(collection: &str, reason: impl fmt::Display) -> Self {
        Error::InvalidMutation {
            collection: collection.to_string(),
            reason: reason.to_string(),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => Error::StorageFull(e.to_string()),
            Some(
                ErrorCode::CannotOpen
                | ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DatabaseCorrupt
                | ErrorCode::NotADatabase
                | ErrorCode::ReadOnly,
            ) => Error::StorageUnavailable(e.to_string()),
            _ => Error::Storage(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Storage(format!("stored JSON is unreadable: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_maps_to_its_own_code() {
        let e = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert_eq!(Error::from(e).code(), "STORAGE_FULL");
    }

    #[test]
    fn only_network_errors_are_transient() {
        assert!(Error::Network {
            status: Some(503),
            message: "x".into()
        }
        .is_transient());
        assert!(!Error::MalformedResponse("x".into()).is_transient());
    }
}
