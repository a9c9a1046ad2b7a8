//! Webhook delivery: every replica runs one [`start`]ed supervisor, which
//! leases the subscriptions no other replica delivers (renewing its own
//! leases well before they run out) and runs one worker per leased
//! subscription (`worker.rs`). A replica that dies stops renewing, and
//! another takes its subscriptions over once their leases run out; one
//! that stops cleanly gives them up at once.
//!
//! The trail is the outbox: a worker reads the events after its
//! subscription's cursor in feed order, POSTs the matching ones one at a
//! time (`sender.rs`), and moves the cursor past an event only after the
//! receiver took it, in a statement that checks the lease. A crash between
//! the receiver's answer and that statement sends the event again, with
//! the same `webhook-id`: at least once.

mod sender;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::changes::ChangeFeed;
use crate::domain::webhook::{DestinationRules, WebhookState};
use crate::registry::Registry;
pub use sender::Sender;

/// How deliveries behave.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Where requests may go.
    pub rules: DestinationRules,
    /// Longest a connection may take to open.
    pub connect_timeout: Duration,
    /// Longest one request may take, answer included.
    pub timeout: Duration,
    /// How long an event is retried before its subscription is paused.
    pub max_age: Duration,
    /// The first wait before a retry (doubling after each failure).
    pub first_retry: Duration,
    /// The longest wait between retries.
    pub max_retry: Duration,
    /// Most requests in flight at once, across subscriptions.
    pub concurrency: usize,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
    /// The CloudEvents `source` of every event sent.
    pub source: String,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            rules: DestinationRules::default(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            max_age: Duration::from_secs(24 * 3600),
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(300),
            concurrency: 16,
            lease: Duration::from_secs(15),
            source: "model-registry".to_owned(),
        }
    }
}

/// Starts delivering; the task ends (giving up this replica's leases) once
/// `stop` turns true.
pub fn start(
    registry: Registry,
    feed: ChangeFeed,
    options: DeliveryOptions,
    stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, reqwest::Error> {
    let sender = Sender::new(options.rules, options.connect_timeout, options.timeout)?;
    Ok(tokio::spawn(supervise(
        registry, feed, sender, options, stop,
    )))
}

async fn supervise(
    registry: Registry,
    feed: ChangeFeed,
    sender: Sender,
    options: DeliveryOptions,
    mut stop: watch::Receiver<bool>,
) {
    let holder = format!("{}:{}", std::process::id(), uuid::Uuid::new_v4());
    let shared = Arc::new(worker::Shared {
        registry: registry.clone(),
        feed: feed.clone(),
        sender,
        holder: holder.clone(),
        slots: Semaphore::new(options.concurrency.max(1)),
        options: options.clone(),
    });
    // Each running worker, by subscription, with the generation it runs.
    let mut running: HashMap<i64, (i64, JoinHandle<()>)> = HashMap::new();
    let mut events = feed.subscribe();
    let renew_every = options.lease / 3;
    loop {
        match registry.lease_webhooks(&holder, options.lease).await {
            Ok(leased) => {
                if let Ok(all) = registry.list_webhooks().await {
                    let failing = all.iter().filter(|w| w.state == WebhookState::Failing);
                    crate::prometheus::webhooks_failing(failing.count());
                }
                let current: HashMap<i64, i64> = leased
                    .iter()
                    .map(|l| (l.webhook.id, l.webhook.generation))
                    .collect();
                // Lost (taken over after a stall, deleted, paused), changed
                // since the worker started (updated, rotated, replayed), or
                // stopped: stop it; a current lease starts a new worker.
                running.retain(|id, (generation, task)| {
                    let keep = current.get(id) == Some(generation) && !task.is_finished();
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for lease in leased {
                    let id = lease.webhook.id;
                    let generation = lease.webhook.generation;
                    running.entry(id).or_insert_with(|| {
                        let task =
                            tokio::spawn(worker::deliver(Arc::clone(&shared), lease, stop.clone()));
                        (generation, task)
                    });
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "webhook leases could not be renewed");
            }
        }
        // Renew in time; sooner when a subscription changes.
        let next = tokio::time::sleep(renew_every);
        tokio::pin!(next);
        loop {
            tokio::select! {
                () = &mut next => break,
                received = events.recv() => match received {
                    Ok(event) if event.webhook_id.is_some() => break,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
                _ = stop.changed() => {
                    for (_, (_, task)) in running.drain() {
                        let _ = task.await;
                    }
                    if let Err(error) = registry.release_webhooks(&holder).await {
                        tracing::warn!(error = %error, "webhook leases could not be given up");
                    }
                    return;
                }
            }
        }
    }
}
