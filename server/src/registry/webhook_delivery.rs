//! The steps webhook delivery workers take (see `server/src/webhooks/`),
//! each one statement or two: lease the subscriptions no other replica
//! delivers, record an attempt and the progress it made (only while the
//! lease and the generation hold), give the leases up; and the backlog the
//! console shows.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{Registry, use_case};
use crate::domain::webhook::{Delivery, SigningKeys, Webhook};
use crate::domain::{DomainResult, time};
use crate::store::{DeliveryRow, Progress, SetAside, Tx, Work};

/// How many attempts the delivery log keeps per subscription.
const DELIVERIES_KEPT: i64 = 1000;

/// How long a delivery worker's write may wait for the database.
const WORKER_WRITE_TIME: Duration = Duration::from_secs(10);

/// What a subscription still owes its receiver, as far as one read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Matching events after its cursor (of the first [`BACKLOG_READ`]).
    pub events: usize,
    /// More events follow the ones read.
    pub more: bool,
    /// When the oldest of them happened.
    pub oldest: Option<DateTime<Utc>>,
    /// Failed events set aside (unordered subscriptions), retried on their own.
    pub set_aside: usize,
}

/// How many trail events a backlog read looks at.
pub const BACKLOG_READ: usize = 500;

/// A subscription leased to this replica: what its worker needs.
#[derive(Debug, Clone)]
pub struct LeasedWebhook {
    /// The subscription.
    pub webhook: Webhook,
    /// Its signing secrets.
    pub keys: SigningKeys,
    /// Failed attempts of its retrying event so far.
    pub attempts: i64,
    /// When its retrying event first failed.
    pub retrying_since: Option<DateTime<Utc>>,
}

/// Leases the subscriptions no other replica holds (renewing this one's).
pub async fn lease_webhooks<T: Tx>(
    tx: &mut T,
    holder: String,
    lease: Duration,
) -> DomainResult<Vec<LeasedWebhook>> {
    let now = time::now();
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let rows = tx.lease_webhooks(&holder, now, until).await?;
    rows.into_iter()
        .map(|row| {
            Ok(LeasedWebhook {
                keys: row.signing_keys()?,
                attempts: row.attempts,
                retrying_since: row.retrying_since.map(crate::store::from_db_time),
                webhook: row.into_domain()?,
            })
        })
        .collect()
}

/// Gives up this replica's leases.
pub async fn release_webhooks<T: Tx>(tx: &mut T, holder: String) -> DomainResult<()> {
    tx.release_webhook_leases(&holder).await
}

/// What one write of a delivery worker records.
#[derive(Debug, Clone)]
pub struct Record {
    /// Attempts for the delivery log.
    pub attempts: Vec<Delivery>,
    /// Where the subscription stands.
    pub progress: Progress,
    /// What happens to its set-aside events.
    pub set_aside: SetAside,
}

/// Logs attempts and records where the subscription stands, while this
/// replica holds its lease: whether it does.
pub async fn record_attempts<T: Tx>(
    tx: &mut T,
    holder: String,
    webhook: (i64, i64),
    record: Record,
) -> DomainResult<bool> {
    let (webhook_id, generation) = webhook;
    let leased = tx
        .record_webhook_progress(webhook_id, &holder, generation, record.progress)
        .await?;
    if leased {
        tx.change_set_aside(webhook_id, record.set_aside).await?;
        let rows = record.attempts.iter().map(DeliveryRow::from).collect();
        tx.log_webhook_deliveries(rows, DELIVERIES_KEPT).await?;
    }
    Ok(leased)
}

use_case!(LeaseWebhooksWork { holder: String, lease: Duration } -> Vec<LeasedWebhook> = lease_webhooks);
use_case!(ReleaseWebhooksWork { holder: String } -> () = release_webhooks);
use_case!(RecordAttemptsWork { holder: String, webhook: (i64, i64), record: Record } -> bool = record_attempts);

impl Registry {
    /// What `webhook` still owes its receiver (the console's lag).
    pub async fn webhook_backlog(&self, webhook: &Webhook) -> DomainResult<Backlog> {
        let batch = self
            .store
            .events_after(webhook.cursor, BACKLOG_READ)
            .await?;
        let waiting: Vec<_> = batch
            .events
            .iter()
            .filter(|event| webhook.filter.matches(event))
            .collect();
        let set_aside = self.store.set_aside_events(webhook.id).await?.len();
        Ok(Backlog {
            events: waiting.len(),
            more: batch.more,
            oldest: waiting.first().map(|event| event.occurred_at),
            set_aside,
        })
    }

    /// Leases the subscriptions no other replica delivers, for `lease`.
    pub async fn lease_webhooks(
        &self,
        holder: &str,
        lease: Duration,
    ) -> DomainResult<Vec<LeasedWebhook>> {
        let holder = holder.to_owned();
        self.store
            .write(worker_deadline(), LeaseWebhooksWork { holder, lease })
            .await
    }

    /// Gives up this replica's leases.
    pub async fn release_webhooks(&self, holder: &str) -> DomainResult<()> {
        let holder = holder.to_owned();
        self.store
            .write(worker_deadline(), ReleaseWebhooksWork { holder })
            .await
    }

    /// Logs attempts and records the subscription's progress, while
    /// `holder` leases it: whether it does.
    pub async fn record_attempts(
        &self,
        holder: &str,
        webhook: &Webhook,
        record: Record,
    ) -> DomainResult<bool> {
        let work = RecordAttemptsWork {
            holder: holder.to_owned(),
            webhook: (webhook.id, webhook.generation),
            record,
        };
        self.store.write(worker_deadline(), work).await
    }
}

fn worker_deadline() -> Option<Instant> {
    Some(Instant::now() + WORKER_WRITE_TIME)
}
