//! Assembles and runs the gRPC server: the registry service, health,
//! reflection and the request layer, with graceful shutdown. Every layer the
//! server gets (auth, limits, TLS) is added here, in one place.

mod reload;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use model_registry_api::v1::registry_service_server::RegistryServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{AuthLayer, Authenticator, TokensFileError};
use crate::changes::ChangeFeed;
use crate::config::Config;
use crate::grpc::Watches;
use crate::grpc::{RegistryService, RequestLayer, Unanswered};
use crate::health;
use crate::listener::{self, ConnectionLimits};
use crate::prometheus;
use crate::registry::Registry;
use crate::shutdown::StopSignals;
use crate::signing::SignatureTrust;
use crate::store::{SetupError, Store};

/// Largest request message accepted: the largest valid registration (10,000
/// feature names of 256 characters, 64 KiB of metadata …) fits with room to
/// spare. A larger one is RESOURCE_EXHAUSTED.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Largest response message sent. Listings stop well below it (see
/// `grpc::pages`); a single version cannot reach it.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Most calls and streams one HTTP/2 connection may hold open at once
/// (advertised as SETTINGS_MAX_CONCURRENT_STREAMS): a caller with no token
/// cannot pile up streams (and their memory) on one connection.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 100;

/// Streams a peer may reset before the server handled them, before it is
/// sent GOAWAY (rapid reset).
pub const MAX_PENDING_RESETS: usize = 20;

/// Streams the server may reset for a peer's errors, before the peer is
/// sent GOAWAY.
pub const MAX_LOCAL_RESETS: usize = 256;

/// Largest header block accepted (a bearer token of an identity provider
/// fits many times over).
pub const MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;

/// At shutdown, how long the last answers and the streams' final statuses
/// have to leave once every unary call is answered: a client reading its
/// stream gets its UNAVAILABLE in milliseconds; one that stopped reading
/// would hold the process until the grace period ends.
const FLUSH_AFTER_LAST_ANSWER: Duration = Duration::from_millis(500);

/// How long a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unsafe or inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// The database could not be set up.
    #[error(transparent)]
    Store(#[from] SetupError),
    /// The tokens file cannot be used.
    #[error(transparent)]
    Tokens(#[from] TokensFileError),
    /// A TLS certificate or key cannot be read.
    #[error("cannot read {path}: {source}")]
    TlsFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The webhooks' HTTP client could not be set up (its TLS roots).
    #[error("webhook client: {0}")]
    Webhooks(#[from] reqwest::Error),
    /// Reflection could not be built from the descriptors.
    #[error("server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The stop signals could not be taken over.
    #[error("cannot install the SIGTERM/SIGINT handlers: {0}")]
    Signals(std::io::Error),
}

/// Settings of a running server that do not concern the database.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How often health pings the database.
    pub health_interval: Duration,
    /// Longest a request may run.
    pub request_timeout: Duration,
    /// Who callers are; disabled means everyone is anonymous.
    pub authenticator: Arc<Authenticator>,
    /// Serve gRPC reflection.
    pub reflection: bool,
    /// TLS, when configured.
    pub tls: Option<ServerTlsConfig>,
    /// Bounds on open connections.
    pub connections: ConnectionLimits,
    /// Bounds on the web console's open connections.
    pub web_connections: ConnectionLimits,
    /// How long a console sign-in lasts.
    pub web_session_lifetime: Duration,
    /// How long shutdown waits for in-flight calls and open connections.
    pub shutdown_grace: Duration,
    /// Longest a watch stream stays open before its caller resumes it.
    pub stream_lifetime: Duration,
    /// Most watch streams one principal holds at once.
    pub streams_per_principal: usize,
    /// The health statuses to serve, when they were set up before the
    /// store (a probe port opened at start-up shares them); new ones when
    /// `None`.
    pub health: Option<HealthReporter>,
    /// How webhooks are delivered.
    pub webhooks: crate::webhooks::DeliveryOptions,
    /// Whose model signatures are accepted.
    pub signatures: Arc<SignatureTrust>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            health_interval: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            authenticator: Arc::new(Authenticator::disabled()),
            reflection: true,
            tls: None,
            connections: ConnectionLimits::default(),
            web_connections: ConnectionLimits {
                max_connections: 64,
                ..ConnectionLimits::default()
            },
            web_session_lifetime: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(10),
            stream_lifetime: Duration::from_secs(3600),
            streams_per_principal: 256,
            health: None,
            webhooks: crate::webhooks::DeliveryOptions::default(),
            signatures: Arc::new(SignatureTrust::none()),
        }
    }
}

