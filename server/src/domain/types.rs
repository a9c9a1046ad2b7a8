//! The registry's domain types: what a model, a version and an event are,
//! independent of the wire format and of the database.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::alias::AliasName;
use super::event::EventKind;
use super::status::VersionStatus;

/// A validated model name: `^[a-z0-9][a-z0-9._-]{0,127}$`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ModelName(String);

/// Debug-formats as the quoted name, so messages read `model "churn"`.
impl std::fmt::Debug for ModelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl ModelName {
    /// Checks `name` against the model name pattern; `field` names the
    /// request field in the error.
    pub fn parse(field: &str, name: &str) -> super::DomainResult<Self> {
        if name.is_empty() {
            return Err(super::DomainError::invalid(field, "is required"));
        }
        if !is_name_like(name, 128) {
            return Err(super::DomainError::invalid(
                field,
                format!(
                    "{name:?} is not a valid model name: use 1 to 128 characters of a-z, 0-9, \
                     '.', '_' and '-', starting with a letter or digit (for example \"churn\")"
                ),
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a name read back from the database, where it was validated on
    /// the way in.
    pub(crate) fn from_stored(name: String) -> Self {
        Self(name)
    }
}

impl std::fmt::Display for ModelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated model-name prefix (the start of model names, in the model
/// name alphabet): what a policy set on a family of models names.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ModelPrefix(String);

/// Debug-formats as the quoted prefix, as [`ModelName`].
impl std::fmt::Debug for ModelPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl ModelPrefix {
    /// Checks `prefix` against the model name pattern; `field` names the
    /// request field in the error.
    pub fn parse(field: &str, prefix: &str) -> super::DomainResult<Self> {
        if prefix.is_empty() {
            return Err(super::DomainError::invalid(field, "is required"));
        }
        if !is_name_like(prefix, 128) {
            return Err(super::DomainError::invalid(
                field,
                format!(
                    "{prefix:?} is not a valid model-name prefix: use 1 to 128 characters of \
                     a-z, 0-9, '.', '_' and '-', starting with a letter or digit (for example \
                     \"fraud-\")"
                ),
            ));
        }
        Ok(Self(prefix.to_owned()))
    }

    /// The prefix as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a prefix read back from the database.
    pub(crate) fn from_stored(prefix: String) -> Self {
        Self(prefix)
    }

    /// Whether model `name` is one of the family.
    pub fn covers(&self, name: &ModelName) -> bool {
        name.as_str().starts_with(&self.0)
    }

    /// Every prefix of model `name`, shortest first: the prefixes whose
    /// policies it may inherit.
    pub fn all_of(name: &ModelName) -> Vec<String> {
        // Model names are ASCII, so every byte index is a char boundary.
        (1..=name.as_str().len())
            .map(|end| name.as_str()[..end].to_owned())
            .collect()
    }
}

impl std::fmt::Display for ModelPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The queue a change waits in before it writes, which is also its place
/// in the change feed: its model's, or for a policy set on a model-name
/// prefix, that prefix's.
#[derive(Debug, Clone, Copy)]
pub enum ChangeQueue<'a> {
    /// The changes to one model.
    Model(&'a ModelName),
    /// The changes to the policies of one prefix.
    Prefix(&'a ModelPrefix),
    /// The changes to webhook subscriptions.
    Webhooks,
}

impl ChangeQueue<'_> {
    /// The queue's key: a model's name, or a text no model name can be
    /// (a space is outside the alphabet).
    pub fn key(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Model(name) => name.as_str().into(),
            Self::Prefix(prefix) => format!("prefix {prefix}").into(),
            Self::Webhooks => "webhooks ".into(),
        }
    }
}

impl<'a> From<&'a ModelName> for ChangeQueue<'a> {
    fn from(name: &'a ModelName) -> Self {
        Self::Model(name)
    }
}

/// Whether `s` is 1..=`max_len` characters of `[a-z0-9._-]`, starting with
/// a letter or digit (the model name alphabet).
pub(crate) fn is_name_like(s: &str, max_len: usize) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max_len
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// How a request names one version.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum VersionRef {
    /// By the version's UUID.
    Id(String),
    /// By model name and version number.
    Number(ModelName, i64),
}

impl VersionRef {
    /// The model, when the reference names it.
    pub fn model_name(&self) -> Option<&ModelName> {
        match self {
            Self::Id(_) => None,
            Self::Number(name, _) => Some(name),
        }
    }
}

impl std::fmt::Display for VersionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "version id {id}"),
            Self::Number(name, version) => write!(f, "model {name:?} version {version}"),
        }
    }
}

/// Where a version's artifact lives.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Artifact {
    /// Location of the model file.
    pub uri: String,
    /// Location of the metadata file, or empty.
    pub metadata_uri: String,
    /// Lower-case hex SHA-256, or empty when unknown.
    pub sha256: String,
    /// Size in bytes, 0 when unknown.
    pub size_bytes: i64,
}

