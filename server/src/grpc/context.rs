//! The request context: who is calling and under which request id. Set by
//! the request layer on every call (authentication will fill in the
//! principal), read by handlers; never taken from a request body.

use crate::domain::commands::Caller;

/// The identity used while the server runs without authentication.
pub const ANONYMOUS: &str = "anonymous";

/// Per-request context carried in the request's extensions.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestContext {
    /// The caller's identity.
    pub principal: String,
    /// The request id: the caller's `x-request-id`, or one generated here.
    pub request_id: String,
}

impl RequestContext {
    /// The caller a change is attributed to.
    pub fn caller(&self) -> Caller {
        Caller {
            identity: self.principal.clone(),
            request_id: self.request_id.clone(),
        }
    }
}

/// The caller of `request`; a request that bypassed the request layer (only
/// possible in-process) is anonymous with a fresh request id.
pub fn caller_of<T>(request: &tonic::Request<T>) -> Caller {
    request
        .extensions()
        .get::<RequestContext>()
        .map(RequestContext::caller)
        .unwrap_or_else(|| Caller {
            identity: ANONYMOUS.to_owned(),
            request_id: uuid::Uuid::now_v7().to_string(),
        })
}
