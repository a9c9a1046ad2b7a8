//! The `webhooks` and `webhook_deliveries` tables' part of the [`Tx`]
//! contract (see `tx.rs`): subscriptions, their cursors and leases, and
//! their delivery log.
//!
//! [`Tx`]: super::Tx

use std::future::Future;

use chrono::{DateTime, Utc};

use super::webhook_rows::{DeliveryRow, NewWebhookRow, Progress, RetryRow, SetAside, WebhookRow};
use crate::domain::DomainResult;
use crate::domain::webhook::{WebhookFilter, WebhookSecret};

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

    /// Makes subscription `id` ACTIVE, delivering after `cursor` (resumed,
    /// or replaying), with no retry pending, in a new generation.
    fn restart_webhook(
        &mut self,
        id: i64,
        cursor: crate::domain::FeedPosition,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Replaces subscription `id`'s destination, description, ordering and
    /// filters, in a new generation.
    fn update_webhook(
        &mut self,
        id: i64,
        url: &str,
        description: &str,
        ordered: bool,
        filter: &WebhookFilter,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Gives subscription `id` a new secret; the current one keeps signing
    /// until `previous_until` (none: not at all). A new generation.
    fn rotate_webhook_secret(
        &mut self,
        id: i64,
        secret: &WebhookSecret,
        previous_until: Option<DateTime<Utc>>,
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
    /// `holder` leases it, it is ACTIVE and still in `generation`: whether
    /// it did (a worker that lost its lease, or was overtaken by a change,
    /// stops).
    fn record_webhook_progress(
        &mut self,
        id: i64,
        holder: &str,
        generation: i64,
        progress: Progress,
    ) -> impl Future<Output = DomainResult<bool>> + Send;

    /// Appends attempts (of one subscription) to the delivery log, keeping
    /// the latest `keep` of the subscription.
    fn log_webhook_deliveries(
        &mut self,
        rows: Vec<DeliveryRow>,
        keep: i64,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Sets an event of subscription `webhook_id` aside (or records its
    /// latest failure), or takes it out of the set.
    fn change_set_aside(
        &mut self,
        webhook_id: i64,
        change: SetAside,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// Makes every event subscription `webhook_id` set aside due at `now`.
    fn set_aside_due(
        &mut self,
        webhook_id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = DomainResult<()>> + Send;

    /// The events subscription `webhook_id` set aside, oldest first.
    fn set_aside_events(
        &mut self,
        webhook_id: i64,
    ) -> impl Future<Output = DomainResult<Vec<RetryRow>>> + Send;

    /// The latest `limit` attempts to deliver to subscription `id`, newest
    /// first.
    fn webhook_deliveries(
        &mut self,
        id: i64,
        limit: i64,
    ) -> impl Future<Output = DomainResult<Vec<DeliveryRow>>> + Send;
}
