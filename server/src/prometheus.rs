//! Prometheus metrics: what the server records (through the `metrics`
//! facade, from the request layer, the store and the watches) and the HTTP
//! endpoint that exposes them (`--metrics-listen`, `GET /metrics`).
//!
//! The recorder is process-wide (the facade has one global recorder);
//! gauges that describe state rather than events (pools, process memory)
//! are refreshed when scraped.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

pub use crate::auth::oidc::figures::{JWKS_REFRESHES, OIDC_TOKENS};
pub use crate::changes::figures::{CHANGE_NOTIFICATIONS, CHANGE_SOURCES, FEED_CONNECTED, FEED_LAG};
use crate::store::Store;
pub use crate::store::figures::{
    ALIAS_READ_SOURCES, ALIAS_READS, READS, TRANSACTION_OUTCOMES, TRANSACTIONS, WRITE_SLOT_WAIT,
};

/// Calls answered, by `method` and gRPC `code`.
pub const REQUESTS: &str = "model_registry_requests_total";
/// Latency of calls by `method`, until the answer (streams: until they start).
pub const REQUEST_DURATION: &str = "model_registry_request_duration_seconds";
/// Calls being served now, by `method`.
pub const REQUESTS_IN_FLIGHT: &str = "model_registry_requests_in_flight";
/// Database connections by `pool` (reader, writer, health) and `state`
/// (idle, in_use).
pub const DB_CONNECTIONS: &str = "model_registry_db_connections";
/// Most connections each `pool` may open.
pub const DB_CONNECTIONS_MAX: &str = "model_registry_db_connections_max";
/// Callers waiting for a connection of each `pool`.
pub const DB_WAITING: &str = "model_registry_db_waiting";
/// Changes submitted and not yet committed or refused (waiting for a
/// writer or their group's commit, or running).
pub const CHANGES_PENDING: &str = "model_registry_changes_pending";
/// Open watch streams, by `kind` (alias, events).
pub const WATCH_STREAMS: &str = "model_registry_watch_streams";
/// Always 1, labelled with the `version` and `git_sha` of the binary.
pub const BUILD_INFO: &str = "model_registry_build_info";
/// Resident memory of the process.
pub const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
/// Virtual memory of the process.
pub const VIRTUAL_MEMORY: &str = "process_virtual_memory_bytes";
/// Open file descriptors (sockets included).
pub const OPEN_FDS: &str = "process_open_fds";
/// When the process started, in seconds since the Unix epoch.
pub const START_TIME: &str = "process_start_time_seconds";

/// Webhook delivery attempts by `outcome` (see [`WEBHOOK_OUTCOMES`]).
pub const WEBHOOK_ATTEMPTS: &str = "model_registry_webhook_attempts_total";
/// The outcomes [`WEBHOOK_ATTEMPTS`] is labelled with.
pub const WEBHOOK_OUTCOMES: [&str; 3] = ["delivered", "retried", "refused"];
/// Per subscription this replica delivers (`webhook`): how long its oldest
/// undelivered event has waited.
pub const WEBHOOK_LAG_SECONDS: &str = "model_registry_webhook_lag_seconds";
/// Per subscription this replica delivers: undelivered matching events it
/// has read (at most a read's worth, 200).
pub const WEBHOOK_LAG_EVENTS: &str = "model_registry_webhook_lag_events";
/// Subscriptions paused (FAILING) until an admin resumes them.
pub const WEBHOOKS_FAILING: &str = "model_registry_webhooks_failing";

/// Every metric the server exports, for the README check.
pub const ALL: &[&str] = &[
    REQUESTS,
    REQUEST_DURATION,
    REQUESTS_IN_FLIGHT,
    DB_CONNECTIONS,
    DB_CONNECTIONS_MAX,
    DB_WAITING,
    CHANGES_PENDING,
    WRITE_SLOT_WAIT,
    TRANSACTIONS,
    READS,
    ALIAS_READS,
    WATCH_STREAMS,
    CHANGE_NOTIFICATIONS,
    FEED_CONNECTED,
    FEED_LAG,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_LAG_SECONDS,
    WEBHOOK_LAG_EVENTS,
    WEBHOOKS_FAILING,
    BUILD_INFO,
    RESIDENT_MEMORY,
    VIRTUAL_MEMORY,
    OPEN_FDS,
    START_TIME,
];