impl ServeOptions {
    /// The options `config` asks for, reading its tokens file and TLS files.
    pub fn from_config(config: &Config) -> Result<Self, ServerError> {
        let authenticator = match &config.auth_tokens {
            Some(path) => Authenticator::from_file(path)?,
            None => Authenticator::disabled(),
        };
        let signatures = match &config.signature_trust {
            Some(path) => SignatureTrust::from_file(path).map_err(ServerError::Config)?,
            None => SignatureTrust::none(),
        };
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                Some(tls_config(cert, key, config.tls_client_ca.as_deref())?)
            }
            _ => None,
        };
        Ok(Self {
            health_interval: config.health_interval,
            request_timeout: config.request_timeout,
            authenticator: Arc::new(authenticator),
            reflection: !config.no_reflection,
            tls,
            connections: ConnectionLimits {
                max_connections: config.max_connections,
                handshake_timeout: config.handshake_timeout,
            },
            web_connections: ConnectionLimits {
                max_connections: config.web_max_connections,
                handshake_timeout: config.handshake_timeout,
            },
            web_session_lifetime: config.web_session_lifetime,
            shutdown_grace: config.shutdown_grace,
            stream_lifetime: config.max_stream_lifetime,
            streams_per_principal: config.max_streams_per_principal,
            health: None,
            webhooks: crate::webhooks::DeliveryOptions {
                rules: crate::domain::webhook::DestinationRules {
                    allow_http: config.webhook_allow_http,
                    allow_private: config.webhook_allow_private_destinations,
                },
                timeout: config.webhook_timeout,
                max_age: config.webhook_max_age,
                max_retry: config.webhook_max_retry_interval,
                concurrency: config.webhook_concurrency,
                ..crate::webhooks::DeliveryOptions::default()
            },
            signatures: Arc::new(signatures),
        })
    }
}

/// The server's TLS settings from PEM files; with `client_ca`, clients may
/// present a certificate signed by it (which then names their principal).
pub fn tls_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<ServerTlsConfig, ServerError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| ServerError::TlsFile {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(read(cert)?, read(key)?))
        .timeout(TLS_HANDSHAKE_TIMEOUT);
    if let Some(ca) = client_ca {
        tls = tls
            .client_ca_root(Certificate::from_pem(read(ca)?))
            .client_auth_optional(true);
    }
    Ok(tls)
}

/// Raises the soft limit on open files to the hard limit: every connection
/// is a file descriptor, and a default soft limit (1,024 on most systems)
/// would be reached before `--max-connections`. Warns when even the hard
/// limit cannot hold the connection caps.
fn raise_open_files_limit(config: &Config) {
    let needed = (config.max_connections + config.web_max_connections + 256) as u64;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => tracing::warn!(
            open_files = limit,
            needed,
            "the open-files limit is below --max-connections + --web-max-connections + 256: \
             at the limit, new callers fail; raise the hard limit (ulimit -Hn) or lower the caps"
        ),
        Ok(limit) => tracing::debug!(open_files = limit, "open-files limit"),
        Err(error) => tracing::warn!(error = %error, "cannot raise the open-files limit"),
    }
}

/// Binds, migrates (unless told not to), opens the store and serves until
/// SIGINT or SIGTERM; re-reads the tokens file on SIGHUP. A stop signal at
/// any moment, start-up included, ends it with `Ok`.
pub async fn run(config: Config) -> Result<(), ServerError> {
    // Before anything else: a SIGTERM from here on is a clean stop.
    let mut stop = StopSignals::install().map_err(ServerError::Signals)?;
    config.check().map_err(ServerError::Config)?;
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    raise_open_files_limit(&config);
    let mut options = ServeOptions::from_config(&config)?;
    // The ports first: a server that cannot listen must not touch (or
    // create) the database. Callers queue in the backlog until it serves.
    let listener = bind(config.listen).await?;
    let web_listener = bind_optional(config.web_listen).await?;
    let metrics_listener = bind_optional(config.metrics_listen).await?;
    let probe_listener = bind_optional(config.health_listen).await?;
    // Probes are answered from here on: alive, not ready until the store is.
    let health = health::starting().await;
    options.health = Some(health.clone());
    let probes = probe_listener.map(|listener| {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(health.listen = %address, "serving gRPC health (plaintext) for probes");
        }
        tokio::spawn(health::serve_probes(
            listener,
            health.clone(),
            options.connections,
        ))
    });
    let _probes = AbortOnDrop(probes);
    let store = tokio::select! {
        store = prepare_store(&config) => store?,
        signal = stop.received() => {
            tracing::info!(signal, "stopped during start-up");
            return Ok(());
        }
    };
    tracing::info!(
        listen = %config.listen,
        db.backend = config.database_url.backend(),
        database = %config.database_url,
        auth = options.authenticator.is_enabled(),
        tls = options.tls.is_some(),
        "model registry serving"
    );
    tokio::spawn(reload::reload_on_hangup(
        Arc::clone(&options.authenticator),
        Arc::clone(&options.signatures),
    ));
    let authenticator = Arc::clone(&options.authenticator);
    tokio::spawn(async move { authenticator.fetch_issuer_keys().await });
    // Metrics stay up while the server drains, and stop with it.
    let _metrics = AbortOnDrop(metrics_listener.map(|listener| {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(metrics.listen = %address, "serving Prometheus metrics at /metrics");
        }
        tokio::spawn(prometheus::serve(listener, store.clone()))
    }));
    let shutdown = async move {
        let signal = stop.received().await;
        tracing::info!(signal, "stop signal received");
    };
    serve_with_console(listener, web_listener, store, options, shutdown).await
}

