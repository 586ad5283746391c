//! Server settings, independent of how they were given (CLI, env, code).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::auth::Grant;
use crate::validate::CollectionRules;

/// Where the events live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An embedded SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL server, as a `postgres://` URL (key/value strings work too).
    Postgres(String),
}

impl FromStr for Database {
    type Err = String;

    /// `sqlite:PATH`, `sqlite://PATH`, or a `postgres://` / `postgresql://` URL.
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("sqlite: needs a file path, e.g. sqlite:./sync-server.sqlite".into());
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Database::Postgres(s.to_string()));
        }
        Err(format!(
            "unsupported database `{s}`: use sqlite:PATH or a postgres:// URL"
        ))
    }
}

impl Default for Database {
    fn default() -> Self {
        Database::Sqlite(PathBuf::from("./sync-server.sqlite"))
    }
}

/// How often the embedded SQLite syncs to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// `synchronous=FULL` (the default): a confirmed `globalSeq` survives a
    /// power loss. Clients treat confirmations as final, so losing one would
    /// let the server hand the same sequence number to another event.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a crash of the process but may lose the
    /// last commits on power loss. For throwaway demos and benchmarks.
    Normal,
}

impl FromStr for SqliteSync {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(SqliteSync::Full),
            "normal" => Ok(SqliteSync::Normal),
            _ => Err(format!("`{s}`: expected full or normal")),
        }
    }
}

/// Size limits of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of one event's serialized `payload` (and of its `changes`).
    pub max_payload_bytes: usize,
    /// Most bytes of one request body.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 256 * 1024,
            max_body_bytes: 5 * 1024 * 1024,
        }
    }
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Allow every origin.
    pub any: bool,
    /// Allow `http(s)://localhost|127.x.x.x|[::1]` on any port (the dev demo and tests).
    pub loopback: bool,
    /// Further exact origins, e.g. `https://app.example.com`.
    pub origins: Vec<String>,
}

impl Default for Cors {
    fn default() -> Self {
        Cors {
            any: false,
            loopback: true,
            origins: Vec::new(),
        }
    }
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind, `host:port` (port 0 picks a free one).
    pub listen: String,
    /// The event store.
    pub database: Database,
    /// Bearer tokens and what they grant. Empty: open, loopback only.
    pub tokens: Vec<(String, Grant)>,
    /// CORS policy.
    pub cors: Cors,
    /// Request size limits.
    pub limits: Limits,
    /// Declarative per-collection validation rules.
    pub rules: Vec<CollectionRules>,
    /// Interval of SSE heartbeat comments.
    pub heartbeat: Duration,
    /// Durability of the embedded SQLite.
    pub sqlite_sync: SqliteSync,
    /// Most pooled Postgres connections.
    pub postgres_pool_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8787".into(),
            database: Database::default(),
            tokens: Vec::new(),
            cors: Cors::default(),
            limits: Limits::default(),
            rules: Vec::new(),
            heartbeat: Duration::from_secs(15),
            sqlite_sync: SqliteSync::default(),
            postgres_pool_size: 16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse() {
        assert_eq!(
            "sqlite:./a.db".parse::<Database>().unwrap(),
            Database::Sqlite("./a.db".into())
        );
        assert_eq!(
            "sqlite:///tmp/a.db".parse::<Database>().unwrap(),
            Database::Sqlite("/tmp/a.db".into())
        );
        assert!(matches!(
            "postgres://u@127.0.0.1:5432/db"
                .parse::<Database>()
                .unwrap(),
            Database::Postgres(_)
        ));
        assert!("mysql://x".parse::<Database>().is_err());
        assert!("sqlite:".parse::<Database>().is_err());
    }
}
