//! The web console: pages over the registry, served by the server itself
//! on `--web-listen` (axum, server-side HTML from `maud`, SVG charts drawn
//! here, a little plain JavaScript for live updates and sorting). Every
//! page works without JavaScript. With a tokens file the console asks for a
//! token once and exchanges it for a short-lived signed session cookie (see
//! `session`); any role may read. Its few changes (asking for an alias
//! move, deciding a request, rolling an alias back) are forms guarded
//! against cross-site forgery and authorised like the gRPC calls they
//! stand for (see `actor`, `actions`).

mod actions;
mod actor;
mod charts;
mod forms;
mod live;
mod login;
mod pages;
mod query;
mod render;
mod requests;
mod session;
mod sign_in;
mod signature;
mod webhooks;

pub use session::Reader;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::Authenticator;
use crate::changes::ChangeFeed;
use crate::domain::DomainError;
use crate::domain::page::PageKey;
use crate::listener::{Connection, ConnectionLimits};
use crate::registry::Registry;
use crate::signing::SignatureTrust;

/// What every handler may use.
#[derive(Clone)]
pub struct Console {
    registry: Registry,
    feed: ChangeFeed,
    authenticator: Arc<Authenticator>,
    shutdown: watch::Receiver<bool>,
    /// Served on a loopback address (without authentication, requests must
    /// then name a loopback host).
    on_loopback: bool,
    /// How long a sign-in lasts.
    session_lifetime: Duration,
    /// Whose model signatures are accepted (a version's page says whether
    /// its signature still verifies).
    signatures: Arc<SignatureTrust>,
}

impl Console {
    /// The console over `registry`, live through `feed`, until `shutdown`;
    /// a sign-in lasts `session_lifetime`; `signatures` says whose
    /// signatures are accepted.
    pub fn new(
        registry: Registry,
        feed: ChangeFeed,
        authenticator: Arc<Authenticator>,
        shutdown: watch::Receiver<bool>,
        session_lifetime: Duration,
        signatures: Arc<SignatureTrust>,
    ) -> Self {
        Self {
            registry,
            feed,
            authenticator,
            shutdown,
            on_loopback: false,
            session_lifetime,
            signatures,
        }
    }

    /// The key that signs the pages' "next page" links (the same as the
    /// API's page tokens, so a link from one replica works on another).
    async fn page_key(&self) -> Result<PageKey, WebError> {
        Ok(self.registry.page_key().await?)
    }
}

/// Serves the console on `listener` until the console's shutdown signal,
/// within `limits`: at most that many connections open (more wait in the
/// kernel's backlog, so a flood of silent sockets cannot take the file
/// descriptors the gRPC port needs), each closed unless it sends its first
/// bytes within the handshake timeout.
pub async fn serve(
    listener: TcpListener,
    console: Console,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let mut shutdown = console.shutdown.clone();
    let on_loopback = listener.local_addr()?.ip().is_loopback();
    let app = router(Console {
        on_loopback,
        ..console
    });
    let listener = Limited {
        local: listener.local_addr()?,
        connections: crate::listener::incoming(listener, limits),
    };
    axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stopped| *stopped).await;
        })
        .await
}

/// The console's accept loop: the gRPC port's, with the console's limits.
struct Limited {
    local: SocketAddr,
    connections: ReceiverStream<std::io::Result<Connection>>,
}

impl axum::serve::Listener for Limited {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        loop {
            match self.connections.next().await {
                Some(Ok(connection)) => {
                    let peer = connection.peer_addr().unwrap_or(self.local);
                    return (connection, peer);
                }
                // The accept loop handles its errors and never yields one.
                Some(Err(_)) => {}
                // Stopped accepting: serving ends by the shutdown signal.
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The address a console connection came from.
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Limited>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, Limited>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// The request's peer address, when the console was served with it.
struct PeerAddress(Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<Peer>>()
                .map(|axum::extract::ConnectInfo(Peer(address))| address.ip()),
        ))
    }
}

