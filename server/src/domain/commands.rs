//! Validated commands and queries: what each operation needs, in domain
//! terms, once the request has passed every input rule.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::error::{DomainError, DomainResult};
use super::event::EventKind;
use super::page::{EventCursor, ModelCursor, VersionCursor, VersionOrder};
use super::production::{ExpectedCurrent, MetricGate};
use super::status::VersionStatus;
use super::types::{ModelName, ModelVersion, VersionRef};
use super::validate::MAX_TAGS;

/// Who makes a change, and in which request: the actor and request id of
/// every event, and `created_by` of a registered version. Taken from the
/// request context (authentication, `x-request-id`), never from its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The authenticated identity, `anonymous` without authentication.
    pub identity: String,
    /// The request id the change is recorded under.
    pub request_id: String,
}

/// Make a version production.
#[derive(Debug, Clone, PartialEq)]
pub struct SetProduction {
    /// The model.
    pub model_name: ModelName,
    /// The version to promote.
    pub version: i64,
    /// Why.
    pub reason: String,
    /// Compare-and-set precondition.
    pub expected_current: ExpectedCurrent,
    /// Optional metric gate.
    pub gate: Option<MetricGate>,
}

/// Return production to the previous production version.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    /// The model.
    pub model_name: ModelName,
    /// Why.
    pub reason: String,
    /// Compare-and-set precondition.
    pub expected_current: ExpectedCurrent,
}

/// Change a version's status.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeStatus {
    /// The version.
    pub target: VersionRef,
    /// The new status.
    pub status: VersionStatus,
    /// Why.
    pub reason: String,
}

/// Change a version's description and tags.
#[derive(Debug, Clone, PartialEq)]
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
    /// The tags after applying this update to `tags`: removals first, then
    /// additions, within the tag limit.
    pub fn apply_to_tags(
        &self,
        mut tags: BTreeMap<String, String>,
    ) -> DomainResult<BTreeMap<String, String>> {
        for key in &self.remove_tags {
            tags.remove(key);
        }
        tags.extend(self.set_tags.clone());
        if tags.len() > MAX_TAGS {
            return Err(DomainError::invalid(
                "set_tags",
                format!(
                    "the version would have {} tags; at most {MAX_TAGS} are allowed",
                    tags.len()
                ),
            ));
        }
        Ok(tags)
    }
}

/// Filters, ordering and page of a version listing.
#[derive(Debug, Clone, PartialEq)]
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
    /// Only production versions.
    pub production_only: bool,
    /// Ordering key.
    pub order: VersionOrder,
    /// Largest first.
    pub descending: bool,
    /// Page size.
    pub page_size: usize,
    /// Where this page starts.
    pub after: Option<VersionCursor>,
}

/// The best version by a metric.
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct ModelQuery {
    /// Only names with this prefix.
    pub name_prefix: String,
    /// Page size.
    pub page_size: usize,
    /// Where this page starts.
    pub after: Option<ModelCursor>,
}

/// An event listing.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    /// Only this model.
    pub model_name: Option<ModelName>,
    /// Only this version.
    pub version: Option<i64>,
    /// Only these kinds (empty: all).
    pub kinds: Vec<EventKind>,
    /// Only at or after.
    pub since: Option<DateTime<Utc>>,
    /// Only before.
    pub until: Option<DateTime<Utc>>,
    /// Page size.
    pub page_size: usize,
    /// Where this page starts.
    pub after: Option<EventCursor>,
}

/// The outcome of a production change.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductionChanged {
    /// The version now in production.
    pub version: ModelVersion,
    /// The version in production before, if any.
    pub previous: Option<i64>,
    /// True when the requested version already was production.
    pub unchanged: bool,
}
