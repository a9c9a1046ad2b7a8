//! Requests as domain commands and queries: one `TryFrom` per request
//! message, so each handler is a conversion, a store call and a reply, and
//! every input rule applied to a request is found next to its type.

use model_registry_api::v1 as pb;

use super::convert;
use crate::domain::alias::{AliasName, ExpectedCurrent, MetricGate};
use crate::domain::commands::{
    BestVersionQuery, ChangeStatus, DeleteAlias, EventQuery, ModelQuery, RollbackAlias, SetAlias,
    UpdateModel, UpdateVersion, VersionQuery,
};
use crate::domain::page::{self, EventCursor, ModelCursor, VersionCursor};
use crate::domain::{DomainError, DomainResult, ModelName, validate};

impl TryFrom<pb::SetModelAliasRequest> for SetAlias {
    type Error = DomainError;

    fn try_from(request: pb::SetModelAliasRequest) -> DomainResult<Self> {
        Ok(Self {
            model_name: ModelName::parse("model_name", &request.model_name)?,
            alias: AliasName::movable("alias", &request.alias)?,
            version: validate::version_number("version", request.version)?,
            reason: validate::reason(&request.reason)?,
            expected_current: expected_current(request.expected_current_version)?,
            gate: metric_gate(
                request.gate_metric,
                request.gate_min_delta,
                request.gate_lower_is_better,
            )?,
        })
    }
}

impl TryFrom<pb::SetProductionModelRequest> for SetAlias {
    type Error = DomainError;

    fn try_from(request: pb::SetProductionModelRequest) -> DomainResult<Self> {
        Self::try_from(pb::SetModelAliasRequest {
            model_name: request.model_name,
            alias: AliasName::PRODUCTION.to_owned(),
            version: request.version,
            reason: request.reason,
            expected_current_version: request.expected_current_version,
            gate_metric: request.gate_metric,
            gate_min_delta: request.gate_min_delta,
            gate_lower_is_better: request.gate_lower_is_better,
            request_id: request.request_id,
        })
    }
}

impl TryFrom<pb::DeleteModelAliasRequest> for DeleteAlias {
    type Error = DomainError;

    fn try_from(request: pb::DeleteModelAliasRequest) -> DomainResult<Self> {
        Ok(Self {
            model_name: ModelName::parse("model_name", &request.model_name)?,
            alias: AliasName::movable("alias", &request.alias)?,
            reason: validate::reason(&request.reason)?,
            expected_current: expected_current(request.expected_current_version)?,
        })
    }
}

impl TryFrom<pb::RollbackModelAliasRequest> for RollbackAlias {
    type Error = DomainError;

    fn try_from(request: pb::RollbackModelAliasRequest) -> DomainResult<Self> {
        Ok(Self {
            model_name: ModelName::parse("model_name", &request.model_name)?,
            alias: AliasName::movable("alias", &request.alias)?,
            reason: validate::reason(&request.reason)?,
            expected_current: expected_current(request.expected_current_version)?,
        })
    }
}

impl TryFrom<pb::RollbackProductionModelRequest> for RollbackAlias {
    type Error = DomainError;

    fn try_from(request: pb::RollbackProductionModelRequest) -> DomainResult<Self> {
        Self::try_from(pb::RollbackModelAliasRequest {
            model_name: request.model_name,
            alias: AliasName::PRODUCTION.to_owned(),
            reason: request.reason,
            expected_current_version: request.expected_current_version,
            request_id: request.request_id,
        })
    }
}

impl TryFrom<pb::UpdateModelRequest> for UpdateModel {
    type Error = DomainError;

    fn try_from(request: pb::UpdateModelRequest) -> DomainResult<Self> {
        let model_name = ModelName::parse("model_name", &request.model_name)?;
        if request.description.is_none()
            && request.tags.is_empty()
            && request.remove_tags.is_empty()
        {
            return Err(DomainError::invalid(
                "description",
                "nothing to update: set description, tags or remove_tags",
            ));
        }
        for key in &request.remove_tags {
            validate::tag_key("remove_tags", key)?;
        }
        Ok(Self {
            model_name,
            description: optional_description(request.description)?,
            set_tags: validate::validate_tags("tags", request.tags.into_iter().collect())?,
            remove_tags: request.remove_tags,
            reason: validate::optional_text("reason", &request.reason, validate::MAX_REASON_CHARS)?,
        })
    }
}

impl TryFrom<pb::UpdateModelVersionStatusRequest> for ChangeStatus {
    type Error = DomainError;

    fn try_from(request: pb::UpdateModelVersionStatusRequest) -> DomainResult<Self> {
        Ok(Self {
            target: convert::version_ref(request.id, &request.model_name, request.version)?,
            status: convert::target_status("status", request.status)?,
            reason: validate::reason(&request.reason)?,
        })
    }
}

impl TryFrom<pb::UpdateModelVersionRequest> for UpdateVersion {
    type Error = DomainError;

    fn try_from(request: pb::UpdateModelVersionRequest) -> DomainResult<Self> {
        if request.description.is_none()
            && request.set_tags.is_empty()
            && request.remove_tags.is_empty()
        {
            return Err(DomainError::invalid(
                "description",
                "nothing to update: set description, set_tags or remove_tags",
            ));
        }
        for key in &request.remove_tags {
            validate::tag_key("remove_tags", key)?;
        }
        Ok(Self {
            target: convert::version_ref(request.id, &request.model_name, request.version)?,
            description: optional_description(request.description)?,
            set_tags: validate::validate_tags("set_tags", request.set_tags.into_iter().collect())?,
            remove_tags: request.remove_tags,
            reason: validate::optional_text("reason", &request.reason, validate::MAX_REASON_CHARS)?,
        })
    }
}

