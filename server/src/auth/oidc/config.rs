//! The `[[issuer]]` and `[[rule]]` entries of the tokens file: which
//! identity providers' JWTs the server accepts, and how a token's claims
//! map to a principal. Checked whole at start and on every reload, so a
//! mistake is refused before it can let the wrong caller in.
//!
//! ```toml
//! [[issuer]]
//! name = "github"                                  # in logs and metrics
//! issuer = "https://token.actions.githubusercontent.com"
//! audience = "model-registry"
//! algorithms = ["RS256"]                           # default RS256, ES256, EdDSA
//!
//! [[rule]]
//! issuer = "github"
//! claims = { repository = "acme/churn", ref = "refs/heads/main" }
//! principal = "gha:{repository}@{ref}"
//! role = "trainer"
//! model_prefixes = ["churn"]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

use super::rules::{Rule, Template};
use crate::domain::access::Grant;
use crate::domain::pattern::Pattern;

/// Seconds of clock skew allowed on `exp` and `nbf` unless an issuer says.
const DEFAULT_LEEWAY_SECONDS: u64 = 30;
/// The longest a token may live (`exp` − `iat`) unless an issuer says: CI
/// and Kubernetes tokens live minutes to an hour; a token meant to last
/// days is a static credential in disguise.
const DEFAULT_MAX_LIFETIME_SECONDS: u64 = 24 * 3600;
/// Least time between two fetches of an issuer's keys for an unknown `kid`
/// unless an issuer says: tokens with made-up key ids must not turn the
/// server into a flood against the identity provider.
const DEFAULT_KEY_REFRESH_SECONDS: u64 = 60;

/// An `[[issuer]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerEntry {
    name: String,
    issuer: String,
    audience: String,
    algorithms: Option<Vec<String>>,
    jwks_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    leeway_seconds: Option<u64>,
    max_lifetime_seconds: Option<u64>,
    #[serde(default)]
    required_claims: Vec<String>,
    key_refresh_seconds: Option<u64>,
    console: Option<ConsoleEntry>,
}

/// An `[issuer.console]` table as written: the console's client at the
/// provider, for people signing in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsoleEntry {
    client_id: String,
    client_secret_file: Option<PathBuf>,
    redirect_url: String,
    label: Option<String>,
    scopes: Option<Vec<String>>,
}

/// A `[[rule]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    issuer: String,
    #[serde(default)]
    claims: BTreeMap<String, OneOrMany>,
    principal: String,
    role: String,
    aliases: Option<Vec<String>>,
    model_prefixes: Option<Vec<String>>,
}

/// A claim's pattern, or several of which any may match.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Where an issuer's public keys come from.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// OIDC discovery: `<issuer>/.well-known/openid-configuration`, then
    /// its `jwks_uri`, over HTTPS; trusting only `ca_pem`'s certificates
    /// when given (a private provider), else the public roots.
    Discovery {
        /// The CA certificates (PEM) the provider's certificate must chain to.
        ca_pem: Option<Vec<u8>>,
    },
    /// A JWKS file read with the configuration (clusters without a route
    /// to their provider); changed by editing it and reloading.
    File(JwkSet),
}

/// A trusted identity provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Issuer {
    /// Its name in rules, logs and metrics.
    pub name: String,
    /// The `iss` its tokens carry, exactly.
    pub url: String,
    /// The `aud` its tokens must carry (one of, when a list).
    pub audience: String,
    /// The algorithms its tokens may be signed with: never `none`, never
    /// HMAC (a public key is no secret).
    pub algorithms: Vec<Algorithm>,
    /// Where its keys come from.
    pub keys: KeySource,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway: u64,
    /// The longest lifetime (`exp` − `iat`, or `exp` − now) accepted, in seconds.
    pub max_lifetime: u64,
    /// Claims a token must carry besides `iss`, `aud` and `exp`.
    pub required_claims: Vec<String>,
    /// Least time between two key fetches prompted by unknown key ids.
    pub key_refresh: Duration,
    /// The console's client at this provider, when people sign in with it.
    pub console: Option<ConsoleClient>,
}