/// Facts about the training run that produced a version.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Training {
    /// When training started.
    pub started_at: Option<DateTime<Utc>>,
    /// When training finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Training wall time in seconds.
    pub duration_seconds: f64,
    /// Training sample count.
    pub train_samples: i64,
    /// Test sample count.
    pub test_samples: i64,
    /// Input feature count.
    pub feature_count: i64,
    /// Input feature names, in order.
    pub feature_names: Vec<String>,
    /// Location of the training dataset.
    pub dataset_uri: String,
    /// Version of the training code.
    pub code_version: String,
}

/// A validated registration: everything a new version is made of.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NewVersion {
    /// The model to register a version of.
    pub model_name: ModelName,
    /// Algorithm or model family.
    pub algorithm: String,
    /// Artifact location and checksum.
    pub artifact: Artifact,
    /// Metrics by name.
    pub metrics: BTreeMap<String, f64>,
    /// Hyperparameters.
    pub params: BTreeMap<String, String>,
    /// Labels.
    pub tags: BTreeMap<String, String>,
    /// Training facts.
    pub training: Training,
    /// Further metadata (a JSON object).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Description.
    pub description: String,
    /// The signature sent with it, verified (left out of the request's
    /// fingerprint when absent, as before signatures existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<super::signature::SignedRegistration>,
    /// Why an unsigned registration is refused (the trust file requires a
    /// signature), unless it is the retry of one that succeeded.
    #[serde(skip)]
    pub unsigned_refusal: Option<super::DomainError>,
}

impl NewVersion {
    /// The verified signature to store with the version (which, for a
    /// one-file artifact, must sign its registered sha256), or why the
    /// registration is refused. Asked only once a retry's replay is ruled
    /// out, so a retry answers what its first call did even when the trust
    /// file changed in between.
    pub fn checked_signature(
        &self,
    ) -> super::DomainResult<Option<&super::signature::VerifiedSignature>> {
        if let Some(refusal) = &self.unsigned_refusal {
            return Err(refusal.clone());
        }
        match &self.signature {
            None => Ok(None),
            Some(signed) => {
                let verified = signed.verified.as_ref().map_err(Clone::clone)?;
                verified.check_artifact("signature_bundle", &self.artifact)?;
                Ok(Some(verified))
            }
        }
    }

    /// Refuses with ALREADY_EXISTS a retry under `request_id` that would
    /// register something else than `earlier` did, naming what differs.
    /// Only what a registration fixes for good is compared (tags and the
    /// description may have changed since).
    pub fn check_same_registration_as(
        &self,
        earlier: &ModelVersion,
        request_id: &str,
    ) -> super::DomainResult<()> {
        let mut differing = Vec::new();
        if self.algorithm != earlier.algorithm {
            differing.push("algorithm");
        }
        if self.artifact != earlier.artifact {
            differing.push("artifact");
        }
        if self.metrics != earlier.metrics {
            differing.push("metrics");
        }
        if self.params != earlier.params {
            differing.push("params");
        }
        if self.training != earlier.training {
            differing.push("training");
        }
        if self.metadata != earlier.metadata {
            differing.push("metadata");
        }
        if differing.is_empty() {
            return Ok(());
        }
        Err(super::DomainError::AlreadyExists(format!(
            "request_id {request_id:?} was already used to register version {} of model {:?}, \
             which differs in {}; use a new request_id for a new registration",
            earlier.version,
            earlier.model_name.as_str(),
            differing.join(", ")
        )))
    }

    /// The version as it would be stored, for a validate-only registration:
    /// no id, version number 0, no aliases.
    pub fn preview(self, created_by: String, now: DateTime<Utc>) -> ModelVersion {
        ModelVersion {
            id: String::new(),
            model_name: self.model_name,
            version: 0,
            algorithm: self.algorithm,
            status: VersionStatus::Active,
            artifact: self.artifact,
            metrics: self.metrics,
            params: self.params,
            tags: self.tags,
            training: self.training,
            metadata: self.metadata,
            description: self.description,
            created_by,
            created_at: now,
            updated_at: now,
            signature: self
                .signature
                .and_then(|signed| signed.verified.ok())
                .map(|verified| verified.summary),
            aliases: Vec::new(),
        }
    }
}

/// A registered model version as callers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    /// UUIDv7 of the version.
    pub id: String,
    /// The model it belongs to.
    pub model_name: ModelName,
    /// Version number within the model.
    pub version: i64,
    /// Algorithm or model family.
    pub algorithm: String,
    /// Lifecycle status.
    pub status: VersionStatus,
    /// Artifact location and checksum.
    pub artifact: Artifact,
    /// Metrics by name.
    pub metrics: BTreeMap<String, f64>,
    /// Hyperparameters.
    pub params: BTreeMap<String, String>,
    /// Labels.
    pub tags: BTreeMap<String, String>,
    /// Training facts.
    pub training: Training,
    /// Further metadata (a JSON object).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Description.
    pub description: String,
    /// Identity of the registering caller.
    pub created_by: String,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Last change time.
    pub updated_at: DateTime<Utc>,
    /// Its verified signature, if one is attached.
    pub signature: Option<super::signature::SignatureSummary>,
    /// The aliases the version holds now, sorted.
    pub aliases: Vec<String>,
}

