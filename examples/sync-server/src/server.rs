//! Starting and stopping a server: `Server::builder()…start()`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::{Access, Auth, Grant};
use crate::config::{Config, Cors, Database, Limits, SqliteSync};
use crate::heads::Heads;
use crate::http::{router, AppState};
use crate::store::{self, Backend, StoreError};
use crate::validate::{CollectionRules, EventValidator, Validators};

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The settings are unusable.
    #[error("{0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: io::Error,
    },
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
}

/// Collects settings and validators, then [`ServerBuilder::start`]s.
#[derive(Debug, Default)]
pub struct ServerBuilder {
    config: Config,
    validators: Validators,
}

impl ServerBuilder {
    /// Starts from a full [`Config`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The address to bind (`127.0.0.1:0` picks a free port).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.config.listen = addr.into();
        self
    }

    /// The store.
    pub fn database(mut self, database: Database) -> Self {
        self.config.database = database;
        self
    }

    /// A read-write token for `scope`.
    pub fn token(mut self, token: impl Into<String>, scope: impl Into<String>) -> Self {
        self.config.tokens.push((
            token.into(),
            Grant {
                scope: scope.into(),
                access: Access::ReadWrite,
            },
        ));
        self
    }

    /// A read-only token for `scope`.
    pub fn read_only_token(mut self, token: impl Into<String>, scope: impl Into<String>) -> Self {
        self.config.tokens.push((
            token.into(),
            Grant {
                scope: scope.into(),
                access: Access::Read,
            },
        ));
        self
    }

    /// A declarative rule, e.g. `CollectionRules::parse("todos:title=nonempty-string")`.
    pub fn rule(mut self, rules: CollectionRules) -> Self {
        self.config.rules.push(rules);
        self
    }

    /// An app's own validator.
    pub fn validator(mut self, validator: impl EventValidator) -> Self {
        self.validators.push(Arc::new(validator));
        self
    }

    /// Request size limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }

    /// CORS policy.
    pub fn cors(mut self, cors: Cors) -> Self {
        self.config.cors = cors;
        self
    }

    /// SSE heartbeat interval (15 s by default).
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.config.heartbeat = every;
        self
    }

    /// Durability of the embedded SQLite.
    pub fn sqlite_sync(mut self, sync: SqliteSync) -> Self {
        self.config.sqlite_sync = sync;
        self
    }

    /// Binds, opens the store and serves in the background.
    pub async fn start(self) -> Result<Server, StartError> {
        let ServerBuilder {
            config,
            validators: custom,
        } = self;
        let auth = Auth::new(config.tokens.clone());
        let listener = bind(&config.listen, auth.is_open()).await?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
        let backend = store::open(&config).await?;

        let mut validators = Validators::default();
        for rules in &config.rules {
            validators.push(Arc::new(rules.clone()));
        }
        validators.extend(custom);

        let (stop, stopped) = watch::channel(false);
        let state = Arc::new(AppState {
            backend: backend.clone(),
            auth,
            validators,
            limits: config.limits,
            heads: Heads::default(),
            heartbeat: config.heartbeat,
            shutdown: stopped.clone(),
        });
        backend.forward_commits(state.heads.clone(), stopped.clone());
        let app = router(state.clone(), &config.cors);
        if state.auth.is_open() {
            tracing::warn!(%addr, scope = crate::auth::OPEN_SCOPE,
                "no tokens configured: serving without authentication (loopback only)");
        }
        tracing::info!(%addr, database = %describe(&config.database),
            tokens = config.tokens.len(), rules = config.rules.len(), "sync server listening");

        let mut until = stopped;
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = until.wait_for(|down| *down).await;
                })
                .await
        });
        Ok(Server {
            addr,
            stop,
            task,
            backend,
        })
    }
}

/// Resolves and binds `listen`; without tokens only loopback addresses are allowed.
async fn bind(listen: &str, open: bool) -> Result<TcpListener, StartError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|e| StartError::Config(format!("bad listen address `{listen}`: {e}")))?
        .collect();
    if open {
        if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(StartError::Config(format!(
                "refusing to serve {a} without tokens: configure --token TOKEN=SCOPE or listen on a loopback address"
            )));
        }
    }
    let mut last = None;
    for a in &addrs {
        match TcpListener::bind(a).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(StartError::Bind {
        addr: listen.to_string(),
        source: last.unwrap_or_else(|| io::Error::other("no address")),
    })
}

/// The database for logs, without credentials.
fn describe(db: &Database) -> String {
    match db {
        Database::Sqlite(path) => format!("sqlite:{}", path.display()),
        Database::Postgres(url) => match url.parse::<tokio_postgres::Config>() {
            Ok(c) => format!(
                "postgres (database {})",
                c.get_dbname().unwrap_or("default")
            ),
            Err(_) => "postgres".into(),
        },
    }
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<io::Result<()>>,
    backend: Arc<dyn Backend>,
}

impl Server {
    /// A builder with the defaults of [`Config::default`].
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The store the server uses (e.g. to compact it in-process).
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    /// Stops accepting, ends live tails, waits for in-flight requests.
    pub async fn shutdown(self) -> io::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.map_err(io::Error::other)?
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> io::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
