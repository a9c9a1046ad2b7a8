//! Use cases of webhook subscriptions: an admin without limits subscribes a
//! receiver, updates, rotates the secret of, replays, resumes and deletes
//! subscriptions (each change audited in its own transaction), and reads
//! them and their delivery log. The delivery workers' steps are in
//! `webhook_delivery.rs`.

use std::future::Future;

use super::idempotent::{Replay, idempotent, mismatch};
use super::{Registry, use_case};
use crate::domain::commands::EventQuery;
use crate::domain::commands::{
    Caller, Committed, CreateWebhook, ReplayFrom, ReplayWebhook, ResumeWebhook,
    RotateWebhookSecret, UpdateWebhook,
};
use crate::domain::idempotency::Outcome;
use crate::domain::webhook::{Delivery, Webhook, WebhookSecret, WebhookState};
use crate::domain::{ChangeQueue, DomainError, DomainResult, EventKind, FeedPosition, time};
use crate::store::{DeliveryRow, NewEventRow, NewWebhookRow, SetAside, Tx, WebhookRow, Work};

/// A new subscription, with its secret (shown this once).
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    /// The subscription.
    pub webhook: Webhook,
    /// The signing secret's text.
    pub secret: String,
}

/// What deleting a subscription answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookDeleted;

fn not_found(id: i64) -> DomainError {
    DomainError::NotFound(format!("there is no webhook subscription {id}"))
}

async fn row_of<T: Tx>(tx: &mut T, id: i64) -> DomainResult<WebhookRow> {
    tx.webhook(id).await?.ok_or_else(|| not_found(id))
}

/// What a subscription's audit event says about it: where it sends (the
/// host only: a URL's path or query may itself be a credential) and what.
fn audit_detail(webhook: &Webhook) -> String {
    let host = url::Url::parse(&webhook.url)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default();
    serde_json::json!({ "host": host, "filter": webhook.filter, "ordered": webhook.ordered })
        .to_string()
}

/// Subscribes a receiver; see `RegistryService.CreateWebhook`. It starts
/// after the newest event in the feed: it receives what happens from now.
pub async fn create_webhook<T: Tx>(
    tx: &mut T,
    command: CreateWebhook,
    caller: Caller,
) -> DomainResult<CreatedWebhook> {
    caller.check_unlimited("subscribing a webhook")?;
    idempotent(
        tx,
        &caller,
        "CreateWebhook",
        ChangeQueue::Webhooks,
        command,
        async |tx, command, claim| {
            let now = time::now();
            let cursor = tx.feed_head().await?;
            let secret = WebhookSecret::generate()?;
            let row = NewWebhookRow::new(command, &secret, cursor, caller.identity.clone(), now)?;
            let id = tx.insert_webhook(row).await?;
            let webhook = row_of(tx, id).await?.into_domain()?;
            let mut event = NewEventRow::of_webhook(EventKind::WebhookCreated, id, &caller, now);
            event.detail = Some(audit_detail(&webhook));
            let (settled, _) = claim
                .settle_with_events(tx, Outcome::Webhook { id }, vec![event])
                .await?;
            let secret = secret.reveal();
            Ok((CreatedWebhook { webhook, secret }, settled))
        },
    )
    .await
}

impl Replay for CreatedWebhook {
    async fn replay<T: Tx>(tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::WebhookSecretRotated { id, secret } => Ok(Self {
                webhook: row_of(tx, id).await?.into_domain()?,
                secret,
            }),
            Outcome::Webhook { id } => {
                let row = row_of(tx, id).await?;
                let secret = row.secret.clone();
                Ok(Self {
                    webhook: row.into_domain()?,
                    secret,
                })
            }
            other => Err(mismatch(other)),
        }
    }
}

impl Replay for Webhook {
    async fn replay<T: Tx>(tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::Webhook { id } => row_of(tx, id).await?.into_domain(),
            other => Err(mismatch(other)),
        }
    }
}

impl Replay for WebhookDeleted {
    async fn replay<T: Tx>(_tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::WebhookDeleted => Ok(Self),
            other => Err(mismatch(other)),
        }
    }
}

