//! Bearer tokens minted by identity providers (GitHub Actions, GitLab,
//! Kubernetes, the company's OIDC provider): verified against the issuer's
//! published keys with `jsonwebtoken`, then mapped to a principal by the
//! first claim rule that matches. A refused token gets the caller the same
//! answer as an unknown static token; the reason goes to the log and the
//! metrics only.

mod config;
pub mod figures;
mod keys;
mod rules;
mod sign_in;

use std::sync::Arc;

use jsonwebtoken::dangerous::insecure_decode_claims;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value};

pub use config::{Issuer, IssuerEntry, RuleEntry};
use keys::{KeyCache, Lookup};
pub use sign_in::{SignInError, SignInProvider};

use super::Principal;

/// The `alg` a token's header names, read without trusting it (only to
/// say why the header was refused).
fn header_algorithm(token: &str) -> Option<String> {
    use base64::Engine;
    let encoded = token.split('.').next()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    let header: Map<String, Value> = serde_json::from_slice(&json).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// Issuers with their keys, and the rules, of one reading of the file.
#[derive(Debug, Default)]
pub struct Trust {
    issuers: Vec<Arc<KeyCache>>,
    rules: Vec<rules::Rule>,
}

/// A token's verified identity, kept by its streams so a reload can check
/// it again. Never printed whole.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    issuer: String,
    claims: Map<String, Value>,
    /// The first second at which the server refuses the token: past its
    /// `exp` and the issuer's skew (checked in whole seconds).
    refused_from: u64,
}

impl TokenIdentity {
    /// When the server starts refusing the token: its `exp` plus the
    /// issuer's allowed skew, to the next whole second.
    pub fn expires_at(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(self.refused_from)
    }
}

/// A [`TokenIdentity`] as a console session stores it.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredIdentity {
    issuer: String,
    claims: Map<String, Value>,
}

impl TokenIdentity {
    /// The identity as a console session keeps it (JSON): the issuer and
    /// the verified claims, so the rules can map them again later.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&StoredIdentity {
            issuer: self.issuer.clone(),
            claims: self.claims.clone(),
        })
        .unwrap_or_default()
    }
}

impl std::fmt::Debug for TokenIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIdentity")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused: logged and counted, never told to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a JWT, or one whose parts do not decode.
    #[error("not a well-formed JWT")]
    Malformed,
    /// Its `iss` is no configured issuer.
    #[error("issuer {0:?} is not trusted")]
    UnknownIssuer(String),
    /// Signed with an algorithm the issuer is not allowed (`none` and HMAC
    /// included), or one its key is not for.
    #[error("algorithm not allowed for this issuer: {0}")]
    Algorithm(String),
    /// Its key id is not among the issuer's keys, even after fetching them.
    #[error("key {0:?} is not among the issuer's keys")]
    UnknownKey(String),
    /// The issuer's keys could not be fetched yet.
    #[error("the issuer's keys could not be fetched")]
    KeysUnavailable,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// `exp` has passed (beyond the allowed skew).
    #[error("expired")]
    Expired,
    /// `nbf` is still ahead (beyond the allowed skew).
    #[error("not valid yet (nbf)")]
    NotYetValid,
    /// `aud` is not the registry's.
    #[error("wrong audience")]
    WrongAudience,
    /// `iss` does not match the issuer whose key verified it.
    #[error("wrong issuer")]
    WrongIssuer,
    /// Lives longer than the issuer's `max_lifetime_seconds`.
    #[error("lifetime longer than the issuer allows")]
    Lifetime,
    /// A claim the issuer requires is missing.
    #[error("missing claim {0:?}")]
    MissingClaim(String),
    /// Verified, but no rule maps its claims to a principal.
    #[error("no rule matches its claims")]
    NoRule,
    /// An ID token that does not carry the nonce of the console sign-in it
    /// answers (replayed, or minted for another sign-in).
    #[error("the nonce is not the sign-in's")]
    Nonce,
}

impl Rejection {
    /// The `outcome` label of [`figures::OIDC_TOKENS`].
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownIssuer(_) => "unknown_issuer",
            Self::Algorithm(_) => "algorithm",
            Self::UnknownKey(_) => "unknown_key",
            Self::KeysUnavailable => "keys_unavailable",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongAudience => "wrong_audience",
            Self::WrongIssuer => "wrong_issuer",
            Self::Lifetime => "lifetime",
            Self::MissingClaim(_) => "missing_claim",
            Self::NoRule => "no_rule",
            Self::Nonce => "nonce",
        }
    }
}

/// What checking a token found, step by step (for `check-token` and the
/// log).
#[derive(Debug)]
pub struct Verdict {
    /// The configured issuer's name, once known.
    pub issuer: Option<String>,
    /// The verified claims, once verified.
    pub claims: Option<Map<String, Value>>,
    /// Each rule of the issuer tried (numbered from 1), and why it did not
    /// match.
    pub rules_tried: Vec<(usize, String)>,
    /// The rule that matched (numbered from 1).
    pub rule: Option<usize>,
    /// The principal and its identity, or why not.
    pub outcome: Result<(Principal, TokenIdentity), Rejection>,
}

