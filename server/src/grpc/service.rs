//! `modelregistry.v1.RegistryService`: thin handlers that convert the
//! request (see `requests.rs`), call the registry's use cases with validated domain
//! commands, and convert back. The production RPCs are the alias RPCs with
//! the alias `production`.

use std::sync::Arc;

use model_registry_api::v1 as pb;
use model_registry_api::v1::registry_service_server::RegistryService as RegistryServiceApi;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use super::alias_reads::non_negative_event_id;
use super::context::change_of;
use super::watch::{EventFilter, Watches};
use super::{convert, pages};
use crate::auth::RequestContext;
use crate::domain::commands::{
    BestVersionQuery, ChangeStatus, Committed, DeleteAlias, EventQuery, ModelQuery, RollbackAlias,
    SetAlias, UpdateModel, UpdateVersion, VersionQuery,
};
use crate::domain::page::PageKey;
use crate::domain::webhook::DestinationRules;
use crate::domain::{AliasName, ModelName, Violations, time};
use crate::registry::Registry;
use crate::signing::SignatureTrust;

/// The gRPC implementation of the registry.
#[derive(Clone)]
pub struct RegistryService {
    pub(super) registry: Registry,
    pub(super) watches: Watches,
    /// Where webhook subscriptions may send.
    pub(super) webhook_rules: DestinationRules,
    /// Whose model signatures are accepted.
    pub(super) signatures: Arc<SignatureTrust>,
}

impl RegistryService {
    /// A service backed by `registry`, its watches fed by `watches`,
    /// accepting webhook destinations by `webhook_rules` and model
    /// signatures by `signatures`.
    pub fn new(
        registry: Registry,
        watches: Watches,
        webhook_rules: DestinationRules,
        signatures: Arc<SignatureTrust>,
    ) -> Self {
        Self {
            registry,
            watches,
            webhook_rules,
            signatures,
        }
    }

    /// The key that signs page tokens (read once per process).
    pub(super) async fn page_key(&self) -> Result<PageKey, Status> {
        Ok(self.registry.page_key().await?)
    }
}

#[tonic::async_trait]
impl RegistryServiceApi for RegistryService {
    async fn watch_model_alias(
        &self,
        request: Request<pb::WatchModelAliasRequest>,
    ) -> Result<Response<BoxStream<pb::AliasUpdate>>, Status> {
        let context = request.extensions().get::<RequestContext>().cloned();
        let slot = self.watches.admit(context.as_ref())?;
        let pb::WatchModelAliasRequest {
            model_name,
            alias,
            after_event_id,
        } = request.into_inner();
        let updates = self
            .alias_watch(&model_name, &alias, after_event_id)
            .await?;
        Ok(Response::new(self.watches.guard(
            Box::pin(updates),
            context,
            slot,
        )))
    }

    async fn watch_production_model(
        &self,
        request: Request<pb::WatchProductionModelRequest>,
    ) -> Result<Response<BoxStream<pb::AliasUpdate>>, Status> {
        let context = request.extensions().get::<RequestContext>().cloned();
        let slot = self.watches.admit(context.as_ref())?;
        let pb::WatchProductionModelRequest {
            model_name,
            after_event_id,
        } = request.into_inner();
        let updates = self
            .alias_watch(&model_name, AliasName::PRODUCTION, after_event_id)
            .await?;
        Ok(Response::new(self.watches.guard(
            Box::pin(updates),
            context,
            slot,
        )))
    }

