//! webhook-lag: how long a committed event takes to reach a webhook
//! receiver. The benchmark runs the receiver (plain HTTP on loopback, so
//! the server must run with `--webhook-allow-http
//! --webhook-allow-private-destinations`), subscribes it to the run's
//! model, registers versions at a steady rate and then as one burst, and
//! times each event from the moment the server recorded it (the event's
//! `time`, stamped inside the writing transaction, so commit and group
//! commit count against the lag) to its arrival at the receiver.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use model_registry_api::v1 as pb;

use crate::payload::registration;
use crate::runner::{Call, Client, Limits, OperationStats, RunStats, run, timed};
use crate::scenario::Dataset;

/// How long the deliveries of a phase may trail its last write.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

/// Callers of the burst.
const BURST_CALLERS: usize = 16;

/// What the receiver has seen.
#[derive(Default)]
struct Arrivals {
    /// Each event's lag, by arrival.
    lags: Vec<Duration>,
    /// The `webhook-id`s seen.
    ids: HashSet<String>,
    /// Requests that repeated an id.
    duplicates: u64,
    /// Requests the receiver could not read.
    unreadable: u64,
    /// When the latest request arrived.
    last: Option<Instant>,
}

/// What one phase did.
pub struct Phase {
    /// Its registrations, over the time they took.
    pub writes: RunStats,
    /// Each event's lag, over the time from the phase's start to the last
    /// arrival.
    pub deliveries: RunStats,
}

/// The two phases.
pub struct Phases {
    /// At `rate` events per second.
    pub steady: Phase,
    /// `burst` events as fast as the server takes them.
    pub burst: Phase,
}

/// Runs both phases against `clients` for `dataset`'s model.
pub async fn run_phases(
    clients: &[Client],
    dataset: &Dataset,
    rate: u32,
    steady_for: Duration,
    burst: u64,
) -> Result<Phases, String> {
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let url = start_receiver(Arc::clone(&arrivals)).await?;
    let mut admin = clients[0].clone();
    let created = admin
        .create_webhook(pb::CreateWebhookRequest {
            url,
            description: "model-registry-bench webhook-lag".to_owned(),
            model_prefix: dataset.model.clone(),
            event_types: vec![pb::EventType::VersionRegistered as i32],
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        })
        .await
        .map_err(|status| {
            format!(
                "subscribing the receiver: {} (run the server with --webhook-allow-http \
                 --webhook-allow-private-destinations)",
                status.message()
            )
        })?
        .into_inner();
    let webhook_id = created.webhook.map_or(0, |w| w.id);

    let result = async {
        let steady = steady_phase(clients, dataset, rate, steady_for, &arrivals).await?;
        let burst = burst_phase(clients, dataset, burst, &arrivals).await?;
        Ok(Phases { steady, burst })
    }
    .await;
    let _ = admin
        .delete_webhook(pb::DeleteWebhookRequest {
            id: webhook_id,
            request_id: uuid::Uuid::new_v4().to_string(),
        })
        .await;
    result
}

/// `rate` registrations a second for `length`, each started on its tick
/// (a slow call does not delay the next one).
async fn steady_phase(
    clients: &[Client],
    dataset: &Dataset,
    rate: u32,
    length: Duration,
    arrivals: &Mutex<Arrivals>,
) -> Result<Phase, String> {
    let before = take(arrivals);
    let began = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    let mut calls = Vec::new();
    let mut n = before;
    while began.elapsed() < length {
        ticks.tick().await;
        let mut client = clients[calls.len() % clients.len()].clone();
        let request = registration(dataset.payload, &dataset.model, n);
        n += 1;
        calls.push(tokio::spawn(async move {
            timed("RegisterModel", client.register_model(request)).await
        }));
    }
    let mut writes = OperationStats::default();
    for call in calls {
        let Ok((_, code, took)) = call.await else {
            continue;
        };
        record(&mut writes, code, took);
    }
    let written = began.elapsed();
    deliveries(arrivals, writes, written, began).await
}