/// Histogram buckets in seconds: from a cached read (~0.2 ms) to a call
/// cut by the default 30 s timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0,
];

/// The process-wide recorder's handle, installing the recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        // Only fails for an empty bucket list; summaries would do then.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will stay empty");
        }
        describe();
        zero_known_series();
        gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "git_sha" => env!("MODEL_REGISTRY_GIT_SHA")).set(1.0);
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        gauge!(START_TIME).set(started.as_secs_f64());
        handle
    })
}

/// The families whose labels are known up front, at zero from the start: a
/// dashboard or an alert on `model_registry_watch_streams` must not see "no
/// data" until the first watch opens. (Per-method request families appear
/// with a method's first call: their label set is not known up front.)
fn zero_known_series() {
    for kind in ["alias", "events"] {
        gauge!(WATCH_STREAMS, "kind" => kind).set(0.0);
    }
    for outcome in TRANSACTION_OUTCOMES {
        counter!(TRANSACTIONS, "outcome" => outcome).increment(0);
    }
    counter!(READS).increment(0);
    for source in ALIAS_READ_SOURCES {
        counter!(ALIAS_READS, "source" => source).increment(0);
    }
    for source in CHANGE_SOURCES {
        counter!(CHANGE_NOTIFICATIONS, "source" => source).increment(0);
    }
    for outcome in WEBHOOK_OUTCOMES {
        counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(0);
    }
    gauge!(WEBHOOKS_FAILING).set(0.0);
}

/// A webhook delivery attempt ended with `outcome` (one of
/// [`WEBHOOK_OUTCOMES`]).
pub fn webhook_attempt(outcome: &'static str) {
    counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
}

/// How far subscription `webhook` is behind: its oldest undelivered event's
/// age and the undelivered events read.
pub fn webhook_lag(webhook: i64, seconds: f64, events: usize) {
    let id = webhook.to_string();
    gauge!(WEBHOOK_LAG_SECONDS, "webhook" => id.clone()).set(seconds);
    gauge!(WEBHOOK_LAG_EVENTS, "webhook" => id).set(events as f64);
}

/// How many subscriptions are paused.
pub fn webhooks_failing(count: usize) {
    gauge!(WEBHOOKS_FAILING).set(count as f64);
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(REQUESTS, "Calls answered, by method and gRPC code.");
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Latency of calls by method (streams: until they start)."
    );
    describe_gauge!(REQUESTS_IN_FLIGHT, "Calls being served now, by method.");
    describe_gauge!(DB_CONNECTIONS, "Database connections by pool and state.");
    describe_gauge!(DB_CONNECTIONS_MAX, "Most connections each pool may open.");
    describe_gauge!(DB_WAITING, "Callers waiting for a connection, by pool.");
    describe_gauge!(
        CHANGES_PENDING,
        "Changes submitted and not yet committed or refused."
    );
    describe_histogram!(
        WRITE_SLOT_WAIT,
        Unit::Seconds,
        "Time a change waited for the write slot."
    );
    describe_counter!(TRANSACTIONS, "Write transactions by outcome.");
    describe_counter!(READS, "Reads run on a reader connection.");
    describe_counter!(
        ALIAS_READS,
        "Alias reads on PostgreSQL by source: the change-fed cache, or the database (miss, feed_down, token_ahead)."
    );
    describe_gauge!(WATCH_STREAMS, "Open watch streams by kind.");
    describe_counter!(
        CHANGE_NOTIFICATIONS,
        "Wake-ups of the change feed by source (postgres notification or local commit)."
    );
    describe_gauge!(
        FEED_CONNECTED,
        "1 while the change feed hears of every commit at once, 0 while it relies on its safety poll."
    );
    describe_gauge!(
        FEED_LAG,
        Unit::Seconds,
        "Age of the oldest committed event the change feed holds back behind an older running transaction."
    );
    describe_counter!(
        WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts by outcome (delivered, retried, refused)."
    );
    describe_gauge!(
        WEBHOOK_LAG_SECONDS,
        Unit::Seconds,
        "Per webhook subscription this replica delivers: how long its oldest undelivered event has waited."
    );
    describe_gauge!(
        WEBHOOK_LAG_EVENTS,
        "Per webhook subscription this replica delivers: undelivered matching events read (at most 200)."
    );
    describe_gauge!(
        WEBHOOKS_FAILING,
        "Webhook subscriptions paused (FAILING) until an admin resumes them."
    );
    describe_counter!(
        OIDC_TOKENS,
        "Identity-provider tokens by issuer and outcome (accepted, or why refused: expired, bad_signature, unknown_issuer, no_rule, ...)."
    );
    describe_counter!(
        JWKS_REFRESHES,
        "Fetches of an identity provider's keys by issuer and outcome (ok, failed)."
    );
    describe_gauge!(BUILD_INFO, "The binary's version and commit.");
    describe_gauge!(RESIDENT_MEMORY, Unit::Bytes, "Resident memory.");
    describe_gauge!(VIRTUAL_MEMORY, Unit::Bytes, "Virtual memory.");
    describe_gauge!(OPEN_FDS, "Open file descriptors.");
    describe_gauge!(
        START_TIME,
        Unit::Seconds,
        "Start time since the Unix epoch."
    );
}

