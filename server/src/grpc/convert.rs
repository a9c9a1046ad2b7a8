//! Conversions between wire messages and domain types. Inbound conversions
//! only reshape (times, enums, JSON); the rules live in `domain::validate`.

use chrono::{DateTime, Datelike, Utc};
use model_registry_api::json::{json_to_struct, struct_to_json};
use model_registry_api::v1 as pb;
use prost_types::Timestamp;

use crate::domain::commands::VersionView;
use crate::domain::governance::{
    AliasPolicy, ChangeRequest, Freeze, FreezeTarget, PolicyScope, RequestState,
};
use crate::domain::page::VersionOrder;
use crate::domain::signature::{SignatureMethod, SignatureSummary, SignedFile};
use crate::domain::validate::RegistrationInput;
use crate::domain::{
    Artifact, DomainError, DomainResult, Event, EventKind, Model, ModelName, ModelVersion,
    Training, VersionRef, VersionStatus, time, validate,
};

/// A request's registration fields, reshaped for validation.
pub fn registration(request: pb::RegisterModelRequest) -> DomainResult<RegistrationInput> {
    // Field by field (no `..`): a field added to the message is a compile
    // error here until it is used or set aside with its reason.
    let pb::RegisterModelRequest {
        model_name,
        algorithm,
        artifact,
        metrics,
        params,
        tags,
        training,
        metadata,
        description,
        // The idempotency key: the handler reads it before converting.
        request_id: _,
        // The handler reads it: it decides whether anything is written.
        validate_only: _,
        // The handler verifies it against the trust file.
        signature_bundle: _,
    } = request;
    let training = training.map(training_from_wire).transpose()?;
    Ok(RegistrationInput {
        model_name,
        algorithm,
        artifact: artifact.map(artifact_from_wire),
        metrics: metrics.into_iter().collect(),
        params: params.into_iter().collect(),
        tags: tags.into_iter().collect(),
        training,
        metadata: metadata
            .map(metadata_from_wire)
            .transpose()?
            .unwrap_or_default(),
        description,
    })
}

fn artifact_from_wire(artifact: pb::Artifact) -> Artifact {
    let pb::Artifact {
        uri,
        metadata_uri,
        sha256,
        size_bytes,
    } = artifact;
    Artifact {
        uri,
        metadata_uri,
        sha256,
        size_bytes,
    }
}

/// A registration's metadata as the JSON object stored.
fn metadata_from_wire(
    metadata: prost_types::Struct,
) -> DomainResult<serde_json::Map<String, serde_json::Value>> {
    struct_to_json(&metadata).map_err(|error| DomainError::invalid("metadata", error.to_string()))
}

fn training_from_wire(training: pb::TrainingInfo) -> DomainResult<Training> {
    let pb::TrainingInfo {
        started_at,
        finished_at,
        duration_seconds,
        train_samples,
        test_samples,
        feature_count,
        feature_names,
        dataset_uri,
        code_version,
    } = training;
    Ok(Training {
        started_at: optional_time("training.started_at", started_at)?,
        finished_at: optional_time("training.finished_at", finished_at)?,
        duration_seconds,
        train_samples,
        test_samples,
        feature_count,
        feature_names,
        dataset_uri,
        code_version,
    })
}

/// A version addressed by `id`, or by `model_name` and `version`.
pub fn version_ref(id: String, model_name: &str, version: i64) -> DomainResult<VersionRef> {
    if !id.is_empty() {
        if !model_name.is_empty() || version != 0 {
            return Err(DomainError::invalid(
                "id",
                "give either id, or model_name and version, not both",
            ));
        }
        return Ok(VersionRef::Id(validate::optional_text("id", &id, 64)?));
    }
    if model_name.is_empty() {
        return Err(DomainError::invalid(
            "model_name",
            "is required (or give the version's id instead)",
        ));
    }
    Ok(VersionRef::Number(
        ModelName::parse("model_name", model_name)?,
        validate::version_number("version", version)?,
    ))
}

/// An optional model name filter: empty means "every model".
pub fn optional_model_name(name: &str) -> DomainResult<Option<ModelName>> {
    if name.is_empty() {
        Ok(None)
    } else {
        ModelName::parse("model_name", name).map(Some)
    }
}

