//! One subscription's deliveries, while this replica leases it: the events
//! after its cursor, in feed order, one at a time; a failing event is
//! retried (later events wait behind it) until it is taken, refused for
//! good, or older than the maximum age.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};

use super::DeliveryOptions;
use super::sender::{Answer, Sender};
use crate::changes::ChangeFeed;
use crate::domain::webhook::{
    AttemptVerdict, Delivery, SigningKeys, Webhook, cloud_event_type, message_id, retry_delay,
    verdict,
};
use crate::domain::{Event, FeedPosition, time};
use crate::registry::{LeasedWebhook, Registry};
use crate::store::Progress;

/// How many events a worker reads at a time.
const READ_BATCH: usize = 200;

/// How long a worker waits for new events before it looks anyway.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// How soon it looks again while events wait behind a running transaction.
const HELD_BACK_POLL: Duration = Duration::from_millis(20);

/// Most deliveries recorded in one write, and the longest one waits for
/// it. A crash re-sends what was delivered but not yet recorded (with the
/// same ids); in exchange a burst is not held to one database commit per
/// event, which behind busy writers is one group commit each.
const RECORD_EVERY: usize = 100;
const RECORD_WITHIN: Duration = Duration::from_millis(100);

/// What every worker of this replica shares.
pub(super) struct Shared {
    pub registry: Registry,
    pub feed: ChangeFeed,
    pub sender: Sender,
    /// This replica's name in the leases.
    pub holder: String,
    /// Requests in flight at once.
    pub slots: Semaphore,
    pub options: DeliveryOptions,
}

/// Whether the worker goes on.
enum Next {
    Continue,
    Stop,
}

struct Worker {
    shared: Arc<Shared>,
    webhook: Webhook,
    keys: SigningKeys,
    /// Past the events delivered or filtered out.
    cursor: FeedPosition,
    /// The cursor as stored.
    recorded: FeedPosition,
    /// Deliveries since, and when the first of them was made.
    unrecorded: Vec<Delivery>,
    unrecorded_since: Option<Instant>,
    attempts: i64,
    retrying_since: Option<DateTime<Utc>>,
    retrying_event_id: Option<i64>,
    last_delivered_at: Option<DateTime<Utc>>,
    stop: watch::Receiver<bool>,
}

/// Delivers `lease`'s subscription until it is paused, the lease is lost,
/// or `stop` turns true.
pub(super) async fn deliver(
    shared: Arc<Shared>,
    lease: LeasedWebhook,
    stop: watch::Receiver<bool>,
) {
    let mut worker = Worker {
        cursor: lease.webhook.cursor,
        recorded: lease.webhook.cursor,
        unrecorded: Vec::new(),
        unrecorded_since: None,
        attempts: lease.attempts,
        retrying_since: lease.retrying_since,
        retrying_event_id: lease.webhook.retrying_event_id,
        last_delivered_at: lease.webhook.last_delivered_at,
        webhook: lease.webhook,
        keys: lease.keys,
        shared,
        stop,
    };
    worker.run().await;
    if *worker.stop.borrow() {
        // A clean stop records what was delivered: nothing is sent twice.
        worker.flush().await;
    }
}

impl Worker {
    async fn run(&mut self) {
        let mut news = self.shared.feed.subscribe();
        loop {
            if *self.stop.borrow() {
                return;
            }
            let store = self.shared.registry.store();
            let batch = match store.events_after(self.cursor, READ_BATCH).await {
                Ok(batch) => batch,
                Err(error) => {
                    tracing::warn!(webhook = self.webhook.id, error = %error, "webhook worker cannot read the trail");
                    if self.pause(IDLE_POLL).await {
                        return;
                    }
                    continue;
                }
            };
            let waiting: Vec<&Event> = batch
                .events
                .iter()
                .filter(|event| self.webhook.filter.matches(event))
                .collect();
            self.report_lag(waiting.first().copied(), waiting.len());
            if batch.events.is_empty() {
                let wait = if batch.held_back_since.is_some() {
                    HELD_BACK_POLL
                } else {
                    IDLE_POLL
                };
                tokio::select! {
                    _ = news.recv() => {}
                    () = tokio::time::sleep(wait) => {}
                    _ = self.stop.changed() => return,
                }
                continue;
            }
            let mut left = waiting.len();
            for event in &batch.events {
                if self.webhook.filter.matches(event) {
                    self.report_lag(Some(event), left);
                    if let Next::Stop = self.deliver_event(event).await {
                        self.report_lag(None, 0);
                        return;
                    }
                    left -= 1;
                } else {
                    self.cursor = event.position();
                }
            }
            self.report_lag(None, 0);
            if let Next::Stop = self.flush().await {
                return;
            }
        }
    }

