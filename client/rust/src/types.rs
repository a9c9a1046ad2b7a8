//! What the client's calls return: the registry's records as documented
//! types of this crate. Each wraps the generated message it came from:
//! accessors give typed views (statuses as enums, times as `SystemTime`, a
//! training fact the job did not report as `None` rather than zero, the
//! artifact without an `Option` around it, since the server always sends
//! one), and `raw()` / `into_raw()` reach the message itself, e.g. for
//! [`crate::json::to_json`] or for a field a newer server adds.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use model_registry_api::json::{self, JsonError};
use model_registry_api::v1 as pb;

/// A version's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelStatus {
    /// Usable: may hold aliases, appears in listings by default.
    Active,
    /// Kept for reference; may not hold an alias.
    Deprecated,
    /// Retired for good (may be reinstated by an admin).
    Archived,
    /// A status this client does not know yet (a newer server), by number.
    Unknown(i32),
}

impl ModelStatus {
    /// The status's name as the API spells it, without the prefix
    /// (`ACTIVE`); `UNKNOWN` for a status this client does not know.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Deprecated => "DEPRECATED",
            Self::Archived => "ARCHIVED",
            Self::Unknown(_) => "UNKNOWN",
        }
    }

    /// The status as sent on the wire.
    pub fn to_proto(self) -> i32 {
        match self {
            Self::Active => pb::ModelStatus::Active as i32,
            Self::Deprecated => pb::ModelStatus::Deprecated as i32,
            Self::Archived => pb::ModelStatus::Archived as i32,
            Self::Unknown(number) => number,
        }
    }

    /// The status a wire value names; `None` for "unspecified" (0).
    pub fn from_proto(value: i32) -> Option<Self> {
        match pb::ModelStatus::try_from(value) {
            Ok(pb::ModelStatus::Unspecified) => None,
            Ok(pb::ModelStatus::Active) => Some(Self::Active),
            Ok(pb::ModelStatus::Deprecated) => Some(Self::Deprecated),
            Ok(pb::ModelStatus::Archived) => Some(Self::Archived),
            Err(_) => Some(Self::Unknown(value)),
        }
    }
}

impl std::fmt::Display for ModelStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(number) => write!(f, "UNKNOWN({number})"),
            known => f.write_str(known.as_str()),
        }
    }
}

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// A model's first version was registered.
    ModelCreated,
    /// A model's description or tags changed.
    ModelUpdated,
    /// A version was registered.
    VersionRegistered,
    /// A version's description or tags changed.
    VersionUpdated,
    /// A version's status changed.
    StatusChanged,
    /// An alias (`production` included) was set or moved.
    AliasSet,
    /// An alias was deleted.
    AliasDeleted,
    /// An alias was rolled back to the version it held before.
    AliasRolledBack,
    /// An alias's policy was set (`detail` holds it).
    AliasPolicySet,
    /// An alias's policy was removed.
    AliasPolicyDeleted,
    /// A change request was made.
    ChangeRequested,
    /// A change request was approved.
    ChangeApproved,
    /// A change request was rejected.
    ChangeRejected,
    /// A change request was withdrawn.
    ChangeCancelled,
    /// A change request could not be applied.
    ChangeFailed,
    /// An alias was frozen.
    AliasFrozen,
    /// An alias was unfrozen.
    AliasUnfrozen,
    /// A version was frozen.
    VersionFrozen,
    /// A version was unfrozen.
    VersionUnfrozen,
    /// A webhook subscription was created.
    WebhookCreated,
    /// A webhook subscription was deleted.
    WebhookDeleted,
    /// A failing webhook subscription was resumed.
    WebhookResumed,
    /// A webhook subscription's destination or filters changed.
    WebhookUpdated,
    /// A webhook subscription's signing secret was rotated.
    WebhookSecretRotated,
    /// A webhook subscription was sent a range of events again.
    WebhookReplayed,
    /// A verified model signature was attached to a version.
    SignatureAttached,
    /// An event type this client does not know yet, by number.
    Unknown(i32),
}

