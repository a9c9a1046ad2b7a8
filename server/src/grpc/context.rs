//! The caller of a request, from its [`RequestContext`] (created by the
//! request layer, completed by the auth layer), as the domain's `Caller`.

use tonic::Status;

pub use crate::auth::RequestContext;
use crate::domain::commands::Caller;

/// The caller of `request`. Fails closed: a request the auth layer did not
/// admit (only possible in-process) is refused.
pub fn caller_of<T>(request: &tonic::Request<T>) -> Result<Caller, Status> {
    let context = request.extensions().get::<RequestContext>();
    match context.and_then(|c| c.principal.as_ref().map(|p| (c, p))) {
        Some((context, principal)) => Ok(Caller {
            identity: principal.name.clone(),
            source: principal.source.clone(),
            request_id: context.request_id.clone(),
            correlation_id: context.correlation_id.clone(),
            grant: principal.grant.clone(),
            idempotency_key: None,
            deadline: context.deadline,
        }),
        None => Err(Status::unauthenticated(
            "the request was not authenticated by this server",
        )),
    }
}

/// A change request: it may carry an idempotency key.
pub trait ChangeRequest {
    /// The request's `request_id` field.
    fn request_id(&self) -> &str;
}

macro_rules! change_requests {
    ($($request:ty),* $(,)?) => {
        $(impl ChangeRequest for $request {
            fn request_id(&self) -> &str {
                &self.request_id
            }
        })*
    };
}

change_requests!(
    model_registry_api::v1::RegisterModelRequest,
    model_registry_api::v1::SetModelAliasRequest,
    model_registry_api::v1::DeleteModelAliasRequest,
    model_registry_api::v1::RollbackModelAliasRequest,
    model_registry_api::v1::SetProductionModelRequest,
    model_registry_api::v1::RollbackProductionModelRequest,
    model_registry_api::v1::UpdateModelVersionStatusRequest,
    model_registry_api::v1::UpdateModelVersionRequest,
    model_registry_api::v1::AttachSignatureRequest,
    model_registry_api::v1::UpdateModelRequest,
    model_registry_api::v1::SetAliasPolicyRequest,
    model_registry_api::v1::DeleteAliasPolicyRequest,
    model_registry_api::v1::CreateAliasChangeRequestRequest,
    model_registry_api::v1::ApproveAliasChangeRequestRequest,
    model_registry_api::v1::RejectAliasChangeRequestRequest,
    model_registry_api::v1::CancelAliasChangeRequestRequest,
    model_registry_api::v1::FreezeAliasRequest,
    model_registry_api::v1::UnfreezeAliasRequest,
    model_registry_api::v1::FreezeVersionRequest,
    model_registry_api::v1::UnfreezeVersionRequest,
    model_registry_api::v1::CreateWebhookRequest,
    model_registry_api::v1::DeleteWebhookRequest,
    model_registry_api::v1::ResumeWebhookRequest,
    model_registry_api::v1::UpdateWebhookRequest,
    model_registry_api::v1::RotateWebhookSecretRequest,
    model_registry_api::v1::ReplayWebhookRequest,
);

/// The caller of a change, with the change's idempotency key, and the
/// request message.
pub fn change_of<T: ChangeRequest>(request: tonic::Request<T>) -> Result<(Caller, T), Status> {
    let mut caller = caller_of(&request)?;
    let request = request.into_inner();
    caller.idempotency_key = crate::domain::validate::request_id(request.request_id())?;
    Ok((caller, request))
}