/// A call to `method` began; the returned guard ends it.
pub fn call_started(method: &'static str) -> InFlight {
    handle();
    gauge!(REQUESTS_IN_FLIGHT, "method" => method).increment(1.0);
    InFlight { method }
}

/// A call being served; dropping it takes it out of the in-flight gauge.
pub struct InFlight {
    method: &'static str,
}

impl InFlight {
    /// Records the call's answer.
    pub fn answered(&self, code: tonic::Code, elapsed: Duration) {
        counter!(REQUESTS, "method" => self.method, "code" => code_name(code)).increment(1);
        histogram!(REQUEST_DURATION, "method" => self.method).record(elapsed.as_secs_f64());
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(REQUESTS_IN_FLIGHT, "method" => self.method).decrement(1.0);
    }
}

/// The gRPC code's canonical name (`OK`, `NOT_FOUND` …), as PromQL users
/// write it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A watch stream of `kind` (`alias` or `events`) opened; it counts as open
/// until the guard is dropped.
pub fn watch_opened(kind: &'static str) -> OpenWatch {
    gauge!(WATCH_STREAMS, "kind" => kind).increment(1.0);
    OpenWatch { kind }
}

/// An open watch stream.
pub struct OpenWatch {
    kind: &'static str,
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        gauge!(WATCH_STREAMS, "kind" => self.kind).decrement(1.0);
    }
}

/// Serves `GET /metrics` on `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, store: Store) -> std::io::Result<()> {
    handle();
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(store);
    axum::serve(listener, app).await
}

async fn scrape(State(store): State<Store>) -> impl IntoResponse {
    for pool in store.pool_stats() {
        gauge!(DB_CONNECTIONS, "pool" => pool.name, "state" => "idle").set(pool.idle as f64);
        gauge!(DB_CONNECTIONS, "pool" => pool.name, "state" => "in_use")
            .set(pool.size.saturating_sub(pool.idle) as f64);
        gauge!(DB_CONNECTIONS_MAX, "pool" => pool.name).set(pool.max as f64);
        gauge!(DB_WAITING, "pool" => pool.name).set(pool.waiting as f64);
    }
    gauge!(CHANGES_PENDING).set(store.pending_changes() as f64);
    record_process();
    let handle = handle();
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}

/// Memory and descriptors from /proc (Linux; elsewhere these stay unset).
fn record_process() {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for (field, metric) in [("VmRSS:", RESIDENT_MEMORY), ("VmSize:", VIRTUAL_MEMORY)] {
            if let Some(kib) = status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
            {
                gauge!(metric).set(kib * 1024.0);
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        gauge!(OPEN_FDS).set(entries.count() as f64);
    }
}