impl EventType {
    /// The type's name as the API spells it, without the prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ModelCreated => "MODEL_CREATED",
            Self::ModelUpdated => "MODEL_UPDATED",
            Self::VersionRegistered => "VERSION_REGISTERED",
            Self::VersionUpdated => "VERSION_UPDATED",
            Self::StatusChanged => "STATUS_CHANGED",
            Self::AliasSet => "ALIAS_SET",
            Self::AliasDeleted => "ALIAS_DELETED",
            Self::AliasRolledBack => "ALIAS_ROLLED_BACK",
            Self::AliasPolicySet => "ALIAS_POLICY_SET",
            Self::AliasPolicyDeleted => "ALIAS_POLICY_DELETED",
            Self::ChangeRequested => "CHANGE_REQUESTED",
            Self::ChangeApproved => "CHANGE_APPROVED",
            Self::ChangeRejected => "CHANGE_REJECTED",
            Self::ChangeCancelled => "CHANGE_CANCELLED",
            Self::ChangeFailed => "CHANGE_FAILED",
            Self::AliasFrozen => "ALIAS_FROZEN",
            Self::AliasUnfrozen => "ALIAS_UNFROZEN",
            Self::VersionFrozen => "VERSION_FROZEN",
            Self::VersionUnfrozen => "VERSION_UNFROZEN",
            Self::WebhookCreated => "WEBHOOK_CREATED",
            Self::WebhookDeleted => "WEBHOOK_DELETED",
            Self::WebhookResumed => "WEBHOOK_RESUMED",
            Self::WebhookUpdated => "WEBHOOK_UPDATED",
            Self::WebhookSecretRotated => "WEBHOOK_SECRET_ROTATED",
            Self::WebhookReplayed => "WEBHOOK_REPLAYED",
            Self::SignatureAttached => "SIGNATURE_ATTACHED",
            Self::Unknown(_) => "UNKNOWN",
        }
    }

    /// The type as sent on the wire.
    pub fn to_proto(self) -> i32 {
        use pb::EventType as E;
        match self {
            Self::ModelCreated => E::ModelCreated as i32,
            Self::ModelUpdated => E::ModelUpdated as i32,
            Self::VersionRegistered => E::VersionRegistered as i32,
            Self::VersionUpdated => E::VersionUpdated as i32,
            Self::StatusChanged => E::StatusChanged as i32,
            Self::AliasSet => E::AliasSet as i32,
            Self::AliasDeleted => E::AliasDeleted as i32,
            Self::AliasRolledBack => E::AliasRolledBack as i32,
            Self::AliasPolicySet => E::AliasPolicySet as i32,
            Self::AliasPolicyDeleted => E::AliasPolicyDeleted as i32,
            Self::ChangeRequested => E::ChangeRequested as i32,
            Self::ChangeApproved => E::ChangeApproved as i32,
            Self::ChangeRejected => E::ChangeRejected as i32,
            Self::ChangeCancelled => E::ChangeCancelled as i32,
            Self::ChangeFailed => E::ChangeFailed as i32,
            Self::AliasFrozen => E::AliasFrozen as i32,
            Self::AliasUnfrozen => E::AliasUnfrozen as i32,
            Self::VersionFrozen => E::VersionFrozen as i32,
            Self::VersionUnfrozen => E::VersionUnfrozen as i32,
            Self::WebhookCreated => E::WebhookCreated as i32,
            Self::WebhookDeleted => E::WebhookDeleted as i32,
            Self::WebhookResumed => E::WebhookResumed as i32,
            Self::WebhookUpdated => E::WebhookUpdated as i32,
            Self::WebhookSecretRotated => E::WebhookSecretRotated as i32,
            Self::WebhookReplayed => E::WebhookReplayed as i32,
            Self::SignatureAttached => E::SignatureAttached as i32,
            Self::Unknown(number) => number,
        }
    }

    /// The type a wire value names ([`EventType::Unknown`] for one this
    /// client does not know).
    pub fn from_proto(value: i32) -> Self {
        use pb::EventType as E;
        match E::try_from(value) {
            Ok(E::ModelCreated) => Self::ModelCreated,
            Ok(E::ModelUpdated) => Self::ModelUpdated,
            Ok(E::VersionRegistered) => Self::VersionRegistered,
            Ok(E::VersionUpdated) => Self::VersionUpdated,
            Ok(E::StatusChanged) => Self::StatusChanged,
            Ok(E::AliasSet) => Self::AliasSet,
            Ok(E::AliasDeleted) => Self::AliasDeleted,
            Ok(E::AliasRolledBack) => Self::AliasRolledBack,
            Ok(E::AliasPolicySet) => Self::AliasPolicySet,
            Ok(E::AliasPolicyDeleted) => Self::AliasPolicyDeleted,
            Ok(E::ChangeRequested) => Self::ChangeRequested,
            Ok(E::ChangeApproved) => Self::ChangeApproved,
            Ok(E::ChangeRejected) => Self::ChangeRejected,
            Ok(E::ChangeCancelled) => Self::ChangeCancelled,
            Ok(E::ChangeFailed) => Self::ChangeFailed,
            Ok(E::AliasFrozen) => Self::AliasFrozen,
            Ok(E::AliasUnfrozen) => Self::AliasUnfrozen,
            Ok(E::VersionFrozen) => Self::VersionFrozen,
            Ok(E::VersionUnfrozen) => Self::VersionUnfrozen,
            Ok(E::WebhookCreated) => Self::WebhookCreated,
            Ok(E::WebhookDeleted) => Self::WebhookDeleted,
            Ok(E::WebhookResumed) => Self::WebhookResumed,
            Ok(E::WebhookUpdated) => Self::WebhookUpdated,
            Ok(E::WebhookSecretRotated) => Self::WebhookSecretRotated,
            Ok(E::WebhookReplayed) => Self::WebhookReplayed,
            Ok(E::SignatureAttached) => Self::SignatureAttached,
            Ok(E::Unspecified) | Err(_) => Self::Unknown(value),
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(number) => write!(f, "UNKNOWN({number})"),
            known => f.write_str(known.as_str()),
        }
    }
}

