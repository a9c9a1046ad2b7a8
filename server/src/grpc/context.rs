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
        }),
        None => Err(Status::unauthenticated(
            "the request was not authenticated by this server",
        )),
    }
}
