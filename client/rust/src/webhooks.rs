//! Webhook subscriptions (admin): the trail's events POSTed to a receiver,
//! signed by the Standard Webhooks specification. Subscriptions and
//! delivery attempts are the generated messages ([`proto::Webhook`],
//! [`proto::WebhookDelivery`]).
//!
//! [`proto::Webhook`]: crate::proto::Webhook
//! [`proto::WebhookDelivery`]: crate::proto::WebhookDelivery

use std::time::SystemTime;

use model_registry_api::v1 as pb;

use crate::calls::awaitable;
use crate::client::{RegistryClient, new_request_id};
use crate::error::Result;
use crate::types::EventType;

/// A new subscription and its signing secret, which no other call returns.
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    /// The subscription.
    pub webhook: pb::Webhook,
    /// The signing secret (`whsec_…`): give it to the receiver.
    pub secret: String,
}

/// Where a replay starts.
#[derive(Debug, Clone, Copy)]
pub enum ReplayFrom {
    /// At this event.
    Event(i64),
    /// At the first event at or after this moment.
    Since(SystemTime),
}

/// A pending subscription; see [`RegistryClient::create_webhook`].
#[must_use = "nothing is sent until it is awaited"]
#[derive(Debug)]
pub struct CreateWebhook<'a> {
    client: &'a RegistryClient,
    request: pb::CreateWebhookRequest,
}

impl CreateWebhook<'_> {
    /// What it is for.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.request.description = description.into();
        self
    }

    /// Only events of models whose name starts with `prefix`.
    pub fn model_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.request.model_prefix = prefix.into();
        self
    }

    /// Only events about `alias` (repeat for several).
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.request.aliases.push(alias.into());
        self
    }

    /// Only events of `event_type` (repeat for several).
    pub fn event_type(mut self, event_type: EventType) -> Self {
        self.request.event_types.push(event_type.to_proto());
        self
    }

    /// Whether a failing event holds up the later ones (the default), or
    /// (false) is set aside and retried on its own while they go on.
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.request.ordered = Some(ordered);
        self
    }

    /// Sends it.
    pub async fn send(self) -> Result<CreatedWebhook> {
        let response = self
            .client
            .retried(self.request, |mut raw, r| async move {
                raw.create_webhook(r).await
            })
            .await?;
        Ok(CreatedWebhook {
            webhook: response.webhook.unwrap_or_default(),
            secret: response.secret,
        })
    }
}
awaitable!(CreateWebhook => CreatedWebhook);

impl RegistryClient {
    /// Subscribes `url` to the trail's events (admin); filters on the
    /// builder. The answer holds the signing secret, shown this once.
    pub fn create_webhook(&self, url: impl Into<String>) -> CreateWebhook<'_> {
        CreateWebhook {
            client: self,
            request: pb::CreateWebhookRequest {
                url: url.into(),
                request_id: new_request_id(),
                ..Default::default()
            },
        }
    }

    /// Subscription `id` (admin).
    pub async fn webhook(&self, id: i64) -> Result<pb::Webhook> {
        let request = pb::GetWebhookRequest { id };
        let response = self
            .retried(
                request,
                |mut raw, r| async move { raw.get_webhook(r).await },
            )
            .await?;
        Ok(response.webhook.unwrap_or_default())
    }

    /// Every subscription, oldest first (admin).
    pub async fn webhooks(&self) -> Result<Vec<pb::Webhook>> {
        let request = pb::ListWebhooksRequest {};
        let response = self
            .retried(
                request,
                |mut raw, r| async move { raw.list_webhooks(r).await },
            )
            .await?;
        Ok(response.webhooks)
    }

    /// Ends subscription `id` (admin).
    pub async fn delete_webhook(&self, id: i64) -> Result<()> {
        let request = pb::DeleteWebhookRequest {
            id,
            request_id: new_request_id(),
        };
        self.retried(
            request,
            |mut raw, r| async move { raw.delete_webhook(r).await },
        )
        .await?;
        Ok(())
    }

    /// Resumes a FAILING subscription (admin): at the event it failed on,
    /// or after it with `skip_failed_event`.
    pub async fn resume_webhook(&self, id: i64, skip_failed_event: bool) -> Result<pb::Webhook> {
        let request = pb::ResumeWebhookRequest {
            id,
            skip_failed_event,
            request_id: new_request_id(),
        };
        let response = self
            .retried(
                request,
                |mut raw, r| async move { raw.resume_webhook(r).await },
            )
            .await?;
        Ok(response.webhook.unwrap_or_default())
    }

    /// Gives subscription `id` a new secret (admin), shown this once; the
    /// previous one keeps signing for `overlap_seconds` (`None`: a day;
    /// 0: not at all).
    pub async fn rotate_webhook_secret(
        &self,
        id: i64,
        overlap_seconds: Option<i64>,
    ) -> Result<CreatedWebhook> {
        let request = pb::RotateWebhookSecretRequest {
            id,
            overlap_seconds,
            request_id: new_request_id(),
        };
        let response = self
            .retried(request, |mut raw, r| async move {
                raw.rotate_webhook_secret(r).await
            })
            .await?;
        Ok(CreatedWebhook {
            webhook: response.webhook.unwrap_or_default(),
            secret: response.secret,
        })
    }

    /// Sends subscription `id`'s events again from `from` on (admin), each
    /// with the `webhook-id` it had.
    pub async fn replay_webhook(&self, id: i64, from: ReplayFrom) -> Result<pb::Webhook> {
        let from = match from {
            ReplayFrom::Event(event_id) => pb::replay_webhook_request::From::FromEventId(event_id),
            ReplayFrom::Since(at) => {
                pb::replay_webhook_request::From::Since(prost_types::Timestamp::from(at))
            }
        };
        let request = pb::ReplayWebhookRequest {
            id,
            from: Some(from),
            request_id: new_request_id(),
        };
        let response = self
            .retried(
                request,
                |mut raw, r| async move { raw.replay_webhook(r).await },
            )
            .await?;
        Ok(response.webhook.unwrap_or_default())
    }

    /// The latest `limit` delivery attempts of subscription `id`, newest
    /// first (admin; 0: the server's default, 50).
    pub async fn webhook_deliveries(
        &self,
        id: i64,
        limit: i32,
    ) -> Result<Vec<pb::WebhookDelivery>> {
        let request = pb::ListWebhookDeliveriesRequest { id, limit };
        let response = self
            .retried(request, |mut raw, r| async move {
                raw.list_webhook_deliveries(r).await
            })
            .await?;
        Ok(response.deliveries)
    }
}
