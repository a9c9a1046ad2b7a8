//! Signing in and out of the console. Sign-in checks the token as the gRPC
//! port does (any role may read) and exchanges it for a session (see
//! `domain::session`): the browser's cookie holds a signed random secret,
//! never the token, and lasts `--web-session-lifetime`. Sign-out deletes
//! the session in the database, so the cookie is dead on every replica
//! even if it was copied. A reload of the tokens file that removes the
//! token ends its sessions at their next request.

use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Console, PeerAddress, WebError, login};
use crate::auth::{Authenticator, Credential};
use crate::domain::session::ConsoleSession;
use crate::domain::time;

/// The session cookie's name over plain HTTP (a browser drops `Secure`
/// cookies there); over HTTPS it is `__Host-modelreg_session`: the prefix
/// makes the browser refuse it unless it is `Secure`, host-only and for `/`.
const PLAIN_COOKIE: &str = "modelreg_session";

/// A signed-in (or, without auth, anonymous) reader, with its session when
/// signed in (the pages then offer to sign out). Extracting it from a
/// request without a live session sends the browser to the login page.
pub struct Reader(pub Option<ConsoleSession>);

impl Reader {
    /// Whom the reader signed in as (without auth nobody signs in).
    pub fn signed_in_as(&self) -> Option<&str> {
        self.0.as_ref().map(|session| session.principal.as_str())
    }
}

impl FromRequestParts<Console> for Reader {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        if !console.authenticator.is_enabled() {
            return Ok(Reader(None));
        }
        match current_session(console, &parts.headers).await {
            Ok(Some(session)) => Ok(Reader(Some(session))),
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(error) => Err(error.into_response()),
        }
    }
}

/// The live session the request's cookie names, if any.
pub(super) async fn current_session(
    console: &Console,
    headers: &HeaderMap,
) -> Result<Option<ConsoleSession>, WebError> {
    let Some(cookie) = session_cookie(headers) else {
        return Ok(None);
    };
    let key = console.registry.session_key().await?;
    let Some(id_digest) = key.check(&cookie, time::now()) else {
        return Ok(None);
    };
    let session = console.registry.session(id_digest).await?;
    Ok(session.filter(|session| console.authenticator.session_principal(session).is_some()))
}

/// The session cookie of the request (the secure name first).
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, PLAIN_COOKIE)
}

/// The value of cookie `name`, if the request carries it.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// Whether the browser reached the console over HTTPS (through a
/// TLS-terminating proxy: the console itself speaks plain HTTP). Trusting
/// the header is safe here: it only makes the cookie stricter.
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for the session cookie holding `value`, living `max_age`
/// seconds.
pub(super) fn set_cookie(headers: &HeaderMap, value: &str, max_age: u64) -> Option<HeaderValue> {
    set_named_cookie(headers, PLAIN_COOKIE, "Strict", value, max_age)
}

/// `Set-Cookie` for cookie `name` (`__Host-name` over HTTPS) with
/// `SameSite=same_site`, holding `value` for `max_age` seconds.
pub(super) fn set_named_cookie(
    headers: &HeaderMap,
    name: &str,
    same_site: &str,
    value: &str,
    max_age: u64,
) -> Option<HeaderValue> {
    let (prefix, secure) = if over_https(headers) {
        ("__Host-", "; Secure")
    } else {
        ("", "")
    };
    HeaderValue::from_str(&format!(
        "{prefix}{name}={value}; HttpOnly; SameSite={same_site}; Path=/; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// The value of cookie `name` (`__Host-name` first) of the request.
pub(super) fn named_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookie(headers, &format!("__Host-{name}")).or_else(|| cookie(headers, name))
}

pub async fn login_page(State(console): State<Console>) -> Response {
    if !console.authenticator.is_enabled() {
        return Redirect::to("/").into_response();
    }
    login::login(None, &console.authenticator.sign_in_providers()).into_response()
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: String,
}

pub async fn login(
    State(console): State<Console>,
    PeerAddress(peer): PeerAddress,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    // Another site must not sign this browser in as someone else.
    if !super::actor::same_origin(&headers) {
        return Ok(super::actor::cross_site());
    }
    let Some((principal, Credential::Token(digest))) =
        authenticate(&console.authenticator, form.token.trim()).await
    else {
        tokio::time::sleep(console.authenticator.failed(peer, "console sign-in")).await;
        return Ok((
            StatusCode::UNAUTHORIZED,
            login::login(
                Some("That token is not valid (unknown or revoked)."),
                &console.authenticator.sign_in_providers(),
            ),
        )
            .into_response());
    };
    let cookie = start(&console, &principal, &digest, None).await?;
    tracing::info!(principal = %principal, "console sign-in");
    Ok(
        match set_cookie(&headers, &cookie, console.session_lifetime.as_secs()) {
            Some(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response(),
            None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
    )
}

/// Starts a session of `principal`, signed in with the credential of
/// digest `digest` (and, from an identity provider, keeping its
/// `identity`): the session cookie's value.
pub(super) async fn start(
    console: &Console,
    principal: &str,
    digest: &[u8; 32],
    identity: Option<String>,
) -> Result<String, WebError> {
    let key = console.registry.session_key().await?;
    let (cookie, mut session) =
        key.start(principal, digest, time::now(), console.session_lifetime)?;
    session.identity = identity;
    console.registry.start_session(session).await?;
    Ok(cookie)
}

/// The principal and credential of a token, checked the way the gRPC port
/// checks it.
async fn authenticate(authenticator: &Authenticator, token: &str) -> Option<(String, Credential)> {
    // Only printable ASCII can be a bearer token.
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).ok()?,
    );
    authenticator
        .authenticate_credential(&headers, None::<&[Vec<u8>]>)
        .await
        .ok()
        .map(|(principal, credential)| (principal.name, credential))
}

pub async fn logout(State(console): State<Console>, headers: HeaderMap) -> Response {
    if !super::actor::same_origin(&headers) {
        return super::actor::cross_site();
    }
    if let Some(cookie) = session_cookie(&headers)
        && let Ok(key) = console.registry.session_key().await
        && let Some(id_digest) = key.check(&cookie, time::now())
    {
        match console.registry.end_session(id_digest).await {
            Ok(_) => tracing::info!("console sign-out"),
            Err(error) => return WebError::from(error).into_response(),
        }
    }
    match set_cookie(&headers, "", 0) {
        Some(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response(),
        None => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