/// A background task that ends with its owner.
struct AbortOnDrop<T>(Option<tokio::task::JoinHandle<T>>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

async fn bind(address: std::net::SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| ServerError::Bind { address, source })
}

async fn bind_optional(
    address: Option<std::net::SocketAddr>,
) -> Result<Option<TcpListener>, ServerError> {
    match address {
        Some(address) => bind(address).await.map(Some),
        None => Ok(None),
    }
}

/// Longest pause between two attempts to reach the database at start-up.
const DATABASE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Migrates the database (or, with `--no-migrate`, checks its schema) and
/// opens the store, waiting for an unreachable database (see
/// [`migrate_when_reachable`]).
async fn prepare_store(config: &Config) -> Result<Store, ServerError> {
    if config.no_migrate {
        // Someone else migrates (a Job, a one-shot service): refuse a
        // schema this binary does not match rather than fail call by call.
        when_reachable(config, || Store::check_schema(&config.database_url)).await?;
    } else {
        let applied = migrate_when_reachable(config).await?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied database migrations");
        }
    }
    Ok(Store::open(&config.database_url, &config.pool_options())?)
}

/// Applies pending migrations (the `migrate` subcommand and start-up); a
/// database that cannot be reached is retried, with back-off, for
/// `--database-wait` (a migration Job started during an outage waits too);
/// returns the versions applied.
pub async fn migrate_when_reachable(config: &Config) -> Result<Vec<String>, ServerError> {
    when_reachable(config, || Store::migrate(&config.database_url)).await
}

