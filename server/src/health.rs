//! Health: `grpc.health.v1.Health` reports SERVING, for the empty service
//! name and for the registry service, only while the database answers (and,
//! after a write failed on a full disk, only once writes succeed again). A
//! background task pings the database periodically and flips the status.

use std::time::Duration;

use model_registry_api::REGISTRY_SERVICE_NAME;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::store::Store;

/// The names whose status this server reports.
const SERVICE_NAMES: [&str; 2] = ["", REGISTRY_SERVICE_NAME];

/// Sets every reported service to `status`.
pub async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    for name in SERVICE_NAMES {
        reporter.set_service_status(name, status).await;
    }
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
