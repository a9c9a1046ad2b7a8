//! `modelregistry.v1.RegistryService`: thin handlers that convert the
//! request, call the store with validated domain commands, and convert back.

use model_registry_api::v1 as pb;
use model_registry_api::v1::registry_service_server::RegistryService as RegistryServiceApi;
use tonic::{Request, Response, Status};

use super::context::caller_of;
use super::convert;
use crate::domain::commands::{
    BestVersionQuery, ChangeStatus, EventQuery, ModelQuery, Rollback, SetProduction, UpdateVersion,
    VersionQuery,
};
use crate::domain::page::{self, EventCursor, ModelCursor, VersionCursor};
use crate::domain::production::MetricGate;
use crate::domain::{DomainError, ModelName, validate};
use crate::store::Store;

/// The gRPC implementation of the registry.
#[derive(Clone)]
pub struct RegistryService {
    store: Store,
}

impl RegistryService {
    /// A service backed by `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl RegistryServiceApi for RegistryService {
    async fn register_model(
        &self,
        request: Request<pb::RegisterModelRequest>,
    ) -> Result<Response<pb::RegisterModelResponse>, Status> {
        let caller = caller_of(&request);
        let new = convert::registration(request.into_inner())?.validate()?;
        let version = self.store.register(new, caller).await?;
        Ok(Response::new(pb::RegisterModelResponse {
            model_version: Some(convert::version_to_wire(version)),
        }))
    }

    async fn get_model_version(
        &self,
        request: Request<pb::GetModelVersionRequest>,
    ) -> Result<Response<pb::GetModelVersionResponse>, Status> {
        let request = request.into_inner();
        let target = convert::version_ref(request.id, &request.model_name, request.version)?;
        let version = self.store.get_version(target).await?;
        Ok(Response::new(pb::GetModelVersionResponse {
            model_version: Some(convert::version_to_wire(version)),
        }))
    }

    async fn get_production_model(
        &self,
        request: Request<pb::GetProductionModelRequest>,
    ) -> Result<Response<pb::GetProductionModelResponse>, Status> {
        let request = request.into_inner();
        let name = ModelName::parse("model_name", &request.model_name)?;
        let version = match convert::optional_time("as_of", request.as_of)? {
            Some(at) => self.store.production_as_of(name, at).await?,
            None => self.store.get_production(name).await?,
        };
        Ok(Response::new(pb::GetProductionModelResponse {
            model_version: Some(convert::version_to_wire(version)),
        }))
    }