/// A status to change to; UNSPECIFIED is refused.
pub fn target_status(field: &str, value: i32) -> DomainResult<VersionStatus> {
    status_from_wire(field, value)?
        .ok_or_else(|| DomainError::invalid(field, "is required: ACTIVE, DEPRECATED or ARCHIVED"))
}

/// A status filter; UNSPECIFIED entries mean "no filter" and are dropped.
pub fn status_filter(field: &str, values: Vec<i32>) -> DomainResult<Vec<VersionStatus>> {
    let mut statuses = Vec::new();
    for value in values {
        if let Some(status) = status_from_wire(field, value)? {
            statuses.push(status);
        }
    }
    Ok(statuses)
}

fn status_from_wire(field: &str, value: i32) -> DomainResult<Option<VersionStatus>> {
    match pb::ModelStatus::try_from(value) {
        Ok(pb::ModelStatus::Unspecified) => Ok(None),
        Ok(pb::ModelStatus::Active) => Ok(Some(VersionStatus::Active)),
        Ok(pb::ModelStatus::Deprecated) => Ok(Some(VersionStatus::Deprecated)),
        Ok(pb::ModelStatus::Archived) => Ok(Some(VersionStatus::Archived)),
        Err(_) => Err(DomainError::invalid(
            field,
            format!("{value} is not a ModelStatus"),
        )),
    }
}

fn status_to_wire(status: VersionStatus) -> pb::ModelStatus {
    match status {
        VersionStatus::Active => pb::ModelStatus::Active,
        VersionStatus::Deprecated => pb::ModelStatus::Deprecated,
        VersionStatus::Archived => pb::ModelStatus::Archived,
    }
}

/// An event type filter; UNSPECIFIED entries are dropped.
pub fn event_kind_filter(values: Vec<i32>) -> DomainResult<Vec<EventKind>> {
    let mut kinds = Vec::new();
    for value in values {
        let kind = match pb::EventType::try_from(value) {
            Ok(pb::EventType::Unspecified) => continue,
            Ok(pb::EventType::ModelCreated) => EventKind::ModelCreated,
            Ok(pb::EventType::ModelUpdated) => EventKind::ModelUpdated,
            Ok(pb::EventType::VersionRegistered) => EventKind::VersionRegistered,
            Ok(pb::EventType::VersionUpdated) => EventKind::VersionUpdated,
            Ok(pb::EventType::StatusChanged) => EventKind::StatusChanged,
            Ok(pb::EventType::AliasSet) => EventKind::AliasSet,
            Ok(pb::EventType::AliasDeleted) => EventKind::AliasDeleted,
            Ok(pb::EventType::AliasRolledBack) => EventKind::AliasRolledBack,
            Ok(pb::EventType::AliasPolicySet) => EventKind::AliasPolicySet,
            Ok(pb::EventType::AliasPolicyDeleted) => EventKind::AliasPolicyDeleted,
            Ok(pb::EventType::ChangeRequested) => EventKind::ChangeRequested,
            Ok(pb::EventType::ChangeApproved) => EventKind::ChangeApproved,
            Ok(pb::EventType::ChangeRejected) => EventKind::ChangeRejected,
            Ok(pb::EventType::ChangeCancelled) => EventKind::ChangeCancelled,
            Ok(pb::EventType::ChangeFailed) => EventKind::ChangeFailed,
            Ok(pb::EventType::AliasFrozen) => EventKind::AliasFrozen,
            Ok(pb::EventType::AliasUnfrozen) => EventKind::AliasUnfrozen,
            Ok(pb::EventType::VersionFrozen) => EventKind::VersionFrozen,
            Ok(pb::EventType::VersionUnfrozen) => EventKind::VersionUnfrozen,
            Ok(pb::EventType::WebhookCreated) => EventKind::WebhookCreated,
            Ok(pb::EventType::WebhookDeleted) => EventKind::WebhookDeleted,
            Ok(pb::EventType::WebhookResumed) => EventKind::WebhookResumed,
            Ok(pb::EventType::WebhookUpdated) => EventKind::WebhookUpdated,
            Ok(pb::EventType::WebhookSecretRotated) => EventKind::WebhookSecretRotated,
            Ok(pb::EventType::WebhookReplayed) => EventKind::WebhookReplayed,
            Ok(pb::EventType::SignatureAttached) => EventKind::SignatureAttached,
            Err(_) => {
                return Err(DomainError::invalid(
                    "types",
                    format!("{value} is not an EventType"),
                ));
            }
        };
        kinds.push(kind);
    }
    Ok(kinds)
}

