//! Health: `grpc.health.v1.Health` answers two questions. Readiness (the
//! empty service name and the registry service) is SERVING only while the
//! database answers (and, after a write failed on a full disk, only once
//! writes succeed again); a background task pings the database and flips
//! it. Liveness (the `liveness` service name) is SERVING from the first
//! moment of start-up until the process exits, whatever the database does:
//! an orchestrator that restarts on failed liveness must not restart every
//! replica during a database outage.
//!
//! Both are served on the gRPC port and, with `--health-listen`, on a
//! plaintext port of their own that opens before the database is set up
//! (probes that cannot speak TLS, probes during start-up).

use std::time::Duration;

use model_registry_api::REGISTRY_SERVICE_NAME;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

use crate::listener::{self, ConnectionLimits};
use crate::store::Store;

/// The service name whose status says only "this process is alive".
pub const LIVENESS_SERVICE: &str = "liveness";

/// The names whose status follows the database (readiness).
const READINESS_NAMES: [&str; 2] = ["", REGISTRY_SERVICE_NAME];

/// Health watches one probe connection may hold open: probes make unary
/// checks; the bound keeps a flood of watches from costing memory.
const PROBE_MAX_STREAMS: u32 = 16;

/// A reporter for a server that is starting: alive, not ready.
pub async fn starting() -> HealthReporter {
    let reporter = HealthReporter::new();
    reporter
        .set_service_status(LIVENESS_SERVICE, ServingStatus::Serving)
        .await;
    set_all(&reporter, ServingStatus::NotServing).await;
    reporter
}

/// The `grpc.health.v1.Health` service answering from `reporter`.
pub fn service(reporter: &HealthReporter) -> HealthServer<HealthService> {
    HealthServer::new(HealthService::from_health_reporter(reporter.clone()))
}

/// Sets every readiness service to `status` (liveness is left alone).
pub async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    for name in READINESS_NAMES {
        reporter.set_service_status(name, status).await;
    }
}

/// Serves only the health service, in plaintext, on `listener` until the
/// task is dropped or aborted: the probe port.
pub async fn serve_probes(
    listener: TcpListener,
    reporter: HealthReporter,
    limits: ConnectionLimits,
) -> Result<(), tonic::transport::Error> {
    Server::builder()
        .max_concurrent_streams(Some(PROBE_MAX_STREAMS))
        .add_service(service(&reporter))
        .serve_with_incoming(listener::incoming(listener, limits))
        .await
}

/// Pings the database every `interval` (each ping bounded by the interval
/// itself) until `stop` changes, reporting the outcome.
pub async fn watch_database(
    store: Store,
    reporter: HealthReporter,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last = None;
    loop {
        let (status, problem) = match tokio::time::timeout(
            interval.max(Duration::from_millis(100)),
            store.ping(),
        )
        .await
        {
            Ok(Ok(())) => (ServingStatus::Serving, None),
            Ok(Err(error)) => (ServingStatus::NotServing, Some(error.to_string())),
            Err(_) => (
                ServingStatus::NotServing,
                Some("the database did not answer in time".to_owned()),
            ),
        };
        if *stop.borrow() {
            return;
        }
        if last != Some(status) {
            match problem {
                None => tracing::info!("database healthy: health is SERVING"),
                Some(problem) => {
                    tracing::warn!(problem, "database unhealthy: health is NOT_SERVING")
                }
            }
            set_all(&reporter, status).await;
            last = Some(status);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
