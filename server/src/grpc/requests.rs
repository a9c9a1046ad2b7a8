//! Requests as domain commands and queries: one `TryFrom` per request
//! message, so each handler is a conversion, a store call and a reply, and
//! every input rule applied to a request is found next to its type. Each
//! conversion checks every field and names all the invalid ones at once.
//! Each destructures its message field by field (no `..`): a field added to
//! the proto is a compile error here until it is used or set aside (`_`)
//! with the reason.

use model_registry_api::v1 as pb;

use super::convert;
use super::request_fields::{
    at_most, expected_current, held_alias_filter, metric_gate, optional_description,
    optional_filter_text, tag_keys,
};
use crate::domain::alias::{AliasName, ExpectedCurrent};
use crate::domain::commands::{
    BestVersionQuery, ChangeStatus, DeleteAlias, EventQuery, ModelQuery, RollbackAlias, SetAlias,
    UpdateModel, UpdateVersion, VersionQuery,
};
use crate::domain::{DomainError, DomainResult, ModelName, Violations, validate};

/// Most entries of each listing filter (tags, metric minimums, aliases,
/// statuses, event types): every entry is a join or a subquery.
pub const MAX_FILTER_ENTRIES: usize = 16;

impl TryFrom<pb::SetModelAliasRequest> for SetAlias {
    type Error = DomainError;

    fn try_from(request: pb::SetModelAliasRequest) -> DomainResult<Self> {
        let pb::SetModelAliasRequest {
            model_name,
            alias,
            version,
            reason,
            expected_current_version,
            gate_metric,
            gate_min_delta,
            gate_lower_is_better,
            // The idempotency key: the handler reads it before converting (`ChangeRequest`).
            request_id: _,
            emergency,
        } = request;
        let mut v = Violations::default();
        let fields = (
            v.check(ModelName::parse("model_name", &model_name)),
            v.check(AliasName::movable("alias", &alias)),
            v.check(validate::version_number("version", version)),
            v.check(validate::reason(&reason)),
            v.check(expected_current(expected_current_version)),
            v.check(metric_gate(
                gate_metric,
                gate_min_delta,
                gate_lower_is_better,
            )),
        );
        let (
            Some(model_name),
            Some(alias),
            Some(version),
            Some(reason),
            Some(expected_current),
            Some(gate),
        ) = fields
        else {
            return Err(v.into_error());
        };
        Ok(Self {
            model_name,
            alias,
            version,
            reason,
            expected_current,
            emergency,
            gate,
        })
    }
}

impl TryFrom<pb::SetProductionModelRequest> for SetAlias {
    type Error = DomainError;

    fn try_from(request: pb::SetProductionModelRequest) -> DomainResult<Self> {
        let pb::SetProductionModelRequest {
            model_name,
            version,
            reason,
            expected_current_version,
            gate_metric,
            gate_min_delta,
            gate_lower_is_better,
            request_id,
            emergency,
        } = request;
        Self::try_from(pb::SetModelAliasRequest {
            model_name,
            alias: AliasName::PRODUCTION.to_owned(),
            version,
            reason,
            expected_current_version,
            gate_metric,
            gate_min_delta,
            gate_lower_is_better,
            request_id,
            emergency,
        })
    }
}

/// The fields every alias change without a target version has.
pub(super) fn alias_change(
    model_name: &str,
    alias: &str,
    reason: &str,
    expected: Option<i64>,
) -> DomainResult<(ModelName, AliasName, String, ExpectedCurrent)> {
    let mut v = Violations::default();
    let fields = (
        v.check(ModelName::parse("model_name", model_name)),
        v.check(AliasName::movable("alias", alias)),
        v.check(validate::reason(reason)),
        v.check(expected_current(expected)),
    );
    let (Some(model_name), Some(alias), Some(reason), Some(expected_current)) = fields else {
        return Err(v.into_error());
    };
    Ok((model_name, alias, reason, expected_current))
}

impl TryFrom<pb::DeleteModelAliasRequest> for DeleteAlias {
    type Error = DomainError;

