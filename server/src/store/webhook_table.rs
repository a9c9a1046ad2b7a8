//! The `webhooks` and `webhook_deliveries` tables' part of the [`Tx`]
//! contract (see `tx.rs`): subscriptions, their cursors and leases, and
//! their delivery log.
//!
//! [`Tx`]: super::Tx

use std::future::Future;

use chrono::{DateTime, Utc};

use super::webhook_rows::{DeliveryRow, NewWebhookRow, Progress, WebhookRow};
use crate::domain::DomainResult;

/// Webhook subscriptions and their delivery log.
pub trait WebhookTable {
    /// Stores a new subscription; its id.
    fn insert_webhook(
        &mut self,
        row: NewWebhookRow,
    ) -> impl Future<Output = DomainResult<i64>> + Send;

    /// Subscription `id`, if there is one.
    fn webhook(&mut self, id: i64)
    -> impl Future<Output = DomainResult<Option<WebhookRow>>> + Send;

    /// Every subscription, oldest first.
    fn webhooks(&mut self) -> impl Future<Output = DomainResult<Vec<WebhookRow>>> + Send;

    /// Deletes subscription `id` and its delivery log; whether it was there.
    fn delete_webhook(&mut self, id: i64) -> impl Future<Output = DomainResult<bool>> + Send;

    /// Makes subscription `id` ACTIVE again, at `cursor` (after the event
    /// it failed on when that is skipped), with no retry pending.
    fn reactivate_webhook(
        &mut self,
        id: i64,
        cursor: crate::domain::FeedPosition,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Leases to `holder` until `until` every ACTIVE subscription that no
    /// other holder's lease covers at `now` (its own included, renewed); the
    /// leased rows. One statement, so two replicas never lease the same
    /// subscription at once.
    fn lease_webhooks(
        &mut self,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<Vec<WebhookRow>>> + Send;

    /// Gives up `holder`'s leases (at shutdown), so another replica takes
    /// over at once.
    fn release_webhook_leases(
        &mut self,
        holder: &str,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Records a delivery's progress on subscription `id`, only while
    /// `holder` leases it and it is ACTIVE: whether it did (a holder that
    /// lost its lease stops).
    fn record_webhook_progress(
        &mut self,
        id: i64,
        holder: &str,
        progress: Progress,
    ) -> impl Future<Output = DomainResult<bool>> + Send;

    /// Appends an attempt to the delivery log, keeping the latest `keep` of
    /// its subscription.
    fn log_webhook_delivery(
        &mut self,
        row: DeliveryRow,
        keep: i64,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// The latest `limit` attempts to deliver to subscription `id`, newest
    /// first.
    fn webhook_deliveries(
        &mut self,
        id: i64,
        limit: i64,
    ) -> impl Future<Output = DomainResult<Vec<DeliveryRow>>> + Send;
}
