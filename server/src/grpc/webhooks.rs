//! Webhook subscriptions on the wire: wire -> command checks (every field
//! named), the handlers' bodies (the service's trait methods call them),
//! and domain -> wire.

use model_registry_api::v1 as pb;
use tonic::{Request, Response, Status};

use super::context::{caller_of, change_of};
use super::convert::{event_kind_filter, event_kind_to_wire, optional_time, timestamp};
use super::service::RegistryService;
use crate::domain::commands::{
    CreateWebhook, ReplayFrom, ReplayWebhook, ResumeWebhook, RotateWebhookSecret, UpdateWebhook,
};
use crate::domain::validate::{self, MAX_REASON_CHARS};
use crate::domain::webhook::{
    DEFAULT_SECRET_OVERLAP_SECONDS, Delivery, MAX_SECRET_OVERLAP_SECONDS, Webhook, WebhookFilter,
    WebhookState,
};
use crate::domain::{AliasName, DomainError, DomainResult, ModelPrefix, Violations};

/// Most aliases one subscription filters on.
const MAX_FILTER_ALIASES: usize = 64;

/// How long checking a new destination waits for its name to resolve.
const RESOLVE_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Attempts listed when the caller names no limit, and at most.
const DEFAULT_DELIVERIES: i64 = 50;
const MAX_DELIVERIES: i64 = 500;