pub fn event_kind_to_wire(kind: EventKind) -> pb::EventType {
    match kind {
        EventKind::ModelCreated => pb::EventType::ModelCreated,
        EventKind::ModelUpdated => pb::EventType::ModelUpdated,
        EventKind::VersionRegistered => pb::EventType::VersionRegistered,
        EventKind::VersionUpdated => pb::EventType::VersionUpdated,
        EventKind::StatusChanged => pb::EventType::StatusChanged,
        EventKind::AliasSet => pb::EventType::AliasSet,
        EventKind::AliasDeleted => pb::EventType::AliasDeleted,
        EventKind::AliasRolledBack => pb::EventType::AliasRolledBack,
        EventKind::AliasPolicySet => pb::EventType::AliasPolicySet,
        EventKind::AliasPolicyDeleted => pb::EventType::AliasPolicyDeleted,
        EventKind::ChangeRequested => pb::EventType::ChangeRequested,
        EventKind::ChangeApproved => pb::EventType::ChangeApproved,
        EventKind::ChangeRejected => pb::EventType::ChangeRejected,
        EventKind::ChangeCancelled => pb::EventType::ChangeCancelled,
        EventKind::ChangeFailed => pb::EventType::ChangeFailed,
        EventKind::AliasFrozen => pb::EventType::AliasFrozen,
        EventKind::AliasUnfrozen => pb::EventType::AliasUnfrozen,
        EventKind::VersionFrozen => pb::EventType::VersionFrozen,
        EventKind::VersionUnfrozen => pb::EventType::VersionUnfrozen,
        EventKind::WebhookCreated => pb::EventType::WebhookCreated,
        EventKind::WebhookDeleted => pb::EventType::WebhookDeleted,
        EventKind::WebhookResumed => pb::EventType::WebhookResumed,
        EventKind::WebhookUpdated => pb::EventType::WebhookUpdated,
        EventKind::WebhookSecretRotated => pb::EventType::WebhookSecretRotated,
        EventKind::WebhookReplayed => pb::EventType::WebhookReplayed,
        EventKind::SignatureAttached => pb::EventType::SignatureAttached,
    }
}

/// The ordering of a version listing.
pub fn version_order(order_by: i32, order_metric: &str) -> DomainResult<VersionOrder> {
    let order = match pb::VersionOrder::try_from(order_by) {
        Ok(pb::VersionOrder::Unspecified | pb::VersionOrder::Version) => VersionOrder::Version,
        Ok(pb::VersionOrder::TrainedAt) => VersionOrder::TrainedAt,
        Ok(pb::VersionOrder::CreatedAt) => VersionOrder::CreatedAt,
        Ok(pb::VersionOrder::Metric) => {
            if order_metric.is_empty() {
                return Err(DomainError::invalid(
                    "order_metric",
                    "is required with VERSION_ORDER_METRIC: name the metric to order by",
                ));
            }
            validate::metric_name("order_metric", order_metric)?;
            return Ok(VersionOrder::Metric(order_metric.to_owned()));
        }
        Err(_) => {
            return Err(DomainError::invalid(
                "order_by",
                format!("{order_by} is not a VersionOrder"),
            ));
        }
    };
    if !order_metric.is_empty() {
        return Err(DomainError::invalid(
            "order_metric",
            "is only used with order_by VERSION_ORDER_METRIC",
        ));
    }
    Ok(order)
}

/// An optional time; an out-of-range timestamp names its field.
pub fn optional_time(field: &str, value: Option<Timestamp>) -> DomainResult<Option<DateTime<Utc>>> {
    value
        .map(|ts| {
            u32::try_from(ts.nanos)
                .ok()
                .filter(|&nanos| nanos < 1_000_000_000)
                .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
                // Both databases store years 1 to 9999 without surprises.
                .filter(|t| (1..=9999).contains(&t.year()))
                .map(time::truncate_to_micros)
                .ok_or_else(|| {
                    DomainError::invalid(
                        field,
                        format!("{}s {}ns is not a valid timestamp", ts.seconds, ts.nanos),
                    )
                })
        })
        .transpose()
}