/// Ends a subscription; see `RegistryService.DeleteWebhook`.
pub async fn delete_webhook<T: Tx>(
    tx: &mut T,
    id: i64,
    caller: Caller,
) -> DomainResult<WebhookDeleted> {
    caller.check_unlimited("deleting a webhook")?;
    idempotent(
        tx,
        &caller,
        "DeleteWebhook",
        ChangeQueue::Webhooks,
        id,
        async |tx, id, claim| {
            let webhook = row_of(tx, id).await?.into_domain()?;
            tx.delete_webhook(id).await?;
            let mut event =
                NewEventRow::of_webhook(EventKind::WebhookDeleted, id, &caller, time::now());
            event.detail = Some(audit_detail(&webhook));
            let (settled, _) = claim
                .settle_with_events(tx, Outcome::WebhookDeleted, vec![event])
                .await?;
            Ok((WebhookDeleted, settled))
        },
    )
    .await
}

/// Resumes a FAILING subscription; see `RegistryService.ResumeWebhook`.
pub async fn resume_webhook<T: Tx>(
    tx: &mut T,
    command: ResumeWebhook,
    caller: Caller,
) -> DomainResult<Webhook> {
    caller.check_unlimited("resuming a webhook")?;
    idempotent(
        tx,
        &caller,
        "ResumeWebhook",
        ChangeQueue::Webhooks,
        command,
        async |tx, command, claim| {
            let webhook = row_of(tx, command.id).await?.into_domain()?;
            if webhook.state != WebhookState::Failing {
                return Err(DomainError::FailedPrecondition(format!(
                    "webhook subscription {} is not FAILING: it delivers already",
                    command.id
                )));
            }
            let skipped = match (command.skip_failed_event, webhook.retrying_event_id) {
                (true, Some(event_id)) => tx.find_event(event_id).await?,
                _ => None,
            };
            // An event set aside lies behind the cursor: skipping it takes it
            // out of the set, and leaves the cursor where it is.
            let cursor = match &skipped {
                Some(event) if event.position() > webhook.cursor => event.position(),
                _ => webhook.cursor,
            };
            if let Some(event) = &skipped {
                tx.change_set_aside(command.id, SetAside::Drop(event.id))
                    .await?;
            }
            tx.set_aside_due(command.id, time::now()).await?;
            tx.restart_webhook(command.id, cursor).await?;
            let mut event = NewEventRow::of_webhook(
                EventKind::WebhookResumed,
                command.id,
                &caller,
                time::now(),
            );
            event.detail = Some(
                serde_json::json!({ "skipped_event_id": skipped.map(|event| event.id) })
                    .to_string(),
            );
            let id = command.id;
            let (settled, _) = claim
                .settle_with_events(tx, Outcome::Webhook { id }, vec![event])
                .await?;
            Ok((row_of(tx, id).await?.into_domain()?, settled))
        },
    )
    .await
}

/// Replaces a subscription's settings; see `RegistryService.UpdateWebhook`.
pub async fn update_webhook<T: Tx>(
    tx: &mut T,
    command: UpdateWebhook,
    caller: Caller,
) -> DomainResult<Webhook> {
    caller.check_unlimited("changing a webhook")?;
    idempotent(
        tx,
        &caller,
        "UpdateWebhook",
        ChangeQueue::Webhooks,
        command,
        async |tx, command, claim| {
            let id = command.id;
            row_of(tx, id).await?;
            let settings = command.settings;
            tx.update_webhook(
                id,
                &settings.url,
                &settings.description,
                settings.ordered,
                &settings.filter,
            )
            .await?;
            let webhook = row_of(tx, id).await?.into_domain()?;
            let mut event =
                NewEventRow::of_webhook(EventKind::WebhookUpdated, id, &caller, time::now());
            event.detail = Some(audit_detail(&webhook));
            let (settled, _) = claim
                .settle_with_events(tx, Outcome::Webhook { id }, vec![event])
                .await?;
            Ok((webhook, settled))
        },
    )
    .await
}