    fn try_from(request: pb::DeleteModelAliasRequest) -> DomainResult<Self> {
        let pb::DeleteModelAliasRequest {
            model_name,
            alias,
            reason,
            expected_current_version,
            // The idempotency key: the handler reads it before converting (`ChangeRequest`).
            request_id: _,
            emergency,
        } = request;
        let (model_name, alias, reason, expected_current) =
            alias_change(&model_name, &alias, &reason, expected_current_version)?;
        Ok(Self {
            model_name,
            alias,
            reason,
            expected_current,
            emergency,
        })
    }
}

impl TryFrom<pb::RollbackModelAliasRequest> for RollbackAlias {
    type Error = DomainError;

    fn try_from(request: pb::RollbackModelAliasRequest) -> DomainResult<Self> {
        let pb::RollbackModelAliasRequest {
            model_name,
            alias,
            reason,
            expected_current_version,
            // The idempotency key: the handler reads it before converting (`ChangeRequest`).
            request_id: _,
            emergency,
        } = request;
        let (model_name, alias, reason, expected_current) =
            alias_change(&model_name, &alias, &reason, expected_current_version)?;
        Ok(Self {
            model_name,
            alias,
            reason,
            expected_current,
            emergency,
        })
    }
}

impl TryFrom<pb::RollbackProductionModelRequest> for RollbackAlias {
    type Error = DomainError;

    fn try_from(request: pb::RollbackProductionModelRequest) -> DomainResult<Self> {
        let pb::RollbackProductionModelRequest {
            model_name,
            reason,
            expected_current_version,
            request_id,
            emergency,
        } = request;
        Self::try_from(pb::RollbackModelAliasRequest {
            model_name,
            alias: AliasName::PRODUCTION.to_owned(),
            reason,
            expected_current_version,
            request_id,
            emergency,
        })
    }
}

impl TryFrom<pb::UpdateModelRequest> for UpdateModel {
    type Error = DomainError;

    fn try_from(request: pb::UpdateModelRequest) -> DomainResult<Self> {
        let pb::UpdateModelRequest {
            model_name,
            description,
            tags,
            remove_tags,
            reason,
            // The idempotency key: the handler reads it before converting (`ChangeRequest`).
            request_id: _,
        } = request;
        let mut v = Violations::default();
        if description.is_none() && tags.is_empty() && remove_tags.is_empty() {
            v.add(
                "description",
                "nothing to update: set description, tags or remove_tags",
            );
        }
        let fields = (
            v.check(ModelName::parse("model_name", &model_name)),
            v.check(optional_description(description)),
            v.check(validate::validate_tags("tags", tags.into_iter().collect())),
            v.check(tag_keys("remove_tags", remove_tags)),
            v.check(validate::optional_text(
                "reason",
                &reason,
                validate::MAX_REASON_CHARS,
            )),
        );
        let (Some(model_name), Some(description), Some(set_tags), Some(remove_tags), Some(reason)) =
            fields
        else {
            return Err(v.into_error());
        };
        v.finish()?;
        Ok(Self {
            model_name,
            description,
            set_tags,
            remove_tags,
            reason,
        })
    }
}

impl TryFrom<pb::UpdateModelVersionStatusRequest> for ChangeStatus {
    type Error = DomainError;

    fn try_from(request: pb::UpdateModelVersionStatusRequest) -> DomainResult<Self> {
        let pb::UpdateModelVersionStatusRequest {
            id,
            model_name,
            version,
            status,
            reason,
            // The idempotency key: the handler reads it before converting (`ChangeRequest`).
            request_id: _,
        } = request;
        let mut v = Violations::default();
        let fields = (
            v.check(convert::version_ref(id, &model_name, version)),
            v.check(convert::target_status("status", status)),
            v.check(validate::reason(&reason)),
        );
        let (Some(target), Some(status), Some(reason)) = fields else {
            return Err(v.into_error());
        };
        Ok(Self {
            target,
            status,
            reason,
        })
    }
}

impl TryFrom<pb::UpdateModelVersionRequest> for UpdateVersion {
    type Error = DomainError;

