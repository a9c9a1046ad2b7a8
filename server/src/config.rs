//! The server's configuration: one typed struct, parsed once from flags and
//! `MODEL_REGISTRY_*` environment variables, passed down explicitly.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::store::{DatabaseUrl, PoolOptions};

/// Model Registry server: records trained model versions, decides which one
/// is in production, and keeps an append-only audit trail.
///
/// With no flags it serves gRPC on 127.0.0.1:50051 with SQLite in
/// ./model-registry.db (created and migrated on start).
#[derive(Debug, Parser)]
#[command(name = "model-registry-server", version, about, long_about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub config: Config,
}

/// The server's subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Every server setting.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(
        long,
        env = "MODEL_REGISTRY_LISTEN",
        default_value = "127.0.0.1:50051",
        global = true
    )]
    pub listen: SocketAddr,

    /// Database: sqlite://PATH (created when missing) or
    /// postgres://USER[:PASSWORD]@HOST[:PORT]/DB.
    #[arg(
        long,
        env = "MODEL_REGISTRY_DATABASE_URL",
        default_value = "sqlite://model-registry.db",
        hide_env_values = true,
        global = true
    )]
    pub database_url: DatabaseUrl,

    /// Most database connections (PostgreSQL), or reader connections (SQLite,
    /// which always has one writer).
    #[arg(
        long,
        env = "MODEL_REGISTRY_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub db_max_connections: usize,

    /// How long a request waits for a database connection before failing
    /// with UNAVAILABLE (e.g. 500ms, 5s).
    #[arg(long, env = "MODEL_REGISTRY_DB_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub db_timeout: Duration,

    /// How often the health check pings the database.
    #[arg(long, env = "MODEL_REGISTRY_HEALTH_INTERVAL", default_value = "2s", value_parser = parse_duration, global = true)]
    pub health_interval: Duration,

    /// Longest a request may run before it fails with CANCELLED.
    #[arg(long, env = "MODEL_REGISTRY_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,

    /// Do not apply pending migrations at start-up (run `migrate` instead).
    #[arg(long, env = "MODEL_REGISTRY_NO_MIGRATE", global = true)]
    pub no_migrate: bool,

    /// Log format; the level comes from RUST_LOG (default: info).
    #[arg(
        long,
        env = "MODEL_REGISTRY_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// Allow listening on a non-loopback address although requests are not
    /// authenticated. Without it the server refuses to expose itself.
    #[arg(
        long,
        env = "MODEL_REGISTRY_ALLOW_UNAUTHENTICATED_REMOTE",
        global = true
    )]
    pub allow_unauthenticated_remote: bool,
}

impl Config {
    /// The database pool settings.
    pub fn pool_options(&self) -> PoolOptions {
        PoolOptions {
            max_connections: self.db_max_connections,
            acquire_timeout: self.db_timeout,
        }
    }

    /// Refuses settings that are unsafe together.
    pub fn check(&self) -> Result<(), String> {
        if !self.listen.ip().is_loopback() && !self.allow_unauthenticated_remote {
            return Err(format!(
                "refusing to listen on {} without authentication: anyone who can reach it \
                 could change production models. Listen on 127.0.0.1, or pass \
                 --allow-unauthenticated-remote if a trusted network or proxy guards it",
                self.listen
            ));
        }
        if self.db_max_connections == 0 {
            return Err("--db-max-connections must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// Parses `250ms`, `5s`, `2m` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |at| text.split_at(at));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 5s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_embedded_loopback_setup() {
        let cli = Cli::try_parse_from(["model-registry-server"]).unwrap();
        assert_eq!(cli.command, None);
        assert_eq!(cli.config.listen.to_string(), "127.0.0.1:50051");
        assert_eq!(
            cli.config.database_url,
            DatabaseUrl::Sqlite("model-registry.db".into())
        );
        assert!(cli.config.check().is_ok());
    }

    #[test]
    fn listening_beyond_loopback_without_auth_needs_the_explicit_flag() {
        let cli =
            Cli::try_parse_from(["model-registry-server", "--listen", "0.0.0.0:50051"]).unwrap();
        assert!(cli.config.check().is_err());
        let cli = Cli::try_parse_from([
            "model-registry-server",
            "--listen",
            "0.0.0.0:50051",
            "--allow-unauthenticated-remote",
        ])
        .unwrap();
        assert!(cli.config.check().is_ok());
    }

    #[test]
    fn durations_accept_the_usual_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
