//! watch-fanout: N watchers follow one alias; a mover moves it, pausing
//! between moves; each delivery's latency is the time from the start of
//! the move's call to the update's arrival at a watcher.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use model_registry_api::v1 as pb;
use tokio_stream::StreamExt;

use crate::runner::{Client, Limits, OperationStats, RunStats};
use crate::scenario::Dataset;

/// Runs the fan-out with `watchers` streams spread over `clients`.
pub async fn run(
    clients: &[Client],
    dataset: &Dataset,
    watchers: usize,
    limits: Limits,
) -> Result<RunStats, tonic::Status> {
    let alias = "fanout";
    let mut mover = clients[0].clone();
    mover
        .set_model_alias(move_request(dataset, alias, 1, "start"))
        .await?;
    // When each move began, by its reason ("move N").
    let mut started: HashMap<String, Instant> = HashMap::new();
    let (arrivals, mut arrived) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let mut streams = Vec::with_capacity(watchers);
    for watcher in 0..watchers {
        let mut client = clients[watcher % clients.len()].clone();
        let mut stream = client
            .watch_model_alias(pb::WatchModelAliasRequest {
                model_name: dataset.model.clone(),
                alias: alias.to_owned(),
                after_event_id: 0,
            })
            .await?
            .into_inner();
        // The first message is the current state: the watch is live.
        stream.next().await.transpose()?;
        let arrivals = arrivals.clone();
        streams.push(tokio::spawn(async move {
            while let Some(Ok(update)) = stream.next().await {
                if let Some(event) = update.event {
                    let _ = arrivals.send((event.reason, Instant::now()));
                }
            }
        }));
    }
    drop(arrivals);

    let began = Instant::now();
    let mut moves = 0u64;
    let mut stats = OperationStats::default();
    while moves < limits.requests && began.elapsed() < limits.duration {
        moves += 1;
        let reason = format!("move {moves}");
        started.insert(reason.clone(), Instant::now());
        // Back and forth between versions 2 and 1 (the alias starts at 1).
        let version = if moves % 2 == 1 { 2 } else { 1 };
        if let Err(status) = mover
            .set_model_alias(move_request(dataset, alias, version, &reason))
            .await
        {
            *stats
                .errors
                .entry(format!("{:?}", status.code()))
                .or_default() += 1;
            continue;
        }
        // Every watcher hears of this move before the next one.
        let mut heard = 0;
        let wait = Instant::now();
        while heard < watchers && wait.elapsed() < Duration::from_secs(10) {
            match tokio::time::timeout(Duration::from_secs(10), arrived.recv()).await {
                Ok(Some((reason, at))) => {
                    if let Some(&begun) = started.get(&reason) {
                        stats.latencies.push(at - begun);
                        heard += 1;
                    }
                }
                _ => break,
            }
        }
        if heard < watchers {
            *stats.errors.entry("NotDelivered".to_owned()).or_default() +=
                (watchers - heard) as u64;
        }
        if !limits.pause.is_zero() {
            tokio::time::sleep(limits.pause).await;
        }
    }
    for stream in streams {
        stream.abort();
    }
    let mut run = RunStats {
        elapsed: began.elapsed(),
        ..Default::default()
    };
    run.operations.insert("delivery", stats);
    Ok(run)
}

fn move_request(
    dataset: &Dataset,
    alias: &str,
    version: i64,
    reason: &str,
) -> pb::SetModelAliasRequest {
    pb::SetModelAliasRequest {
        model_name: dataset.model.clone(),
        alias: alias.to_owned(),
        version,
        reason: reason.to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    }
}
