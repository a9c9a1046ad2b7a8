//! Validated commands and queries: what each operation needs, in domain
//! terms, once the request has passed every input rule.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use super::access::Caller;
use super::alias::{AliasName, ExpectedCurrent, MetricGate};
use super::error::{DomainError, DomainResult};
use super::event::EventKind;
use super::governance::{FreezeTarget, PolicyRules, PolicyScope, RequestState};
use super::page::{
    EventCursor, ModelCursor, PolicyCursor, RequestCursor, VersionCursor, VersionOrder,
};
use super::status::VersionStatus;
use super::types::{ModelName, ModelVersion, VersionRef};
use super::validate::MAX_TAGS;

/// Point an alias at a version (`SetModelAlias`, `SetProductionModel`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SetAlias {
    /// The model.
    pub model_name: ModelName,
    /// The alias (never `latest`).
    pub alias: AliasName,
    /// The version the alias is to point at.
    pub version: i64,
    /// Why.
    pub reason: String,
    /// Compare-and-set precondition.
    #[serde(serialize_with = "super::alias::fingerprint_expected_current")]
    pub expected_current: ExpectedCurrent,
    /// Break-glass: an admin moves a protected alias past its policy.
    pub emergency: bool,
    /// Optional metric gate.
    pub gate: Option<MetricGate>,
}

/// Remove an alias.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeleteAlias {
    /// The model.
    pub model_name: ModelName,
    /// The alias (never `latest`).
    pub alias: AliasName,
    /// Why.
    pub reason: String,
    /// Compare-and-set precondition.
    #[serde(serialize_with = "super::alias::fingerprint_expected_current")]
    pub expected_current: ExpectedCurrent,
    /// Break-glass: an admin moves a protected alias past its policy.
    pub emergency: bool,
}

/// Return an alias to the version it held before
/// (`RollbackModelAlias`, `RollbackProductionModel`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RollbackAlias {
    /// The model.
    pub model_name: ModelName,
    /// The alias (never `latest`).
    pub alias: AliasName,
    /// Why.
    pub reason: String,
    /// Compare-and-set precondition.
    #[serde(serialize_with = "super::alias::fingerprint_expected_current")]
    pub expected_current: ExpectedCurrent,
    /// Break-glass: an admin moves a protected alias past its policy.
    pub emergency: bool,
}

/// Change a model's description and tags.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UpdateModel {
    /// The model.
    pub model_name: ModelName,
    /// The new description, if it changes.
    pub description: Option<String>,
    /// Tags to add or overwrite.
    pub set_tags: BTreeMap<String, String>,
    /// Tag keys to remove.
    pub remove_tags: Vec<String>,
    /// Why (may be empty).
    pub reason: String,
}

impl UpdateModel {
    /// The tags after applying this update to `tags`.
    pub fn apply_to_tags(
        &self,
        tags: BTreeMap<String, String>,
    ) -> DomainResult<BTreeMap<String, String>> {
        apply_tag_changes("tags", tags, &self.set_tags, &self.remove_tags)
    }
}

/// Change a version's status.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChangeStatus {
    /// The version.
    pub target: VersionRef,
    /// The new status.
    pub status: VersionStatus,
    /// Why.
    pub reason: String,
}

/// Attach a verified model signature to a version.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttachSignature {
    /// The version.
    pub target: VersionRef,
    /// SHA-256 of the bundle as sent: what a retry of the request must
    /// repeat (the verification itself is redone, at another time).
    pub bundle_sha256: String,
    /// Why (may be empty).
    pub reason: String,
    /// What verifying the bundle found, or why it failed (which refuses
    /// the request unless it is the retry of one that succeeded).
    #[serde(skip)]
    pub verified: super::DomainResult<super::signature::VerifiedSignature>,
}

/// Change a version's description and tags.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UpdateVersion {
    /// The version.
    pub target: VersionRef,
    /// The new description, if it changes.
    pub description: Option<String>,
    /// Tags to add or overwrite.
    pub set_tags: BTreeMap<String, String>,
    /// Tag keys to remove.
    pub remove_tags: Vec<String>,
    /// Why (may be empty).
    pub reason: String,
}

impl UpdateVersion {
    /// The tags after applying this update to `tags`.
    pub fn apply_to_tags(
        &self,
        tags: BTreeMap<String, String>,
    ) -> DomainResult<BTreeMap<String, String>> {
        apply_tag_changes("set_tags", tags, &self.set_tags, &self.remove_tags)
    }
}

