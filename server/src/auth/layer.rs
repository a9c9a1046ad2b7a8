//! The tower layer that authenticates every call before any handler runs
//! and refuses it when the principal's role is below what the method needs
//! (see `policy`). The principal goes into the request context, where
//! handlers take `created_by` and every event's actor from.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use super::Authenticator;
use super::RequestContext;
use super::policy::{Access, check_role, required_access};
use crate::domain::DomainError;

/// Adds [`Authenticate`] to a service stack.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
}

impl AuthLayer {
    /// A layer resolving credentials with `authenticator`.
    pub fn new(authenticator: Arc<Authenticator>) -> Self {
        Self { authenticator }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            authenticator: Arc::clone(&self.authenticator),
        }
    }
}

/// The service [`AuthLayer`] wraps around the gRPC routes.
#[derive(Debug, Clone)]
pub struct Authenticate<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
}

impl<S, B, R> Service<Request<B>> for Authenticate<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let authenticator = Arc::clone(&self.authenticator);
        // The body need not be shared between threads; the head is what
        // authentication reads while it waits (for an issuer's keys).
        let (mut request, body) = request.into_parts();
        Box::pin(async move {
            match admit(&authenticator, &request).await {
                Ok(Some((principal, credential))) => {
                    tracing::Span::current().record("principal", principal.name.as_str());
                    if let Some(context) = request.extensions.get_mut::<RequestContext>() {
                        context.principal = Some(principal);
                        context.credential = Some(credential);
                    }
                }
                Ok(None) => {}
                Err(error) => {
                    // A token that does not match is a guess; a call with
                    // none (a client not yet configured) is only refused.
                    let guessed = request.headers.contains_key(http::header::AUTHORIZATION);
                    let delay = match &error {
                        DomainError::Unauthenticated(_) if guessed => {
                            authenticator.failed(peer_address(&request), request.uri.path())
                        }
                        _ => std::time::Duration::ZERO,
                    };
                    tokio::time::sleep(delay).await;
                    return Ok(Status::from(error).into_http());
                }
            }
            inner.call(Request::from_parts(request, body)).await
        })
    }
}

/// The principal of a request to a method that needs one, `None` for open
/// methods, or why the request is refused.
async fn admit(
    authenticator: &Authenticator,
    request: &http::request::Parts,
) -> Result<Option<(super::Principal, super::Credential)>, DomainError> {
    let method = request.uri.path();
    let Access::Needs(role) = required_access(method) else {
        return Ok(None);
    };
    let certificates = request
        .extensions
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs);
    let (principal, credential) = authenticator
        .authenticate_credential(&request.headers, certificates.as_deref().map(Vec::as_slice))
        .await?;
    check_role(&principal, role, method)?;
    Ok(Some((principal, credential)))
}

/// The address the request came from, over TLS or not.
fn peer_address(request: &http::request::Parts) -> Option<std::net::IpAddr> {
    let extensions = &request.extensions;
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .or_else(|| {
            extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|info| info.get_ref().remote_addr())
        })
        .map(|address| address.ip())
}
