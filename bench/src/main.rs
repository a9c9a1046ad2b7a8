//! `model-registry-bench`: measures a live Model Registry server, scenario
//! by scenario, with realistically sized versions, and (with `--baseline`)
//! the rate of a no-op gRPC server answering the same responses over the
//! same transport in the same run, so results are quoted as a ratio to that
//! ceiling. Every run is bounded by `--duration` and `--requests`.
//!
//! ```sh
//! model-registry-server --database-url sqlite://bench.db &
//! model-registry-bench --scenario get-production --concurrency 64 --baseline
//! model-registry-bench --scenario get-production --sequential
//! model-registry-bench --scenario register --models 16 -o json
//! ```

mod baseline;
mod fanout;
mod payload;
mod report;
mod runner;
mod scenario;
mod webhook_lag;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use serde_json::json;

use payload::Payload;
use runner::Limits;
use scenario::{Dataset, Scenario};

/// Streams one connection to the server may hold (its
/// MAX_STREAMS_PER_CONNECTION).
const STREAMS_PER_CONNECTION: usize = 100;

/// Benchmarks a live Model Registry server (see BENCHMARKS.md).
#[derive(Debug, Parser)]
#[command(
    name = "model-registry-bench",
    version,
    about,
    args_override_self = true
)]
struct Args {
    /// The server's gRPC endpoint.
    #[arg(
        long,
        env = "MODEL_REGISTRY_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    url: String,
    /// What to measure.
    #[arg(long, value_enum, default_value = "get-production")]
    scenario: Scenario,
    /// Concurrent callers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// HTTP/2 connections the callers share (real clients multiplex many
    /// calls over a few connections).
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// One caller with a pause between calls (the deployer's pattern);
    /// overrides --concurrency.
    #[arg(long)]
    sequential: bool,
    /// The pause between two calls of a caller (default: 10ms with
    /// --sequential and for watch-fanout, else none).
    #[arg(long, value_parser = humantime::parse_duration)]
    pause: Option<Duration>,
    /// Longest the measured run may take.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Most calls in the measured run.
    #[arg(long, default_value_t = 1_000_000)]
    requests: u64,
    /// Size of registered versions.
    #[arg(long, value_enum, default_value = "realistic")]
    payload: Payload,
    /// The model to use (default: a fresh `bench-…` one). An existing model
    /// is topped up to --seed-versions, so a scale curve reuses its data.
    #[arg(long)]
    model: Option<String>,
    /// Versions the model holds before the run (registered from 16 callers
    /// when missing).
    #[arg(long, default_value_t = 200)]
    seed_versions: i64,
    /// Spread the register scenario over this many models.
    #[arg(long, default_value_t = 1)]
    models: u64,
    /// Watchers of the watch-fanout scenario.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Registrations a second in webhook-lag's steady phase.
    #[arg(long, default_value_t = 100)]
    events_per_second: u32,
    /// Registrations of webhook-lag's burst (0: none).
    #[arg(long, default_value_t = 10_000)]
    burst: u64,
    /// Also measure a no-op server answering the same responses, and print
    /// the ratio.
    #[arg(long)]
    baseline: bool,
    /// The server's process id: report its resident memory before and after.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("model-registry-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let concurrency = if args.sequential {
        1
    } else {
        args.concurrency.max(1)
    };
    let pause = args.pause.unwrap_or(
        if args.sequential || args.scenario == Scenario::WatchFanout {
            Duration::from_millis(10)
        } else {
            Duration::ZERO
        },
    );
    let limits = Limits {
        duration: args.duration,
        requests: args.requests,
        pause,
    };
    // The server holds at most 100 streams per connection: watchers beyond
    // that get connections of their own, as a real fleet's would.
    let connections = match args.scenario {
        Scenario::WatchFanout => args
            .connections
            // The mover's calls need a place beside the watchers: with
            // every connection full they would queue forever.
            .max((args.watchers + 1).div_ceil(STREAMS_PER_CONNECTION)),
        _ => args.connections,
    };
    let clients = runner::connect(&args.url, connections)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", args.url))?;
    let mut dataset = Dataset {
        model: args.model.clone().unwrap_or_else(|| {
            format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
        }),
        versions: 0,
        payload: args.payload,
        models: args.models.max(1),
    };
    let rollback_callers = if args.scenario == Scenario::Rollback {
        concurrency
    } else {
        0
    };
    scenario::seed(
        &clients,
        &mut dataset,
        args.seed_versions.max(2),
        rollback_callers,
    )
    .await
    .map_err(|e| format!("preparing {}: {e}", dataset.model))?;

    let rss_before = args.server_pid.and_then(report::rss_bytes);
    let rss_peak = args.server_pid.map(report::PeakRss::sample);
    let rss = move || Rss {
        before: rss_before,
        peak: rss_peak.and_then(report::PeakRss::finish),
    };
    if args.scenario == Scenario::WebhookLag {
        let phases = webhook_lag::run_phases(
            &clients,
            &dataset,
            args.events_per_second,
            args.duration,
            args.burst,
        )
        .await
        .map_err(|e| format!("webhook-lag: {e}"))?;
        return print_webhook_lag(&args, &phases);
    }
    let stats = if args.scenario == Scenario::WatchFanout {
        fanout::run(&clients, &dataset, args.watchers, limits)
            .await
            .map_err(|e| format!("watch-fanout: {e}"))?
    } else {
        let canned = if args.baseline {
            Some(
                baseline::Canned::capture(&clients[0], &dataset)
                    .await
                    .map_err(|e| format!("capturing responses: {e}"))?,
            )
        } else {
            None
        };
        let dataset = Arc::new(dataset.clone());
        let measured = runner::run(
            &clients,
            concurrency,
            limits,
            scenario::call(args.scenario, Arc::clone(&dataset)),
        )
        .await;
        let rss = rss();
        if let Some(canned) = canned {
            let url = baseline::start(canned).map_err(|e| format!("starting the baseline: {e}"))?;
            let noop = runner::connect(&url, args.connections)
                .await
                .map_err(|e| format!("connecting to the baseline: {e}"))?;
            let ceiling = runner::run(
                &noop,
                concurrency,
                limits,
                scenario::call(args.scenario, dataset),
            )
            .await;
            return print(&args, concurrency, &measured, Some(&ceiling), rss);
        }
        return print(&args, concurrency, &measured, None, rss);
    };
    print(&args, concurrency, &stats, None, rss())
}

