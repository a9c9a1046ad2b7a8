//! The request context: which request this is and who is calling. The
//! request layer (grpc) creates it with the request id and the caller's
//! correlation id; the auth layer adds the principal; handlers read it.
//! Never taken from a request body. It lives here, below both layers, so
//! that neither imports the other to reach it.

use super::{Credential, Principal};

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
    /// What the principal authenticated with; set by the auth layer.
    pub credential: Option<Credential>,
    /// When the call must be answered (none for streams).
    pub deadline: Option<std::time::Instant>,
}