/// Runs `attempt` until it does not fail for want of a connection (or of
/// SQLite's write lock), for at most `--database-wait`; any other failure
/// is final at once.
async fn when_reachable<T, F>(config: &Config, attempt: impl Fn() -> F) -> Result<T, ServerError>
where
    F: Future<Output = Result<T, SetupError>>,
{
    let give_up_at = tokio::time::Instant::now() + config.database_wait;
    let mut pause = Duration::from_millis(250);
    loop {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(error @ (SetupError::Connect { .. } | SetupError::Locked { .. }))
                if tokio::time::Instant::now() + pause < give_up_at =>
            {
                if matches!(error, SetupError::Locked { .. }) {
                    tracing::warn!(
                        error = %error,
                        retry_ms = pause.as_millis() as u64,
                        "database locked by another process; retrying (--database-wait)"
                    );
                } else {
                    tracing::warn!(
                        error = %error,
                        retry_ms = pause.as_millis() as u64,
                        "database unreachable; retrying (--database-wait)"
                    );
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(DATABASE_RETRY_MAX);
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Serves on `listener` until `shutdown` completes. Then health turns
/// NOT_SERVING, new connections are refused, and in-flight requests finish
/// before this returns.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    serve_with_console(listener, None, store, options, shutdown).await
}

/// Like [`serve`], with the web console on `web` when given: it shares the
/// store, the change feed and the authenticator, and stops with the server.
pub async fn serve_with_console(
    listener: TcpListener,
    web: Option<TcpListener>,
    store: Store,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let reporter = match options.health {
        Some(reporter) => reporter,
        None => health::starting().await,
    };
    let health_service = health::service(&reporter);
    let (stop_watch, stopped) = watch::channel(false);
    let watcher = tokio::spawn(health::watch_database(
        store.clone(),
        reporter.clone(),
        options.health_interval,
        stopped.clone(),
    ));
    // The recorder first: the feed records its state once, at start.
    prometheus::handle();
    let feed = ChangeFeed::start(store.clone(), stopped.clone());
    let registry = Registry::new(store, options.signatures.clone());
    let webhook_rules = options.webhooks.rules;
    let deliveries = crate::webhooks::start(
        registry.clone(),
        feed.clone(),
        options.webhooks.clone(),
        stopped.clone(),
    )?;
    if let Some(web) = web {
        if let Ok(address) = web.local_addr() {
            tracing::info!(web.listen = %address, "serving the web console at http://{address}/");
        }
        let web_limits = options.web_connections;
        let console = crate::web::Console::new(
            registry.clone(),
            feed.clone(),
            Arc::clone(&options.authenticator),
            stopped.clone(),
            options.web_session_lifetime,
            Arc::clone(&options.signatures),
        );
        tokio::spawn(async move {
            if let Err(error) = crate::web::serve(web, console, web_limits).await {
                tracing::error!(error = %error, "the web console stopped");
            }
        });
    }
    let watches = Watches {
        authenticator: Arc::clone(&options.authenticator),
        lifetime: options.stream_lifetime,
        per_principal: options.streams_per_principal,
        open: Arc::default(),
        reads: Arc::default(),
        registry: registry.clone(),
        feed,
        shutdown: stopped,
    };
    let (draining, mut drain_started) = watch::channel(false);
    let unanswered = Unanswered::default();
    let shutdown = async move {
        shutdown.await;
        tracing::info!(
            grace_ms = options.shutdown_grace.as_millis() as u64,
            "shutting down: health NOT_SERVING, streams end, draining in-flight requests"
        );
        // Ends every watch stream (with UNAVAILABLE) and the change feed.
        let _ = stop_watch.send(true);
        let _ = watcher.await;
        // Workers stop at once; the leases are given up for another replica.
        let _ = tokio::time::timeout(Duration::from_secs(5), deliveries).await;
        health::set_all(&reporter, ServingStatus::NotServing).await;
        let _ = draining.send(true);
    };

    let (reflection_v1, reflection_v1alpha) = if options.reflection {
        let v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(model_registry_api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(model_registry_api::ERROR_DETAILS_DESCRIPTOR_SET)
            .build_v1()?;
        // grpcurl 1.8 speaks only the v1alpha reflection protocol.
        let v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(model_registry_api::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(model_registry_api::ERROR_DETAILS_DESCRIPTOR_SET)
            .build_v1alpha()?;
        (Some(v1), Some(v1alpha))
    } else {
        (None, None)
    };

    let mut builder = Server::builder();
    if let Some(tls) = options.tls {
        builder = builder.tls_config(tls)?;
    }
    let serving = builder
        // Dead peers (a client that vanished without closing) are found
        // and their connections closed.
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        // One connection holds at most this many calls and streams at once
        // (the peer is told in SETTINGS; further streams are refused), and
        // a peer that makes the server reset streams fast (rapid reset,
        // CVE-2023-44487) is sent GOAWAY.
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_RESETS))
        .http2_max_local_error_reset_streams(Some(MAX_LOCAL_RESETS))
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .layer(RequestLayer::new(
            options.request_timeout,
            unanswered.clone(),
        ))
        .layer(AuthLayer::new(options.authenticator))
        .add_service(health_service)
        .add_optional_service(reflection_v1)
        .add_optional_service(reflection_v1alpha)
        .add_service(
            RegistryServiceServer::new(RegistryService::new(
                registry,
                watches,
                webhook_rules,
                options.signatures,
            ))
            .max_decoding_message_size(MAX_REQUEST_BYTES)
            .max_encoding_message_size(MAX_RESPONSE_BYTES)
            // Answers are compressed only for a client that asks.
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip),
        )
        .serve_with_incoming_shutdown(listener::incoming(listener, options.connections), shutdown);
    // tonic waits for every connection to close; a client holding one open
    // (an idle socket, a health watch, a watcher that stopped reading and so
    // cannot be sent its end) must not hold the process. Once every unary
    // call is answered and the last answers had a moment to leave, stop;
    // after the grace period, stop anyway.
    let grace = options.shutdown_grace;
    let mut grace_started = drain_started.clone();
    let deadline = async move {
        let _ = grace_started.wait_for(|started| *started).await;
        tokio::time::sleep(grace).await;
    };
    let answered = async move {
        let _ = drain_started.wait_for(|started| *started).await;
        unanswered.none().await;
        tokio::time::sleep(FLUSH_AFTER_LAST_ANSWER.min(grace)).await;
    };
    tokio::select! {
        served = serving => served?,
        () = answered => {
            tracing::info!("every call answered; closing the connections left (streams told to end)");
        }
        () = deadline => {
            tracing::warn!("shutdown grace period over; closing the remaining connections");
        }
    }
    tracing::info!("server stopped");
    Ok(())
}
