//! `model-registry-load`: a load generator for the Model Registry. It runs
//! bounded phases against a live server (registrations, the deployers' hot
//! read `GetProductionModel`, listings, promotions) with N concurrent
//! clients and prints throughput and latency percentiles per phase. Every
//! phase stops at its request count or its time limit, whichever comes first.
//!
//! ```sh
//! model-registry-load --url http://127.0.0.1:50051 --concurrency 16 --duration 10s
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use model_registry_client::proto as pb;
use model_registry_client::{ClientOptions, Error, RegisterModel, RegistryClient, RetryPolicy};

/// Load generator for the Model Registry: bounded phases, N concurrent
/// clients, throughput and latency percentiles per phase.
#[derive(Debug, Parser)]
#[command(name = "model-registry-load", version, about)]
struct Args {
    /// The registry's gRPC endpoint.
    #[arg(
        long,
        env = "MODEL_REGISTRY_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    url: String,
    /// Concurrent callers (each with its own connection).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Registrations in the register phase.
    #[arg(long, default_value_t = 1000)]
    registrations: u64,
    /// Promotions in the promote phase.
    #[arg(long, default_value_t = 200)]
    promotions: u64,
    /// Time limit of each read phase (and upper bound of the write phases).
    #[arg(long, default_value = "10", value_parser = parse_seconds)]
    duration: Duration,
    /// Request limit of each read phase.
    #[arg(long, default_value_t = 1_000_000)]
    max_requests: u64,
    /// Model name to use (default: a fresh `load-…` name, so runs never mix).
    #[arg(long)]
    model: Option<String>,
    /// Spread the registrations over this many models (NAME-0, NAME-1 …);
    /// the read phases use NAME-0.
    #[arg(long, default_value_t = 1)]
    models: u64,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds = text.trim_end_matches('s');
    seconds
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{text:?} is not a number of seconds"))
}

/// Latencies and failures of one phase.
struct PhaseResult {
    name: &'static str,
    latencies: Vec<Duration>,
    errors: u64,
    elapsed: Duration,
}

impl PhaseResult {
    fn print(&mut self) {
        self.latencies.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.latencies.is_empty() {
                return 0.0;
            }
            let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies[index].as_secs_f64() * 1000.0
        };
        let ok = self.latencies.len() as f64;
        println!(
            "{:<20} {:>9} {:>7} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            self.name,
            self.latencies.len(),
            self.errors,
            ok / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.95),
            pct(0.99),
            pct(1.0),
        );
    }
}

/// Runs `call(worker, i)` from `concurrency` workers until `count` calls are
/// made or `limit` has passed.
async fn phase<F, Fut>(
    name: &'static str,
    clients: &[RegistryClient],
    count: u64,
    limit: Duration,
    call: F,
) -> PhaseResult
where
    F: Fn(RegistryClient, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let workers: Vec<_> = clients
        .iter()
        .cloned()
        .map(|client| {
            let call = Arc::clone(&call);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || Instant::now() >= deadline {
                        return (latencies, errors);
                    }
                    let sent = Instant::now();
                    match call(client.clone(), i).await {
                        Ok(()) => latencies.push(sent.elapsed()),
                        Err(_) => errors += 1,
                    }
                }
            })
        })
        .collect();
    let mut result = PhaseResult {
        name,
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for worker in workers {
        if let Ok((latencies, errors)) = worker.await {
            result.latencies.extend(latencies);
            result.errors += errors;
        }
    }
    result.elapsed = started.elapsed();
    result
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let base = args
        .model
        .clone()
        .unwrap_or_else(|| format!("load-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    let models = args.models.max(1);
    let model_of = move |i: u64| {
        if models == 1 {
            base.clone()
        } else {
            format!("{base}-{}", i % models)
        }
    };
    let model = model_of(0);
    // Measure the server, not the client's patience: no retries.
    let options = ClientOptions {
        retry: RetryPolicy::none(),
        ..ClientOptions::default()
    };
    let mut clients = Vec::with_capacity(args.concurrency.max(1));
    for _ in 0..args.concurrency.max(1) {
        clients.push(RegistryClient::connect_with(args.url.clone(), options.clone()).await?);
    }
    println!(
        "model-registry-load: {} at {}, concurrency {}, read phases {:?} or {} requests",
        model, args.url, args.concurrency, args.duration, args.max_requests
    );
    println!(
        "{:<20} {:>9} {:>7} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "phase", "ok", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );

    phase(
        "RegisterModel",
        &clients,
        args.registrations,
        args.duration * 6,
        move |client, i| {
            let name = model_of(i);
            async move {
                client
                    .register_model(
                        RegisterModel::new(name)
                            .algorithm(if i % 2 == 0 { "XGBoost" } else { "CatBoost" })
                            .artifact_uri(format!("s3://load/{i}.pkl"))
                            .metric("auc", 0.5 + (i % 500) as f64 / 1000.0)
                            .metric("f1", 0.4 + (i % 400) as f64 / 1000.0)
                            .param("seed", i.to_string())
                            .tag("load", "true")
                            .train_samples(8000)
                            .test_samples(2000),
                    )
                    .await
                    .map(drop)
            }
        },
    )
    .await
    .print();

    let registered = clients[0].get_model(&model).await?.version_count.max(1) as u64;
    clients[0]
        .set_production_model(&model, 1, "load test baseline")
        .await?;

    let name = model.clone();
    phase(
        "GetProductionModel",
        &clients,
        args.max_requests,
        args.duration,
        move |client, _| {
            let name = name.clone();
            async move { client.get_production_model(&name).await.map(drop) }
        },
    )
    .await
    .print();

    let name = model.clone();
    phase(
        "GetModelVersion",
        &clients,
        args.max_requests,
        args.duration,
        move |client, i| {
            let name = name.clone();
            async move {
                client
                    .get_model_version(&name, (i % registered) as i64 + 1)
                    .await
                    .map(drop)
            }
        },
    )
    .await
    .print();

    let name = model.clone();
    phase(
        "ListModelVersions",
        &clients,
        args.max_requests,
        args.duration,
        move |client, _| {
            let request = pb::ListModelVersionsRequest {
                model_name: name.clone(),
                order_by: pb::VersionOrder::Metric as i32,
                order_metric: "auc".into(),
                descending: true,
                page_size: 50,
                ..Default::default()
            };
            async move { client.list_model_versions(request).await.map(drop) }
        },
    )
    .await
    .print();

    let name = model.clone();
    phase(
        "GetBestModelVersion",
        &clients,
        args.max_requests,
        args.duration,
        move |client, _| {
            let name = name.clone();
            async move {
                client
                    .get_best_model_version(&name, "auc", false)
                    .await
                    .map(drop)
            }
        },
    )
    .await
    .print();

    let name = model.clone();
    phase(
        "SetProductionModel",
        &clients,
        args.promotions,
        args.duration * 6,
        move |client, i| {
            let name = name.clone();
            async move {
                client
                    .set_production_model(&name, (i % registered) as i64 + 1, "load test promotion")
                    .await
                    .map(drop)
            }
        },
    )
    .await
    .print();
    Ok(())
}