/// Where a change request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChangeRequestState {
    /// Waiting for approvals.
    Pending,
    /// Approved, and the alias moved.
    Applied,
    /// Rejected.
    Rejected,
    /// Withdrawn.
    Cancelled,
    /// Not decided in time.
    Expired,
    /// Approved, but the move could not be made.
    Failed,
    /// A state this client does not know yet, by number.
    Unknown(i32),
}

impl ChangeRequestState {
    /// The state's name as the API spells it, without the prefix.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Applied => "APPLIED",
            Self::Rejected => "REJECTED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
            Self::Failed => "FAILED",
            Self::Unknown(_) => "UNKNOWN",
        }
    }

    /// The state as sent on the wire.
    pub fn to_proto(self) -> i32 {
        use pb::ChangeRequestState as S;
        match self {
            Self::Pending => S::Pending as i32,
            Self::Applied => S::Applied as i32,
            Self::Rejected => S::Rejected as i32,
            Self::Cancelled => S::Cancelled as i32,
            Self::Expired => S::Expired as i32,
            Self::Failed => S::Failed as i32,
            Self::Unknown(number) => number,
        }
    }

    fn from_proto(value: i32) -> Self {
        use pb::ChangeRequestState as S;
        match S::try_from(value) {
            Ok(S::Pending) => Self::Pending,
            Ok(S::Applied) => Self::Applied,
            Ok(S::Rejected) => Self::Rejected,
            Ok(S::Cancelled) => Self::Cancelled,
            Ok(S::Expired) => Self::Expired,
            Ok(S::Failed) => Self::Failed,
            Ok(S::Unspecified) | Err(_) => Self::Unknown(value),
        }
    }
}

impl std::fmt::Display for ChangeRequestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown(number) => write!(f, "UNKNOWN({number})"),
            known => f.write_str(known.as_str()),
        }
    }
}

