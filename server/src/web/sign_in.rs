//! Signing in to the console with an identity provider (see
//! `auth::oidc::sign_in` for the protocol). `GET /login/oidc/NAME` gives
//! the browser a short-lived sign-in cookie (`SameSite=Lax`, so it comes
//! back with the provider's redirect) whose secret yields the flow's
//! `state`, `nonce` and PKCE verifier, and sends it to the provider. The
//! provider sends it back to `GET /login/oidc/NAME/callback` with a code
//! and the `state`; only a browser holding the matching cookie gets further.
//! The session it then gets is the console's usual one, keeping the ID
//! token's claims so every request maps them through the rules as they are.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use super::session::{named_cookie, set_cookie, set_named_cookie, start};
use super::{Console, PeerAddress, WebError, login};
use crate::auth::oidc::{Rejection, SignInError};
use crate::domain::time;

/// The sign-in cookie's name (`__Host-` prefixed over HTTPS).
const SIGN_IN_COOKIE: &str = "modelreg_sign_in";
/// How long a person may take at the provider's login page.
const SIGN_IN_TIME: Duration = Duration::from_secs(600);

/// What the provider's redirect carries (OAuth 2.0, 4.1.2 and 4.1.2.1).
#[derive(serde::Deserialize)]
pub struct ProviderAnswer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Sends the browser to provider `name`'s sign-in page.
pub async fn begin(
    State(console): State<Console>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if !console.authenticator.is_enabled() {
        return Ok(Redirect::to("/").into_response());
    }
    let key = console.registry.session_key().await?;
    let (cookie, flow) = key.begin_sign_in(&name, time::now(), SIGN_IN_TIME)?;
    match console.authenticator.sign_in_url(&name, &flow).await {
        Ok(url) => {
            let Some(cookie) = set_named_cookie(
                &headers,
                SIGN_IN_COOKIE,
                "Lax",
                &cookie,
                SIGN_IN_TIME.as_secs(),
            ) else {
                return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
            };
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response())
        }
        Err(SignInError::UnknownProvider(_)) => Ok(login_problem(
            &console,
            StatusCode::NOT_FOUND,
            "This console offers no sign-in with that provider.",
        )),
        Err(error) => {
            tracing::warn!(issuer = %name, error = %error, "cannot send a browser to its identity provider");
            Ok(login_problem(
                &console,
                StatusCode::BAD_GATEWAY,
                "The identity provider cannot be reached right now; try again shortly, or sign \
                 in with a token.",
            ))
        }
    }
}

/// Where the provider sends the browser back: checks that the answer
/// belongs to this browser's sign-in, exchanges the code and starts the
/// session.
pub async fn callback(
    State(console): State<Console>,
    PeerAddress(peer): PeerAddress,
    Path(name): Path<String>,
    Query(answer): Query<ProviderAnswer>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if !console.authenticator.is_enabled() {
        return Ok(Redirect::to("/").into_response());
    }
    let key = console.registry.session_key().await?;
    let flow = named_cookie(&headers, SIGN_IN_COOKIE)
        .and_then(|cookie| key.sign_in_flow(&cookie, &name, time::now()));
    let state_matches = |expected: &str| {
        answer
            .state
            .as_deref()
            .is_some_and(|state| bool::from(state.as_bytes().ct_eq(expected.as_bytes())))
    };
    let Some(flow) = flow.filter(|flow| state_matches(&flow.state)) else {
        // Another browser's answer (a forged sign-in), or one too late.
        tracing::warn!(issuer = %name, "console sign-in answer without this browser's sign-in state");
        return Ok(ended(
            login_problem(
                &console,
                StatusCode::BAD_REQUEST,
                "This sign-in expired or was started in another browser; sign in again.",
            ),
            &headers,
        ));
    };
    if let Some(error) = answer.error {
        tracing::info!(issuer = %name, error = ?error.chars().take(100).collect::<String>(), "the identity provider did not sign the browser in");
        return Ok(ended(
            login_problem(
                &console,
                StatusCode::UNAUTHORIZED,
                "The identity provider did not sign you in.",
            ),
            &headers,
        ));
    }
    let Some(code) = answer.code.filter(|code| !code.is_empty()) else {
        return Ok(ended(
            login_problem(
                &console,
                StatusCode::BAD_REQUEST,
                "The identity provider's answer carries no code; sign in again.",
            ),
            &headers,
        ));
    };
    let (principal, identity, digest) = match console
        .authenticator
        .finish_sign_in(&name, &code, &flow)
        .await
    {
        Ok(signed_in) => signed_in,
        Err(error) => {
            tokio::time::sleep(console.authenticator.failed(peer, "console sign-in")).await;
            let (status, problem) = match &error {
                SignInError::Refused(verdict)
                    if matches!(verdict.outcome, Err(Rejection::NoRule)) =>
                {
                    (
                        StatusCode::FORBIDDEN,
                        "The identity provider signed you in, but this registry admits no \
                             such identity; ask an admin.",
                    )
                }
                _ => (
                    StatusCode::UNAUTHORIZED,
                    "The sign-in failed; try again, or ask an admin (the server's log \
                         says why).",
                ),
            };
            return Ok(ended(login_problem(&console, status, problem), &headers));
        }
    };
    let cookie = start(
        &console,
        &principal.name,
        &digest,
        Some(identity.to_stored()),
    )
    .await?;
    tracing::info!(
        principal = %principal.name,
        source = principal.source.as_deref().unwrap_or(""),
        "console sign-in"
    );
    let Some(cookie) = set_cookie(&headers, &cookie, console.session_lifetime.as_secs()) else {
        return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
    };
    // A page rather than a redirect: the browser arrived from the provider's
    // site, and would not send the session cookie (SameSite=Strict) on a
    // redirect of that navigation; the page's own navigation is same-site.
    let page = login::signed_in(&principal.name);
    let mut response = ended(page.into_response(), &headers);
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

/// The login page with `problem`, answered with `status`.
fn login_problem(console: &Console, status: StatusCode, problem: &str) -> Response {
    let providers = console.authenticator.sign_in_providers();
    (status, login::login(Some(problem), &providers)).into_response()
}

/// `response`, deleting the sign-in cookie: a flow is used once.
fn ended(mut response: Response, headers: &HeaderMap) -> Response {
    if let Some(gone) = set_named_cookie(headers, SIGN_IN_COOKIE, "Lax", "", 0) {
        response.headers_mut().append(header::SET_COOKIE, gone);
    }
    response
}
