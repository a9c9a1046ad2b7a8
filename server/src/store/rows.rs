//! Row types of the schema and their conversion to and from domain types.
//! One set of structs serves both backends.

#![expect(
    missing_docs,
    reason = "a row's fields are its table's columns, described by the migrations"
)]

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

pub use super::event_rows::{EventRow, KeyOutcome, NewEventRow};
use super::schema::{
    aliases, console_sessions, model_versions, models, request_keys, version_metrics, version_tags,
};
use crate::domain::commands::Caller;
use crate::domain::session::ConsoleSession;
use crate::domain::signature::SignatureSummary;
use crate::domain::{
    Artifact, DomainError, DomainResult, Model, ModelName, ModelVersion, NewVersion, Training,
    VersionStatus,
};

/// A `models` row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = models, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ModelRow {
    pub id: i64,
    pub name: String,
    pub next_version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub description: String,
    pub tags: String,
    pub governed: bool,
}

impl ModelRow {
    /// The model's name.
    pub fn model_name(&self) -> ModelName {
        ModelName::from_stored(self.name.clone())
    }
}

/// A `models` row locked for a change, with the time of the model's latest
/// event (read in the same statement).
#[derive(Debug, Clone)]
pub struct LockedModel {
    pub row: ModelRow,
    pub last_event_at: Option<DateTime<Utc>>,
}

impl LockedModel {
    /// `row`, whose latest event happened at `last_event_at` (as stored).
    pub fn new(row: ModelRow, last_event_at: Option<NaiveDateTime>) -> Self {
        Self {
            row,
            last_event_at: last_event_at.map(from_db_time),
        }
    }
}

impl ModelRow {
    /// The stored tags.
    pub fn tags(&self) -> DomainResult<BTreeMap<String, String>> {
        from_json(&self.tags, "models.tags")
    }

    /// The domain model, given its aliases and latest ACTIVE version.
    pub fn into_domain(
        self,
        aliases: BTreeMap<String, i64>,
        latest_version: Option<i64>,
    ) -> DomainResult<Model> {
        Ok(Model {
            tags: self.tags()?,
            version_count: self.next_version - 1,
            name: ModelName::from_stored(self.name),
            description: self.description,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            aliases,
            latest_version,
        })
    }
}

/// A `models` row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = models)]
pub struct NewModelRow<'a> {
    pub name: &'a str,
    pub next_version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A `model_versions` row, as read and as inserted.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = model_versions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct VersionRow {
    pub id: String,
    pub model_id: i64,
    pub version: i64,
    pub algorithm: String,
    pub status: String,
    pub artifact_uri: String,
    pub artifact_metadata_uri: String,
    pub artifact_sha256: String,
    pub artifact_size_bytes: i64,
    pub metrics: String,
    pub params: String,
    pub tags: String,
    pub metadata: String,
    pub description: String,
    pub training_started_at: Option<NaiveDateTime>,
    pub training_finished_at: Option<NaiveDateTime>,
    pub training_duration_seconds: f64,
    pub train_samples: i64,
    pub test_samples: i64,
    pub feature_count: i64,
    pub feature_names: String,
    pub dataset_uri: String,
    pub code_version: String,
    pub request_id: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The verified signature's summary (JSON), if one is attached.
    pub signature: Option<String>,
}

/// A `model_versions` row without its bulky columns (params, metadata,
/// feature names): what a listing reads before it knows how many versions
/// fit its page.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = model_versions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct VersionHeadRow {
    pub id: String,
    pub model_id: i64,
    pub version: i64,
    pub algorithm: String,
    pub status: String,
    pub artifact_uri: String,
    pub artifact_metadata_uri: String,
    pub artifact_sha256: String,
    pub artifact_size_bytes: i64,
    pub metrics: String,
    pub tags: String,
    pub description: String,
    pub training_started_at: Option<NaiveDateTime>,
    pub training_finished_at: Option<NaiveDateTime>,
    pub training_duration_seconds: f64,
    pub train_samples: i64,
    pub test_samples: i64,
    pub feature_count: i64,
    pub dataset_uri: String,
    pub code_version: String,
    pub request_id: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub signature: Option<String>,
}

/// The bulky columns of a `model_versions` row.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = model_versions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct VersionBulkRow {
    pub id: String,
    pub params: String,
    pub metadata: String,
    pub feature_names: String,
}

impl VersionHeadRow {
    /// Roughly what the head takes in memory: its text and a fixed part.
    pub fn stored_bytes(&self) -> usize {
        const FIXED: usize = 160;
        FIXED
            + [
                &self.id,
                &self.algorithm,
                &self.status,
                &self.artifact_uri,
                &self.artifact_metadata_uri,
                &self.artifact_sha256,
                &self.metrics,
                &self.tags,
                &self.description,
                &self.dataset_uri,
                &self.code_version,
                &self.created_by,
            ]
            .iter()
            .map(|text| text.len())
            .sum::<usize>()
            + self.signature.as_ref().map_or(0, String::len)
    }

