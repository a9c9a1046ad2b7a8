//! Row types of webhook subscriptions (`webhooks`) and their delivery log
//! (`webhook_deliveries`). One set of structs serves both backends.

#![expect(
    missing_docs,
    reason = "a row's fields are its table's columns, described by the migrations"
)]

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::rows::{corrupt, from_db_time, from_json, to_db_time, to_json};
use super::schema::{webhook_deliveries, webhook_retries, webhooks};
use crate::domain::commands::CreateWebhook;
use crate::domain::webhook::{
    Delivery, SigningKeys, Webhook, WebhookFilter, WebhookSecret, WebhookState,
};
use crate::domain::{DomainResult, FeedPosition};

/// A `webhooks` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct WebhookRow {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub model_prefix: String,
    pub aliases: String,
    pub event_types: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<NaiveDateTime>,
    pub generation: i64,
    pub state: String,
    pub failure: String,
    pub retrying_event_id: Option<i64>,
    pub retrying_since: Option<NaiveDateTime>,
    pub attempts: i64,
    pub cursor_tx: i64,
    pub cursor_id: i64,
    pub last_delivered_at: Option<NaiveDateTime>,
    pub lease_holder: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub ordered: bool,
}

impl WebhookRow {
    /// The subscription as callers see it.
    pub fn into_domain(self) -> DomainResult<Webhook> {
        let cursor = self.cursor();
        Ok(Webhook {
            filter: WebhookFilter {
                model_prefix: self.model_prefix,
                aliases: from_json(&self.aliases, "webhooks.aliases")?,
                kinds: from_json(&self.event_types, "webhooks.event_types")?,
            },
            state: WebhookState::parse(&self.state)
                .ok_or_else(|| corrupt(format!("webhook state {:?}", self.state)))?,
            id: self.id,
            url: self.url,
            description: self.description,
            failure: self.failure,
            retrying_event_id: self.retrying_event_id,
            created_at: from_db_time(self.created_at),
            created_by: self.created_by,
            cursor,
            last_delivered_at: self.last_delivered_at.map(from_db_time),
            previous_secret_expires_at: self.previous_secret_until.map(from_db_time),
            generation: self.generation,
            ordered: self.ordered,
        })
    }

    /// Where the subscription stands in the trail.
    pub fn cursor(&self) -> FeedPosition {
        FeedPosition {
            tx: self.cursor_tx,
            id: self.cursor_id,
        }
    }

    /// The secrets that sign its requests.
    pub fn signing_keys(&self) -> DomainResult<SigningKeys> {
        let previous = match (&self.previous_secret, self.previous_secret_until) {
            (Some(previous), Some(until)) => {
                Some((WebhookSecret::parse(previous)?, from_db_time(until)))
            }
            _ => None,
        };
        Ok(SigningKeys {
            current: WebhookSecret::parse(&self.secret)?,
            previous,
        })
    }
}

/// A `webhooks` row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = webhooks)]
pub struct NewWebhookRow {
    pub url: String,
    pub description: String,
    pub model_prefix: String,
    pub aliases: String,
    pub event_types: String,
    pub secret: String,
    pub state: String,
    pub cursor_tx: i64,
    pub cursor_id: i64,
    pub created_at: NaiveDateTime,
    pub created_by: String,
    pub ordered: bool,
}

impl NewWebhookRow {
    /// A new ACTIVE subscription with `settings`, starting after `cursor`.
    pub fn new(
        settings: CreateWebhook,
        secret: &WebhookSecret,
        cursor: FeedPosition,
        created_by: String,
        now: DateTime<Utc>,
    ) -> DomainResult<Self> {
        let filter = &settings.filter;
        Ok(Self {
            url: settings.url,
            description: settings.description,
            model_prefix: filter.model_prefix.clone(),
            aliases: to_json(&filter.aliases)?,
            event_types: to_json(&filter.kinds)?,
            secret: secret.reveal(),
            state: WebhookState::Active.as_str().to_owned(),
            cursor_tx: cursor.tx,
            cursor_id: cursor.id,
            created_at: to_db_time(now),
            created_by,
            ordered: settings.ordered,
        })
    }
}

/// A `webhook_retries` row: an event an unordered subscription set aside.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = webhook_retries, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct RetryRow {
    pub webhook_id: i64,
    pub event_id: i64,
    pub attempts: i64,
    pub since: NaiveDateTime,
    pub failure: String,
    pub next_at: NaiveDateTime,
}

/// What a recorded attempt does to the subscription's set-aside events.
#[derive(Debug, Clone)]
pub enum SetAside {
    /// Nothing.
    Unchanged,
    /// Sets this event aside, or records its latest failure.
    Keep(RetryRow),
    /// The event was delivered or skipped: it leaves the set.
    Drop(i64),
}

/// A `webhook_deliveries` row: one attempt.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct DeliveryRow {
    pub webhook_id: i64,
    pub event_id: i64,
    pub attempt: i64,
    pub attempted_at: NaiveDateTime,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub response_excerpt: String,
    pub error: String,
    pub delivered: bool,
}

impl From<&Delivery> for DeliveryRow {
    fn from(delivery: &Delivery) -> Self {
        Self {
            webhook_id: delivery.webhook_id,
            event_id: delivery.event_id,
            attempt: delivery.attempt,
            attempted_at: to_db_time(delivery.attempted_at),
            http_status: delivery.http_status,
            latency_ms: delivery.latency_ms,
            response_excerpt: delivery.response_excerpt.clone(),
            error: delivery.error.clone(),
            delivered: delivery.delivered,
        }
    }
}

impl DeliveryRow {
    /// The attempt as callers see it.
    pub fn into_domain(self) -> Delivery {
        Delivery {
            webhook_id: self.webhook_id,
            event_id: self.event_id,
            attempt: self.attempt,
            attempted_at: from_db_time(self.attempted_at),
            http_status: self.http_status,
            latency_ms: self.latency_ms,
            response_excerpt: self.response_excerpt,
            error: self.error,
            delivered: self.delivered,
        }
    }
}

/// How a delivery attempt ended, for the subscription's row.
#[derive(Debug, Clone)]
pub enum Progress {
    /// Past these events (delivered, or filtered out); `delivered_at`: when
    /// an event was last delivered (kept as it was when none was now).
    Past {
        cursor: FeedPosition,
        delivered_at: Option<DateTime<Utc>>,
    },
    /// Event `event_id` failed; it is retried (or, `failing`, the
    /// subscription pauses on it).
    Failed {
        event_id: i64,
        since: DateTime<Utc>,
        attempts: i64,
        failure: String,
        failing: bool,
    },
}