    /// The subscription's lag: `oldest` undelivered event, `count` read.
    fn report_lag(&self, oldest: Option<&Event>, count: usize) {
        let seconds = oldest.map_or(0.0, |event| {
            (time::now() - event.occurred_at).num_milliseconds().max(0) as f64 / 1000.0
        });
        crate::prometheus::webhook_lag(self.webhook.id, seconds, count);
    }

    /// Sleeps `wait`; whether the worker must stop.
    async fn pause(&mut self, wait: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(wait) => *self.stop.borrow(),
            _ = self.stop.changed() => true,
        }
    }

    /// Records the deliveries not yet recorded and the cursor, if it moved.
    async fn flush(&mut self) -> Next {
        if self.unrecorded.is_empty() && self.cursor == self.recorded {
            return Next::Continue;
        }
        let attempts = std::mem::take(&mut self.unrecorded);
        self.unrecorded_since = None;
        let progress = Progress::Past {
            cursor: self.cursor,
            delivered_at: self.last_delivered_at,
        };
        let next = self.record(attempts, progress).await;
        if let Next::Continue = next {
            self.recorded = self.cursor;
        }
        next
    }

    /// Records attempts and progress while the lease holds.
    async fn record(&self, attempts: Vec<Delivery>, progress: Progress) -> Next {
        let registry = &self.shared.registry;
        match registry
            .record_attempts(&self.shared.holder, attempts, &self.webhook, progress)
            .await
        {
            Ok(true) => Next::Continue,
            Ok(false) => {
                tracing::info!(
                    webhook = self.webhook.id,
                    "webhook lease lost, deleted or paused; this replica stops delivering it"
                );
                Next::Stop
            }
            Err(error) => {
                // Started again from the stored cursor by the next lease
                // round: what was sent is sent again, with the same ids.
                tracing::warn!(webhook = self.webhook.id, error = %error, "webhook progress could not be recorded");
                Next::Stop
            }
        }
    }

    async fn deliver_event(&mut self, event: &Event) -> Next {
        let shared = Arc::clone(&self.shared);
        let options = &shared.options;
        let id = message_id(self.webhook.id, event.id);
        let body = match payload(event, &id, &options.source) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(webhook = self.webhook.id, event = event.id, error = %error, "a webhook payload could not be written");
                return Next::Stop;
            }
        };
        if self.retrying_event_id != Some(event.id) {
            self.attempts = 0;
            self.retrying_since = None;
        }
        loop {
            let now = Utc::now();
            let timestamp = now.timestamp();
            let signature = self.keys.signature_header(now, &id, timestamp, &body);
            let headers = vec![
                ("webhook-id", id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
                ("content-type", "application/cloudevents+json".to_owned()),
            ];
            let attempted_at = time::now();
            let answer = {
                let Ok(_slot) = self.shared.slots.acquire().await else {
                    return Next::Stop;
                };
                tokio::select! {
                    answer = self.shared.sender.post(&self.webhook.url, headers, body.clone()) => answer,
                    // Sent again after the restart, with the same id.
                    _ = self.stop.changed() => return Next::Stop,
                }
            };
            let attempt = self.attempts + 1;
            let verdict = answer.status.map_or(AttemptVerdict::Retry, verdict);
            crate::prometheus::webhook_attempt(match verdict {
                AttemptVerdict::Delivered => "delivered",
                AttemptVerdict::Retry => "retried",
                AttemptVerdict::Refused => "refused",
            });
            let since = self.retrying_since.unwrap_or(attempted_at);
            let expired = (time::now() - since)
                .to_std()
                .is_ok_and(|age| age >= options.max_age);
            let failure = describe_failure(&answer);
            let row = Delivery {
                webhook_id: self.webhook.id,
                event_id: event.id,
                attempt,
                attempted_at,
                http_status: answer.status.map(i64::from),
                latency_ms: i64::try_from(answer.latency.as_millis()).unwrap_or(i64::MAX),
                response_excerpt: answer.excerpt.clone(),
                error: if verdict == AttemptVerdict::Delivered {
                    String::new()
                } else {
                    failure.clone()
                },
                delivered: verdict == AttemptVerdict::Delivered,
            };
            if verdict == AttemptVerdict::Delivered {
                self.cursor = event.position();
                self.last_delivered_at = Some(attempted_at);
                self.attempts = 0;
                self.retrying_since = None;
                self.retrying_event_id = None;
                self.unrecorded.push(row);
                let since = *self.unrecorded_since.get_or_insert_with(Instant::now);
                if self.unrecorded.len() >= RECORD_EVERY || since.elapsed() >= RECORD_WITHIN {
                    return self.flush().await;
                }
                return Next::Continue;
            }
            // What was delivered before goes first, then the failure.
            if let Next::Stop = self.flush().await {
                return Next::Stop;
            }
            let progress = Progress::Failed {
                event_id: event.id,
                since,
                attempts: attempt,
                failure: failure.clone(),
                failing: verdict == AttemptVerdict::Refused || expired,
            };
            if let Next::Stop = self.record(vec![row], progress).await {
                return Next::Stop;
            }
            match verdict {
                AttemptVerdict::Delivered => return Next::Continue,
                _ if verdict == AttemptVerdict::Refused || expired => {
                    tracing::warn!(webhook = self.webhook.id, event = event.id, failure = %failure, "webhook subscription paused (FAILING) until an admin resumes it");
                    return Next::Stop;
                }
                _ => {
                    self.attempts = attempt;
                    self.retrying_since = Some(since);
                    self.retrying_event_id = Some(event.id);
                    let wait = retry_delay(
                        u32::try_from(attempt).unwrap_or(u32::MAX),
                        options.first_retry,
                        options.max_retry,
                        jitter(),
                        answer.retry_after,
                    );
                    tracing::info!(webhook = self.webhook.id, event = event.id, attempt, failure = %failure, retry_in_ms = wait.as_millis() as u64, "webhook delivery failed; retrying");
                    if self.pause(wait).await {
                        return Next::Stop;
                    }
                }
            }
        }
    }
}

/// What went wrong, in one line for the log and the subscription.
fn describe_failure(answer: &Answer) -> String {
    match answer.status {
        Some(status) => {
            let excerpt: String = answer.excerpt.chars().take(200).collect();
            format!("HTTP {status}: {excerpt}")
                .trim_end()
                .trim_end_matches(':')
                .to_owned()
        }
        None => answer.error.clone(),
    }
}

/// A draw in 0..1 for the backoff's jitter.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    }
}

/// The body of one event's requests: a CloudEvents 1.0 structured-mode
/// JSON document whose `data` is the event in the API's JSON mapping.
pub(super) fn payload(event: &Event, id: &str, source: &str) -> Result<Vec<u8>, String> {
    let data = model_registry_api::json::to_json(&crate::grpc::event_to_wire(event.clone()))
        .map_err(|e| e.to_string())?;
    let mut document = serde_json::json!({
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": cloud_event_type(event.kind),
        "time": event.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "datacontenttype": "application/json",
        "data": data,
    });
    let subject = event.model_name.as_str();
    if !subject.is_empty() {
        document["subject"] = serde_json::Value::from(subject);
    }
    serde_json::to_vec(&document).map_err(|e| e.to_string())
}