/// The console's OAuth client at a provider (the authorization code flow
/// with PKCE): the ID tokens it receives carry `client_id` as audience.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleClient {
    /// The client's id at the provider.
    pub client_id: String,
    /// Its secret, for a confidential client (sent with HTTP Basic).
    pub client_secret: Option<String>,
    /// Where the provider sends the browser back: this console's
    /// `/login/oidc/NAME/callback`, exactly as registered at the provider.
    pub redirect_url: String,
    /// The button says "Sign in with LABEL".
    pub label: String,
    /// The scopes asked for (always with `openid`).
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for ConsoleClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleClient")
            .field("client_id", &self.client_id)
            .field("redirect_url", &self.redirect_url)
            .finish_non_exhaustive()
    }
}

/// Issuers and rules, in the order the file gives them.
#[derive(Debug, Default)]
pub struct Trust {
    /// Trusted providers.
    pub issuers: Vec<Arc<Issuer>>,
    /// First match wins.
    pub rules: Vec<Rule>,
}

impl Trust {
    /// Checks the entries; relative file names are read from `dir`.
    /// `principal_names` are the static principals' names, which no rule
    /// may take.
    pub fn parse(
        issuers: Vec<IssuerEntry>,
        rules: Vec<RuleEntry>,
        dir: &Path,
        principal_names: &BTreeSet<String>,
        parse_grant: impl Fn(
            &str,
            &str,
            Option<Vec<String>>,
            Option<Vec<String>>,
        ) -> Result<Grant, String>,
    ) -> Result<Self, String> {
        let mut trust = Self::default();
        for (index, entry) in issuers.into_iter().enumerate() {
            let at = format!("issuer {} ({:?})", index + 1, entry.name);
            let issuer = parse_issuer(entry, dir).map_err(|e| format!("{at}: {e}"))?;
            if trust.issuers.iter().any(|i| i.name == issuer.name) {
                return Err(format!("{at}: the name appears twice"));
            }
            if trust.issuers.iter().any(|i| i.url == issuer.url) {
                return Err(format!("{at}: the issuer {} appears twice", issuer.url));
            }
            trust.issuers.push(Arc::new(issuer));
        }
        for (index, entry) in rules.into_iter().enumerate() {
            let at = format!("rule {}", index + 1);
            if !trust.issuers.iter().any(|i| i.name == entry.issuer) {
                return Err(format!(
                    "{at}: issuer {:?} is not an [[issuer]] name of this file",
                    entry.issuer
                ));
            }
            let template =
                Template::parse(&entry.principal).map_err(|e| format!("{at}: principal: {e}"))?;
            if let Some(literal) = template.literal()
                && principal_names.contains(literal)
            {
                return Err(format!(
                    "{at}: principal {literal:?} is the name of a [[principal]] entry; a token \
                     of an identity provider must not act under a static principal's name"
                ));
            }
            let grant = parse_grant(&at, &entry.role, entry.aliases, entry.model_prefixes)?;
            let mut claims = Vec::new();
            for (claim, patterns) in entry.claims {
                let patterns = match patterns {
                    OneOrMany::One(one) => vec![one],
                    OneOrMany::Many(many) if many.is_empty() => {
                        return Err(format!("{at}: claims.{claim} is an empty list"));
                    }
                    OneOrMany::Many(many) => many,
                };
                claims.push((claim, patterns.iter().map(|p| Pattern::new(p)).collect()));
            }
            trust.rules.push(Rule {
                issuer: entry.issuer,
                claims,
                principal: template,
                grant,
            });
        }
        for issuer in &trust.issuers {
            if !trust.rules.iter().any(|r| r.issuer == issuer.name) {
                return Err(format!(
                    "issuer {:?}: no [[rule]] names it, so none of its tokens could be \
                     accepted; add a rule or remove the issuer",
                    issuer.name
                ));
            }
        }
        Ok(trust)
    }
}