/// Tags after removing `remove` and then setting `set`, within the tag limit.
fn apply_tag_changes(
    field: &str,
    mut tags: BTreeMap<String, String>,
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> DomainResult<BTreeMap<String, String>> {
    for key in remove {
        tags.remove(key);
    }
    tags.extend(set.clone());
    if tags.len() > MAX_TAGS {
        return Err(DomainError::invalid(
            field,
            format!(
                "there would be {} tags; at most {MAX_TAGS} are allowed",
                tags.len()
            ),
        ));
    }
    Ok(tags)
}

/// Filters, ordering and page of a version listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VersionQuery {
    /// Only this model.
    pub model_name: Option<ModelName>,
    /// Only these statuses (empty: all).
    pub statuses: Vec<VersionStatus>,
    /// Only this algorithm.
    pub algorithm: Option<String>,
    /// Only versions with all these tags.
    pub tags: BTreeMap<String, String>,
    /// Only versions with at least these metric values.
    pub min_metrics: BTreeMap<String, f64>,
    /// Only versions trained at or after.
    pub trained_after: Option<DateTime<Utc>>,
    /// Only versions trained before.
    pub trained_before: Option<DateTime<Utc>>,
    /// Only versions holding every one of these aliases (`production_only`).
    pub holding_all: Vec<AliasName>,
    /// Only versions holding at least one of these aliases.
    pub holding_any: Vec<AliasName>,
    /// Only versions holding at least one alias.
    pub holding_some_alias: bool,
    /// Ordering key.
    pub order: VersionOrder,
    /// Largest first.
    pub descending: bool,
    /// How much of each version to read (not part of the query a page
    /// token is bound to: a caller may page on in another view).
    #[serde(skip)]
    pub view: VersionView,
    /// Page size (not part of the query a page token is bound to).
    #[serde(skip)]
    pub page_size: usize,
    /// Where this page starts.
    #[serde(skip)]
    pub after: Option<VersionCursor>,
}

/// How much of a version a listing reads and returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VersionView {
    /// Everything but the bulky parts: params, metadata and feature names
    /// are left empty (they are what makes a version megabytes).
    #[default]
    Basic,
    /// Everything.
    Full,
}

/// The best version by a metric.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BestVersionQuery {
    /// The model.
    pub model_name: ModelName,
    /// The metric.
    pub metric: String,
    /// Lowest instead of highest.
    pub lowest: bool,
    /// Statuses considered.
    pub statuses: Vec<VersionStatus>,
}

/// A model listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelQuery {
    /// Only names with this prefix.
    pub name_prefix: String,
    /// Page size (not part of the query a page token is bound to).
    #[serde(skip)]
    pub page_size: usize,
    /// Where this page starts.
    #[serde(skip)]
    pub after: Option<ModelCursor>,
}

/// An event listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EventQuery {
    /// Only this model.
    pub model_name: Option<ModelName>,
    /// Only this version.
    pub version: Option<i64>,
    /// Only these kinds (empty: all).
    pub kinds: Vec<EventKind>,
    /// Only events about this alias.
    pub alias: Option<AliasName>,
    /// Only changes made by this principal.
    pub actor: Option<String>,
    /// Newest first (the console's trail) instead of oldest first.
    pub newest_first: bool,
    /// Only at or after.
    pub since: Option<DateTime<Utc>>,
    /// Only before.
    pub until: Option<DateTime<Utc>>,
    /// Page size (not part of the query a page token is bound to).
    #[serde(skip)]
    pub page_size: usize,
    /// Where this page starts.
    #[serde(skip)]
    pub after: Option<EventCursor>,
}

/// A listing of change requests, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RequestQuery {
    /// Only this model.
    pub model_name: Option<ModelName>,
    /// Only this alias.
    pub alias: Option<AliasName>,
    /// Only requests in this state.
    pub state: Option<RequestState>,
    /// Only requests made by this principal.
    pub requester: Option<String>,
    /// Page size (not part of the query a page token is bound to).
    #[serde(skip)]
    pub page_size: usize,
    /// Where this page starts.
    #[serde(skip)]
    pub after: Option<RequestCursor>,
}

/// A listing of alias policies, by model name (or prefix) and alias.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PolicyQuery {
    /// Only this model's: its own policies and those it inherits.
    pub model_name: Option<ModelName>,
    /// The policies set on prefixes instead of models' own.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub prefixes: bool,
    /// Page size (not part of the query a page token is bound to).
    #[serde(skip)]
    pub page_size: usize,
    /// Where this page starts.
    #[serde(skip)]
    pub after: Option<PolicyCursor>,
}

