//! Row types of the audit trail (`events`), and the request-key outcome
//! written with a change's events. One set of structs serves both
//! backends.

#![expect(
    missing_docs,
    reason = "a row's fields are its table's columns, described by the migrations"
)]

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::rows::{corrupt, from_db_time, to_db_time};
use super::schema::events;
use crate::domain::alias::AliasEntry;
use crate::domain::commands::Caller;
use crate::domain::{DomainResult, Event, EventKind, ModelName, ModelPrefix, VersionStatus};

/// An `events` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct EventRow {
    pub id: i64,
    pub tx: i64,
    pub occurred_at: NaiveDateTime,
    pub event_type: String,
    pub version: Option<i64>,
    pub alias: Option<String>,
    pub previous_version: Option<i64>,
    pub new_version: Option<i64>,
    pub previous_status: Option<String>,
    pub new_status: Option<String>,
    pub actor: String,
    pub reason: String,
    pub request_id: String,
    pub rollback_event_id: Option<i64>,
    pub correlation_id: Option<String>,
    pub emergency: bool,
    pub change_request_id: Option<i64>,
    pub detail: Option<String>,
    pub model_prefix: Option<String>,
    pub webhook_id: Option<i64>,
    pub actor_source: Option<String>,
}

impl EventRow {
    /// The event as the rollback chain of its alias sees it.
    pub fn alias_entry(&self) -> AliasEntry {
        AliasEntry {
            event_id: self.id,
            version: self.new_version,
            rollback_event_id: self.rollback_event_id,
        }
    }

    /// The domain event, given its model's name (none for an event of a
    /// prefix policy).
    pub fn into_domain(self, model_name: Option<String>) -> DomainResult<Event> {
        let status = |stored: Option<String>| -> DomainResult<Option<VersionStatus>> {
            stored
                .map(|s| {
                    VersionStatus::parse(&s).ok_or_else(|| corrupt(format!("event status {s:?}")))
                })
                .transpose()
        };
        Ok(Event {
            kind: EventKind::parse(&self.event_type)
                .ok_or_else(|| corrupt(format!("event type {:?}", self.event_type)))?,
            previous_status: status(self.previous_status)?,
            new_status: status(self.new_status)?,
            id: self.id,
            tx: self.tx,
            occurred_at: from_db_time(self.occurred_at),
            model_name: ModelName::from_stored(model_name.unwrap_or_default()),
            model_prefix: self.model_prefix.map(ModelPrefix::from_stored),
            version: self.version,
            alias: self.alias,
            previous_version: self.previous_version,
            new_version: self.new_version,
            actor: self.actor,
            actor_source: self.actor_source,
            reason: self.reason,
            request_id: self.request_id,
            correlation_id: self.correlation_id,
            emergency: self.emergency,
            change_request_id: self.change_request_id,
            detail: self.detail,
            webhook_id: self.webhook_id,
        })
    }
}

/// The outcome of a change to record under the request key it claimed,
/// written with the change's events.
#[derive(Debug, Clone)]
pub struct KeyOutcome {
    pub principal: String,
    pub request_id: String,
    pub outcome: String,
}

/// An `events` row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = events)]
pub struct NewEventRow {
    pub occurred_at: NaiveDateTime,
    pub event_type: String,
    pub model_id: Option<i64>,
    pub model_prefix: Option<String>,
    pub version: Option<i64>,
    pub alias: Option<String>,
    pub previous_version: Option<i64>,
    pub new_version: Option<i64>,
    pub previous_status: Option<String>,
    pub new_status: Option<String>,
    pub actor: String,
    pub reason: String,
    pub request_id: String,
    pub rollback_event_id: Option<i64>,
    pub correlation_id: Option<String>,
    pub emergency: bool,
    pub change_request_id: Option<i64>,
    pub detail: Option<String>,
    pub webhook_id: Option<i64>,
    pub actor_source: Option<String>,
}

impl NewEventRow {
    /// An event of `kind` on model `model_id` by `caller`; the optional
    /// columns start empty.
    pub fn new(kind: EventKind, model_id: i64, caller: &Caller, now: DateTime<Utc>) -> Self {
        Self {
            occurred_at: to_db_time(now),
            event_type: kind.as_str().to_owned(),
            model_id: Some(model_id),
            model_prefix: None,
            version: None,
            alias: None,
            previous_version: None,
            new_version: None,
            previous_status: None,
            new_status: None,
            actor: caller.identity.clone(),
            reason: String::new(),
            request_id: caller.request_id.clone(),
            rollback_event_id: None,
            correlation_id: caller.correlation_id.clone(),
            emergency: false,
            change_request_id: None,
            detail: None,
            webhook_id: None,
            actor_source: caller.source.clone(),
        }
    }

    /// An event of `kind` on the policies of model-name prefix `prefix`.
    pub fn of_prefix(
        kind: EventKind,
        prefix: &ModelPrefix,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            model_id: None,
            model_prefix: Some(prefix.as_str().to_owned()),
            ..Self::new(kind, 0, caller, now)
        }
    }

    /// An event of `kind` on webhook subscription `webhook_id`.
    pub fn of_webhook(
        kind: EventKind,
        webhook_id: i64,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            model_id: None,
            webhook_id: Some(webhook_id),
            ..Self::new(kind, 0, caller, now)
        }
    }
}
