//! Assembles and runs the gRPC server: the registry service, health,
//! reflection and the request layer, with graceful shutdown. Every layer the
//! server gets (auth, limits, TLS) is added here, in one place.

use std::future::Future;
use std::time::Duration;

use model_registry_api::v1::registry_service_server::RegistryServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic_health::ServingStatus;

use crate::config::Config;
use crate::grpc::{RegistryService, RequestLayer};
use crate::health;
use crate::store::{SetupError, Store};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unsafe or inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// The database could not be set up.
    #[error(transparent)]
    Store(#[from] SetupError),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Reflection could not be built from the descriptors.
    #[error("server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Settings of a running server that do not concern the database.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How often health pings the database.
    pub health_interval: Duration,
    /// Longest a request may run.
    pub request_timeout: Duration,
}

impl From<&Config> for ServeOptions {
    fn from(config: &Config) -> Self {
        Self {
            health_interval: config.health_interval,
            request_timeout: config.request_timeout,
        }
    }
}

/// Migrates (unless told not to), opens the store, binds and serves until
/// SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), ServerError> {
    config.check().map_err(ServerError::Config)?;
    if !config.no_migrate {
        let applied = Store::migrate(&config.database_url).await?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied database migrations");
        }
    }
    let store = Store::open(&config.database_url, &config.pool_options())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServerError::Bind {
            address: config.listen,
            source,
        })?;
    tracing::info!(
        listen = %config.listen,
        db.backend = config.database_url.backend(),
        database = %config.database_url,
        "model registry serving"
    );
    serve(
        listener,
        store,
        ServeOptions::from(&config),
        shutdown_signal(),
    )
    .await
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
    let (reporter, health_service) = tonic_health::server::health_reporter();
    health::set_all(&reporter, ServingStatus::NotServing).await;
    let (stop_watch, stopped) = watch::channel(false);
    let watcher = tokio::spawn(health::watch_database(
        store.clone(),
        reporter.clone(),
        options.health_interval,
        stopped,
    ));
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: health NOT_SERVING, draining in-flight requests");
        let _ = stop_watch.send(true);
        let _ = watcher.await;
        health::set_all(&reporter, ServingStatus::NotServing).await;
    };

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(model_registry_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    // grpcurl 1.8 speaks only the v1alpha reflection protocol.
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(model_registry_api::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    Server::builder()
        .timeout(options.request_timeout)
        .layer(RequestLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(RegistryServiceServer::new(RegistryService::new(store)))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    tracing::info!("server stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