/// A time on the wire.
pub fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A version on the wire.
pub fn version_to_wire(version: ModelVersion) -> pb::ModelVersion {
    let is_production = version.is_production();
    let training = version.training;
    pb::ModelVersion {
        id: version.id,
        model_name: version.model_name.as_str().to_owned(),
        version: version.version,
        algorithm: version.algorithm,
        status: status_to_wire(version.status) as i32,
        is_production,
        artifact: Some(pb::Artifact {
            uri: version.artifact.uri,
            metadata_uri: version.artifact.metadata_uri,
            sha256: version.artifact.sha256,
            size_bytes: version.artifact.size_bytes,
        }),
        metrics: version.metrics.into_iter().collect(),
        params: version.params.into_iter().collect(),
        tags: version.tags.into_iter().collect(),
        training: Some(pb::TrainingInfo {
            started_at: training.started_at.map(timestamp),
            finished_at: training.finished_at.map(timestamp),
            duration_seconds: training.duration_seconds,
            train_samples: training.train_samples,
            test_samples: training.test_samples,
            feature_count: training.feature_count,
            feature_names: training.feature_names,
            dataset_uri: training.dataset_uri,
            code_version: training.code_version,
        }),
        metadata: Some(json_to_struct(version.metadata)),
        description: version.description,
        created_by: version.created_by,
        created_at: Some(timestamp(version.created_at)),
        updated_at: Some(timestamp(version.updated_at)),
        aliases: version.aliases,
        signature: version.signature.map(signature_to_wire),
    }
}

/// A version's signature summary on the wire.
fn signature_to_wire(summary: SignatureSummary) -> pb::VersionSignature {
    pb::VersionSignature {
        status: pb::SignatureStatus::Verified as i32,
        method: match summary.method {
            SignatureMethod::Key => pb::SignatureMethod::Key,
            SignatureMethod::Certificate => pb::SignatureMethod::Certificate,
        } as i32,
        signer: summary.signer,
        trusted_by: summary.trusted_by,
        verified_at: Some(timestamp(summary.verified_at)),
        file_count: i64::try_from(summary.file_count).unwrap_or(i64::MAX),
        manifest_sha256: summary.manifest_sha256,
        signed_name: summary.signed_name,
    }
}

/// A signed file on the wire.
pub fn signed_file_to_wire(file: SignedFile) -> pb::SignedFile {
    pb::SignedFile {
        name: file.name,
        sha256: file.sha256,
    }
}

/// The view a listing asks for (BASIC when unspecified).
pub fn version_view(value: i32) -> DomainResult<VersionView> {
    match pb::VersionView::try_from(value) {
        Ok(pb::VersionView::Unspecified | pb::VersionView::Basic) => Ok(VersionView::Basic),
        Ok(pb::VersionView::Full) => Ok(VersionView::Full),
        Err(_) => Err(DomainError::invalid(
            "view",
            format!("{value} is not a VersionView: use BASIC or FULL"),
        )),
    }
}

/// A version on the wire, as much of it as `view` asks for (the store
/// did not read the rest; here the empty parts become absent).
pub fn version_in_view(version: ModelVersion, view: VersionView) -> pb::ModelVersion {
    let mut wire = version_to_wire(version);
    if view == VersionView::Basic {
        wire.params.clear();
        wire.metadata = None;
        if let Some(training) = wire.training.as_mut() {
            training.feature_names.clear();
        }
    }
    wire
}

/// A model on the wire.
pub fn model_to_wire(model: Model) -> pb::Model {
    pb::Model {
        production_version: model.production_version(),
        name: model.name.as_str().to_owned(),
        created_at: Some(timestamp(model.created_at)),
        updated_at: Some(timestamp(model.updated_at)),
        version_count: model.version_count,
        aliases: model.aliases.into_iter().collect(),
        description: model.description,
        tags: model.tags.into_iter().collect(),
        latest_version: model.latest_version,
    }
}

/// An event on the wire.
pub fn event_to_wire(event: Event) -> pb::Event {
    let status =
        |s: Option<VersionStatus>| s.map_or(pb::ModelStatus::Unspecified, status_to_wire) as i32;
    pb::Event {
        id: event.id,
        occurred_at: Some(timestamp(event.occurred_at)),
        r#type: event_kind_to_wire(event.kind) as i32,
        model_name: event.model_name.as_str().to_owned(),
        version: event.version,
        alias: event.alias.unwrap_or_default(),
        previous_version: event.previous_version,
        new_version: event.new_version,
        previous_status: status(event.previous_status),
        new_status: status(event.new_status),
        actor: event.actor,
        actor_source: event.actor_source.unwrap_or_default(),
        reason: event.reason,
        request_id: event.request_id,
        correlation_id: event.correlation_id.unwrap_or_default(),
        emergency: event.emergency,
        change_request_id: event.change_request_id,
        detail: event.detail.unwrap_or_default(),
        model_prefix: event
            .model_prefix
            .map(|prefix| prefix.as_str().to_owned())
            .unwrap_or_default(),
        webhook_id: event.webhook_id,
    }
}