    /// The whole row: with its bulky columns when they were read, with
    /// them empty when the view leaves them out.
    pub fn into_row(self, bulk: Option<VersionBulkRow>) -> VersionRow {
        let (params, metadata, feature_names) = match bulk {
            Some(bulk) => (bulk.params, bulk.metadata, bulk.feature_names),
            None => ("{}".to_owned(), "{}".to_owned(), "[]".to_owned()),
        };
        VersionRow {
            id: self.id,
            model_id: self.model_id,
            version: self.version,
            algorithm: self.algorithm,
            status: self.status,
            artifact_uri: self.artifact_uri,
            artifact_metadata_uri: self.artifact_metadata_uri,
            artifact_sha256: self.artifact_sha256,
            artifact_size_bytes: self.artifact_size_bytes,
            metrics: self.metrics,
            params,
            tags: self.tags,
            metadata,
            description: self.description,
            training_started_at: self.training_started_at,
            training_finished_at: self.training_finished_at,
            training_duration_seconds: self.training_duration_seconds,
            train_samples: self.train_samples,
            test_samples: self.test_samples,
            feature_count: self.feature_count,
            feature_names,
            dataset_uri: self.dataset_uri,
            code_version: self.code_version,
            request_id: self.request_id,
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            signature: self.signature,
        }
    }
}

impl VersionRow {
    /// The row of a new version `number` of model `model_id`.
    pub fn new(
        model_id: i64,
        number: i64,
        new: &NewVersion,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> DomainResult<Self> {
        let training = &new.training;
        Ok(Self {
            id: uuid::Uuid::now_v7().to_string(),
            model_id,
            version: number,
            algorithm: new.algorithm.clone(),
            status: VersionStatus::Active.as_str().to_owned(),
            artifact_uri: new.artifact.uri.clone(),
            artifact_metadata_uri: new.artifact.metadata_uri.clone(),
            artifact_sha256: new.artifact.sha256.clone(),
            artifact_size_bytes: new.artifact.size_bytes,
            metrics: to_json(&new.metrics)?,
            params: to_json(&new.params)?,
            tags: to_json(&new.tags)?,
            metadata: to_json(&new.metadata)?,
            description: new.description.clone(),
            training_started_at: training.started_at.map(to_db_time),
            training_finished_at: training.finished_at.map(to_db_time),
            training_duration_seconds: training.duration_seconds,
            train_samples: training.train_samples,
            test_samples: training.test_samples,
            feature_count: training.feature_count,
            feature_names: to_json(&training.feature_names)?,
            dataset_uri: training.dataset_uri.clone(),
            code_version: training.code_version.clone(),
            // Keys of new registrations live in request_keys.
            request_id: None,
            created_by: caller.identity.clone(),
            created_at: to_db_time(now),
            updated_at: to_db_time(now),
            signature: None,
        })
    }

    /// The stored status.
    pub fn status(&self) -> DomainResult<VersionStatus> {
        VersionStatus::parse(&self.status).ok_or_else(|| {
            corrupt(format!(
                "version {} has unknown status {:?}",
                self.id, self.status
            ))
        })
    }

    /// The stored metrics.
    pub fn metrics(&self) -> DomainResult<BTreeMap<String, f64>> {
        from_json(&self.metrics, "metrics")
    }

    /// The stored tags.
    pub fn tags(&self) -> DomainResult<BTreeMap<String, String>> {
        from_json(&self.tags, "tags")
    }

    /// The stored artifact.
    pub fn artifact(&self) -> Artifact {
        Artifact {
            uri: self.artifact_uri.clone(),
            metadata_uri: self.artifact_metadata_uri.clone(),
            sha256: self.artifact_sha256.clone(),
            size_bytes: self.artifact_size_bytes,
        }
    }

    /// The stored signature's summary, if one is attached.
    pub fn signature(&self) -> DomainResult<Option<SignatureSummary>> {
        self.signature
            .as_deref()
            .map(|json| from_json(json, "signature"))
            .transpose()
    }

    /// The domain version, given its model's name and the aliases it holds.
    pub fn into_domain(
        self,
        model_name: String,
        aliases: Vec<String>,
    ) -> DomainResult<ModelVersion> {
        Ok(ModelVersion {
            signature: self.signature()?,
            status: self.status()?,
            metrics: self.metrics()?,
            tags: self.tags()?,
            params: from_json(&self.params, "params")?,
            metadata: from_json(&self.metadata, "metadata")?,
            training: Training {
                started_at: self.training_started_at.map(from_db_time),
                finished_at: self.training_finished_at.map(from_db_time),
                duration_seconds: self.training_duration_seconds,
                train_samples: self.train_samples,
                test_samples: self.test_samples,
                feature_count: self.feature_count,
                feature_names: from_json(&self.feature_names, "feature_names")?,
                dataset_uri: self.dataset_uri,
                code_version: self.code_version,
            },
            artifact: Artifact {
                uri: self.artifact_uri,
                metadata_uri: self.artifact_metadata_uri,
                sha256: self.artifact_sha256,
                size_bytes: self.artifact_size_bytes,
            },
            id: self.id,
            model_name: ModelName::from_stored(model_name),
            version: self.version,
            algorithm: self.algorithm,
            description: self.description,
            created_by: self.created_by,
            created_at: from_db_time(self.created_at),
            updated_at: from_db_time(self.updated_at),
            aliases,
        })
    }
}

/// What an alias move reads before it decides: the version it is to point
/// at (when it names one), the alias's row and its latest event.
#[derive(Debug, Clone)]
pub struct AliasMoveState {
    pub candidate: Option<VersionRow>,
    pub current: Option<AliasRow>,
    pub latest_event: Option<EventRow>,
    pub policy: Option<super::governance_rows::PolicyRow>,
    /// The longest-prefix policy the alias inherits (read only when it has
    /// none of its own).
    pub inherited: Option<super::governance_rows::PrefixPolicyRow>,
    pub freeze: Option<super::governance_rows::FreezeRow>,
}

/// An `aliases` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = aliases, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AliasRow {
    pub model_id: i64,
    pub alias: String,
    pub version: i64,
    pub event_id: i64,
}