    async fn list_model_versions(
        &self,
        request: Request<pb::ListModelVersionsRequest>,
    ) -> Result<Response<pb::ListModelVersionsResponse>, Status> {
        let request = request.into_inner();
        let trained_after = convert::optional_time("trained_after", request.trained_after)?;
        let trained_before = convert::optional_time("trained_before", request.trained_before)?;
        validate::time_range(
            ("trained_after", "trained_before"),
            trained_after,
            trained_before,
        )?;
        let query = VersionQuery {
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
            production_only: request.production_only,
            order: convert::version_order(request.order_by, &request.order_metric)?,
            descending: request.descending,
            page_size: validate::page_size(request.page_size)?,
            after: page::decode::<VersionCursor>(&request.page_token)?,
        };
        let page = self.store.list_versions(query).await?;
        Ok(Response::new(pb::ListModelVersionsResponse {
            model_versions: page
                .items
                .into_iter()
                .map(convert::version_to_wire)
                .collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn get_best_model_version(
        &self,
        request: Request<pb::GetBestModelVersionRequest>,
    ) -> Result<Response<pb::GetBestModelVersionResponse>, Status> {
        let request = request.into_inner();
        if request.metric.is_empty() {
            return Err(DomainError::invalid(
                "metric",
                "is required: name the metric to compare, e.g. auc",
            )
            .into());
        }
        validate::metric_name("metric", &request.metric)?;
        let query = BestVersionQuery {
            model_name: ModelName::parse("model_name", &request.model_name)?,
            metric: request.metric,
            lowest: request.lowest,
            statuses: convert::status_filter("statuses", request.statuses)?,
        };
        let (version, value) = self.store.best_version(query).await?;
        Ok(Response::new(pb::GetBestModelVersionResponse {
            model_version: Some(convert::version_to_wire(version)),
            value,
        }))
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let request = request.into_inner();
        if !request.name_prefix.is_empty() {
            // A prefix is a model name cut short, so the same alphabet applies.
            ModelName::parse("name_prefix", &request.name_prefix)?;
        }
        let query = ModelQuery {
            name_prefix: request.name_prefix,
            page_size: validate::page_size(request.page_size)?,
            after: page::decode::<ModelCursor>(&request.page_token)?,
        };
        let page = self.store.list_models(query).await?;
        Ok(Response::new(pb::ListModelsResponse {
            models: page.items.into_iter().map(convert::model_to_wire).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    async fn get_model(
        &self,
        request: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::GetModelResponse>, Status> {
        let name = ModelName::parse("model_name", &request.into_inner().model_name)?;
        let model = self.store.get_model(name).await?;
        Ok(Response::new(pb::GetModelResponse {
            model: Some(convert::model_to_wire(model)),
        }))
    }

    async fn set_production_model(
        &self,
        request: Request<pb::SetProductionModelRequest>,
    ) -> Result<Response<pb::SetProductionModelResponse>, Status> {
        let caller = caller_of(&request);
        let request = request.into_inner();
        let gate = if request.gate_metric.is_empty() {
            None
        } else {
            validate::metric_name("gate_metric", &request.gate_metric)?;
            if !request.gate_min_delta.is_finite() {
                return Err(
                    DomainError::invalid("gate_min_delta", "must be a finite number").into(),
                );
            }
            Some(MetricGate {
                metric: request.gate_metric,
                min_delta: request.gate_min_delta,
                lower_is_better: request.gate_lower_is_better,
            })
        };
        let command = SetProduction {
            model_name: ModelName::parse("model_name", &request.model_name)?,
            version: validate::version_number("version", request.version)?,
            reason: validate::reason(&request.reason)?,
            expected_current: expected_current(request.expected_current_version)?,
            gate,
        };
        let changed = self.store.set_production(command, caller).await?;
        Ok(Response::new(pb::SetProductionModelResponse {
            model_version: Some(convert::version_to_wire(changed.version)),
            previous_version: changed.previous,
            unchanged: changed.unchanged,
        }))
    }

    async fn rollback_production_model(
        &self,
        request: Request<pb::RollbackProductionModelRequest>,
    ) -> Result<Response<pb::RollbackProductionModelResponse>, Status> {
        let caller = caller_of(&request);
        let request = request.into_inner();
        let command = Rollback {
            model_name: ModelName::parse("model_name", &request.model_name)?,
            reason: validate::reason(&request.reason)?,
            expected_current: expected_current(request.expected_current_version)?,
        };
        let changed = self.store.rollback(command, caller).await?;
        Ok(Response::new(pb::RollbackProductionModelResponse {
            model_version: Some(convert::version_to_wire(changed.version)),
            rolled_back_version: changed.previous.unwrap_or_default(),
        }))
    }

    async fn update_model_version_status(
        &self,
        request: Request<pb::UpdateModelVersionStatusRequest>,
    ) -> Result<Response<pb::UpdateModelVersionStatusResponse>, Status> {
        let caller = caller_of(&request);
        let request = request.into_inner();
        let command = ChangeStatus {
            target: convert::version_ref(request.id, &request.model_name, request.version)?,
            status: convert::target_status("status", request.status)?,
            reason: validate::reason(&request.reason)?,
        };
        let version = self.store.change_status(command, caller).await?;
        Ok(Response::new(pb::UpdateModelVersionStatusResponse {
            model_version: Some(convert::version_to_wire(version)),
        }))
    }

    async fn update_model_version(
        &self,
        request: Request<pb::UpdateModelVersionRequest>,
    ) -> Result<Response<pb::UpdateModelVersionResponse>, Status> {
        let caller = caller_of(&request);
        let request = request.into_inner();
        if request.description.is_none()
            && request.set_tags.is_empty()
            && request.remove_tags.is_empty()
        {
            return Err(DomainError::invalid(
                "description",
                "nothing to update: set description, set_tags or remove_tags",
            )
            .into());
        }
        for key in &request.remove_tags {
            validate::tag_key("remove_tags", key)?;
        }
        let command = UpdateVersion {
            target: convert::version_ref(request.id, &request.model_name, request.version)?,
            description: request
                .description
                .map(|d| {
                    validate::optional_text("description", &d, validate::MAX_DESCRIPTION_CHARS)
                })
                .transpose()?,
            set_tags: validate::validate_tags("set_tags", request.set_tags.into_iter().collect())?,
            remove_tags: request.remove_tags,
            reason: validate::optional_text("reason", &request.reason, validate::MAX_REASON_CHARS)?,
        };
        let version = self.store.update_version(command, caller).await?;
        Ok(Response::new(pb::UpdateModelVersionResponse {
            model_version: Some(convert::version_to_wire(version)),
        }))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let request = request.into_inner();
        let since = convert::optional_time("since", request.since)?;
        let until = convert::optional_time("until", request.until)?;
        validate::time_range(("since", "until"), since, until)?;
        let model_name = convert::optional_model_name(&request.model_name)?;
        if request.version.is_some() && model_name.is_none() {
            return Err(DomainError::invalid(
                "version",
                "needs model_name: versions are numbered per model",
            )
            .into());
        }
        let query = EventQuery {
            model_name,
            version: request
                .version
                .map(|v| validate::version_number("version", v))
                .transpose()?,
            kinds: convert::event_kind_filter(request.types)?,
            since,
            until,
            page_size: validate::page_size(request.page_size)?,
            after: page::decode::<EventCursor>(&request.page_token)?,
        };
        let page = self.store.list_events(query).await?;
        Ok(Response::new(pb::ListEventsResponse {
            events: page.items.into_iter().map(convert::event_to_wire).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }
}

/// `expected_current_version` on the wire: absent means no precondition,
/// 0 means "no production version", N means version N.
fn expected_current(value: Option<i64>) -> Result<Option<Option<i64>>, DomainError> {
    match value {
        None => Ok(None),
        Some(0) => Ok(Some(None)),
        Some(v) if v > 0 => Ok(Some(Some(v))),
        Some(v) => Err(DomainError::invalid(
            "expected_current_version",
            format!("must be 0 (no production version) or a version number, got {v}"),
        )),
    }
}
