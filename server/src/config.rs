//! The server's configuration: one typed struct, parsed once from flags and
//! `MODEL_REGISTRY_*` environment variables, passed down explicitly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::store::{DatabaseUrl, PoolOptions};
use crate::telemetry::LogFormat;

/// Model Registry server: records trained model versions, decides which one
/// is in production, and keeps an append-only audit trail.
///
/// With no flags it serves gRPC on 127.0.0.1:50051 with SQLite in
/// ./model-registry.db (created and migrated on start).
#[derive(Debug, Parser)]
#[command(name = "model-registry-server", version = crate::BUILD_VERSION, about, long_about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every command.
    #[command(flatten)]
    pub config: Config,
}

/// The server's subcommands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Copy the SQLite database, online, to a new file: a consistent
    /// snapshot of every change committed before the copy began. (Back
    /// PostgreSQL up with pg_dump.)
    #[command(
        after_help = "Restore: stop the servers, replace the database file with the backup (and remove its -wal and -shm files), start them.\n\nExample:\n  model-registry-server backup --database-url sqlite:///var/lib/model-registry/registry.db --to registry-$(date +%F).db"
    )]
    Backup {
        /// The file to write; it must not exist.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Fill a model with synthetic versions, in bulk, for benchmarks (up to
    /// a million in a minute or two). Not for a production database: it
    /// bypasses the API.
    Seed {
        /// The model to fill (created when missing).
        #[arg(long)]
        model: String,
        /// Versions the model should have afterwards.
        #[arg(long)]
        versions: i64,
    },
    /// Ask a running server's health service once; exit 0 only when it
    /// answers SERVING (for container health checks and exec probes).
    #[command(
        after_help = "Asks --health-listen's port when set (else --listen's, which must not be TLS); a wildcard address is asked on loopback.\n\nExamples:\n  model-registry-server probe                      # readiness\n  model-registry-server probe --service liveness   # the process is alive"
    )]
    Probe {
        /// The health service name: "" (readiness: the database answers)
        /// or `liveness` (the process is alive).
        #[arg(long, default_value = "")]
        service: String,
        /// Ask this address instead.
        #[arg(long)]
        address: Option<SocketAddr>,
        /// How long to wait for the answer.
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Read a token from standard input and say what the tokens file
    /// (--auth-tokens) makes of it: for an identity provider's token, the
    /// issuer, the verified claims, each rule tried and why it did not
    /// match, and the principal, role and limits. Exits 1 when the token
    /// is refused.
    #[command(
        after_help = "Fetches the issuers' keys as the server would (discovery, or jwks_file).\n\nExample:\n  model-registry-server check-token --auth-tokens /etc/model-registry/tokens.toml < token.jwt"
    )]
    CheckToken,
    /// Read a token from standard input and print its entry for the tokens
    /// file (only its SHA-256 is written), to append to the file.
    #[command(
        after_help = "Examples:\n  model-registry-server hash-token --principal ci --role trainer --generate-to ci.token >> tokens.toml\n  printf %s \"$TOKEN\" | model-registry-server hash-token --principal ci --role trainer >> tokens.toml\n\nA token read from standard input must hold at least 128 bits of entropy (32 random bytes do)."
    )]
    HashToken {
        /// The principal the token identifies (recorded as the actor of its changes).
        #[arg(long)]
        principal: String,
        /// reader, trainer, deployer or admin.
        #[arg(long)]
        role: crate::domain::access::Role,
        /// Make a new random token (256 bits) instead of reading one, and
        /// write it to FILE (created readable by its owner only; never
        /// overwritten): the token is shown nowhere else.
        #[arg(long, value_name = "FILE")]
        generate_to: Option<std::path::PathBuf>,
    },
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
        value_parser = DatabaseUrlParser,
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

    /// Most database connections writing at once (PostgreSQL; SQLite has
    /// one writer). Further writers queue without holding a connection, so
    /// reads and health never wait behind them.
    #[arg(
        long,
        env = "MODEL_REGISTRY_DB_MAX_WRITERS",
        default_value_t = 8,
        global = true
    )]
    pub db_max_writers: usize,

    /// How long a request waits for a database connection before failing
    /// with UNAVAILABLE (e.g. 500ms, 5s).
    #[arg(long, env = "MODEL_REGISTRY_DB_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub db_timeout: Duration,

    /// How often the health check pings the database.
    #[arg(long, env = "MODEL_REGISTRY_HEALTH_INTERVAL", default_value = "2s", value_parser = parse_duration, global = true)]
    pub health_interval: Duration,

    /// Longest a request may run (a client's shorter grpc-timeout wins)
    /// before it fails with DEADLINE_EXCEEDED; a change not committed by
    /// then is not made. Streams (watches) are not limited.
    #[arg(long, env = "MODEL_REGISTRY_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,

    /// Most client connections open at once; more wait in the listen backlog.
    #[arg(
        long,
        env = "MODEL_REGISTRY_MAX_CONNECTIONS",
        default_value_t = 1024,
        global = true
    )]
    pub max_connections: usize,

    /// Most web console connections open at once (apart from the gRPC
    /// port's); more wait in the listen backlog.
    #[arg(
        long,
        env = "MODEL_REGISTRY_WEB_MAX_CONNECTIONS",
        default_value_t = 64,
        global = true
    )]
    pub web_max_connections: usize,

    /// How long a new connection may take to send its first bytes (HTTP/2
    /// preface or TLS handshake) before it is closed.
    #[arg(long, env = "MODEL_REGISTRY_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub handshake_timeout: Duration,

    /// How long a web console sign-in lasts; the browser then signs in
    /// again. Sign-out ends it earlier, on every replica.
    #[arg(long, env = "MODEL_REGISTRY_WEB_SESSION_LIFETIME", default_value = "1h", value_parser = parse_duration, global = true)]
    pub web_session_lifetime: Duration,

    /// Longest a watch stream stays open: it then ends with UNAVAILABLE and
    /// the client resumes it from its last event (authenticated anew).
    #[arg(long, env = "MODEL_REGISTRY_MAX_STREAM_LIFETIME", default_value = "1h", value_parser = parse_duration, global = true)]
    pub max_stream_lifetime: Duration,

    /// Most watch streams one principal holds open at once (with
    /// authentication); more are RESOURCE_EXHAUSTED.
    #[arg(
        long,
        env = "MODEL_REGISTRY_MAX_STREAMS_PER_PRINCIPAL",
        default_value_t = 256,
        global = true
    )]
    pub max_streams_per_principal: usize,

    /// Webhooks may POST to `http://` URLs (requests then travel in clear).
    #[arg(long, env = "MODEL_REGISTRY_WEBHOOK_ALLOW_HTTP", global = true)]
    pub webhook_allow_http: bool,

    /// Webhooks may POST to private, loopback and link-local addresses
    /// (refused by default: a subscription must not reach the server's own
    /// network).
    #[arg(
        long,
        env = "MODEL_REGISTRY_WEBHOOK_ALLOW_PRIVATE_DESTINATIONS",
        global = true
    )]
    pub webhook_allow_private_destinations: bool,

    /// Longest one webhook request may take, answer included.
    #[arg(long, env = "MODEL_REGISTRY_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub webhook_timeout: Duration,

    /// How long a failing event is retried before its subscription is
    /// paused (FAILING) until an admin resumes it.
    #[arg(long, env = "MODEL_REGISTRY_WEBHOOK_MAX_AGE", default_value = "24h", value_parser = parse_duration, global = true)]
    pub webhook_max_age: Duration,

    /// The longest wait between two retries of a failing event (the waits
    /// double from 1s up to it, with jitter).
    #[arg(long, env = "MODEL_REGISTRY_WEBHOOK_MAX_RETRY_INTERVAL", default_value = "5m", value_parser = parse_duration, global = true)]
    pub webhook_max_retry_interval: Duration,

    /// Most webhook requests in flight at once, across subscriptions.
    #[arg(
        long,
        env = "MODEL_REGISTRY_WEBHOOK_CONCURRENCY",
        default_value_t = 16,
        global = true
    )]
    pub webhook_concurrency: usize,

    /// On SIGTERM, how long to wait for in-flight calls and open
    /// connections (watch streams end at once, with UNAVAILABLE) before
    /// exiting anyway.
    #[arg(long, env = "MODEL_REGISTRY_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration, global = true)]
    pub shutdown_grace: Duration,

    /// Serve Prometheus metrics over HTTP at http://ADDR/metrics (off when
    /// not given). Its own port, so it can be exposed to the scraper only.
    #[arg(long, env = "MODEL_REGISTRY_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,

    /// Serve the read-only web console over HTTP at http://ADDR/ (off when
    /// not given). Loopback only unless a tokens file is configured (the
    /// console then asks for a token).
    #[arg(long, env = "MODEL_REGISTRY_WEB_LISTEN", global = true)]
    pub web_listen: Option<SocketAddr>,

    /// Serve only gRPC health, in plaintext, at ADDR (off when not given):
    /// for probes that cannot speak TLS (Kubernetes' native gRPC probes),
    /// and open from the first moment of start-up. The service name
    /// `liveness` is SERVING while the process runs; "" is readiness
    /// (SERVING only while the database answers).
    #[arg(long, env = "MODEL_REGISTRY_HEALTH_LISTEN", global = true)]
    pub health_listen: Option<SocketAddr>,

    /// At start-up (and in `migrate`), how long to keep retrying a database
    /// that cannot be reached, or a SQLite file another process holds
    /// locked (e.g. 10m, 24h), before giving up; 0 gives up at once. While
    /// it waits the server is alive and not ready.
    #[arg(long, env = "MODEL_REGISTRY_DATABASE_WAIT", default_value = "0s", value_parser = parse_duration, global = true)]
    pub database_wait: Duration,

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

    /// Tokens file (TOML, SHA-256 hashes of tokens with principal and role;
    /// see `hash-token`). Turns authentication on; re-read on SIGHUP.
    #[arg(long, env = "MODEL_REGISTRY_AUTH_TOKENS", global = true)]
    pub auth_tokens: Option<PathBuf>,

    /// Signature trust file (TOML: the public keys and CAs whose model
    /// signatures AttachSignature accepts, per model-name prefix); without
    /// it every signature is refused. Re-read on SIGHUP.
    #[arg(long, env = "MODEL_REGISTRY_SIGNATURE_TRUST", global = true)]
    pub signature_trust: Option<PathBuf>,

    /// Do not serve gRPC reflection (it is open to unauthenticated callers
    /// otherwise).
    #[arg(long, env = "MODEL_REGISTRY_NO_REFLECTION", global = true)]
    pub no_reflection: bool,

    /// PEM certificate (chain) to serve TLS with; needs --tls-key.
    #[arg(
        long,
        env = "MODEL_REGISTRY_TLS_CERT",
        requires = "tls_key",
        global = true
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "MODEL_REGISTRY_TLS_KEY",
        requires = "tls_cert",
        global = true
    )]
    pub tls_key: Option<PathBuf>,

    /// PEM CA certificate that signs client certificates: enables mutual
    /// TLS (a client certificate then names its principal, see the tokens
    /// file's client_certificate entries; clients without one use tokens).
    #[arg(
        long,
        env = "MODEL_REGISTRY_TLS_CLIENT_CA",
        requires = "tls_cert",
        global = true
    )]
    pub tls_client_ca: Option<PathBuf>,

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
            max_writers: self.db_max_writers,
            acquire_timeout: self.db_timeout,
            // A backstop: calls end at their own deadline first.
            statement_timeout: self.request_timeout + Duration::from_secs(5),
        }
    }

    /// Refuses settings that are unsafe together.
    pub fn check(&self) -> Result<(), String> {
        if !self.listen.ip().is_loopback()
            && self.auth_tokens.is_none()
            && !self.allow_unauthenticated_remote
        {
            return Err(format!(
                "refusing to listen on {} without authentication: anyone who can reach it \
                 could change production models. Configure --auth-tokens, listen on \
                 127.0.0.1, or pass --allow-unauthenticated-remote if a trusted network or \
                 proxy guards it",
                self.listen
            ));
        }
        if let Some(web) = self.web_listen
            && !web.ip().is_loopback()
            && self.auth_tokens.is_none()
            && !self.allow_unauthenticated_remote
        {
            return Err(format!(
                "refusing to serve the web console on {web} without authentication: anyone \
                 who can reach it could read every model. Configure --auth-tokens, listen on \
                 127.0.0.1, or pass --allow-unauthenticated-remote"
            ));
        }
        if self.db_max_connections == 0 {
            return Err("--db-max-connections must be at least 1".to_owned());
        }
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".to_owned());
        }
        if self.web_max_connections == 0 {
            return Err("--web-max-connections must be at least 1".to_owned());
        }
        if self.webhook_concurrency == 0 {
            return Err("--webhook-concurrency must be at least 1".to_owned());
        }
        if self.webhook_timeout.is_zero() || self.webhook_max_retry_interval.is_zero() {
            return Err(
                "--webhook-timeout and --webhook-max-retry-interval must be above 0".to_owned(),
            );
        }
        if self.max_streams_per_principal == 0 {
            return Err("--max-streams-per-principal must be at least 1".to_owned());
        }
        if self.tls_client_ca.is_some() && self.auth_tokens.is_none() {
            return Err(
                "--tls-client-ca needs --auth-tokens: client certificates name principals \
                 of the tokens file (client_certificate = true entries)"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// Warnings about settings that work but deserve an operator's
    /// attention, logged at every start.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let remote = !self.listen.ip().is_loopback();
        if remote && self.auth_tokens.is_none() {
            warnings.push(format!(
                "listening on {} WITHOUT authentication (--allow-unauthenticated-remote): \
                 anyone who reaches this port can change production models",
                self.listen
            ));
        }
        if remote && self.auth_tokens.is_some() && self.tls_cert.is_none() {
            warnings.push(format!(
                "listening on {} without TLS: bearer tokens travel in clear text; configure \
                 --tls-cert and --tls-key",
                self.listen
            ));
        }
        if let Some(web) = self.web_listen
            && !web.ip().is_loopback()
        {
            warnings.push(format!(
                "the web console on {web} is plain HTTP: a token typed into its sign-in \
                 crosses the network in clear; serve it behind a TLS-terminating proxy or on \
                 loopback"
            ));
        }
        if let Some(metrics) = self.metrics_listen
            && !metrics.ip().is_loopback()
        {
            warnings.push(format!(
                "metrics on {metrics} answer anyone who reaches the port (no authentication, \
                 no TLS): expose it to the scraper only"
            ));
        }
        warnings
    }
}