fn parse_issuer(entry: IssuerEntry, dir: &Path) -> Result<Issuer, String> {
    if entry.name.trim().is_empty() || entry.name.len() > 64 {
        return Err("name must be 1 to 64 characters".to_owned());
    }
    if entry.audience.is_empty() {
        return Err("audience must not be empty".to_owned());
    }
    let url = url::Url::parse(&entry.issuer).map_err(|e| format!("issuer: not a URL: {e}"))?;
    let keys = match (entry.jwks_file, entry.ca_file) {
        (Some(_), Some(_)) => {
            return Err(
                "give jwks_file or ca_file, not both: keys from a file are not \
                        fetched"
                    .to_owned(),
            );
        }
        (Some(file), None) => {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("jwks_file {}: {e}", path.display()))?;
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| format!("jwks_file {}: not a JWKS: {e}", path.display()))?;
            if set.keys.is_empty() {
                return Err(format!("jwks_file {}: holds no key", path.display()));
            }
            KeySource::File(set)
        }
        (None, ca_file) => {
            if url.scheme() != "https" {
                return Err(format!(
                    "issuer: {} is not https://; keys are fetched from the issuer over HTTPS \
                     only (give jwks_file for a provider without it)",
                    entry.issuer
                ));
            }
            let ca_pem = match ca_file {
                Some(file) => {
                    let path = dir.join(file);
                    let pem = std::fs::read(&path)
                        .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                    match reqwest::Certificate::from_pem_bundle(&pem) {
                        Ok(certificates) if !certificates.is_empty() => Some(pem),
                        _ => {
                            return Err(format!(
                                "ca_file {}: holds no PEM certificate",
                                path.display()
                            ));
                        }
                    }
                }
                None => None,
            };
            KeySource::Discovery { ca_pem }
        }
    };
    let algorithms = match entry.algorithms {
        None => vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
        Some(names) if names.is_empty() => {
            return Err("algorithms must name at least one".to_owned());
        }
        Some(names) => names
            .iter()
            .map(|name| parse_algorithm(name))
            .collect::<Result<_, _>>()?,
    };
    for claim in &entry.required_claims {
        if claim.is_empty() {
            return Err("required_claims holds \"\"".to_owned());
        }
    }
    let console = match entry.console {
        None => None,
        Some(_) if matches!(keys, KeySource::File(_)) => {
            return Err(
                "console: signing in needs the provider's discovery document (its \
                 authorization and token endpoints); give ca_file or nothing, not jwks_file"
                    .to_owned(),
            );
        }
        Some(console) => Some(parse_console(console, &entry.name, dir)?),
    };
    Ok(Issuer {
        name: entry.name,
        url: entry.issuer,
        audience: entry.audience,
        algorithms,
        keys,
        leeway: entry.leeway_seconds.unwrap_or(DEFAULT_LEEWAY_SECONDS),
        max_lifetime: entry
            .max_lifetime_seconds
            .unwrap_or(DEFAULT_MAX_LIFETIME_SECONDS),
        required_claims: entry.required_claims,
        key_refresh: Duration::from_secs(
            entry
                .key_refresh_seconds
                .unwrap_or(DEFAULT_KEY_REFRESH_SECONDS),
        ),
        console,
    })
}

/// Checks an `[issuer.console]` table of issuer `name`.
fn parse_console(entry: ConsoleEntry, name: &str, dir: &Path) -> Result<ConsoleClient, String> {
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "console: the issuer's name {name:?} is part of the console's sign-in URLs; use \
             letters, digits, '-', '_' and '.' only"
        ));
    }
    if entry.client_id.trim().is_empty() {
        return Err("console.client_id must not be empty".to_owned());
    }
    let redirect = url::Url::parse(&entry.redirect_url)
        .map_err(|e| format!("console.redirect_url: not a URL: {e}"))?;
    let callback = format!("/login/oidc/{name}/callback");
    if redirect.path() != callback || redirect.query().is_some() || redirect.fragment().is_some() {
        return Err(format!(
            "console.redirect_url must be the console's address followed by {callback} \
             (e.g. https://registry.example.com{callback}), as registered at the provider"
        ));
    }
    let loopback = matches!(
        redirect.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]")
    );
    if redirect.scheme() != "https" && !(redirect.scheme() == "http" && loopback) {
        return Err(
            "console.redirect_url must be https:// (http:// only on loopback): the provider \
             sends the sign-in code to it"
                .to_owned(),
        );
    }
    let client_secret = match entry.client_secret_file {
        None => None,
        Some(file) => {
            let path = dir.join(file);
            let secret = std::fs::read_to_string(&path)
                .map_err(|e| format!("console.client_secret_file {}: {e}", path.display()))?;
            let secret = secret.trim().to_owned();
            if secret.is_empty() {
                return Err(format!(
                    "console.client_secret_file {}: is empty",
                    path.display()
                ));
            }
            Some(secret)
        }
    };
    let mut scopes = entry
        .scopes
        .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
    if let Some(bad) = scopes.iter().find(|scope| {
        scope.is_empty()
            || !scope
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    }) {
        return Err(format!("console.scopes: {bad:?} is not a scope"));
    }
    if !scopes.iter().any(|scope| scope == "openid") {
        scopes.insert(0, "openid".to_owned());
    }
    Ok(ConsoleClient {
        client_id: entry.client_id,
        client_secret,
        redirect_url: entry.redirect_url,
        label: entry.label.unwrap_or_else(|| name.to_owned()),
        scopes,
    })
}

