//! One subscription's deliveries, while this replica leases it: the events
//! after its cursor, in feed order, one at a time. A failing event is
//! retried until it is taken, refused for good, or older than the maximum
//! age: in place (later events wait behind it) when the subscription is
//! ordered, else set aside (`webhook_retries`) and retried on its own
//! backoff while the later events go on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};

mod set_aside;

use super::DeliveryOptions;
use super::sender::{Answer, Sender};
use crate::changes::ChangeFeed;
use crate::domain::webhook::{
    AttemptVerdict, Delivery, SigningKeys, Webhook, cloud_event_type, message_id, retry_delay,
    verdict,
};
use crate::domain::{Event, FeedPosition, time};
use crate::registry::{LeasedWebhook, Record, Registry};
use crate::store::{Progress, RetryRow, SetAside, from_db_time, to_db_time};

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
    /// Events set aside, as stored.
    set_aside: Vec<RetryRow>,
    stop: watch::Receiver<bool>,
}

/// One attempt's answer, and when it was made.
struct Sent {
    answer: Answer,
    attempted_at: DateTime<Utc>,
    verdict: AttemptVerdict,
}

/// Delivers `lease`'s subscription until it is paused, the lease is lost,
/// or `stop` turns true.
pub(super) async fn deliver(
    shared: Arc<Shared>,
    lease: LeasedWebhook,
    stop: watch::Receiver<bool>,
) {
    let set_aside = match shared
        .registry
        .store()
        .set_aside_events(lease.webhook.id)
        .await
    {
        Ok(rows) => rows,
        Err(error) => {
            // The next lease round starts the worker again.
            tracing::warn!(webhook = lease.webhook.id, error = %error, "webhook worker cannot read its set-aside events");
            return;
        }
    };
    let mut worker = Worker {
        set_aside,
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
            if let Next::Stop = self.retry_set_aside().await {
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
            // Each event is matched against the filters once.
            let matching: Vec<bool> = batch
                .events
                .iter()
                .map(|event| self.webhook.filter.matches(event))
                .collect();
            let mut left = matching.iter().filter(|&&m| m).count();
            let oldest = batch.events.iter().zip(&matching).find(|(_, m)| **m);
            self.report_lag(oldest.map(|(event, _)| event), left);
            if batch.events.is_empty() {
                let wait = if batch.held_back_since.is_some() {
                    HELD_BACK_POLL
                } else {
                    IDLE_POLL
                }
                .min(self.next_set_aside_due());
                tokio::select! {
                    _ = news.recv() => {}
                    () = tokio::time::sleep(wait) => {}
                    _ = self.stop.changed() => return,
                }
                continue;
            }
            for (event, matches) in batch.events.iter().zip(matching) {
                if matches {
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
        let set_aside_since = self
            .set_aside
            .iter()
            .map(|row| from_db_time(row.since))
            .min();
        let oldest = oldest
            .map(|event| event.occurred_at)
            .into_iter()
            .chain(set_aside_since)
            .min();
        let seconds = oldest.map_or(0.0, |at| {
            (time::now() - at).num_milliseconds().max(0) as f64 / 1000.0
        });
        crate::prometheus::webhook_lag(self.webhook.id, seconds, count + self.set_aside.len());
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
        self.record(attempts, progress, SetAside::Unchanged).await
    }

    /// Records attempts, progress and a change to the set-aside events
    /// while the lease holds.
    async fn record(
        &mut self,
        attempts: Vec<Delivery>,
        progress: Progress,
        set_aside: SetAside,
    ) -> Next {
        let moved = match &progress {
            Progress::Past { cursor, .. } => Some(*cursor),
            Progress::Failed { .. } => None,
        };
        let record = Record {
            attempts,
            progress,
            set_aside: set_aside.clone(),
        };
        let registry = &self.shared.registry;
        match registry
            .record_attempts(&self.shared.holder, &self.webhook, record)
            .await
        {
            Ok(true) => {
                if let Some(cursor) = moved {
                    self.recorded = cursor;
                }
                match set_aside {
                    SetAside::Unchanged => {}
                    SetAside::Keep(row) => {
                        self.set_aside.retain(|kept| kept.event_id != row.event_id);
                        self.set_aside.push(row);
                        self.set_aside.sort_by_key(|kept| kept.event_id);
                    }
                    SetAside::Drop(event_id) => {
                        self.set_aside.retain(|kept| kept.event_id != event_id)
                    }
                }
                Next::Continue
            }
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

    /// Signs and POSTs `event` once; None when the worker must stop first.
    async fn send(&self, event: &Event) -> Option<Sent> {
        let id = message_id(self.webhook.id, event.id);
        let body = match payload(event, &id, &self.shared.options.source) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(webhook = self.webhook.id, event = event.id, error = %error, "a webhook payload could not be written");
                return None;
            }
        };
        let now = Utc::now();
        let timestamp = now.timestamp();
        let signature = self.keys.signature_header(now, &id, timestamp, &body);
        let headers = vec![
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
            ("content-type", "application/cloudevents+json".to_owned()),
        ];
        let attempted_at = time::now();
        let _slot = self.shared.slots.acquire().await.ok()?;
        let mut stop = self.stop.clone();
        let answer = tokio::select! {
            answer = self.shared.sender.post(&self.webhook.url, headers, body) => answer,
            // Sent again after the restart, with the same id.
            _ = stop.changed() => return None,
        };
        let verdict = answer.status.map_or(AttemptVerdict::Retry, verdict);
        crate::prometheus::webhook_attempt(match verdict {
            AttemptVerdict::Delivered => "delivered",
            AttemptVerdict::Retry => "retried",
            AttemptVerdict::Refused => "refused",
        });
        Some(Sent {
            answer,
            attempted_at,
            verdict,
        })
    }

    /// The delivery log's row of attempt `attempt` of `event`.
    fn logged(&self, event: &Event, attempt: i64, sent: &Sent) -> Delivery {
        let delivered = sent.verdict == AttemptVerdict::Delivered;
        Delivery {
            webhook_id: self.webhook.id,
            event_id: event.id,
            attempt,
            attempted_at: sent.attempted_at,
            http_status: sent.answer.status.map(i64::from),
            latency_ms: i64::try_from(sent.answer.latency.as_millis()).unwrap_or(i64::MAX),
            response_excerpt: sent.answer.excerpt.clone(),
            error: if delivered {
                String::new()
            } else {
                describe_failure(&sent.answer)
            },
            delivered,
        }
    }

    /// How long to wait after failed attempt `attempt`.
    fn backoff(&self, attempt: i64, answer: &Answer) -> Duration {
        let options = &self.shared.options;
        retry_delay(
            u32::try_from(attempt).unwrap_or(u32::MAX),
            options.first_retry,
            options.max_retry,
            jitter(),
            answer.retry_after,
        )
    }

    /// Whether an event failing since `since` is past the maximum age.
    fn expired(&self, since: DateTime<Utc>) -> bool {
        (time::now() - since)
            .to_std()
            .is_ok_and(|age| age >= self.shared.options.max_age)
    }

    /// Delivers the next event after the cursor: retried in place until it
    /// is taken (ordered), or set aside after its first failure (unordered).
    async fn deliver_event(&mut self, event: &Event) -> Next {
        if self.retrying_event_id != Some(event.id) {
            self.attempts = 0;
            self.retrying_since = None;
        }
        loop {
            let Some(sent) = self.send(event).await else {
                return Next::Stop;
            };
            let attempt = self.attempts + 1;
            let row = self.logged(event, attempt, &sent);
            if sent.verdict == AttemptVerdict::Delivered {
                self.cursor = event.position();
                self.last_delivered_at = Some(sent.attempted_at);
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
            let since = self.retrying_since.unwrap_or(sent.attempted_at);
            let failing = sent.verdict == AttemptVerdict::Refused || self.expired(since);
            // What was delivered before goes first, then the failure.
            if let Next::Stop = self.flush().await {
                return Next::Stop;
            }
            let failure = describe_failure(&sent.answer);
            if !self.webhook.ordered && !failing {
                let retry = RetryRow {
                    webhook_id: self.webhook.id,
                    event_id: event.id,
                    attempts: attempt,
                    since: to_db_time(since),
                    failure: failure.clone(),
                    next_at: to_db_time(
                        time::now() + chrono_of(self.backoff(attempt, &sent.answer)),
                    ),
                };
                self.cursor = event.position();
                let progress = Progress::Past {
                    cursor: self.cursor,
                    delivered_at: self.last_delivered_at,
                };
                tracing::info!(webhook = self.webhook.id, event = event.id, failure = %failure, "webhook delivery failed; the event is set aside and retried on its own");
                return self
                    .record(vec![row], progress, SetAside::Keep(retry))
                    .await;
            }
            let progress = Progress::Failed {
                event_id: event.id,
                since,
                attempts: attempt,
                failure: failure.clone(),
                failing,
            };
            if let Next::Stop = self.record(vec![row], progress, SetAside::Unchanged).await {
                return Next::Stop;
            }
            if failing {
                tracing::warn!(webhook = self.webhook.id, event = event.id, failure = %failure, "webhook subscription paused (FAILING) until an admin resumes it");
                return Next::Stop;
            }
            self.attempts = attempt;
            self.retrying_since = Some(since);
            self.retrying_event_id = Some(event.id);
            let wait = self.backoff(attempt, &sent.answer);
            tracing::info!(webhook = self.webhook.id, event = event.id, attempt, failure = %failure, retry_in_ms = wait.as_millis() as u64, "webhook delivery failed; retrying");
            if self.pause(wait).await {
                return Next::Stop;
            }
        }
    }
}

/// `wait` as a chrono duration (saturating).
fn chrono_of(wait: Duration) -> chrono::Duration {
    chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
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