/// Every route of the console.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/", get(pages::models))
        .route("/models/{name}", get(pages::model))
        .route("/models/{name}/versions/{version}", get(pages::version))
        .route("/models/{name}/live", get(live::model_changes))
        .route("/events", get(pages::events))
        .route("/webhooks", get(webhooks::webhooks))
        .route("/requests", get(requests::requests))
        .route("/requests/{id}/{decision}", post(actions::decide))
        .route("/models/{name}/requests", post(actions::request_move))
        .route(
            "/models/{name}/aliases/{alias}/rollback",
            post(actions::rollback),
        )
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/login/oidc/{provider}", get(sign_in::begin))
        .route("/login/oidc/{provider}/callback", get(sign_in::callback))
        .route("/static/console.css", get(stylesheet))
        .route("/static/console.js", get(script))
        .layer(axum::middleware::from_fn_with_state(console.clone(), guard))
        .with_state(console)
}

/// What every answer of the console carries: it is never framed, never
/// sniffed, never cached, runs only its own script and sends no referrer
/// to another site (`same-origin`, not `no-referrer`: under the latter a
/// browser sends `Origin: null` with the console's own forms, and the
/// origin check would refuse them).
const SECURITY_HEADERS: [(header::HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "same-origin"),
];

/// Served on loopback without authentication, the console answers only
/// requests addressed to a loopback name: a page elsewhere whose own name
/// resolves to 127.0.0.1 (DNS rebinding) must not read it.
async fn guard(
    State(console): State<Console>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if console.on_loopback
        && !console.authenticator.is_enabled()
        && !addressed_to_loopback(request.headers())
    {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "without authentication the console answers only requests to localhost, 127.0.0.1 \
             or [::1]",
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    for (name, value) in SECURITY_HEADERS {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Whether the request's `Host` names this machine's loopback interface.
fn addressed_to_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console.css"),
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("console.js"),
    )
}

/// A page that could not be shown, as an HTML error page with its status.
#[derive(Debug)]
pub struct WebError(DomainError);

impl From<DomainError> for WebError {
    fn from(error: DomainError) -> Self {
        Self(error)
    }
}

impl WebError {
    /// The HTTP status of each domain error, with no wildcard arm: a new
    /// variant is a compile error here until it is given one. Where the
    /// console has no reason to differ, the status is the one
    /// `google/rpc/code.proto` gives the matching gRPC code.
    fn status(&self) -> StatusCode {
        match &self.0 {
            DomainError::NotFound(_) => StatusCode::NOT_FOUND,
            DomainError::InvalidArgument(_)
            | DomainError::FailedPrecondition(_)
            | DomainError::PolicyRefused { .. } => StatusCode::BAD_REQUEST,
            DomainError::AlreadyExists(_) | DomainError::Aborted(_) => StatusCode::CONFLICT,
            DomainError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            DomainError::PermissionDenied(_) => StatusCode::FORBIDDEN,
            DomainError::ResourceExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
            // A page is re-read, never half-applied: both mean "try again".
            DomainError::Unavailable(_) | DomainError::DeadlineExceeded(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            DomainError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(error = %self.0, "web console page failed");
        }
        (status, pages::error(status, &self.0.to_string())).into_response()
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_loopback_names_pass_the_host_check() {
        let host = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
            addressed_to_loopback(&headers)
        };
        for allowed in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:80",
            "LOCALHOST",
        ] {
            assert!(host(allowed), "{allowed}");
        }
        for refused in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1:80",
            "localhost.evil.example",
            "[::2]:80",
            "",
        ] {
            assert!(!host(refused), "{refused}");
        }
        assert!(!addressed_to_loopback(&HeaderMap::new()));
    }
    use super::*;

    #[test]
    fn each_domain_error_has_its_page_status() {
        let status = |error: DomainError| WebError(error).status();
        let text = || "x".to_owned();
        assert_eq!(status(DomainError::NotFound(text())), StatusCode::NOT_FOUND);
        assert_eq!(
            status(DomainError::InvalidArgument(Vec::new())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(DomainError::FailedPrecondition(text())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(DomainError::AlreadyExists(text())),
            StatusCode::CONFLICT
        );
        assert_eq!(status(DomainError::Aborted(text())), StatusCode::CONFLICT);
        assert_eq!(
            status(DomainError::Unauthenticated(text())),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(DomainError::PermissionDenied(text())),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(DomainError::ResourceExhausted(text())),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            status(DomainError::Unavailable(text())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(DomainError::DeadlineExceeded(text())),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status(DomainError::Internal(text())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