/// Parses `--database-url` without ever repeating the value in an error:
/// clap's own message would print the whole URL, password included.
#[derive(Debug, Clone, Copy)]
struct DatabaseUrlParser;

impl clap::builder::TypedValueParser for DatabaseUrlParser {
    type Value = DatabaseUrl;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let invalid = |message: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid --database-url: {message}\n"),
            )
            .with_cmd(cmd)
        };
        value
            .to_str()
            .ok_or_else(|| invalid("it is not valid UTF-8".to_owned()))?
            .parse()
            .map_err(invalid)
    }
}

/// Parses `250ms`, `5s`, `2m`, `24h` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |at| text.split_at(at));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 5s, 2m or 24h"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s, m or h")),
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
    fn auth_makes_a_remote_listen_acceptable_and_tls_quiets_the_warning() {
        let parse = |args: &[&str]| {
            let mut all = vec!["model-registry-server", "--listen", "0.0.0.0:50051"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).unwrap().config
        };
        let with_auth = parse(&["--auth-tokens", "tokens.toml"]);
        assert!(with_auth.check().is_ok());
        assert!(with_auth.warnings()[0].contains("without TLS"));
        let with_tls = parse(&[
            "--auth-tokens",
            "tokens.toml",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ]);
        assert!(with_tls.warnings().is_empty());
        let open = parse(&["--allow-unauthenticated-remote"]);
        assert!(open.warnings()[0].contains("WITHOUT authentication"));
        assert!(
            parse(&[
                "--tls-client-ca",
                "ca.pem",
                "--tls-cert",
                "c",
                "--tls-key",
                "k"
            ])
            .check()
            .is_err()
        );
    }

    #[test]
    fn refusals_read_as_one_sentence() {
        let cli =
            Cli::try_parse_from(["model-registry-server", "--web-listen", "0.0.0.0:8080"]).unwrap();
        let refusal = cli.config.check().unwrap_err();
        assert!(!refusal.contains("  "), "no runs of spaces: {refusal:?}");
        assert!(refusal.contains("anyone who can reach it"), "{refusal}");
    }

    #[test]
    fn durations_accept_the_usual_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