/// Shared by every record: the wrapped message and the ways to reach it.
macro_rules! record {
    ($(#[$doc:meta])* $name:ident wraps $message:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name($message);

        impl $name {
            /// The generated message this record wraps.
            pub fn raw(&self) -> &$message {
                &self.0
            }

            /// The generated message, by value.
            pub fn into_raw(self) -> $message {
                self.0
            }

            /// The record in the canonical protobuf JSON mapping (what
            /// grpcurl prints).
            pub fn to_json(&self) -> Result<serde_json::Value, JsonError> {
                json::to_json(&self.0)
            }
        }

        impl From<$message> for $name {
            fn from(message: $message) -> Self {
                Self(message)
            }
        }

        impl From<$name> for $message {
            fn from(record: $name) -> Self {
                record.0
            }
        }
    };
}

record! {
    /// One registered version of a model.
    ModelVersion wraps pb::ModelVersion
}

record! {
    /// A request to point an alias at a version, and its approvals.
    ChangeRequest wraps pb::AliasChangeRequest
}

impl ChangeRequest {
    /// The request's number.
    pub fn id(&self) -> i64 {
        self.0.id
    }

    /// Where it stands.
    pub fn state(&self) -> ChangeRequestState {
        ChangeRequestState::from_proto(self.0.state)
    }

    /// The model.
    pub fn model_name(&self) -> &str {
        &self.0.model_name
    }

    /// The alias to move.
    pub fn alias(&self) -> &str {
        &self.0.alias
    }

    /// The version it is to point at.
    pub fn version(&self) -> i64 {
        self.0.version
    }

    /// Who asked.
    pub fn requester(&self) -> &str {
        &self.0.requester
    }

    /// Who approved so far, in order.
    pub fn approvers(&self) -> Vec<&str> {
        self.0
            .approvals
            .iter()
            .map(|a| a.principal.as_str())
            .collect()
    }

    /// The rejection's or cancellation's comment, or why it failed.
    pub fn decision_note(&self) -> &str {
        &self.0.decision_note
    }
}

/// The artifact of a version the server sent none for (it always does).
static NO_ARTIFACT: pb::Artifact = pb::Artifact {
    uri: String::new(),
    metadata_uri: String::new(),
    sha256: String::new(),
    size_bytes: 0,
};

/// Training facts a version was registered without.
static NO_TRAINING: pb::TrainingInfo = pb::TrainingInfo {
    started_at: None,
    finished_at: None,
    duration_seconds: 0.0,
    train_samples: 0,
    test_samples: 0,
    feature_count: 0,
    feature_names: Vec::new(),
    dataset_uri: String::new(),
    code_version: String::new(),
};

impl ModelVersion {
    /// The version's id (a UUID), stable across renames of nothing.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The model it belongs to.
    pub fn model_name(&self) -> &str {
        &self.0.model_name
    }

    /// Its number within the model (1, 2, …).
    pub fn version(&self) -> i64 {
        self.0.version
    }

    /// The algorithm, as the training job named it.
    pub fn algorithm(&self) -> &str {
        &self.0.algorithm
    }

    /// Its lifecycle status.
    pub fn status(&self) -> ModelStatus {
        ModelStatus::from_proto(self.0.status).unwrap_or(ModelStatus::Unknown(0))
    }

    /// Its verified signature, in brief, if one is attached
    /// ([`RegistryClient::version_signature`] has the files and the bundle).
    ///
    /// [`RegistryClient::version_signature`]: crate::RegistryClient::version_signature
    pub fn signature(&self) -> Option<&pb::VersionSignature> {
        self.0.signature.as_ref()
    }

    /// The aliases pointing at it, sorted (`production`, `canary` …).
    pub fn aliases(&self) -> &[String] {
        &self.0.aliases
    }

    /// Whether it holds `production`.
    pub fn is_production(&self) -> bool {
        self.0.is_production
    }

    /// Where its artifact lives, with checksum and size when registered.
    pub fn artifact(&self) -> &pb::Artifact {
        self.0.artifact.as_ref().unwrap_or(&NO_ARTIFACT)
    }

    /// One metric's value.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.0.metrics.get(name).copied()
    }

    /// Every metric.
    pub fn metrics(&self) -> &HashMap<String, f64> {
        &self.0.metrics
    }

    /// Training hyper-parameters.
    pub fn params(&self) -> &HashMap<String, String> {
        &self.0.params
    }

    /// Free-form tags.
    pub fn tags(&self) -> &HashMap<String, String> {
        &self.0.tags
    }

    /// What the training job reported about itself.
    pub fn training(&self) -> Training<'_> {
        Training(self.0.training.as_ref().unwrap_or(&NO_TRAINING))
    }

    /// Further metadata, a JSON object (empty when none was registered).
    pub fn metadata(&self) -> Result<serde_json::Map<String, serde_json::Value>, JsonError> {
        self.0
            .metadata
            .as_ref()
            .map_or_else(|| Ok(serde_json::Map::new()), json::struct_to_json)
    }

    /// Its description.
    pub fn description(&self) -> &str {
        &self.0.description
    }

    /// The principal that registered it.
    pub fn created_by(&self) -> &str {
        &self.0.created_by
    }

    /// When it was registered.
    pub fn created_at(&self) -> Option<SystemTime> {
        time(self.0.created_at.as_ref())
    }

    /// When its status, description or tags last changed.
    pub fn updated_at(&self) -> Option<SystemTime> {
        time(self.0.updated_at.as_ref())
    }
}

/// A version's training facts; each is `None` when the job did not report
/// it (the wire's zero means "unknown", never "zero samples").
#[derive(Debug, Clone, Copy)]
pub struct Training<'a>(&'a pb::TrainingInfo);

