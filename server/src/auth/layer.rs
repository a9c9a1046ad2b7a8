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

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        match self.admit(&request) {
            Ok(Some((principal, credential))) => {
                tracing::Span::current().record("principal", principal.name.as_str());
                if let Some(context) = request.extensions_mut().get_mut::<RequestContext>() {
                    context.principal = Some(principal);
                    context.credential = Some(credential);
                }
            }
            Ok(None) => {}
            Err(error) => {
                // A token that does not match is a guess; a call with none
                // (a client not yet configured) is only refused.
                let guessed = request.headers().contains_key(http::header::AUTHORIZATION);
                let delay = match &error {
                    DomainError::Unauthenticated(_) if guessed => self
                        .authenticator
                        .failed(peer_address(&request), request.uri().path()),
                    _ => std::time::Duration::ZERO,
                };
                let response = Status::from(error).into_http();
                return Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    Ok(response)
                });
            }
        }
        // The clone that was polled ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}

impl<S> Authenticate<S> {
    /// The principal of a request to a method that needs one, `None` for
    /// open methods, or why the request is refused.
    fn admit<B>(
        &self,
        request: &Request<B>,
    ) -> Result<Option<(super::Principal, super::Credential)>, DomainError> {
        let method = request.uri().path();
        let Access::Needs(role) = required_access(method) else {
            return Ok(None);
        };
        let certificates = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs);
        let (principal, credential) = self.authenticator.authenticate_credential(
            request.headers(),
            certificates.as_deref().map(Vec::as_slice),
        )?;
        check_role(&principal, role, method)?;
        Ok(Some((principal, credential)))
    }
}

/// The address the request came from, over TLS or not.
fn peer_address<B>(request: &Request<B>) -> Option<std::net::IpAddr> {
    let extensions = request.extensions();
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