impl TryFrom<pb::ListModelVersionsRequest> for VersionQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListModelVersionsRequest) -> DomainResult<Self> {
        let trained_after = convert::optional_time("trained_after", request.trained_after)?;
        let trained_before = convert::optional_time("trained_before", request.trained_before)?;
        validate::time_range(
            ("trained_after", "trained_before"),
            trained_after,
            trained_before,
        )?;
        Ok(Self {
            model_name: convert::optional_model_name(&request.model_name)?,
            statuses: convert::status_filter("statuses", request.statuses)?,
            algorithm: (!request.algorithm.is_empty()).then_some(request.algorithm),
            tags: validate::validate_tags("tags", request.tags.into_iter().collect())?,
            min_metrics: validate::validate_metrics(
                "min_metrics",
                request.min_metrics.into_iter().collect(),
            )?,
            trained_after,
            trained_before,
            holding_all: if request.production_only {
                vec![AliasName::production()]
            } else {
                Vec::new()
            },
            holding_any: held_alias_filter(&request.aliases)?,
            holding_some_alias: request.any_alias,
            order: convert::version_order(request.order_by, &request.order_metric)?,
            descending: request.descending,
            page_size: validate::page_size(request.page_size)?,
            after: page::decode::<VersionCursor>(&request.page_token)?,
        })
    }
}

impl TryFrom<pb::GetBestModelVersionRequest> for BestVersionQuery {
    type Error = DomainError;

    fn try_from(request: pb::GetBestModelVersionRequest) -> DomainResult<Self> {
        if request.metric.is_empty() {
            return Err(DomainError::invalid(
                "metric",
                "is required: name the metric to compare, e.g. auc",
            ));
        }
        validate::metric_name("metric", &request.metric)?;
        Ok(Self {
            model_name: ModelName::parse("model_name", &request.model_name)?,
            metric: request.metric,
            lowest: request.lowest,
            statuses: convert::status_filter("statuses", request.statuses)?,
        })
    }
}

impl TryFrom<pb::ListModelsRequest> for ModelQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListModelsRequest) -> DomainResult<Self> {
        if !request.name_prefix.is_empty() {
            // A prefix is a model name cut short, so the same alphabet applies.
            ModelName::parse("name_prefix", &request.name_prefix)?;
        }
        Ok(Self {
            name_prefix: request.name_prefix,
            page_size: validate::page_size(request.page_size)?,
            after: page::decode::<ModelCursor>(&request.page_token)?,
        })
    }
}

impl TryFrom<pb::ListEventsRequest> for EventQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListEventsRequest) -> DomainResult<Self> {
        let since = convert::optional_time("since", request.since)?;
        let until = convert::optional_time("until", request.until)?;
        validate::time_range(("since", "until"), since, until)?;
        let model_name = convert::optional_model_name(&request.model_name)?;
        if request.version.is_some() && model_name.is_none() {
            return Err(DomainError::invalid(
                "version",
                "needs model_name: versions are numbered per model",
            ));
        }
        Ok(Self {
            model_name,
            version: request
                .version
                .map(|v| validate::version_number("version", v))
                .transpose()?,
            kinds: convert::event_kind_filter(request.types)?,
            alias: if request.alias.is_empty() {
                None
            } else {
                Some(AliasName::movable("alias", &request.alias)?)
            },
            since,
            until,
            page_size: validate::page_size(request.page_size)?,
            after: page::decode::<EventCursor>(&request.page_token)?,
        })
    }
}

/// The aliases a version listing asks for; `latest` is computed, not held,
/// so it cannot be a filter.
fn held_alias_filter(names: &[String]) -> DomainResult<Vec<AliasName>> {
    names
        .iter()
        .map(|name| AliasName::movable("aliases", name))
        .collect()
}

fn optional_description(description: Option<String>) -> DomainResult<Option<String>> {
    description
        .map(|d| validate::optional_text("description", &d, validate::MAX_DESCRIPTION_CHARS))
        .transpose()
}

fn metric_gate(
    metric: String,
    min_delta: f64,
    lower_is_better: bool,
) -> DomainResult<Option<MetricGate>> {
    if metric.is_empty() {
        return Ok(None);
    }
    validate::metric_name("gate_metric", &metric)?;
    if !min_delta.is_finite() {
        return Err(DomainError::invalid(
            "gate_min_delta",
            "must be a finite number",
        ));
    }
    Ok(Some(MetricGate {
        metric,
        min_delta,
        lower_is_better,
    }))
}

/// `expected_current_version` on the wire: absent means no precondition,
/// 0 means "the alias does not exist", N means version N.
fn expected_current(value: Option<i64>) -> DomainResult<ExpectedCurrent> {
    match value {
        None => Ok(None),
        Some(0) => Ok(Some(None)),
        Some(v) if v > 0 => Ok(Some(Some(v))),
        Some(v) => Err(DomainError::invalid(
            "expected_current_version",
            format!("must be 0 (the alias does not exist) or a version number, got {v}"),
        )),
    }
}