impl Training<'_> {
    /// When training started.
    pub fn started_at(&self) -> Option<SystemTime> {
        time(self.0.started_at.as_ref())
    }

    /// When training finished.
    pub fn finished_at(&self) -> Option<SystemTime> {
        time(self.0.finished_at.as_ref())
    }

    /// How long it trained (reported, or derived from start and finish).
    pub fn duration(&self) -> Option<Duration> {
        Duration::try_from_secs_f64(self.0.duration_seconds)
            .ok()
            .filter(|d| !d.is_zero())
    }

    /// Rows it trained on.
    pub fn train_samples(&self) -> Option<i64> {
        positive(self.0.train_samples)
    }

    /// Rows it was evaluated on.
    pub fn test_samples(&self) -> Option<i64> {
        positive(self.0.test_samples)
    }

    /// How many features it uses (the count of names when only they were
    /// reported).
    pub fn feature_count(&self) -> Option<i64> {
        positive(self.0.feature_count)
            .or_else(|| positive(i64::try_from(self.0.feature_names.len()).unwrap_or(0)))
    }

    /// The features' names, when reported.
    pub fn feature_names(&self) -> &[String] {
        &self.0.feature_names
    }

    /// The training data's location.
    pub fn dataset_uri(&self) -> Option<&str> {
        Some(self.0.dataset_uri.as_str()).filter(|s| !s.is_empty())
    }

    /// The training code's version (e.g. a commit).
    pub fn code_version(&self) -> Option<&str> {
        Some(self.0.code_version.as_str()).filter(|s| !s.is_empty())
    }
}

record! {
    /// A model: its name, metadata, aliases and version count.
    Model wraps pb::Model
}

impl Model {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Its description.
    pub fn description(&self) -> &str {
        &self.0.description
    }

    /// Its tags.
    pub fn tags(&self) -> &HashMap<String, String> {
        &self.0.tags
    }

    /// How many versions it has.
    pub fn version_count(&self) -> i64 {
        self.0.version_count
    }

    /// The version `production` points at.
    pub fn production_version(&self) -> Option<i64> {
        self.0.production_version
    }

    /// The highest ACTIVE version (what `latest` resolves to).
    pub fn latest_version(&self) -> Option<i64> {
        self.0.latest_version
    }

    /// Every alias with the version it points at.
    pub fn aliases(&self) -> &HashMap<String, i64> {
        &self.0.aliases
    }

    /// The version `alias` points at.
    pub fn alias(&self, alias: &str) -> Option<i64> {
        self.0.aliases.get(alias).copied()
    }

    /// When its first version was registered.
    pub fn created_at(&self) -> Option<SystemTime> {
        time(self.0.created_at.as_ref())
    }

    /// When it or any of its versions or aliases last changed.
    pub fn updated_at(&self) -> Option<SystemTime> {
        time(self.0.updated_at.as_ref())
    }
}

record! {
    /// One entry of the audit trail.
    Event wraps pb::Event
}

impl Event {
    /// Its id: increasing, so "after event N" is a position in the trail.
    pub fn id(&self) -> i64 {
        self.0.id
    }

    /// When it happened (the database's clock).
    pub fn occurred_at(&self) -> Option<SystemTime> {
        time(self.0.occurred_at.as_ref())
    }

    /// What happened.
    pub fn event_type(&self) -> EventType {
        EventType::from_proto(self.0.r#type)
    }

    /// The model it concerns.
    pub fn model_name(&self) -> &str {
        &self.0.model_name
    }

    /// The version it concerns, if one.
    pub fn version(&self) -> Option<i64> {
        self.0.version
    }

    /// The alias that moved, for alias events.
    pub fn alias(&self) -> Option<&str> {
        Some(self.0.alias.as_str()).filter(|a| !a.is_empty())
    }

    /// Where the alias pointed before (alias events).
    pub fn previous_version(&self) -> Option<i64> {
        self.0.previous_version
    }

    /// Where the alias points after (alias events; `None` once deleted).
    pub fn new_version(&self) -> Option<i64> {
        self.0.new_version
    }

    /// The status before (status changes).
    pub fn previous_status(&self) -> Option<ModelStatus> {
        ModelStatus::from_proto(self.0.previous_status)
    }

    /// The status after (status changes).
    pub fn new_status(&self) -> Option<ModelStatus> {
        ModelStatus::from_proto(self.0.new_status)
    }

    /// The principal that made the change.
    pub fn actor(&self) -> &str {
        &self.0.actor
    }

    /// Why, as the caller said.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// The change's request id (its idempotency key).
    pub fn request_id(&self) -> &str {
        &self.0.request_id
    }
}

record! {
    /// One message of an alias watch: the alias's state on connecting, then
    /// each change.
    AliasUpdate wraps pb::AliasUpdate
}

impl AliasUpdate {
    /// The model watched.
    pub fn model_name(&self) -> &str {
        &self.0.model_name
    }