/// webhook-lag's two phases, writes and deliveries of each.
fn print_webhook_lag(args: &Args, phases: &webhook_lag::Phases) -> Result<(), String> {
    let tables = [
        (
            format!("steady: {} registrations/s", args.events_per_second),
            &phases.steady,
        ),
        (
            format!("burst: {} registrations", args.burst),
            &phases.burst,
        ),
    ];
    if args.output == Output::Json {
        let phase = |phase: &webhook_lag::Phase| {
            json!({
                "writes": report::json_rows(&report::summarise(&phase.writes)),
                "write_seconds": phase.writes.elapsed.as_secs_f64(),
                "deliveries": report::json_rows(&report::summarise(&phase.deliveries)),
                "drain_seconds": phase.deliveries.elapsed.as_secs_f64(),
            })
        };
        let document = json!({
            "scenario": "webhook-lag",
            "url": args.url,
            "events_per_second": args.events_per_second,
            "burst": args.burst,
            "steady": phase(&phases.steady),
            "burst_phase": phase(&phases.burst),
        });
        println!("{document:#}");
    } else {
        for (title, phase) in tables {
            println!(
                "{}",
                report::table(
                    &format!(
                        "{title} against {} (writes over {:.1} s)",
                        args.url,
                        phase.writes.elapsed.as_secs_f64()
                    ),
                    &report::summarise(&phase.writes)
                )
            );
            println!(
                "{}",
                report::table(
                    &format!(
                        "{title}: commit to receiver (last arrival after {:.1} s)",
                        phase.deliveries.elapsed.as_secs_f64()
                    ),
                    &report::summarise(&phase.deliveries)
                )
            );
        }
    }
    let failed = [&phases.steady, &phases.burst].iter().any(|phase| {
        phase
            .deliveries
            .operations
            .values()
            .any(|op| !op.errors.is_empty())
    });
    if failed {
        return Err("some events were not delivered exactly once".to_owned());
    }
    Ok(())
}

/// The server's resident memory around the measured run.
struct Rss {
    before: Option<u64>,
    peak: Option<u64>,
}

fn print(
    args: &Args,
    concurrency: usize,
    stats: &runner::RunStats,
    ceiling: Option<&runner::RunStats>,
    rss: Rss,
) -> Result<(), String> {
    let rows = report::summarise(stats);
    let ceiling_rows = ceiling.map(report::summarise);
    let rss_after = args.server_pid.and_then(report::rss_bytes);
    // The ratio of the scenario's main operation (the first, or the only one).
    let ratio = ceiling_rows.as_ref().and_then(|ceiling| {
        let ours = rows.iter().find(|r| r.calls > 0)?;
        let theirs = ceiling.iter().find(|r| r.operation == ours.operation)?;
        (theirs.rate > 0.0).then(|| ours.rate / theirs.rate)
    });
    let scenario = args
        .scenario
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    if args.output == Output::Json {
        let document = json!({
            "scenario": scenario,
            "url": args.url,
            "concurrency": concurrency,
            "connections": args.connections,
            "payload": args.payload.to_possible_value().map(|v| v.get_name().to_owned()),
            "elapsed_seconds": stats.elapsed.as_secs_f64(),
            "results": report::json_rows(&rows),
            "baseline": ceiling_rows.as_deref().map(report::json_rows),
            "ratio_to_baseline": ratio,
            "server_rss_bytes": { "before": rss.before, "peak": rss.peak, "after": rss_after },
        });
        println!("{document:#}");
    } else {
        println!(
            "{}",
            report::table(
                &format!(
                    "{scenario} against {} ({concurrency} callers, {} connections, {:?} payload, {:.1} s)",
                    args.url,
                    args.connections,
                    args.payload,
                    stats.elapsed.as_secs_f64()
                ),
                &rows
            )
        );
        if let Some(ceiling_rows) = &ceiling_rows {
            println!(
                "{}",
                report::table(
                    "no-op baseline (same responses, same transport)",
                    ceiling_rows
                )
            );
        }
        if let Some(ratio) = ratio {
            println!("ratio to the no-op ceiling: {ratio:.2}");
        }
        if let (Some(before), Some(peak), Some(after)) = (rss.before, rss.peak, rss_after) {
            println!(
                "server RSS: {} MiB before, {} MiB peak during the run, {} MiB after",
                before >> 20,
                peak >> 20,
                after >> 20
            );
        }
    }
    let failed: u64 = rows
        .iter()
        .flat_map(|r| r.errors.iter().map(|(_, n)| n))
        .sum();
    if failed > 0 && rows.iter().all(|r| r.calls == 0) {
        return Err("every call failed".to_owned());
    }
    Ok(())
}
