//! `eventsourced-sync-server`: serve (the default) or `compact`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use eventsourced_sync_server::auth::parse_token_spec;
use eventsourced_sync_server::{
    store, CollectionRules, Config, Cors, Database, Limits, Server, SqliteSync,
};
use tracing_subscriber::EnvFilter;

/// Reference sync server for @eventsourced/db.
#[derive(Debug, Parser)]
#[command(name = "eventsourced-sync-server", version)]
struct Cli {
    /// Event store: `sqlite:PATH` (embedded) or a `postgres://` URL.
    #[arg(
        long,
        env = "EVENTSOURCED_DATABASE",
        default_value = "sqlite:./sync-server.sqlite",
        global = true
    )]
    database: Database,

    /// Log format.
    #[arg(
        long,
        env = "EVENTSOURCED_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,

    #[command(flatten)]
    serve: ServeArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "EVENTSOURCED_LISTEN", default_value = "127.0.0.1:8787")]
    listen: String,

    /// Bearer token granting a scope: `TOKEN=SCOPE` (read-write) or
    /// `TOKEN=SCOPE:ro`. Repeatable; the env var takes a comma-separated list.
    /// Without tokens the server is open and binds loopback only.
    // Parsed after clap: its errors would echo the secret.
    #[arg(
        long = "token",
        env = "EVENTSOURCED_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    tokens: Vec<String>,

    /// Extra allowed CORS origin (exact, e.g. `https://app.example.com`). Repeatable.
    #[arg(
        long = "cors-origin",
        env = "EVENTSOURCED_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,

    /// Allow every CORS origin.
    #[arg(long, env = "EVENTSOURCED_CORS_ANY")]
    cors_any: bool,

    /// Do not allow loopback origins (`http://localhost:*` etc.) by default.
    #[arg(long, env = "EVENTSOURCED_NO_CORS_LOOPBACK")]
    no_cors_loopback: bool,

    /// Largest serialized `payload` of one event, in bytes.
    #[arg(long, env = "EVENTSOURCED_MAX_PAYLOAD_BYTES", default_value_t = 256 * 1024)]
    max_payload_bytes: usize,

    /// Largest request body, in bytes.
    #[arg(long, env = "EVENTSOURCED_MAX_BODY_BYTES", default_value_t = 5 * 1024 * 1024)]
    max_body_bytes: usize,

    /// Validation rule `COLLECTION:FIELD=TYPE[|TYPE],FIELD?=TYPE`, e.g.
    /// `todos:title=nonempty-string`. Types: string, nonempty-string, number,
    /// integer, boolean, object, array, null, any. Repeatable; the env var
    /// takes a `;`-separated list.
    #[arg(long = "rule", env = "EVENTSOURCED_RULES", value_delimiter = ';', value_parser = CollectionRules::parse)]
    rules: Vec<CollectionRules>,

    /// JSON rules file: `{"todos": {"title": "nonempty-string", "done?": "boolean"}}`.
    #[arg(long, env = "EVENTSOURCED_RULES_FILE")]
    rules_file: Option<PathBuf>,

    /// The demo app's rule: `todos:title=nonempty-string`.
    #[arg(long, env = "EVENTSOURCED_DEMO_RULES")]
    demo_rules: bool,

    /// Seconds between SSE heartbeat comments.
    #[arg(long, env = "EVENTSOURCED_HEARTBEAT_SECS", default_value_t = 15)]
    heartbeat_secs: u64,

    /// SQLite durability: `full` (a confirmed event survives power loss) or `normal`.
    #[arg(long, env = "EVENTSOURCED_SQLITE_SYNC", default_value = "full")]
    sqlite_sync: SqliteSync,

    /// Most pooled Postgres connections.
    #[arg(long, env = "EVENTSOURCED_PG_POOL_SIZE", default_value_t = 16)]
    pg_pool_size: usize,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Keep only the latest event of each row below a retention point; pulls
    /// from an older cursor then answer 410 Gone and clients use the snapshot.
    Compact {
        /// Fold the events with a sequence number below SEQ.
        #[arg(
            long,
            value_name = "SEQ",
            required_unless_present = "keep_last",
            conflicts_with = "keep_last"
        )]
        below: Option<u64>,
        /// Instead of --below: keep the last N events of each scope untouched.
        #[arg(long, value_name = "N")]
        keep_last: Option<u64>,
        /// Only this scope (default: every scope).
        #[arg(long)]
        scope: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let result = match cli.command {
        None => serve(cli.database, cli.serve).await,
        Some(Command::Compact {
            below,
            keep_last,
            scope,
        }) => compact(cli.database, below, keep_last, scope).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("eventsourced-sync-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_env("EVENTSOURCED_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

async fn serve(database: Database, args: ServeArgs) -> Result<(), String> {
    let mut rules = args.rules;
    if let Some(path) = &args.rules_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("rules file {}: {e}", path.display()))?;
        rules.extend(CollectionRules::parse_json_file(&text)?);
    }
    if args.demo_rules {
        rules.push(CollectionRules::demo());
    }
    let tokens = args
        .tokens
        .iter()
        .map(|spec| parse_token_spec(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let config = Config {
        listen: args.listen,
        database,
        tokens,
        cors: Cors {
            any: args.cors_any,
            loopback: !args.no_cors_loopback,
            origins: args.cors_origins,
        },
        limits: Limits {
            max_payload_bytes: args.max_payload_bytes,
            max_body_bytes: args.max_body_bytes,
        },
        rules,
        heartbeat: Duration::from_secs(args.heartbeat_secs.max(1)),
        sqlite_sync: args.sqlite_sync,
        postgres_pool_size: args.pg_pool_size,
    };
    let server = Server::builder()
        .config(config)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    server.run_until_signal().await.map_err(|e| e.to_string())
}

async fn compact(
    database: Database,
    below: Option<u64>,
    keep_last: Option<u64>,
    scope: Option<String>,
) -> Result<(), String> {
    let config = Config {
        database,
        ..Config::default()
    };
    let backend = store::open(&config).await.map_err(|e| e.to_string())?;
    let scopes = match scope {
        Some(s) => vec![s],
        None => backend.scopes().await.map_err(|e| e.to_string())?,
    };
    for scope in scopes {
        let below = match (below, keep_last) {
            (Some(b), _) => b,
            (None, Some(n)) => {
                let head = backend
                    .pull(&scope, u64::MAX, 1)
                    .await
                    .map_err(|e| e.to_string())?
                    .info
                    .head;
                (head + 1).saturating_sub(n)
            }
            (None, None) => unreachable!("clap requires --below or --keep-last"),
        };
        let report = backend
            .compact(&scope, below)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(%scope, removed = report.removed, kept = report.kept,
            compacted_through = report.compacted_through, "compacted");
        println!(
            "scope {scope}: removed {} events, kept {}, compacted through {}",
            report.removed, report.kept, report.compacted_through
        );
    }
    Ok(())
}