impl RegistryService {
    /// See `RegistryService.CreateWebhook`.
    pub(super) async fn answer_create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Result<Response<pb::CreateWebhookResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = self
            .settings(
                &request.url,
                &request.description,
                &request.model_prefix,
                &request.aliases,
                request.event_types,
                request.ordered,
            )
            .await?;
        let created = self.registry.create_webhook(command, caller).await?;
        let created = created.value;
        Ok(Response::new(pb::CreateWebhookResponse {
            webhook: Some(webhook_to_wire(created.webhook)),
            secret: created.secret,
        }))
    }

    /// A subscription's settings, every field checked (and named when it
    /// is wrong).
    async fn settings(
        &self,
        url: &str,
        description: &str,
        model_prefix: &str,
        aliases: &[String],
        event_types: Vec<i32>,
        ordered: Option<bool>,
    ) -> DomainResult<CreateWebhook> {
        let mut v = Violations::default();
        let url = v.check(self.webhook_rules.check_url("url", url));
        let description = v.check(validate::optional_text(
            "description",
            description,
            MAX_REASON_CHARS,
        ));
        let model_prefix = if model_prefix.is_empty() {
            Some(String::new())
        } else {
            v.check(ModelPrefix::parse("model_prefix", model_prefix))
                .map(|prefix| prefix.as_str().to_owned())
        };
        if aliases.len() > MAX_FILTER_ALIASES {
            v.add(
                "aliases",
                format!(
                    "has {} entries; at most {MAX_FILTER_ALIASES}",
                    aliases.len()
                ),
            );
        }
        let aliases: Vec<AliasName> = aliases
            .iter()
            .enumerate()
            .filter_map(|(i, alias)| v.check(AliasName::parse(&format!("aliases[{i}]"), alias)))
            .collect();
        let kinds = v.check(event_kind_filter(event_types).map_err(|error| match error {
            DomainError::InvalidArgument(_) => {
                DomainError::invalid("event_types", "holds a value that is not an EventType")
            }
            other => other,
        }));
        v.finish()?;
        match (url, description, model_prefix, kinds) {
            (Some(url), Some(description), Some(model_prefix), Some(kinds)) => {
                self.check_resolved(&url).await?;
                Ok(CreateWebhook {
                    url: url.to_string(),
                    description,
                    filter: WebhookFilter::new(model_prefix, &aliases, &kinds),
                    ordered: ordered.unwrap_or(true),
                })
            }
            _ => Err(DomainError::Internal("a checked field is missing".into())),
        }
    }

    /// Refuses a destination whose host name resolves, now, to an address
    /// the rules refuse. Each connection checks again (an answer may
    /// change); a name that does not resolve yet is accepted, since its
    /// receiver may not be set up yet.
    async fn check_resolved(&self, url: &url::Url) -> DomainResult<()> {
        let (Some(url::Host::Domain(host)), Some(port)) = (url.host(), url.port_or_known_default())
        else {
            return Ok(());
        };
        let lookup = tokio::time::timeout(RESOLVE_TIME, tokio::net::lookup_host((host, port)));
        let Ok(Ok(addresses)) = lookup.await else {
            return Ok(());
        };
        for address in addresses {
            self.webhook_rules
                .check_address(address.ip())
                .map_err(|why| DomainError::invalid("url", format!("names {host}, which {why}")))?;
        }
        Ok(())
    }

    /// See `RegistryService.UpdateWebhook`.
    pub(super) async fn answer_update_webhook(
        &self,
        request: Request<pb::UpdateWebhookRequest>,
    ) -> Result<Response<pb::UpdateWebhookResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let id = webhook_id(request.id);
        let settings = self
            .settings(
                &request.url,
                &request.description,
                &request.model_prefix,
                &request.aliases,
                request.event_types,
                request.ordered,
            )
            .await;
        let (id, settings) = (id?, settings?);
        let webhook = self
            .registry
            .update_webhook(UpdateWebhook { id, settings }, caller)
            .await?;
        Ok(Response::new(pb::UpdateWebhookResponse {
            webhook: Some(webhook_to_wire(webhook)),
        }))
    }

    /// See `RegistryService.RotateWebhookSecret`.
    pub(super) async fn answer_rotate_webhook_secret(
        &self,
        request: Request<pb::RotateWebhookSecretRequest>,
    ) -> Result<Response<pb::RotateWebhookSecretResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let mut v = Violations::default();
        let id = v.check(webhook_id(request.id));
        let overlap_seconds = match request.overlap_seconds {
            None => DEFAULT_SECRET_OVERLAP_SECONDS,
            Some(seconds) if (0..=MAX_SECRET_OVERLAP_SECONDS).contains(&seconds) => seconds,
            Some(seconds) => {
                v.add(
                    "overlap_seconds",
                    format!("is {seconds}; use 0 to {MAX_SECRET_OVERLAP_SECONDS} (30 days)"),
                );
                0
            }
        };
        v.finish()?;
        let id = id.ok_or_else(|| DomainError::Internal("a checked field is missing".into()))?;
        let command = RotateWebhookSecret {
            id,
            overlap_seconds,
        };
        let rotated = self.registry.rotate_webhook_secret(command, caller).await?;
        Ok(Response::new(pb::RotateWebhookSecretResponse {
            webhook: Some(webhook_to_wire(rotated.webhook)),
            secret: rotated.secret,
        }))
    }

    /// See `RegistryService.ReplayWebhook`.
    pub(super) async fn answer_replay_webhook(
        &self,
        request: Request<pb::ReplayWebhookRequest>,
    ) -> Result<Response<pb::ReplayWebhookResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let mut v = Violations::default();
        let id = v.check(webhook_id(request.id));
        let from = match request.from {
            Some(pb::replay_webhook_request::From::FromEventId(event_id)) if event_id >= 1 => {
                Some(ReplayFrom::Event(event_id))
            }
            Some(pb::replay_webhook_request::From::FromEventId(event_id)) => {
                v.add(
                    "from_event_id",
                    format!("is {event_id}; an event id is 1 or more"),
                );
                None
            }
            Some(pb::replay_webhook_request::From::Since(since)) => v
                .check(optional_time("since", Some(since)))
                .flatten()
                .map(ReplayFrom::Since),
            None => {
                v.add("from", "is required: give from_event_id or since");
                None
            }
        };
        v.finish()?;
        let (Some(id), Some(from)) = (id, from) else {
            return Err(DomainError::Internal("a checked field is missing".into()).into());
        };
        let webhook = self
            .registry
            .replay_webhook(ReplayWebhook { id, from }, caller)
            .await?;
        Ok(Response::new(pb::ReplayWebhookResponse {
            webhook: Some(webhook_to_wire(webhook)),
        }))
    }

    /// See `RegistryService.GetWebhook`.
    pub(super) async fn answer_get_webhook(
        &self,
        request: Request<pb::GetWebhookRequest>,
    ) -> Result<Response<pb::GetWebhookResponse>, Status> {
        caller_of(&request)?;
        let id = webhook_id(request.into_inner().id)?;
        let webhook = self.registry.get_webhook(id).await?;
        Ok(Response::new(pb::GetWebhookResponse {
            webhook: Some(webhook_to_wire(webhook)),
        }))
    }

    /// See `RegistryService.ListWebhooks`.
    pub(super) async fn answer_list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Result<Response<pb::ListWebhooksResponse>, Status> {
        caller_of(&request)?;
        let webhooks = self.registry.list_webhooks().await?;
        Ok(Response::new(pb::ListWebhooksResponse {
            webhooks: webhooks.into_iter().map(webhook_to_wire).collect(),
        }))
    }

    /// See `RegistryService.DeleteWebhook`.
    pub(super) async fn answer_delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Result<Response<pb::DeleteWebhookResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let id = webhook_id(request.id)?;
        self.registry.delete_webhook(id, caller).await?;
        Ok(Response::new(pb::DeleteWebhookResponse {}))
    }

    /// See `RegistryService.ResumeWebhook`.
    pub(super) async fn answer_resume_webhook(
        &self,
        request: Request<pb::ResumeWebhookRequest>,
    ) -> Result<Response<pb::ResumeWebhookResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = ResumeWebhook {
            id: webhook_id(request.id)?,
            skip_failed_event: request.skip_failed_event,
        };
        let webhook = self.registry.resume_webhook(command, caller).await?;
        Ok(Response::new(pb::ResumeWebhookResponse {
            webhook: Some(webhook_to_wire(webhook)),
        }))
    }

    /// See `RegistryService.ListWebhookDeliveries`.
    pub(super) async fn answer_list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        caller_of(&request)?;
        let request = request.into_inner();
        let mut v = Violations::default();
        let id = v.check(webhook_id(request.id));
        let limit = match i64::from(request.limit) {
            0 => DEFAULT_DELIVERIES,
            n if (1..=MAX_DELIVERIES).contains(&n) => n,
            n => {
                v.add(
                    "limit",
                    format!("is {n}; use 1 to {MAX_DELIVERIES} (0: {DEFAULT_DELIVERIES})"),
                );
                0
            }
        };
        v.finish()?;
        let id = id.ok_or_else(|| DomainError::Internal("a checked field is missing".into()))?;
        let deliveries = self.registry.webhook_deliveries(id, limit).await?;
        Ok(Response::new(pb::ListWebhookDeliveriesResponse {
            deliveries: deliveries.into_iter().map(delivery_to_wire).collect(),
        }))
    }
}