/// An alias's policy on the wire.
pub fn policy_to_wire(policy: AliasPolicy) -> pb::AliasPolicy {
    let rules = policy.rules;
    let (gate_metric, gate_min_delta, gate_lower_is_better) = match rules.gate {
        Some(gate) => (gate.metric, gate.min_delta, gate.lower_is_better),
        None => (String::new(), 0.0, false),
    };
    let (soak_alias, min_soak_seconds) = match rules.soak {
        Some(soak) => (soak.alias.as_str().to_owned(), soak.seconds),
        None => (String::new(), 0),
    };
    let (model_name, model_prefix) = match policy.scope {
        PolicyScope::Model(name) => (name.as_str().to_owned(), String::new()),
        PolicyScope::Prefix { prefix } => (String::new(), prefix.as_str().to_owned()),
    };
    pb::AliasPolicy {
        model_name,
        model_prefix,
        alias: policy.alias.as_str().to_owned(),
        protected: rules.protected,
        required_approvals: i32::try_from(rules.required_approvals).unwrap_or(i32::MAX),
        approver_role: rules.approver_role.as_str().to_owned(),
        request_ttl_seconds: rules.request_ttl_seconds,
        gate_metric,
        gate_min_delta,
        gate_lower_is_better,
        soak_alias,
        min_soak_seconds,
        rollback_requires_approval: rules.rollback_requires_approval,
        require_signature: rules.require_signature,
        revision: policy.revision,
        updated_by: policy.updated_by,
        updated_at: Some(timestamp(policy.updated_at)),
    }
}

/// A freeze on the wire.
pub fn freeze_to_wire(freeze: Freeze) -> pb::Freeze {
    let (alias, version) = match freeze.target {
        FreezeTarget::Alias(alias) => (alias.as_str().to_owned(), 0),
        FreezeTarget::Version(version) => (String::new(), version),
    };
    pb::Freeze {
        model_name: freeze.model_name.as_str().to_owned(),
        alias,
        version,
        reason: freeze.reason,
        frozen_by: freeze.frozen_by,
        frozen_at: Some(timestamp(freeze.frozen_at)),
        expires_at: freeze.expires_at.map(timestamp),
    }
}

/// A change request state filter (UNSPECIFIED: any).
pub fn request_state_filter(value: i32) -> DomainResult<Option<RequestState>> {
    Ok(match pb::ChangeRequestState::try_from(value) {
        Ok(pb::ChangeRequestState::Unspecified) => None,
        Ok(pb::ChangeRequestState::Pending) => Some(RequestState::Pending),
        Ok(pb::ChangeRequestState::Applied) => Some(RequestState::Applied),
        Ok(pb::ChangeRequestState::Rejected) => Some(RequestState::Rejected),
        Ok(pb::ChangeRequestState::Cancelled) => Some(RequestState::Cancelled),
        Ok(pb::ChangeRequestState::Expired) => Some(RequestState::Expired),
        Ok(pb::ChangeRequestState::Failed) => Some(RequestState::Failed),
        Err(_) => {
            return Err(DomainError::invalid(
                "state",
                format!("{value} is not a ChangeRequestState"),
            ));
        }
    })
}

/// A change request's state on the wire.
pub fn request_state_to_wire(state: RequestState) -> pb::ChangeRequestState {
    match state {
        RequestState::Pending => pb::ChangeRequestState::Pending,
        RequestState::Applied => pb::ChangeRequestState::Applied,
        RequestState::Rejected => pb::ChangeRequestState::Rejected,
        RequestState::Cancelled => pb::ChangeRequestState::Cancelled,
        RequestState::Expired => pb::ChangeRequestState::Expired,
        RequestState::Failed => pb::ChangeRequestState::Failed,
    }
}

