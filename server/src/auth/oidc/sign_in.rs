//! People signing in to the console with an identity provider: the
//! authorization code flow with PKCE, `state` and `nonce` (OpenID Connect
//! Core 1.0, section 3.1). The browser is sent to the provider's
//! authorization endpoint; it comes back with a code, which the server
//! exchanges at the token endpoint (with the PKCE verifier, and the
//! client's secret for a confidential client) for an ID token. That token
//! is verified like any of the provider's tokens, with the console's
//! client id as audience and the sign-in's nonce, and its claims go
//! through the same rules.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::keys::{Endpoints, read_json};
use super::{Principal, Rejection, TokenIdentity, Trust, Verdict};
use crate::domain::session::SignInFlow;

/// A provider the console offers to sign in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInProvider {
    /// Its name in the tokens file (and in the console's URLs).
    pub name: String,
    /// What the button says after "Sign in with".
    pub label: String,
}

/// Why a sign-in could not finish. Shown to the person only as "the
/// sign-in failed" (or "not allowed" for [`SignInError::Refused`] with no
/// rule); the detail goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// No provider of that name offers console sign-in.
    #[error("no identity provider {0:?} offers console sign-in")]
    UnknownProvider(String),
    /// The provider could not be asked, or answered an error.
    #[error("the identity provider: {0}")]
    Provider(String),
    /// The ID token was refused (verification, nonce or rules).
    #[error("the ID token was refused: {}", .0.outcome.as_ref().err().map(ToString::to_string).unwrap_or_default())]
    Refused(Box<Verdict>),
}

impl Trust {
    /// The providers people may sign in to the console with, in the
    /// file's order.
    pub fn sign_in_providers(&self) -> Vec<SignInProvider> {
        self.issuers
            .iter()
            .filter_map(|cache| {
                let issuer = cache.issuer();
                issuer.console.as_ref().map(|console| SignInProvider {
                    name: issuer.name.clone(),
                    label: console.label.clone(),
                })
            })
            .collect()
    }

    /// Where to send the browser to sign in with provider `name`, for the
    /// sign-in whose secrets are `flow`.
    pub async fn authorization_url(
        &self,
        name: &str,
        flow: &SignInFlow,
    ) -> Result<String, SignInError> {
        let (cache, console) = self.console_of(name)?;
        let endpoints = cache.endpoints().await.map_err(SignInError::Provider)?;
        let mut url = url::Url::parse(&endpoints.authorization)
            .map_err(|e| SignInError::Provider(format!("authorization_endpoint: {e}")))?;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(flow.verifier.as_bytes()));
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &console.client_id)
            .append_pair("redirect_uri", &console.redirect_url)
            .append_pair("scope", &console.scopes.join(" "))
            .append_pair("state", &flow.state)
            .append_pair("nonce", &flow.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchanges the `code` provider `name` sent back for its ID token,
    /// verifies the token for the sign-in `flow` and maps it to a
    /// principal: the principal, its identity, and the ID token (to digest,
    /// never kept).
    pub async fn finish_sign_in(
        &self,
        name: &str,
        code: &str,
        flow: &SignInFlow,
    ) -> Result<(Principal, TokenIdentity, String), SignInError> {
        let (cache, console) = self.console_of(name)?;
        let endpoints = cache.endpoints().await.map_err(SignInError::Provider)?;
        let client = cache
            .client()
            .ok_or_else(|| SignInError::Provider("its keys come from a file".to_owned()))?;
        let id_token = exchange(client, &endpoints, console, code, &flow.verifier).await?;
        let mut verdict = self
            .check_as(&id_token, Some((name, &console.client_id, &flow.nonce)))
            .await;
        match std::mem::replace(&mut verdict.outcome, Err(Rejection::Malformed)) {
            Ok((principal, identity)) => Ok((principal, identity, id_token)),
            Err(rejection) => {
                verdict.outcome = Err(rejection);
                Err(SignInError::Refused(Box::new(verdict)))
            }
        }
    }

    fn console_of(
        &self,
        name: &str,
    ) -> Result<
        (
            &std::sync::Arc<super::KeyCache>,
            &super::config::ConsoleClient,
        ),
        SignInError,
    > {
        self.issuers
            .iter()
            .find_map(|cache| {
                let console = cache.issuer().console.as_ref()?;
                (cache.issuer().name == name).then_some((cache, console))
            })
            .ok_or_else(|| SignInError::UnknownProvider(name.chars().take(64).collect()))
    }
}