impl Verdict {
    /// Logs why the token was refused (the caller only hears that it was),
    /// if it was.
    pub fn log_refusal(&self) {
        if let Err(rejection) = &self.outcome {
            tracing::warn!(
                issuer = self.issuer.as_deref().unwrap_or("unknown"),
                reason = %rejection,
                outcome = rejection.label(),
                rules = ?self.rules_tried,
                "identity provider token refused"
            );
        }
    }
}

impl Trust {
    /// Checks the file's `[[issuer]]` and `[[rule]]` entries.
    pub fn parse(
        issuers: Vec<IssuerEntry>,
        rules: Vec<RuleEntry>,
        dir: &std::path::Path,
        principal_names: &std::collections::BTreeSet<String>,
        parse_grant: impl Fn(
            &str,
            &str,
            Option<Vec<String>>,
            Option<Vec<String>>,
        ) -> Result<crate::domain::access::Grant, String>,
    ) -> Result<Self, String> {
        let parsed = config::Trust::parse(issuers, rules, dir, principal_names, parse_grant)?;
        let issuers = parsed
            .issuers
            .into_iter()
            .map(|issuer| {
                let name = issuer.name.clone();
                KeyCache::new(issuer)
                    .map(Arc::new)
                    .map_err(|e| format!("issuer {name:?}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            issuers,
            rules: parsed.rules,
        })
    }

    /// Whether any issuer is trusted.
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// Keeps the fetched keys of `previous` for every issuer configured
    /// exactly as before (a reload must not forget keys, or refetch them).
    pub fn keep_keys_of(&mut self, previous: &Trust) {
        for cache in &mut self.issuers {
            if let Some(old) = previous
                .issuers
                .iter()
                .find(|old| old.issuer() == cache.issuer())
            {
                *cache = Arc::clone(old);
            }
        }
    }

    /// Fetches every discovered issuer's keys now; logs those that fail
    /// (their tokens are refused until a later fetch succeeds).
    pub async fn fetch_keys(&self) -> Vec<(String, Result<usize, String>)> {
        let mut fetched = Vec::new();
        for cache in &self.issuers {
            if matches!(cache.issuer().keys, config::KeySource::Discovery { .. }) {
                let outcome = cache.fetch_now().await;
                if let Err(error) = &outcome {
                    tracing::warn!(
                        issuer = %cache.issuer().name,
                        error = %error,
                        "cannot fetch the issuer's keys; its tokens are refused until a fetch \
                         succeeds"
                    );
                }
                fetched.push((cache.issuer().name.clone(), outcome));
            }
        }
        fetched
    }

    /// Whether `token` is shaped like a JWT (three base64url parts).
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }

    /// Verifies `token` and maps it to a principal.
    pub async fn check(&self, token: &str) -> Verdict {
        self.check_as(token, None).await
    }

    /// Verifies `token` and maps it to a principal; with `id_token` =
    /// (issuer name, console client id, nonce) as the ID token of a console
    /// sign-in: from that issuer, for that audience, with that nonce.
    async fn check_as(&self, token: &str, id_token: Option<(&str, &str, &str)>) -> Verdict {
        let mut verdict = Verdict {
            issuer: None,
            claims: None,
            rules_tried: Vec::new(),
            rule: None,
            outcome: Err(Rejection::Malformed),
        };
        let audience = id_token.map(|(_, client_id, _)| client_id);
        let verified = self.verify(token, audience, &mut verdict).await;
        verdict.outcome = verified.and_then(|(cache, claims, expires_at)| {
            let issuer = cache.issuer();
            if let Some((name, client_id, nonce)) = id_token {
                if issuer.name != name {
                    return Err(Rejection::WrongIssuer);
                }
                sign_in::check_id_token_claims(&claims, client_id, nonce)?;
            }
            verdict.claims = Some(claims.clone());
            let identity = TokenIdentity {
                issuer: issuer.url.clone(),
                claims,
                refused_from: expires_at.saturating_add(issuer.leeway).saturating_add(1),
            };
            let (rule, principal) = self
                .principal_of(&identity, &mut verdict.rules_tried)
                .ok_or(Rejection::NoRule)?;
            verdict.rule = Some(rule);
            Ok((principal, identity))
        });
        let issuer = verdict.issuer.as_deref().unwrap_or("unknown");
        match &verdict.outcome {
            Ok(_) => figures::token(issuer, "accepted"),
            Err(rejection) => figures::token(issuer, rejection.label()),
        }
        verdict
    }

    /// The principal `identity` is by the rules as they are now, with the
    /// number of the rule that says so.
    pub fn principal_of(
        &self,
        identity: &TokenIdentity,
        tried: &mut Vec<(usize, String)>,
    ) -> Option<(usize, Principal)> {
        let issuer = self
            .issuers
            .iter()
            .find(|cache| cache.issuer().url == identity.issuer)?
            .issuer();
        for (index, rule) in self.rules.iter().enumerate() {
            if rule.issuer != issuer.name {
                continue;
            }
            match rule.apply(&issuer.name, &identity.claims) {
                Ok(name) => {
                    let grant = rule.grant.clone();
                    let subject = identity.claims.get("sub").and_then(Value::as_str);
                    let source = Some(format!("{} {}", issuer.url, subject.unwrap_or("-")));
                    return Some((
                        index + 1,
                        Principal {
                            name,
                            grant,
                            source,
                        },
                    ));
                }
                Err(why) => tried.push((index + 1, why)),
            }
        }
        None
    }

    /// Whether `identity` has not expired yet and still maps to `principal`.
    pub fn still_valid(&self, identity: &TokenIdentity, principal: &Principal) -> bool {
        let now = jsonwebtoken::get_current_timestamp();
        now < identity.refused_from
            && self
                .principal_of(identity, &mut Vec::new())
                .is_some_and(|(_, now)| &now == principal)
    }

    /// The principal of a console session started with the stored
    /// `identity` as `name`, by the rules as they are now (a rule's new role
    /// applies at once); `None` once they no longer map it to that name.
    pub fn session_principal(&self, identity: &str, name: &str) -> Option<Principal> {
        let stored: StoredIdentity = serde_json::from_str(identity).ok()?;
        let identity = TokenIdentity {
            issuer: stored.issuer,
            claims: stored.claims,
            refused_from: 0,
        };
        self.principal_of(&identity, &mut Vec::new())
            .map(|(_, principal)| principal)
            .filter(|principal| principal.name == name)
    }

    /// Checks `token`'s signature and claims; its audience must be
    /// `audience` when given, else the issuer's.
    async fn verify(
        &self,
        token: &str,
        audience: Option<&str>,
        verdict: &mut Verdict,
    ) -> Result<(Arc<KeyCache>, Map<String, Value>, u64), Rejection> {
        // The issuer is read before the signature is checked, only to know
        // whose keys to check it with.
        let unverified: Map<String, Value> =
            insecure_decode_claims(token).map_err(|_| Rejection::Malformed)?;
        let iss = unverified
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(Rejection::Malformed)?;
        let cache = self
            .issuers
            .iter()
            .find(|cache| cache.issuer().url == iss)
            .ok_or_else(|| Rejection::UnknownIssuer(iss.chars().take(200).collect()))?;
        let issuer = Arc::clone(cache.issuer());
        verdict.issuer = Some(issuer.name.clone());
        let header = decode_header(token).map_err(|_| match header_algorithm(token) {
            // `none`, or a name this server does not know.
            // Quoted: the name is the caller's text, bound for the log.
            Some(alg) => {
                Rejection::Algorithm(format!("{:?}", alg.chars().take(20).collect::<String>()))
            }
            None => Rejection::Malformed,
        })?;
        if !issuer.algorithms.contains(&header.alg) {
            return Err(Rejection::Algorithm(format!("{:?}", header.alg)));
        }
        let key = match cache.key(header.kid.as_deref()).await {
            Lookup::Found(key) => key,
            Lookup::Unknown => {
                return Err(Rejection::UnknownKey(
                    header.kid.unwrap_or_default().chars().take(200).collect(),
                ));
            }
            Lookup::Unavailable => return Err(Rejection::KeysUnavailable),
        };
        if key.algorithm.is_some_and(|bound| bound != header.alg) {
            return Err(Rejection::Algorithm(format!(
                "{:?} with a key for {:?}",
                header.alg, key.algorithm
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&issuer.url]);
        validation.set_audience(&[audience.unwrap_or(&issuer.audience)]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = issuer.leeway;
        validation.validate_nbf = true;
        let claims = decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => Rejection::Expired,
                ErrorKind::ImmatureSignature => Rejection::NotYetValid,
                ErrorKind::InvalidAudience => Rejection::WrongAudience,
                ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
                ErrorKind::MissingRequiredClaim(claim) => Rejection::MissingClaim(claim.clone()),
                ErrorKind::InvalidAlgorithm => Rejection::Algorithm(format!("{:?}", header.alg)),
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidEddsaKey
                | ErrorKind::InvalidRsaKey(_)
                | ErrorKind::InvalidKeyFormat => Rejection::BadSignature,
                _ => Rejection::Malformed,
            })?
            .claims;
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or(Rejection::Malformed)?;
        let now = jsonwebtoken::get_current_timestamp();
        let issued_at = claims.get("iat").and_then(Value::as_u64).unwrap_or(now);
        if expires_at.saturating_sub(issued_at.min(now)) > issuer.max_lifetime {
            return Err(Rejection::Lifetime);
        }
        if let Some(missing) = issuer
            .required_claims
            .iter()
            .find(|claim| claims.get(claim.as_str()).is_none_or(Value::is_null))
        {
            return Err(Rejection::MissingClaim(missing.clone()));
        }
        Ok((Arc::clone(cache), claims, expires_at))
    }
}
