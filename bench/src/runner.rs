//! Runs calls from N concurrent callers over C connections until a time or
//! request limit, recording each call's latency and outcome by operation.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use model_registry_api::v1::registry_service_client::RegistryServiceClient;
use tonic::transport::{Channel, Endpoint};

/// The generated client over one HTTP/2 connection.
pub type Client = RegistryServiceClient<Channel>;

/// Opens `count` connections to `url`, with the settings of a real client
/// (TCP_NODELAY, no compression).
pub async fn connect(url: &str, count: usize) -> Result<Vec<Client>, tonic::transport::Error> {
    let mut clients = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let channel = Endpoint::from_shared(url.to_owned())?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?;
        clients.push(
            RegistryServiceClient::new(channel)
                .max_decoding_message_size(16 * 1024 * 1024)
                .max_encoding_message_size(16 * 1024 * 1024),
        );
    }
    Ok(clients)
}

/// When a run stops: whichever limit comes first.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest the run may take.
    pub duration: Duration,
    /// Most calls, over all callers.
    pub requests: u64,
    /// A pause each caller takes between two calls (the deployer's pattern).
    pub pause: Duration,
}

/// One call's outcome: the operation, its gRPC code and its latency (a
/// call may do untimed preparation first).
pub type Outcome = (&'static str, tonic::Code, Duration);

/// Awaits `call`, timing it, as operation `operation`.
pub async fn timed<T>(
    operation: &'static str,
    call: impl Future<Output = Result<T, tonic::Status>>,
) -> Outcome {
    let begun = Instant::now();
    let result = call.await;
    (operation, code_of(&result), begun.elapsed())
}

/// A call to make: the caller's client, the caller's number and the call's
/// number over the whole run.
pub type Call =
    Arc<dyn Fn(Client, usize, u64) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>;

/// What one operation did during a run.
#[derive(Debug, Default, Clone)]
pub struct OperationStats {
    /// Latency of every successful call.
    pub latencies: Vec<Duration>,
    /// Failed calls by code.
    pub errors: BTreeMap<String, u64>,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// By operation name.
    pub operations: BTreeMap<&'static str, OperationStats>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Runs `call` from `concurrency` callers spread over `clients` within
/// `limits`.
pub async fn run(clients: &[Client], concurrency: usize, limits: Limits, call: Call) -> RunStats {
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + limits.duration;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency.max(1) {
        let client = clients[worker % clients.len()].clone();
        let issued = Arc::clone(&issued);
        let call = Arc::clone(&call);
        workers.push(tokio::spawn(async move {
            let mut stats: BTreeMap<&'static str, OperationStats> = BTreeMap::new();
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= limits.requests || Instant::now() >= deadline {
                    return stats;
                }
                let (operation, code, took) = call(client.clone(), worker, n).await;
                let entry = stats.entry(operation).or_default();
                if code == tonic::Code::Ok {
                    entry.latencies.push(took);
                } else {
                    *entry.errors.entry(format!("{code:?}")).or_default() += 1;
                }
                if !limits.pause.is_zero() {
                    tokio::time::sleep(limits.pause).await;
                }
            }
        }));
    }
    let mut total = RunStats::default();
    for worker in workers {
        if let Ok(stats) = worker.await {
            for (operation, stats) in stats {
                let entry = total.operations.entry(operation).or_default();
                entry.latencies.extend(stats.latencies);
                for (code, count) in stats.errors {
                    *entry.errors.entry(code).or_default() += count;
                }
            }
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// The gRPC code of a call's result.
pub fn code_of<T>(result: &Result<T, tonic::Status>) -> tonic::Code {
    match result {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}