/// Gives a subscription a new secret; see
/// `RegistryService.RotateWebhookSecret`.
pub async fn rotate_secret<T: Tx>(
    tx: &mut T,
    command: RotateWebhookSecret,
    caller: Caller,
) -> DomainResult<CreatedWebhook> {
    caller.check_unlimited("rotating a webhook's secret")?;
    idempotent(
        tx,
        &caller,
        "RotateWebhookSecret",
        ChangeQueue::Webhooks,
        command,
        async |tx, command, claim| {
            let id = command.id;
            row_of(tx, id).await?;
            let now = time::now();
            let secret = WebhookSecret::generate()?;
            let previous_until = (command.overlap_seconds > 0)
                .then(|| now + chrono::Duration::seconds(command.overlap_seconds));
            tx.rotate_webhook_secret(id, &secret, previous_until)
                .await?;
            let webhook = row_of(tx, id).await?.into_domain()?;
            let mut event =
                NewEventRow::of_webhook(EventKind::WebhookSecretRotated, id, &caller, now);
            event.detail = Some(
                serde_json::json!({ "previous_secret_signs_until": previous_until }).to_string(),
            );
            let secret = secret.reveal();
            let outcome = Outcome::WebhookSecretRotated {
                id,
                secret: secret.clone(),
            };
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((CreatedWebhook { webhook, secret }, settled))
        },
    )
    .await
}

/// Moves a subscription's cursor back; see `RegistryService.ReplayWebhook`.
pub async fn replay_webhook<T: Tx>(
    tx: &mut T,
    command: ReplayWebhook,
    caller: Caller,
) -> DomainResult<Webhook> {
    caller.check_unlimited("replaying a webhook")?;
    idempotent(
        tx,
        &caller,
        "ReplayWebhook",
        ChangeQueue::Webhooks,
        command,
        async |tx, command, claim| {
            let id = command.id;
            let current = row_of(tx, id).await?;
            let first = match command.from {
                ReplayFrom::Event(event_id) => tx.find_event(event_id).await?.ok_or_else(|| {
                    DomainError::NotFound(format!("there is no event {event_id}"))
                })?,
                ReplayFrom::Since(since) => {
                    let query = EventQuery {
                        model_name: None,
                        version: None,
                        kinds: Vec::new(),
                        alias: None,
                        actor: None,
                        newest_first: false,
                        since: Some(since),
                        until: None,
                        page_size: 1,
                        after: None,
                    };
                    let page = tx.list_events(&query, None).await?;
                    page.items.into_iter().next().map(|(event, _)| event).ok_or_else(|| {
                        DomainError::NotFound(format!("no event happened at or after {since}"))
                    })?
                }
            };
            if first.position() > current.cursor() {
                return Err(DomainError::FailedPrecondition(format!(
                    "event {} was not delivered to webhook subscription {id} yet: nothing to replay",
                    first.id
                )));
            }
            // Just before the first event of the range: the worker reads
            // the events after it.
            let cursor = FeedPosition {
                tx: first.tx,
                id: first.id - 1,
            };
            tx.restart_webhook(id, cursor).await?;
            let mut event =
                NewEventRow::of_webhook(EventKind::WebhookReplayed, id, &caller, time::now());
            event.detail = Some(serde_json::json!({ "from_event_id": first.id }).to_string());
            let (settled, _) = claim
                .settle_with_events(tx, Outcome::Webhook { id }, vec![event])
                .await?;
            Ok((row_of(tx, id).await?.into_domain()?, settled))
        },
    )
    .await
}

/// Subscription `id`.
pub async fn get_webhook<T: Tx>(tx: &mut T, id: i64) -> DomainResult<Webhook> {
    row_of(tx, id).await?.into_domain()
}

/// Every subscription, oldest first.
pub async fn list_webhooks<T: Tx>(tx: &mut T) -> DomainResult<Vec<Webhook>> {
    tx.webhooks()
        .await?
        .into_iter()
        .map(WebhookRow::into_domain)
        .collect()
}

