//! Bearer tokens the platform hands out and renews: an environment
//! variable, a command that prints one (a cloud CLI, a vault agent), or a
//! GitHub Actions job's OIDC token. A token that expires (a JWT's `exp`) is
//! fetched again `refresh_before` ahead of it, so a long-running client
//! never sends an expired one (a token living less than twice that is
//! used for half its life).

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};

use crate::error::{Error, Result};

/// Where a renewable bearer token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenProvider {
    /// The token in this environment variable, read at every call.
    Env(String),
    /// The standard output of this command (program, then arguments; no
    /// shell), run again shortly before the token expires (a token without
    /// `exp` is kept five minutes).
    Command(Vec<String>),
    /// A GitHub Actions job's OIDC token for this audience (the registry's
    /// `[[issuer]]` audience), requested from
    /// `$ACTIONS_ID_TOKEN_REQUEST_URL` with
    /// `$ACTIONS_ID_TOKEN_REQUEST_TOKEN` (the job needs `permissions:
    /// id-token: write`).
    GitHubActions {
        /// The `aud` to ask for.
        audience: String,
    },
}

/// A token kept without `exp` this long.
const MAX_AGE: Duration = Duration::from_secs(300);
/// How long a command or request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Kept {
    header: MetadataValue<Ascii>,
    expires_at: SystemTime,
    refresh_at: SystemTime,
}

/// A provider and the token it gave last.
#[derive(Debug)]
pub(crate) struct Renewing {
    provider: TokenProvider,
    refresh_before: Duration,
    kept: Mutex<Option<Kept>>,
}

impl Renewing {
    /// Fetches the first token now, so a misconfigured provider is an
    /// error at once rather than at the first call.
    pub(crate) fn start(provider: TokenProvider, refresh_before: Duration) -> Result<Self> {
        let renewing = Self {
            provider,
            refresh_before,
            kept: Mutex::new(None),
        };
        renewing
            .header()
            .map_err(|status| Error::InvalidInput(status.message().to_owned()))?;
        Ok(renewing)
    }

    /// The `authorization` header for the next call, fetching a new token
    /// when the kept one is due. A failed fetch while the kept token is
    /// still valid keeps it (the next call tries again). Blocks the calling
    /// task while a command or request runs: once per token lifetime.
    pub(crate) fn header(&self) -> std::result::Result<MetadataValue<Ascii>, Status> {
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = SystemTime::now();
        if let Some(current) = kept.as_ref()
            && now < current.refresh_at
        {
            return Ok(current.header.clone());
        }
        let token = match fetch(&self.provider) {
            Ok(token) => token,
            Err(reason) => {
                return match kept.as_ref() {
                    Some(current) if now < current.expires_at => Ok(current.header.clone()),
                    _ => Err(Status::unauthenticated(reason)),
                };
            }
        };
        let header = MetadataValue::try_from(format!("Bearer {token}"))
            .map_err(|_| Status::unauthenticated("the token must be printable ASCII"))?;
        let (expires_at, refresh_at) = match expiry_of(&token) {
            // `refresh_before` ahead of the expiry, but a token living
            // less than twice that is still used for half its life.
            Some(expires_at) => {
                let half_life = expires_at.duration_since(now).unwrap_or_default() / 2;
                let ahead = expires_at.checked_sub(self.refresh_before).unwrap_or(now);
                (expires_at, ahead.max(now + half_life))
            }
            None => (now + MAX_AGE, now + MAX_AGE),
        };
        *kept = Some(Kept {
            header: header.clone(),
            expires_at,
            refresh_at,
        });
        Ok(header)
    }
}

/// A new token from `provider`, trimmed, or why not.
fn fetch(provider: &TokenProvider) -> std::result::Result<String, String> {
    let token = match provider {
        TokenProvider::Env(name) => {
            std::env::var(name).map_err(|_| format!("${name} is not set"))?
        }
        TokenProvider::Command(argv) => run(argv)?,
        TokenProvider::GitHubActions { audience } => github_actions(audience)?,
    };
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err("the token provider gave an empty token".to_owned());
    }
    Ok(token)
}

fn run(argv: &[String]) -> std::result::Result<String, String> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| "the token command is empty".to_owned())?;
    let output = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the token command {program}: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "the token command {program} exited with {}: {}",
            output.status.code().unwrap_or(-1),
            stderr.trim().chars().take(500).collect::<String>()
        ));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| format!("the token command {program} printed no UTF-8"))
}

fn github_actions(audience: &str) -> std::result::Result<String, String> {
    let url = std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL");
    let bearer = std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    let (Ok(url), Ok(bearer)) = (url, bearer) else {
        return Err(
            "$ACTIONS_ID_TOKEN_REQUEST_URL and $ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set: run \
             in a GitHub Actions job with `permissions: id-token: write`"
                .to_owned(),
        );
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    let audience: String =
        percent_encoding::utf8_percent_encode(audience, percent_encoding::NON_ALPHANUMERIC)
            .collect();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_TIMEOUT))
        .max_redirects(0)
        .build()
        .into();
    let mut answer = agent
        .get(&format!("{url}{separator}audience={audience}"))
        .header("Authorization", &format!("bearer {bearer}"))
        .call()
        .map_err(|e| format!("the GitHub Actions token request failed: {e}"))?;
    let body = answer
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| format!("the GitHub Actions token request failed: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(&body)
        .map_err(|_| "the GitHub Actions token endpoint answered no JSON".to_owned())?;
    value
        .get("value")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "the GitHub Actions token endpoint answered without a value".to_owned())
}

/// A JWT's `exp`, read without verifying it (the server verifies; the
/// client only plans its refresh); `None` for other tokens.
fn expiry_of(token: &str) -> Option<SystemTime> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let exp = claims.get("exp")?.as_f64()?;
    (exp > 0.0).then(|| UNIX_EPOCH + Duration::from_secs_f64(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_of_a_jwt_is_read_and_other_tokens_have_none() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"exp":2000000000}"#)
        );
        assert_eq!(
            expiry_of(&jwt),
            Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
        assert_eq!(expiry_of("a-static-token"), None);
        assert_eq!(expiry_of("a.b.c.d"), None);
    }

    #[test]
    fn a_command_that_fails_is_an_error_naming_it() {
        let refused = Renewing::start(
            TokenProvider::Command(vec!["sh".into(), "-c".into(), "echo no >&2; exit 3".into()]),
            Duration::from_secs(60),
        )
        .unwrap_err();
        assert!(
            refused.to_string().contains("exited with 3: no"),
            "{refused}"
        );
    }
}