impl ModelVersion {
    /// Roughly the bytes it holds (its strings, maps and metadata), for the
    /// caches that bound their memory: versions range from a kilobyte to
    /// megabytes (thousands of feature names, 64 KiB of metadata).
    pub fn approximate_size(&self) -> usize {
        const ENTRY: usize = 48;
        let pairs = |map: &BTreeMap<String, String>| {
            map.iter()
                .map(|(key, value)| key.len() + value.len() + ENTRY)
                .sum::<usize>()
        };
        let training = &self.training;
        std::mem::size_of::<Self>()
            + self.id.len()
            + self.algorithm.len()
            + self.artifact.uri.len()
            + self.artifact.metadata_uri.len()
            + self.artifact.sha256.len()
            + self
                .metrics
                .keys()
                .map(|name| name.len() + ENTRY)
                .sum::<usize>()
            + pairs(&self.params)
            + pairs(&self.tags)
            + training
                .feature_names
                .iter()
                .map(|name| name.len() + ENTRY)
                .sum::<usize>()
            + training.dataset_uri.len()
            + training.code_version.len()
            + serde_json::to_string(&self.metadata).map_or(0, |json| json.len())
            + self.description.len()
            + self.created_by.len()
            + self.signature.as_ref().map_or(0, |s| {
                s.signer.len() + s.trusted_by.len() + s.signed_name.len() + 2 * ENTRY
            })
            + self
                .aliases
                .iter()
                .map(|alias| alias.len() + ENTRY)
                .sum::<usize>()
    }

    /// Whether it is its model's production version (holds `production`).
    pub fn is_production(&self) -> bool {
        self.aliases.iter().any(|a| a == AliasName::PRODUCTION)
    }
}

/// A registered model with its aliases.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The model's name.
    pub name: ModelName,
    /// Description of the model (the task).
    pub description: String,
    /// Labels of the model.
    pub tags: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change time.
    pub updated_at: DateTime<Utc>,
    /// Every alias and the version it points at.
    pub aliases: BTreeMap<String, i64>,
    /// The highest ACTIVE version (the alias `latest`).
    pub latest_version: Option<i64>,
    /// Number of versions (version numbers are gap-free, so also the highest).
    pub version_count: i64,
}

impl Model {
    /// The version the alias `production` points at.
    pub fn production_version(&self) -> Option<i64> {
        self.aliases.get(AliasName::PRODUCTION).copied()
    }
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique id; increasing within a model, and across models in the
    /// order the feed delivers (see [`Event::position`]).
    pub id: i64,
    /// The transaction that wrote it (see [`crate::domain::FeedPosition`]).
    pub tx: i64,
    /// When the change happened.
    pub occurred_at: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
    /// The model concerned; empty for an event of a prefix policy, which
    /// names `model_prefix` instead.
    pub model_name: ModelName,
    /// The model-name prefix a prefix policy's event is about.
    pub model_prefix: Option<ModelPrefix>,
    /// The version concerned.
    pub version: Option<i64>,
    /// The alias concerned (alias events).
    pub alias: Option<String>,
    /// The alias's version before an alias change.
    pub previous_version: Option<i64>,
    /// The alias's version after an alias change.
    pub new_version: Option<i64>,
    /// Status before a status change.
    pub previous_status: Option<VersionStatus>,
    /// Status after a status change or registration.
    pub new_status: Option<VersionStatus>,
    /// Who made the change.
    pub actor: String,
    /// Where the actor came from when an identity provider's token named
    /// it: "ISSUER SUBJECT".
    pub actor_source: Option<String>,
    /// Why.
    pub reason: String,
    /// The request that made the change (its server-assigned id).
    pub request_id: String,
    /// The caller's own correlation id, as given.
    pub correlation_id: Option<String>,
    /// An admin moved a protected alias past its policy (break-glass).
    pub emergency: bool,
    /// The change request the event is about, or whose approval made it.
    pub change_request_id: Option<i64>,
    /// For a policy set: the policy, as JSON (`{"revision", "rules"}`).
    pub detail: Option<String>,
    /// The webhook subscription a webhook's event is about (its
    /// `model_name` is then empty).
    pub webhook_id: Option<i64>,
}

impl Event {
    /// Where the event stands in the change feed.
    pub fn position(&self) -> crate::domain::FeedPosition {
        crate::domain::FeedPosition {
            tx: self.tx,
            id: self.id,
        }
    }
}