    async fn watch_events(
        &self,
        request: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<BoxStream<pb::WatchEventsResponse>>, Status> {
        let context = request.extensions().get::<RequestContext>().cloned();
        let slot = self.watches.admit(context.as_ref())?;
        let pb::WatchEventsRequest {
            after_event_id,
            model_name,
            types,
            alias,
        } = request.into_inner();
        let mut v = Violations::default();
        v.check(non_negative_event_id(after_event_id));
        let fields = (
            v.check(convert::optional_model_name(&model_name)),
            v.check(convert::event_kind_filter(types)),
            v.check(if alias.is_empty() {
                Ok(None)
            } else {
                AliasName::movable("alias", &alias).map(Some)
            }),
        );
        let (Some(model), Some(kinds), Some(alias)) = fields else {
            return Err(v.into_error().into());
        };
        v.finish()?;
        let filter = EventFilter {
            model,
            kinds,
            alias,
        };
        Ok(Response::new(self.watches.guard(
            Box::pin(self.watches.events(after_event_id, filter).await?),
            context,
            slot,
        )))
    }

    async fn register_model(
        &self,
        request: Request<pb::RegisterModelRequest>,
    ) -> Result<Response<pb::RegisterModelResponse>, Status> {
        let (caller, mut request) = change_of(request)?;
        let (validate_only, bundle) = (
            request.validate_only,
            std::mem::take(&mut request.signature_bundle),
        );
        let mut new = convert::registration(request)?.validate()?;
        self.sign_registration(&mut new, &bundle, validate_only, &caller)?;
        let registered = if validate_only {
            Committed {
                value: new.preview(caller.identity, time::now()),
                token: None,
            }
        } else {
            self.registry.register(new, caller).await?
        };
        Ok(Response::new(pb::RegisterModelResponse {
            model_version: Some(convert::version_to_wire(registered.value)),
            consistency_token: convert::token_to_wire(registered.token),
        }))
    }

    async fn get_model_version(
        &self,
        request: Request<pb::GetModelVersionRequest>,
    ) -> Result<Response<pb::GetModelVersionResponse>, Status> {
        let pb::GetModelVersionRequest {
            id,
            model_name,
            version,
        } = request.into_inner();
        let target = convert::version_ref(id, &model_name, version)?;
        let version = self.registry.get_version(target).await?;
        Ok(Response::new(pb::GetModelVersionResponse {
            model_version: Some(convert::version_to_wire(version)),
        }))
    }

    async fn get_production_model(
        &self,
        request: Request<pb::GetProductionModelRequest>,
    ) -> Result<Response<pb::GetProductionModelResponse>, Status> {
        let pb::GetProductionModelRequest {
            model_name,
            as_of,
            consistency_token,
        } = request.into_inner();
        let version = self
            .version_by_alias(
                &model_name,
                AliasName::production(),
                as_of,
                &consistency_token,
            )
            .await?;
        Ok(Response::new(pb::GetProductionModelResponse {
            model_version: Some(version),
        }))
    }

    async fn get_model_version_by_alias(
        &self,
        request: Request<pb::GetModelVersionByAliasRequest>,
    ) -> Result<Response<pb::GetModelVersionByAliasResponse>, Status> {
        let pb::GetModelVersionByAliasRequest {
            model_name,
            alias,
            as_of,
            consistency_token,
        } = request.into_inner();
        let alias = AliasName::parse("alias", &alias)?;
        let version = self
            .version_by_alias(&model_name, alias, as_of, &consistency_token)
            .await?;
        Ok(Response::new(pb::GetModelVersionByAliasResponse {
            model_version: Some(version),
        }))
    }

    async fn list_model_versions(
        &self,
        request: Request<pb::ListModelVersionsRequest>,
    ) -> Result<Response<pb::ListModelVersionsResponse>, Status> {
        let mut request = request.into_inner();
        let token = std::mem::take(&mut request.page_token);
        let mut query = VersionQuery::try_from(request)?;
        let key = self.page_key().await?;
        query.after = key.decode(&query, &token)?;
        let page = self.registry.list_versions(query.clone()).await?;
        let view = query.view;
        let (model_versions, next_page_token) = pages::respond(page, &key, &query, |version| {
            convert::version_in_view(version, view)
        });
        Ok(Response::new(pb::ListModelVersionsResponse {
            model_versions,
            next_page_token,
        }))
    }

    async fn get_best_model_version(
        &self,
        request: Request<pb::GetBestModelVersionRequest>,
    ) -> Result<Response<pb::GetBestModelVersionResponse>, Status> {
        let query = BestVersionQuery::try_from(request.into_inner())?;
        let (version, value) = self.registry.best_version(query).await?;
        Ok(Response::new(pb::GetBestModelVersionResponse {
            model_version: Some(convert::version_to_wire(version)),
            value,
        }))
    }

    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> Result<Response<pb::ListModelsResponse>, Status> {
        let mut request = request.into_inner();
        let token = std::mem::take(&mut request.page_token);
        let mut query = ModelQuery::try_from(request)?;
        let key = self.page_key().await?;
        query.after = key.decode(&query, &token)?;
        let page = self.registry.list_models(query.clone()).await?;
        let (models, next_page_token) = pages::respond(page, &key, &query, convert::model_to_wire);
        Ok(Response::new(pb::ListModelsResponse {
            models,
            next_page_token,
        }))
    }

    async fn get_model(
        &self,
        request: Request<pb::GetModelRequest>,
    ) -> Result<Response<pb::GetModelResponse>, Status> {
        let pb::GetModelRequest { model_name } = request.into_inner();
        let name = ModelName::parse("model_name", &model_name)?;
        let model = self.registry.get_model(name).await?;
        Ok(Response::new(pb::GetModelResponse {
            model: Some(convert::model_to_wire(model)),
        }))
    }

    async fn update_model(
        &self,
        request: Request<pb::UpdateModelRequest>,
    ) -> Result<Response<pb::UpdateModelResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = UpdateModel::try_from(request)?;
        let updated = self.registry.update_model(command, caller).await?;
        Ok(Response::new(pb::UpdateModelResponse {
            model: Some(convert::model_to_wire(updated.value)),
            consistency_token: convert::token_to_wire(updated.token),
        }))
    }