/// An asymmetric signature algorithm by its JOSE name.
fn parse_algorithm(name: &str) -> Result<Algorithm, String> {
    let algorithm: Algorithm = name
        .parse()
        .map_err(|_| format!("algorithms: {name:?} is not a JOSE algorithm name"))?;
    if matches!(
        algorithm,
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
    ) {
        return Err(format!(
            "algorithms: {name} is an HMAC algorithm, which would verify with the provider's \
             public key as the secret (anyone could sign); use RS256, ES256 or EdDSA"
        ));
    }
    Ok(algorithm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_and_unknown_algorithms_are_refused() {
        assert!(parse_algorithm("HS256").unwrap_err().contains("HMAC"));
        assert!(parse_algorithm("none").unwrap_err().contains("not a JOSE"));
        assert_eq!(parse_algorithm("EdDSA").unwrap(), Algorithm::EdDSA);
    }

    fn console(redirect_url: &str, scopes: Option<&[&str]>) -> ConsoleEntry {
        ConsoleEntry {
            client_id: "model-registry-console".to_owned(),
            client_secret_file: None,
            redirect_url: redirect_url.to_owned(),
            label: None,
            scopes: scopes.map(|s| s.iter().map(|&scope| scope.to_owned()).collect()),
        }
    }

    #[test]
    fn a_console_client_comes_back_to_its_own_callback_over_https() {
        let parse = |url: &str, name: &str| parse_console(console(url, None), name, Path::new("."));
        let client = parse(
            "https://registry.example.com/login/oidc/corp/callback",
            "corp",
        )
        .unwrap();
        assert_eq!(client.scopes, ["openid", "email", "profile"]);
        assert_eq!(client.label, "corp");
        assert!(parse("http://127.0.0.1:8080/login/oidc/corp/callback", "corp").is_ok());
        let plain = parse(
            "http://registry.example.com/login/oidc/corp/callback",
            "corp",
        );
        assert!(plain.unwrap_err().contains("https://"));
        let other = parse(
            "https://registry.example.com/login/oidc/github/callback",
            "corp",
        );
        assert!(other.unwrap_err().contains("/login/oidc/corp/callback"));
        assert!(
            parse(
                "https://registry.example.com/login/oidc/corp/callback?next=/",
                "corp"
            )
            .is_err()
        );
        let spaced = parse(
            "https://registry.example.com/login/oidc/my%20sso/callback",
            "my sso",
        );
        assert!(spaced.unwrap_err().contains("letters, digits"));
    }

    #[test]
    fn a_console_client_always_asks_for_openid() {
        let entry = console(
            "https://registry.example.com/login/oidc/corp/callback",
            Some(&["email", "groups"]),
        );
        let client = parse_console(entry, "corp", Path::new(".")).unwrap();
        assert_eq!(client.scopes, ["openid", "email", "groups"]);
        let quoted = console(
            "https://registry.example.com/login/oidc/corp/callback",
            Some(&["email\"x"]),
        );
        assert!(parse_console(quoted, "corp", Path::new(".")).is_err());
    }
}