/// `count` registrations from [`BURST_CALLERS`] callers, back to back.
async fn burst_phase(
    clients: &[Client],
    dataset: &Dataset,
    count: u64,
    arrivals: &Mutex<Arrivals>,
) -> Result<Phase, String> {
    let first = take(arrivals) + 1_000_000;
    let model = dataset.model.clone();
    let payload = dataset.payload;
    let call: Call = Arc::new(move |mut client: Client, _, n| {
        let request = registration(payload, &model, first + n);
        Box::pin(async move { timed("RegisterModel", client.register_model(request)).await })
    });
    let limits = Limits {
        duration: DRAIN_LIMIT,
        requests: count,
        pause: Duration::ZERO,
    };
    let began = Instant::now();
    let stats = run(clients, BURST_CALLERS, limits, call).await;
    let writes = stats
        .operations
        .get("RegisterModel")
        .cloned()
        .unwrap_or_default();
    deliveries(arrivals, writes, stats.elapsed, began).await
}

/// Waits until every event `writes` made has arrived (or the drain limit
/// passes); the phase: its writes, and its deliveries over the time from
/// the phase's start to the last arrival.
async fn deliveries(
    arrivals: &Mutex<Arrivals>,
    writes: OperationStats,
    written: Duration,
    began: Instant,
) -> Result<Phase, String> {
    let expected = writes.latencies.len();
    let deadline = Instant::now() + DRAIN_LIMIT;
    loop {
        let arrived = lock(arrivals).lags.len();
        if arrived >= expected || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut seen = lock(arrivals);
    let mut delivered = OperationStats {
        latencies: std::mem::take(&mut seen.lags),
        ..OperationStats::default()
    };
    let missing = expected.saturating_sub(delivered.latencies.len());
    for (problem, count) in [
        ("NotDelivered", missing as u64),
        ("Duplicate", std::mem::take(&mut seen.duplicates)),
        ("Unreadable", std::mem::take(&mut seen.unreadable)),
    ] {
        if count > 0 {
            delivered.errors.insert(problem.to_owned(), count);
        }
    }
    let drained = seen.last.map_or(written, |last| last.duration_since(began));
    Ok(Phase {
        writes: RunStats {
            operations: [("RegisterModel", writes)].into(),
            elapsed: written,
        },
        deliveries: RunStats {
            operations: [("delivery lag", delivered)].into(),
            elapsed: drained.max(written),
        },
    })
}

/// Forgets what arrived before a phase; how many events that was.
fn take(arrivals: &Mutex<Arrivals>) -> u64 {
    let mut seen = lock(arrivals);
    seen.lags.clear();
    seen.last = None;
    seen.ids.len() as u64
}

fn record(stats: &mut OperationStats, code: tonic::Code, took: Duration) {
    if code == tonic::Code::Ok {
        stats.latencies.push(took);
    } else {
        *stats.errors.entry(format!("{code:?}")).or_default() += 1;
    }
}

fn lock(arrivals: &Mutex<Arrivals>) -> std::sync::MutexGuard<'_, Arrivals> {
    arrivals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Serves the receiver on an ephemeral loopback port; its URL.
async fn start_receiver(arrivals: Arc<Mutex<Arrivals>>) -> Result<String, String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the receiver: {e}"))?;
    let address = listener
        .local_addr()
        .map_err(|e| format!("starting the receiver: {e}"))?;
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let arrivals = Arc::clone(&arrivals);
            async move {
                receive(&arrivals, &headers, &body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{address}/hook"))
}

/// Records one request: its lag from the event's `time`.
fn receive(arrivals: &Mutex<Arrivals>, headers: &HeaderMap, body: &[u8]) {
    let now = SystemTime::now();
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let happened = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|document| humantime::parse_rfc3339(document.get("time")?.as_str()?).ok());
    let mut seen = lock(arrivals);
    let Some(happened) = happened.filter(|_| !id.is_empty()) else {
        seen.unreadable += 1;
        return;
    };
    if !seen.ids.insert(id) {
        seen.duplicates += 1;
        return;
    }
    seen.lags
        .push(now.duration_since(happened).unwrap_or(Duration::ZERO));
    seen.last = Some(Instant::now());
}