    fn try_from(request: pb::UpdateModelVersionRequest) -> DomainResult<Self> {
        let pb::UpdateModelVersionRequest {
            id,
            model_name,
            version,
            description,
            set_tags,
            remove_tags,
            reason,
            // The idempotency key: the handler reads it before converting (`ChangeRequest`).
            request_id: _,
        } = request;
        let mut v = Violations::default();
        if description.is_none() && set_tags.is_empty() && remove_tags.is_empty() {
            v.add(
                "description",
                "nothing to update: set description, set_tags or remove_tags",
            );
        }
        let fields = (
            v.check(convert::version_ref(id, &model_name, version)),
            v.check(optional_description(description)),
            v.check(validate::validate_tags(
                "set_tags",
                set_tags.into_iter().collect(),
            )),
            v.check(tag_keys("remove_tags", remove_tags)),
            v.check(validate::optional_text(
                "reason",
                &reason,
                validate::MAX_REASON_CHARS,
            )),
        );
        let (Some(target), Some(description), Some(set_tags), Some(remove_tags), Some(reason)) =
            fields
        else {
            return Err(v.into_error());
        };
        v.finish()?;
        Ok(Self {
            target,
            description,
            set_tags,
            remove_tags,
            reason,
        })
    }
}

impl TryFrom<pb::ListModelVersionsRequest> for VersionQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListModelVersionsRequest) -> DomainResult<Self> {
        let pb::ListModelVersionsRequest {
            model_name,
            statuses,
            algorithm,
            tags,
            min_metrics,
            trained_after,
            trained_before,
            production_only,
            order_by,
            order_metric,
            descending,
            page_size,
            // The handler reads it: a page token is signed for its query.
            page_token: _,
            aliases,
            any_alias,
            view,
        } = request;
        let mut v = Violations::default();
        let trained_after = v.check(convert::optional_time("trained_after", trained_after));
        let trained_before = v.check(convert::optional_time("trained_before", trained_before));
        if let (Some(after), Some(before)) = (trained_after, trained_before) {
            v.check(validate::time_range(
                ("trained_after", "trained_before"),
                after,
                before,
            ));
        }
        v.check(at_most("tags", tags.len()));
        v.check(at_most("min_metrics", min_metrics.len()));
        v.check(at_most("aliases", aliases.len()));
        v.check(at_most("statuses", statuses.len()));
        let fields = (
            v.check(convert::optional_model_name(&model_name)),
            v.check(convert::status_filter("statuses", statuses)),
            v.check(optional_filter_text("algorithm", algorithm)),
            v.check(validate::validate_tags("tags", tags.into_iter().collect())),
            v.check(validate::validate_metrics(
                "min_metrics",
                min_metrics.into_iter().collect(),
            )),
            v.check(held_alias_filter(&aliases)),
            v.check(convert::version_order(order_by, &order_metric)),
            v.check(validate::page_size(page_size)),
            v.check(convert::version_view(view)),
        );
        let (
            Some(model_name),
            Some(statuses),
            Some(algorithm),
            Some(tags),
            Some(min_metrics),
            Some(holding_any),
            Some(order),
            Some(page_size),
            Some(view),
            Some(trained_after),
            Some(trained_before),
        ) = (
            fields.0,
            fields.1,
            fields.2,
            fields.3,
            fields.4,
            fields.5,
            fields.6,
            fields.7,
            fields.8,
            trained_after,
            trained_before,
        )
        else {
            return Err(v.into_error());
        };
        v.finish()?;
        Ok(Self {
            model_name,
            statuses,
            algorithm,
            tags,
            min_metrics,
            trained_after,
            trained_before,
            holding_all: if production_only {
                vec![AliasName::production()]
            } else {
                Vec::new()
            },
            holding_any,
            holding_some_alias: any_alias,
            order,
            descending,
            view,
            page_size,
            // The handler reads the page token: it is signed for the query.
            after: None,
        })
    }
}

impl TryFrom<pb::GetBestModelVersionRequest> for BestVersionQuery {
    type Error = DomainError;