/// The latest `limit` attempts of subscription `id`, newest first.
pub async fn list_deliveries<T: Tx>(
    tx: &mut T,
    id: i64,
    limit: i64,
) -> DomainResult<Vec<Delivery>> {
    row_of(tx, id).await?;
    Ok(tx
        .webhook_deliveries(id, limit)
        .await?
        .into_iter()
        .map(DeliveryRow::into_domain)
        .collect())
}

use_case!(CreateWebhookWork { command: CreateWebhook, caller: Caller } -> CreatedWebhook = create_webhook);
use_case!(DeleteWebhookWork { id: i64, caller: Caller } -> WebhookDeleted = delete_webhook);
use_case!(ResumeWebhookWork { command: ResumeWebhook, caller: Caller } -> Webhook = resume_webhook);
use_case!(GetWebhookWork { id: i64 } -> Webhook = get_webhook);
use_case!(ListWebhooksWork {} -> Vec<Webhook> = list_webhooks);
use_case!(ListDeliveriesWork { id: i64, limit: i64 } -> Vec<Delivery> = list_deliveries);
use_case!(UpdateWebhookWork { command: UpdateWebhook, caller: Caller } -> Webhook = update_webhook);
use_case!(RotateSecretWork { command: RotateWebhookSecret, caller: Caller } -> CreatedWebhook = rotate_secret);
use_case!(ReplayWebhookWork { command: ReplayWebhook, caller: Caller } -> Webhook = replay_webhook);

impl Registry {
    /// Subscribes a receiver (see `CreateWebhook`).
    pub async fn create_webhook(
        &self,
        command: CreateWebhook,
        caller: Caller,
    ) -> DomainResult<Committed<CreatedWebhook>> {
        let deadline = caller.deadline;
        let work = CreateWebhookWork { command, caller };
        let (value, token) = self.store.change(deadline, None, work).await?;
        Ok(Committed { value, token })
    }

    /// Ends a subscription.
    pub async fn delete_webhook(&self, id: i64, caller: Caller) -> DomainResult<WebhookDeleted> {
        let deadline = caller.deadline;
        self.store
            .write(deadline, DeleteWebhookWork { id, caller })
            .await
    }

    /// Resumes a failing subscription.
    pub async fn resume_webhook(
        &self,
        command: ResumeWebhook,
        caller: Caller,
    ) -> DomainResult<Webhook> {
        let deadline = caller.deadline;
        self.store
            .write(deadline, ResumeWebhookWork { command, caller })
            .await
    }

    /// Replaces a subscription's settings.
    pub async fn update_webhook(
        &self,
        command: UpdateWebhook,
        caller: Caller,
    ) -> DomainResult<Webhook> {
        let deadline = caller.deadline;
        self.store
            .write(deadline, UpdateWebhookWork { command, caller })
            .await
    }

    /// Gives a subscription a new secret.
    pub async fn rotate_webhook_secret(
        &self,
        command: RotateWebhookSecret,
        caller: Caller,
    ) -> DomainResult<CreatedWebhook> {
        let deadline = caller.deadline;
        self.store
            .write(deadline, RotateSecretWork { command, caller })
            .await
    }

    /// Sends a range of events again.
    pub async fn replay_webhook(
        &self,
        command: ReplayWebhook,
        caller: Caller,
    ) -> DomainResult<Webhook> {
        let deadline = caller.deadline;
        self.store
            .write(deadline, ReplayWebhookWork { command, caller })
            .await
    }

    /// Reads a subscription.
    pub async fn get_webhook(&self, id: i64) -> DomainResult<Webhook> {
        self.store.read(GetWebhookWork { id }).await
    }

    /// Lists the subscriptions.
    pub async fn list_webhooks(&self) -> DomainResult<Vec<Webhook>> {
        self.store.read(ListWebhooksWork {}).await
    }

    /// The latest delivery attempts of a subscription.
    pub async fn webhook_deliveries(&self, id: i64, limit: i64) -> DomainResult<Vec<Delivery>> {
        self.store.read(ListDeliveriesWork { id, limit }).await
    }
}