/// A `console_sessions` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SessionRow {
    pub id_digest: String,
    pub principal: String,
    pub token_digest: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub identity: Option<String>,
}

impl From<&ConsoleSession> for SessionRow {
    fn from(session: &ConsoleSession) -> Self {
        Self {
            id_digest: session.id_digest.clone(),
            principal: session.principal.clone(),
            token_digest: session.token_digest.clone(),
            created_at: to_db_time(session.created_at),
            expires_at: to_db_time(session.expires_at),
            identity: session.identity.clone(),
        }
    }
}

impl SessionRow {
    /// The domain session.
    pub fn into_domain(self) -> ConsoleSession {
        ConsoleSession {
            id_digest: self.id_digest,
            principal: self.principal,
            token_digest: self.token_digest,
            created_at: from_db_time(self.created_at),
            expires_at: from_db_time(self.expires_at),
            identity: self.identity,
        }
    }
}

/// A `request_keys` row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = request_keys, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct RequestKeyRow {
    pub principal: String,
    pub request_id: String,
    pub method: String,
    pub fingerprint: String,
    pub outcome: String,
    pub created_at: NaiveDateTime,
}

impl RequestKeyRow {
    /// A request key claimed at `now`, its outcome still empty.
    pub fn claimed(
        principal: String,
        request_id: String,
        method: &str,
        fingerprint: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            principal,
            request_id,
            method: method.to_owned(),
            fingerprint,
            outcome: String::new(),
            created_at: to_db_time(now),
        }
    }
}

/// A `version_metrics` row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = version_metrics)]
pub struct MetricRow<'a> {
    pub version_id: &'a str,
    pub model_id: i64,
    pub name: &'a str,
    pub value: f64,
}

/// A `version_tags` row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = version_tags)]
pub struct TagRow<'a> {
    pub version_id: &'a str,
    pub key: &'a str,
    pub value: &'a str,
}

/// Converts a domain time to the stored UTC form.
pub fn to_db_time(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// Converts a stored UTC time to a domain time.
pub fn from_db_time(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// Serialises a value stored as a JSON text column.
pub fn to_json<T: serde::Serialize>(value: &T) -> DomainResult<String> {
    serde_json::to_string(value)
        .map_err(|e| DomainError::Internal(format!("serialising JSON column: {e}")))
}

pub(super) fn from_json<T: serde::de::DeserializeOwned>(
    json: &str,
    column: &str,
) -> DomainResult<T> {
    serde_json::from_str(json)
        .map_err(|e| corrupt(format!("column {column} holds invalid JSON: {e}")))
}

pub(super) fn corrupt(detail: String) -> DomainError {
    DomainError::Internal(format!("unexpected stored data: {detail}"))
}

/// Splits the `size + 1` rows a page query loads into the page and whether
/// another page follows.
pub fn split_page<T>(mut rows: Vec<T>, size: usize) -> (Vec<T>, bool) {
    let more = rows.len() > size;
    rows.truncate(size);
    (rows, more)
}

/// The NOT_FOUND for a model.
pub fn model_not_found(name: &str) -> DomainError {
    DomainError::NotFound(format!(
        "model {name:?} does not exist; models are created by their first RegisterModel"
    ))
}