/// Whether verified `claims` were minted for this sign-in: the nonce it
/// sent, and (when the token names several audiences) the console as the
/// party it was issued to.
pub(super) fn check_id_token_claims(
    claims: &serde_json::Map<String, Value>,
    client_id: &str,
    nonce: &str,
) -> Result<(), Rejection> {
    let sent = claims.get("nonce").and_then(Value::as_str);
    // Both are base64url of a MAC; comparing in constant time costs nothing.
    let same = sent.is_some_and(|sent| {
        use subtle::ConstantTimeEq;
        bool::from(sent.as_bytes().ct_eq(nonce.as_bytes()))
    });
    if !same {
        return Err(Rejection::Nonce);
    }
    let audiences = claims
        .get("aud")
        .and_then(Value::as_array)
        .map_or(1, Vec::len);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => Err(Rejection::WrongAudience),
        None if audiences > 1 => Err(Rejection::WrongAudience),
        _ => Ok(()),
    }
}

/// `text` form-encoded.
fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The token request's form (RFC 6749, 4.1.3, with PKCE's verifier); a
/// public client names itself in it, a confidential one authenticates in
/// the header instead.
fn token_request(console: &super::config::ConsoleClient, code: &str, verifier: &str) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", &console.redirect_url)
        .append_pair("code_verifier", verifier);
    if console.client_secret.is_none() {
        form.append_pair("client_id", &console.client_id);
    }
    form.finish()
}

/// The token endpoint's ID token for `code`.
async fn exchange(
    client: &reqwest::Client,
    endpoints: &Endpoints,
    console: &super::config::ConsoleClient,
    code: &str,
    verifier: &str,
) -> Result<String, SignInError> {
    let mut request = client
        .post(&endpoints.token)
        .header(reqwest::header::ACCEPT, "application/json")
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
    // client_secret_basic: both parts form-encoded first (RFC 6749, 2.3.1).
    if let Some(secret) = &console.client_secret {
        let credentials = format!(
            "{}:{}",
            form_encode(&console.client_id),
            form_encode(secret)
        );
        request = request.header(
            reqwest::header::AUTHORIZATION,
            format!("Basic {}", STANDARD.encode(credentials)),
        );
    }
    let body = token_request(console, code, verifier);
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| SignInError::Provider(format!("{}: {e}", endpoints.token)))?;
    let status = response.status();
    let body = read_json(response, &endpoints.token)
        .await
        .map_err(SignInError::Provider)?;
    if !status.is_success() {
        // The provider's error code (RFC 6749, 5.2), quoted: it is its text.
        let error = body.get("error").and_then(Value::as_str).unwrap_or("");
        return Err(SignInError::Provider(format!(
            "{} answered {status} {:?}",
            endpoints.token,
            error.chars().take(100).collect::<String>()
        )));
    }
    body.get("id_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| SignInError::Provider(format!("{} answered no id_token", endpoints.token)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn an_id_token_must_carry_the_sign_ins_nonce() {
        let ok = claims(json!({"aud": "console", "nonce": "n-1"}));
        assert_eq!(check_id_token_claims(&ok, "console", "n-1"), Ok(()));
        assert_eq!(
            check_id_token_claims(&ok, "console", "n-2"),
            Err(Rejection::Nonce)
        );
        let none = claims(json!({"aud": "console"}));
        assert_eq!(
            check_id_token_claims(&none, "console", "n-1"),
            Err(Rejection::Nonce)
        );
    }

    #[test]
    fn an_id_token_for_several_audiences_must_name_the_console_as_its_party() {
        let shared = claims(json!({"aud": ["console", "other"], "nonce": "n"}));
        assert_eq!(
            check_id_token_claims(&shared, "console", "n"),
            Err(Rejection::WrongAudience)
        );
        let named = claims(json!({"aud": ["console", "other"], "azp": "console", "nonce": "n"}));
        assert_eq!(check_id_token_claims(&named, "console", "n"), Ok(()));
        let other = claims(json!({"aud": "console", "azp": "other", "nonce": "n"}));
        assert_eq!(
            check_id_token_claims(&other, "console", "n"),
            Err(Rejection::WrongAudience)
        );
    }
}