    /// The alias watched.
    pub fn alias(&self) -> &str {
        &self.0.alias
    }

    /// The version the alias points at now (`None`: it points nowhere).
    pub fn model_version(&self) -> Option<ModelVersion> {
        self.0.model_version.clone().map(ModelVersion)
    }

    /// Its number, without the rest of the version.
    pub fn version(&self) -> Option<i64> {
        self.0.model_version.as_ref().map(|v| v.version)
    }

    /// The event this update reflects: resume after it to miss nothing.
    pub fn event_id(&self) -> i64 {
        self.0.event_id
    }

    /// The change itself (who, why); `None` for the initial state and after
    /// skipped changes.
    pub fn event(&self) -> Option<Event> {
        self.0.event.clone().map(Event)
    }

    /// True for the first update of a watch: the state, not a change.
    pub fn is_initial(&self) -> bool {
        self.0.initial
    }

    /// True when changes were skipped (the watcher fell behind) and this is
    /// the alias's current state.
    pub fn skipped_changes(&self) -> bool {
        self.0.skipped_changes
    }
}

/// What an alias move did: the version the alias now points at, where it
/// pointed before, and whether the call changed anything.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasMove {
    /// The version the alias points at now.
    pub version: ModelVersion,
    /// The version it pointed at before (`None`: the alias is new).
    pub previous_version: Option<i64>,
    /// True when the alias already pointed there (nothing was written).
    pub unchanged: bool,
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasRollback {
    /// The version the alias points at again.
    pub version: ModelVersion,
    /// The version it was moved away from.
    pub rolled_back_version: i64,
}

/// The best version by a metric, and that metric's value.
#[derive(Debug, Clone, PartialEq)]
pub struct BestVersion {
    /// The winning version.
    pub version: ModelVersion,
    /// Its value of the metric.
    pub value: f64,
}

/// One page of a listing and the token for the next (`None` on the last).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The page's items, in the listing's order.
    pub items: Vec<T>,
    /// Pass to the same listing's `.page_token(…)` for the next page.
    pub next_page_token: Option<String>,
}

fn time(timestamp: Option<&prost_types::Timestamp>) -> Option<SystemTime> {
    timestamp.and_then(|t| SystemTime::try_from(*t).ok())
}

fn positive(count: i64) -> Option<i64> {
    (count > 0).then_some(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_kept_not_refused() {
        let version = ModelVersion::from(pb::ModelVersion {
            status: 42,
            ..Default::default()
        });
        assert_eq!(version.status(), ModelStatus::Unknown(42));
        assert_eq!(version.status().to_string(), "UNKNOWN(42)");
        let event = Event::from(pb::Event {
            r#type: 99,
            ..Default::default()
        });
        assert_eq!(event.event_type(), EventType::Unknown(99));
        assert_eq!(event.event_type().to_proto(), 99);
    }

    #[test]
    fn unreported_training_facts_are_none_not_zero() {
        let bare = ModelVersion::from(pb::ModelVersion::default());
        let training = bare.training();
        assert_eq!(training.train_samples(), None);
        assert_eq!(training.duration(), None);
        assert_eq!(training.started_at(), None);
        assert_eq!(training.dataset_uri(), None);
        assert_eq!(bare.artifact().uri, "");
        let named = ModelVersion::from(pb::ModelVersion {
            training: Some(pb::TrainingInfo {
                feature_names: vec!["tenure".into(), "plan".into()],
                duration_seconds: 1.5,
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(named.training().feature_count(), Some(2));
        assert_eq!(
            named.training().duration(),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn statuses_round_trip_through_the_wire() {
        for status in [
            ModelStatus::Active,
            ModelStatus::Deprecated,
            ModelStatus::Archived,
            ModelStatus::Unknown(7),
        ] {
            assert_eq!(ModelStatus::from_proto(status.to_proto()), Some(status));
        }
        assert_eq!(ModelStatus::from_proto(0), None);
    }
}