/// A change request on the wire.
pub fn request_to_wire(request: ChangeRequest) -> pb::AliasChangeRequest {
    pb::AliasChangeRequest {
        id: request.id,
        model_name: request.model_name.as_str().to_owned(),
        alias: request.alias.as_str().to_owned(),
        version: request.version,
        from_version: request.from_version,
        reason: request.reason,
        requester: request.requester,
        state: request_state_to_wire(request.state) as i32,
        required_approvals: i32::try_from(request.required_approvals).unwrap_or(i32::MAX),
        approvals: request
            .approvals
            .into_iter()
            .map(|approval| pb::Approval {
                principal: approval.principal,
                comment: approval.comment,
                approved_at: Some(timestamp(approval.at)),
            })
            .collect(),
        created_at: Some(timestamp(request.created_at)),
        expires_at: Some(timestamp(request.expires_at)),
        decided_at: request.decided_at.map(timestamp),
        decided_by: request.decided_by.unwrap_or_default(),
        decision_note: request.decision_note,
    }
}

/// A change's consistency token as the wire carries it (empty: none).
pub fn token_to_wire(token: Option<crate::domain::ConsistencyToken>) -> String {
    token.map(|token| token.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Whatever a caller puts in a registration, converting and
        /// validating it never panics, and a refusal names only fields of
        /// the request.
        #[test]
        fn any_registration_is_validated_or_refused_naming_its_fields(
            model_name in "\\PC{0,40}|[a-z][a-z0-9._-]{0,20}",
            algorithm in "\\PC{0,20}",
            uri in "\\PC{0,40}|s3://[a-z]{1,10}/[a-z]{1,10}",
            sha256 in "[0-9a-f]{0,70}|\\PC{0,10}",
            size_bytes in proptest::num::i64::ANY,
            metrics in proptest::collection::hash_map("\\PC{0,12}", proptest::num::f64::ANY, 0..6),
            tags in proptest::collection::hash_map("\\PC{0,12}", "\\PC{0,12}", 0..6),
            duration_seconds in proptest::num::f64::ANY,
            train_samples in proptest::num::i64::ANY,
            feature_names in proptest::collection::vec("\\PC{0,12}", 0..6),
            started in proptest::option::of((proptest::num::i64::ANY, proptest::num::i32::ANY)),
        ) {
            let request = pb::RegisterModelRequest {
                model_name,
                algorithm,
                artifact: Some(pb::Artifact {
                    uri,
                    sha256,
                    size_bytes,
                    ..Default::default()
                }),
                metrics: metrics.into_iter().collect(),
                tags: tags.into_iter().collect(),
                training: Some(pb::TrainingInfo {
                    started_at: started.map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
                    duration_seconds,
                    train_samples,
                    feature_names,
                    ..Default::default()
                }),
                ..Default::default()
            };
            let known = [
                "model_name", "algorithm", "artifact", "metrics", "params", "tags", "training",
                "metadata", "description",
            ];
            if let Err(error) = registration(request).and_then(|input| input.validate()) {
                let fields = error.invalid_fields();
                proptest::prop_assert!(!fields.is_empty(), "{error}");
                for field in fields {
                    proptest::prop_assert!(
                        known.iter().any(|k| field.starts_with(k)),
                        "{field} is not a field of the request: {error}"
                    );
                }
            }
        }
    }

    #[test]
    fn non_finite_numbers_in_metadata_are_refused_naming_the_field() {
        let value = prost_types::Struct {
            fields: std::collections::BTreeMap::from([(
                "x".to_owned(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::NumberValue(f64::NAN)),
                },
            )]),
        };
        assert!(matches!(
            metadata_from_wire(value),
            Err(error) if error.invalid_fields() == ["metadata"]
        ));
    }

    #[test]
    fn invalid_timestamps_name_their_field() {
        for (seconds, nanos) in [(0, -1), (0, 1_000_000_000), (400_000_000_000, 0)] {
            let bad = Timestamp { seconds, nanos };
            assert!(matches!(
                optional_time("as_of", Some(bad)),
                Err(error) if error.invalid_fields() == ["as_of"]
            ));
        }
    }

    #[test]
    fn a_version_is_named_by_id_or_by_name_and_number_not_both() {
        assert!(version_ref("abc".into(), "", 0).is_ok());
        assert!(version_ref(String::new(), "churn", 2).is_ok());
        assert!(version_ref("abc".into(), "churn", 2).is_err());
        assert!(version_ref(String::new(), "churn", 0).is_err());
        assert!(version_ref(String::new(), "", 2).is_err());
    }
}
