//! Summaries of a run: rate and latency percentiles per operation, the
//! ratio to the no-op ceiling, the server's memory; as a table or JSON.

use std::time::Duration;

use serde_json::{Value, json};

use crate::runner::{OperationStats, RunStats};

/// The summary of one operation.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The operation.
    pub operation: String,
    /// Successful calls.
    pub calls: usize,
    /// Failed calls by code.
    pub errors: Vec<(String, u64)>,
    /// Successful calls per second of the run.
    pub rate: f64,
    /// Latency percentiles in milliseconds: p50, p90, p99, max.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest call.
    pub max: f64,
}

/// Summaries of every operation of `stats`.
pub fn summarise(stats: &RunStats) -> Vec<Summary> {
    stats
        .operations
        .iter()
        .map(|(operation, op)| summary(operation, op, stats.elapsed))
        .collect()
}

fn summary(operation: &str, stats: &OperationStats, elapsed: Duration) -> Summary {
    let mut sorted = stats.latencies.clone();
    sorted.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |p: f64| {
        if sorted.is_empty() {
            return 0.0;
        }
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        ms(sorted[index.min(sorted.len() - 1)])
    };
    Summary {
        operation: operation.to_owned(),
        calls: sorted.len(),
        errors: stats.errors.iter().map(|(c, n)| (c.clone(), *n)).collect(),
        rate: sorted.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: sorted.last().copied().map_or(0.0, ms),
    }
}

/// Prints summaries as an aligned table.
pub fn table(title: &str, rows: &[Summary]) -> String {
    let mut out = format!(
        "{title}\n{:<24} {:>9} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8}\n",
        "operation", "calls", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    for row in rows {
        let errors: u64 = row.errors.iter().map(|(_, n)| n).sum();
        out.push_str(&format!(
            "{:<24} {:>9} {:>8} {:>10.0} {:>8.3} {:>8.3} {:>8.3} {:>8.3}\n",
            row.operation, row.calls, errors, row.rate, row.p50, row.p90, row.p99, row.max
        ));
        for (code, count) in &row.errors {
            out.push_str(&format!("    {count} × {code}\n"));
        }
    }
    out
}

/// Summaries as JSON objects.
pub fn json_rows(rows: &[Summary]) -> Value {
    Value::Array(
        rows.iter()
            .map(|row| {
                json!({
                    "operation": row.operation,
                    "calls": row.calls,
                    "errors": row.errors.iter().map(|(c, n)| (c.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
                    "requests_per_second": row.rate,
                    "p50_ms": row.p50,
                    "p90_ms": row.p90,
                    "p99_ms": row.p99,
                    "max_ms": row.max,
                })
            })
            .collect(),
    )
}

/// Resident memory of process `pid`, from /proc (Linux).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The highest resident memory of process `pid` seen while it runs: sampled
/// every 200 ms until dropped, so "flat under load" is checked, not assumed.
pub struct PeakRss {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

impl PeakRss {
    /// Starts sampling process `pid`.
    pub fn sample(pid: u32) -> Self {
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = std::sync::Arc::clone(&peak);
        let sampler = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_millis(200));
            loop {
                every.tick().await;
                if let Some(now) = rss_bytes(pid) {
                    seen.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        Self { peak, sampler }
    }

    /// Stops sampling and returns the highest value seen.
    pub fn finish(self) -> Option<u64> {
        self.sampler.abort();
        let peak = self.peak.load(std::sync::atomic::Ordering::Relaxed);
        (peak > 0).then_some(peak)
    }
}
