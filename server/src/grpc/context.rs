//! The request context: which request this is and who is calling. The
//! request layer creates it (request id, the caller's correlation id); the
//! auth layer adds the principal; handlers read it. Never taken from a
//! request body.

use tonic::Status;

use crate::auth::Principal;
use crate::domain::commands::Caller;

/// Per-request context carried in the request's extensions.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestContext {
    /// The id this server assigned to the request (a UUIDv7).
    pub request_id: String,
    /// The caller's `x-request-id`, if it sent one: a correlation id,
    /// recorded as given and never trusted.
    pub correlation_id: Option<String>,
    /// The authenticated principal; set by the auth layer.
    pub principal: Option<Principal>,
    /// When the call must be answered (none for streams).
    pub deadline: Option<std::time::Instant>,
}

/// The caller of `request`. Fails closed: a request the auth layer did not
/// admit (only possible in-process) is refused.
pub fn caller_of<T>(request: &tonic::Request<T>) -> Result<Caller, Status> {
    let context = request.extensions().get::<RequestContext>();
    match context.and_then(|c| c.principal.as_ref().map(|p| (c, p))) {
        Some((context, principal)) => Ok(Caller {
            identity: principal.name.clone(),
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
    model_registry_api::v1::UpdateModelRequest,
);

/// The caller of a change, with the change's idempotency key, and the
/// request message.
pub fn change_of<T: ChangeRequest>(request: tonic::Request<T>) -> Result<(Caller, T), Status> {
    let mut caller = caller_of(&request)?;
    let request = request.into_inner();
    caller.idempotency_key = crate::domain::validate::request_id(request.request_id())?;
    Ok((caller, request))
}