    fn try_from(request: pb::GetBestModelVersionRequest) -> DomainResult<Self> {
        let pb::GetBestModelVersionRequest {
            model_name,
            metric,
            lowest,
            statuses,
        } = request;
        let mut v = Violations::default();
        if metric.is_empty() {
            v.add(
                "metric",
                "is required: name the metric to compare, e.g. auc",
            );
        } else {
            v.check(validate::metric_name("metric", &metric));
        }
        v.check(at_most("statuses", statuses.len()));
        let fields = (
            v.check(ModelName::parse("model_name", &model_name)),
            v.check(convert::status_filter("statuses", statuses)),
        );
        let (Some(model_name), Some(statuses)) = fields else {
            return Err(v.into_error());
        };
        v.finish()?;
        Ok(Self {
            model_name,
            metric,
            lowest,
            statuses,
        })
    }
}

impl TryFrom<pb::ListModelsRequest> for ModelQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListModelsRequest) -> DomainResult<Self> {
        let pb::ListModelsRequest {
            name_prefix,
            page_size,
            // The handler reads it: a page token is signed for its query.
            page_token: _,
        } = request;
        let mut v = Violations::default();
        if !name_prefix.is_empty() {
            // A prefix is a model name cut short, so the same alphabet applies.
            v.check(ModelName::parse("name_prefix", &name_prefix));
        }
        let fields = (v.check(validate::page_size(page_size)),);
        let (Some(page_size),) = fields else {
            return Err(v.into_error());
        };
        v.finish()?;
        Ok(Self {
            name_prefix,
            page_size,
            after: None,
        })
    }
}

impl TryFrom<pb::ListEventsRequest> for EventQuery {
    type Error = DomainError;

    fn try_from(request: pb::ListEventsRequest) -> DomainResult<Self> {
        let pb::ListEventsRequest {
            model_name,
            version,
            types,
            since,
            until,
            page_size,
            // The handler reads it: a page token is signed for its query.
            page_token: _,
            alias,
        } = request;
        let mut v = Violations::default();
        let since = v.check(convert::optional_time("since", since));
        let until = v.check(convert::optional_time("until", until));
        if let (Some(since), Some(until)) = (since, until) {
            v.check(validate::time_range(("since", "until"), since, until));
        }
        if version.is_some() && model_name.is_empty() {
            v.add(
                "version",
                "needs model_name: versions are numbered per model",
            );
        }
        let model_name = v.check(convert::optional_model_name(&model_name));
        v.check(at_most("types", types.len()));
        let fields = (
            v.check(
                request
                    .version
                    .map(|version| validate::version_number("version", version))
                    .transpose(),
            ),
            v.check(convert::event_kind_filter(types)),
            v.check(if alias.is_empty() {
                Ok(None)
            } else {
                AliasName::movable("alias", &alias).map(Some)
            }),
            v.check(validate::page_size(page_size)),
        );
        let (
            Some(model_name),
            Some(since),
            Some(until),
            Some(version),
            Some(kinds),
            Some(alias),
            Some(page_size),
        ) = (
            model_name, since, until, fields.0, fields.1, fields.2, fields.3,
        )
        else {
            return Err(v.into_error());
        };
        v.finish()?;
        Ok(Self {
            model_name,
            version,
            kinds,
            alias,
            actor: None,
            newest_first: false,
            since,
            until,
            page_size,
            after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_move_names_every_invalid_field() {
        let error = SetAlias::try_from(pb::SetModelAliasRequest {
            model_name: "Bad".into(),
            alias: "latest".into(),
            version: -1,
            reason: String::new(),
            expected_current_version: Some(-2),
            gate_metric: "AUC".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            error.invalid_fields(),
            [
                "model_name",
                "alias",
                "version",
                "reason",
                "expected_current_version",
                "gate_metric"
            ]
        );
    }

    #[test]
    fn listings_bound_their_filters() {
        let error = VersionQuery::try_from(pb::ListModelVersionsRequest {
            tags: (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect(),
            min_metrics: (0..17).map(|i| (format!("m{i}"), 0.5)).collect(),
            algorithm: "x\0".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(error.invalid_fields(), ["tags", "min_metrics", "algorithm"]);
    }
}