fn webhook_id(id: i64) -> DomainResult<i64> {
    if id < 1 {
        return Err(DomainError::invalid(
            "id",
            format!("is {id}; a webhook id is 1 or more"),
        ));
    }
    Ok(id)
}

/// A subscription on the wire (never its secret).
fn webhook_to_wire(webhook: Webhook) -> pb::Webhook {
    let state = match webhook.state {
        WebhookState::Active => pb::WebhookState::Active,
        WebhookState::Failing => pb::WebhookState::Failing,
    };
    pb::Webhook {
        id: webhook.id,
        url: webhook.url,
        description: webhook.description,
        event_types: webhook
            .filter
            .event_kinds()
            .into_iter()
            .map(|kind| event_kind_to_wire(kind) as i32)
            .collect(),
        model_prefix: webhook.filter.model_prefix,
        aliases: webhook.filter.aliases,
        state: state as i32,
        failure: webhook.failure,
        retrying_event_id: webhook.retrying_event_id,
        created_at: Some(timestamp(webhook.created_at)),
        created_by: webhook.created_by,
        delivered_through_event_id: webhook.cursor.id,
        last_delivered_at: webhook.last_delivered_at.map(timestamp),
        previous_secret_expires_at: webhook
            .previous_secret_expires_at
            .filter(|until| *until > crate::domain::time::now())
            .map(timestamp),
        ordered: webhook.ordered,
    }
}

fn delivery_to_wire(row: Delivery) -> pb::WebhookDelivery {
    pb::WebhookDelivery {
        attempted_at: Some(timestamp(row.attempted_at)),
        event_id: row.event_id,
        message_id: crate::domain::webhook::message_id(row.webhook_id, row.event_id),
        attempt: i32::try_from(row.attempt).unwrap_or(i32::MAX),
        http_status: row
            .http_status
            .and_then(|status| i32::try_from(status).ok()),
        latency_ms: row.latency_ms,
        response_excerpt: row.response_excerpt,
        error: row.error,
        delivered: row.delivered,
    }
}
