//! Who makes a change from the console, and whether the browser really
//! asked for it. A form's POST is taken only when its `Origin` is the
//! console's own (a page of another site cannot forge it; nor can it read
//! the form token), its form token is the session's (see
//! `SessionKey::form_token`), and the principal's role allows the gRPC
//! method the form stands for, from the table the gRPC port checks. The use
//! case then checks alias and model limits and the alias's policy exactly
//! as it does for the gRPC call. The cookie itself is `SameSite=Strict`.

use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::session::current_session;
use super::{Console, Reader, WebError, pages};
use crate::auth::{Access, Principal, check_role, registry_method, required_access};
use crate::domain::access::{Grant, Role};
use crate::domain::commands::Caller;
use crate::domain::{DomainError, DomainResult, validate};

/// How long a change made from the console may take; one not committed by
/// then is not made.
const CHANGE_TIME: Duration = Duration::from_secs(10);

/// The form-token subject of a console without authentication, where there
/// is no session.
pub const NO_SESSION: &str = "anonymous console";

/// The principal behind a same-origin form post.
pub struct Actor {
    principal: Principal,
    /// The session's id digest ([`NO_SESSION`] without authentication).
    session: String,
}

impl FromRequestParts<Console> for Actor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        if !same_origin(&parts.headers) {
            return Err(cross_site());
        }
        if !console.authenticator.is_enabled() {
            return Ok(Self {
                principal: Principal::anonymous(),
                session: NO_SESSION.to_owned(),
            });
        }
        let session = match current_session(console, &parts.headers).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(Redirect::to("/login").into_response()),
            Err(error) => return Err(error.into_response()),
        };
        match console.authenticator.session_principal(&session) {
            Some(principal) => Ok(Self {
                principal,
                session: session.id_digest,
            }),
            None => Err(Redirect::to("/login").into_response()),
        }
    }
}

impl Actor {
    /// The caller of RegistryService's `method`, made with the form that
    /// carried `form_token` and the idempotency key `request_id` (a
    /// resubmitted form repeats its key, so it changes nothing twice).
    pub async fn caller(
        &self,
        console: &Console,
        method: &str,
        form_token: &str,
        request_id: &str,
    ) -> Result<Caller, WebError> {
        let path = registry_method(method);
        if let Access::Needs(role) = required_access(&path) {
            check_role(&self.principal, role, &path)?;
        }
        let key = console.registry.session_key().await?;
        if !key.check_form_token(&self.session, form_token) {
            return Err(DomainError::PermissionDenied(
                "the form's token does not belong to this session: reload the page and send \
                 the form again"
                    .to_owned(),
            )
            .into());
        }
        Ok(Caller {
            identity: self.principal.name.clone(),
            source: self.principal.source.clone(),
            request_id: uuid::Uuid::now_v7().to_string(),
            correlation_id: None,
            grant: self.principal.grant.clone(),
            idempotency_key: validate::request_id(request_id)?,
            deadline: Some(Instant::now() + CHANGE_TIME),
        })
    }
}

/// Whether the request says it came from a page of this console: its
/// `Origin` names the host it was sent to (the `Host` header, or the
/// `X-Forwarded-Host` a proxy in front sets), and `Sec-Fetch-Site`, which
/// browsers add and pages cannot change, is `same-origin` when present.
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    if text(header::HeaderName::from_static("sec-fetch-site"))
        .is_some_and(|site| site != "same-origin")
    {
        return false;
    }
    let Some(authority) = text(header::ORIGIN).and_then(|origin| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
    }) else {
        return false;
    };
    [
        header::HOST,
        header::HeaderName::from_static("x-forwarded-host"),
    ]
    .into_iter()
    .filter_map(text)
    .any(|host| host.trim().eq_ignore_ascii_case(authority))
}

/// The answer to a form another site's page sent.
pub(super) fn cross_site() -> Response {
    (
        StatusCode::FORBIDDEN,
        pages::error(
            StatusCode::FORBIDDEN,
            "refused: the form was not sent by a page of this console (its Origin header is \
             missing or names another site)",
        ),
    )
        .into_response()
}

/// Who is looking at a page, for the forms it offers: the principal (to
/// offer only what it may do; every post is checked again) and the form
/// token its forms carry.
pub struct Viewer {
    pub principal: Principal,
    pub form_token: String,
}

impl Viewer {
    /// The viewer of a page `reader` may read.
    pub async fn of(console: &Console, reader: &Reader) -> DomainResult<Self> {
        let key = console.registry.session_key().await?;
        let (principal, session) = match &reader.0 {
            None => (Principal::anonymous(), NO_SESSION),
            Some(session) => (
                console
                    .authenticator
                    .session_principal(session)
                    .unwrap_or_else(|| Principal {
                        name: session.principal.clone(),
                        grant: Grant {
                            role: Role::Reader,
                            aliases: None,
                            model_prefixes: None,
                        },
                        source: None,
                    }),
                session.id_digest.as_str(),
            ),
        };
        Ok(Self {
            principal,
            form_token: key.form_token(session),
        })
    }

    /// Whether the viewer's role allows RegistryService's `method`.
    pub fn may(&self, method: &str) -> bool {
        match required_access(&registry_method(method)) {
            Access::Open => true,
            Access::Needs(role) => self.principal.grant.role >= role,
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn only_a_page_of_the_console_itself_may_post() {
        let host = ("host", "127.0.0.1:8080");
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(same_origin(&headers(&[
            host,
            ("x-forwarded-host", "registry.example"),
            ("origin", "https://registry.example"),
        ])));
        for refused in [
            headers(&[host]),
            headers(&[host, ("origin", "null")]),
            headers(&[host, ("origin", "http://evil.example")]),
            headers(&[host, ("origin", "http://127.0.0.1:8080.evil.example")]),
            headers(&[host, ("origin", "http://127.0.0.1:8081")]),
            headers(&[
                host,
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "cross-site"),
            ]),
            headers(&[("origin", "http://127.0.0.1:8080")]),
        ] {
            assert!(!same_origin(&refused), "{refused:?}");
        }
    }
}