/// Sets an alias's policy (a new revision).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SetPolicy {
    /// The model, or the prefix of a family of models.
    #[serde(rename = "model_name")]
    pub scope: PolicyScope,
    /// The alias.
    pub alias: AliasName,
    /// The rules.
    pub rules: PolicyRules,
    /// Why, for the trail.
    pub reason: String,
}

/// Removes an alias's policy.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeletePolicy {
    /// The model, or the prefix of a family of models.
    #[serde(rename = "model_name")]
    pub scope: PolicyScope,
    /// The alias.
    pub alias: AliasName,
    /// Why, for the trail.
    pub reason: String,
}

/// Asks for an alias to be pointed at a version.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RequestMove {
    /// The model.
    pub model_name: ModelName,
    /// The alias.
    pub alias: AliasName,
    /// The version it is to point at.
    pub version: i64,
    /// Why.
    pub reason: String,
    /// Compare-and-set at request time, as `SetAlias::expected_current`.
    #[serde(serialize_with = "crate::domain::alias::fingerprint_expected_current")]
    pub expected_current: ExpectedCurrent,
}

/// Freezes an alias or a version.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FreezeCommand {
    /// The model.
    pub model_name: ModelName,
    /// What to hold still.
    pub target: FreezeTarget,
    /// Why.
    pub reason: String,
    /// How long (`None`: until unfrozen); aliases only.
    pub duration_seconds: Option<i64>,
}

/// Ends a freeze.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UnfreezeCommand {
    /// The model.
    pub model_name: ModelName,
    /// What to release.
    pub target: FreezeTarget,
    /// Why.
    pub reason: String,
}

/// Approves, rejects or cancels a change request.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DecideRequest {
    /// The request.
    pub id: i64,
    /// What the decider says.
    pub comment: String,
}

impl DecideRequest {
    /// A change request's number and a decider's comment (`required`: a
    /// rejection must say why).
    pub fn parse(id: i64, comment: &str, required: bool) -> DomainResult<Self> {
        let mut v = super::Violations::default();
        if id <= 0 {
            v.add("id", "must be a change request's number (1 or more)");
        }
        let comment = v.check(if required {
            super::validate::required_text("comment", comment, super::validate::MAX_REASON_CHARS)
        } else {
            super::validate::optional_text("comment", comment, super::validate::MAX_REASON_CHARS)
        });
        let Some(comment) = comment else {
            return Err(v.into_error());
        };
        v.finish()?;
        Ok(Self { id, comment })
    }
}

/// The outcome of an alias move or rollback.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasMoved {
    /// The version the alias points at now.
    pub version: ModelVersion,
    /// The version it pointed at before, if any.
    pub previous: Option<i64>,
    /// True when the alias already pointed at the version.
    pub unchanged: bool,
}

/// What a change returns, with the token that names it for reads through
/// any replica (none on SQLite, or when nothing was written).
#[derive(Debug, Clone)]
pub struct Committed<T> {
    /// The change's answer.
    pub value: T,
    /// Its consistency token.
    pub token: Option<crate::domain::ConsistencyToken>,
}

/// A change's answer reads as the answer itself; the token rides along.
impl<T> std::ops::Deref for Committed<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// Subscribes a receiver to the trail's events (see `CreateWebhook`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CreateWebhook {
    /// Where to POST (checked by the destination rules).
    pub url: String,
    /// What it is for.
    pub description: String,
    /// Which events.
    pub filter: crate::domain::webhook::WebhookFilter,
    /// Whether a failing event holds up the ones after it.
    pub ordered: bool,
}

/// Replaces a subscription's settings (see `UpdateWebhook`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UpdateWebhook {
    /// The subscription.
    pub id: i64,
    /// Its new settings.
    pub settings: CreateWebhook,
}

/// Gives a subscription a new secret (see `RotateWebhookSecret`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RotateWebhookSecret {
    /// The subscription.
    pub id: i64,
    /// How long the current secret keeps signing.
    pub overlap_seconds: i64,
}

/// Where a replay starts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum ReplayFrom {
    /// At this event.
    Event(i64),
    /// At the first event at or after this time.
    Since(DateTime<Utc>),
}

/// Sends a range of events again (see `ReplayWebhook`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReplayWebhook {
    /// The subscription.
    pub id: i64,
    /// Where the range starts.
    pub from: ReplayFrom,
}

/// Resumes a failing subscription (see `ResumeWebhook`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ResumeWebhook {
    /// The subscription.
    pub id: i64,
    /// Skip the event it failed on.
    pub skip_failed_event: bool,
}