    async fn set_model_alias(
        &self,
        request: Request<pb::SetModelAliasRequest>,
    ) -> Result<Response<pb::SetModelAliasResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = SetAlias::try_from(request)?;
        let Committed {
            value: moved,
            token,
        } = self.registry.set_alias(command, caller).await?;
        Ok(Response::new(pb::SetModelAliasResponse {
            model_version: Some(convert::version_to_wire(moved.version)),
            previous_version: moved.previous,
            unchanged: moved.unchanged,
            consistency_token: convert::token_to_wire(token),
        }))
    }

    async fn delete_model_alias(
        &self,
        request: Request<pb::DeleteModelAliasRequest>,
    ) -> Result<Response<pb::DeleteModelAliasResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = DeleteAlias::try_from(request)?;
        let deleted = self.registry.delete_alias(command, caller).await?;
        Ok(Response::new(pb::DeleteModelAliasResponse {
            previous_version: deleted.value,
            consistency_token: convert::token_to_wire(deleted.token),
        }))
    }

    async fn rollback_model_alias(
        &self,
        request: Request<pb::RollbackModelAliasRequest>,
    ) -> Result<Response<pb::RollbackModelAliasResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = RollbackAlias::try_from(request)?;
        let Committed {
            value: moved,
            token,
        } = self.registry.rollback_alias(command, caller).await?;
        Ok(Response::new(pb::RollbackModelAliasResponse {
            model_version: Some(convert::version_to_wire(moved.version)),
            rolled_back_version: moved.previous.unwrap_or_default(),
            consistency_token: convert::token_to_wire(token),
        }))
    }

    async fn set_production_model(
        &self,
        request: Request<pb::SetProductionModelRequest>,
    ) -> Result<Response<pb::SetProductionModelResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = SetAlias::try_from(request)?;
        let Committed {
            value: moved,
            token,
        } = self.registry.set_alias(command, caller).await?;
        Ok(Response::new(pb::SetProductionModelResponse {
            model_version: Some(convert::version_to_wire(moved.version)),
            previous_version: moved.previous,
            unchanged: moved.unchanged,
            consistency_token: convert::token_to_wire(token),
        }))
    }

    async fn rollback_production_model(
        &self,
        request: Request<pb::RollbackProductionModelRequest>,
    ) -> Result<Response<pb::RollbackProductionModelResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = RollbackAlias::try_from(request)?;
        let Committed {
            value: moved,
            token,
        } = self.registry.rollback_alias(command, caller).await?;
        Ok(Response::new(pb::RollbackProductionModelResponse {
            model_version: Some(convert::version_to_wire(moved.version)),
            rolled_back_version: moved.previous.unwrap_or_default(),
            consistency_token: convert::token_to_wire(token),
        }))
    }

    async fn update_model_version_status(
        &self,
        request: Request<pb::UpdateModelVersionStatusRequest>,
    ) -> Result<Response<pb::UpdateModelVersionStatusResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = ChangeStatus::try_from(request)?;
        let changed = self.registry.change_status(command, caller).await?;
        Ok(Response::new(pb::UpdateModelVersionStatusResponse {
            model_version: Some(convert::version_to_wire(changed.value)),
            consistency_token: convert::token_to_wire(changed.token),
        }))
    }

    async fn update_model_version(
        &self,
        request: Request<pb::UpdateModelVersionRequest>,
    ) -> Result<Response<pb::UpdateModelVersionResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let command = UpdateVersion::try_from(request)?;
        let changed = self.registry.update_version(command, caller).await?;
        Ok(Response::new(pb::UpdateModelVersionResponse {
            model_version: Some(convert::version_to_wire(changed.value)),
            consistency_token: convert::token_to_wire(changed.token),
        }))
    }

    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let mut request = request.into_inner();
        let token = std::mem::take(&mut request.page_token);
        let mut query = EventQuery::try_from(request)?;
        let key = self.page_key().await?;
        query.after = key.decode(&query, &token)?;
        let page = self.registry.list_events(query.clone()).await?;
        let (events, next_page_token) = pages::respond(page, &key, &query, convert::event_to_wire);
        Ok(Response::new(pb::ListEventsResponse {
            events,
            next_page_token,
        }))
    }

    async fn set_alias_policy(
        &self,
        request: Request<pb::SetAliasPolicyRequest>,
    ) -> Result<Response<pb::SetAliasPolicyResponse>, Status> {
        self.answer_set_alias_policy(request).await
    }

    async fn get_alias_policy(
        &self,
        request: Request<pb::GetAliasPolicyRequest>,
    ) -> Result<Response<pb::GetAliasPolicyResponse>, Status> {
        self.answer_get_alias_policy(request).await
    }

    async fn list_alias_policies(
        &self,
        request: Request<pb::ListAliasPoliciesRequest>,
    ) -> Result<Response<pb::ListAliasPoliciesResponse>, Status> {
        self.answer_list_alias_policies(request).await
    }

    async fn delete_alias_policy(
        &self,
        request: Request<pb::DeleteAliasPolicyRequest>,
    ) -> Result<Response<pb::DeleteAliasPolicyResponse>, Status> {
        self.answer_delete_alias_policy(request).await
    }

    async fn create_alias_change_request(
        &self,
        request: Request<pb::CreateAliasChangeRequestRequest>,
    ) -> Result<Response<pb::CreateAliasChangeRequestResponse>, Status> {
        self.answer_create_alias_change_request(request).await
    }

    async fn approve_alias_change_request(
        &self,
        request: Request<pb::ApproveAliasChangeRequestRequest>,
    ) -> Result<Response<pb::ApproveAliasChangeRequestResponse>, Status> {
        self.answer_approve_alias_change_request(request).await
    }

    async fn reject_alias_change_request(
        &self,
        request: Request<pb::RejectAliasChangeRequestRequest>,
    ) -> Result<Response<pb::RejectAliasChangeRequestResponse>, Status> {
        self.answer_reject_alias_change_request(request).await
    }

    async fn cancel_alias_change_request(
        &self,
        request: Request<pb::CancelAliasChangeRequestRequest>,
    ) -> Result<Response<pb::CancelAliasChangeRequestResponse>, Status> {
        self.answer_cancel_alias_change_request(request).await
    }

    async fn get_alias_change_request(
        &self,
        request: Request<pb::GetAliasChangeRequestRequest>,
    ) -> Result<Response<pb::GetAliasChangeRequestResponse>, Status> {
        self.answer_get_alias_change_request(request).await
    }

    async fn list_alias_change_requests(
        &self,
        request: Request<pb::ListAliasChangeRequestsRequest>,
    ) -> Result<Response<pb::ListAliasChangeRequestsResponse>, Status> {
        self.answer_list_alias_change_requests(request).await
    }
    async fn freeze_alias(
        &self,
        request: Request<pb::FreezeAliasRequest>,
    ) -> Result<Response<pb::FreezeAliasResponse>, Status> {
        self.answer_freeze_alias(request).await
    }

    async fn unfreeze_alias(
        &self,
        request: Request<pb::UnfreezeAliasRequest>,
    ) -> Result<Response<pb::UnfreezeAliasResponse>, Status> {
        self.answer_unfreeze_alias(request).await
    }

    async fn freeze_version(
        &self,
        request: Request<pb::FreezeVersionRequest>,
    ) -> Result<Response<pb::FreezeVersionResponse>, Status> {
        self.answer_freeze_version(request).await
    }

    async fn unfreeze_version(
        &self,
        request: Request<pb::UnfreezeVersionRequest>,
    ) -> Result<Response<pb::UnfreezeVersionResponse>, Status> {
        self.answer_unfreeze_version(request).await
    }

    async fn attach_signature(
        &self,
        request: Request<pb::AttachSignatureRequest>,
    ) -> Result<Response<pb::AttachSignatureResponse>, Status> {
        self.answer_attach_signature(request).await
    }

    async fn get_version_signature(
        &self,
        request: Request<pb::GetVersionSignatureRequest>,
    ) -> Result<Response<pb::GetVersionSignatureResponse>, Status> {
        self.answer_get_version_signature(request).await
    }

    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Result<Response<pb::CreateWebhookResponse>, Status> {
        self.answer_create_webhook(request).await
    }

    async fn get_webhook(
        &self,
        request: Request<pb::GetWebhookRequest>,
    ) -> Result<Response<pb::GetWebhookResponse>, Status> {
        self.answer_get_webhook(request).await
    }

    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Result<Response<pb::ListWebhooksResponse>, Status> {
        self.answer_list_webhooks(request).await
    }

    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Result<Response<pb::DeleteWebhookResponse>, Status> {
        self.answer_delete_webhook(request).await
    }

    async fn update_webhook(
        &self,
        request: Request<pb::UpdateWebhookRequest>,
    ) -> Result<Response<pb::UpdateWebhookResponse>, Status> {
        self.answer_update_webhook(request).await
    }

    async fn rotate_webhook_secret(
        &self,
        request: Request<pb::RotateWebhookSecretRequest>,
    ) -> Result<Response<pb::RotateWebhookSecretResponse>, Status> {
        self.answer_rotate_webhook_secret(request).await
    }

    async fn replay_webhook(
        &self,
        request: Request<pb::ReplayWebhookRequest>,
    ) -> Result<Response<pb::ReplayWebhookResponse>, Status> {
        self.answer_replay_webhook(request).await
    }

    async fn resume_webhook(
        &self,
        request: Request<pb::ResumeWebhookRequest>,
    ) -> Result<Response<pb::ResumeWebhookResponse>, Status> {
        self.answer_resume_webhook(request).await
    }

    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        self.answer_list_webhook_deliveries(request).await
    }
}
