//! Authentication: bearer tokens from a tokens file (SHA-256 hashes only),
//! identity providers' JWTs mapped by claim rules (`oidc`), or mutual-TLS
//! client certificates, each mapped to a principal with a role and
//! optional limits; the method → role policy table; and the tower layer
//! that applies both before any handler runs. The file is re-read on
//! SIGHUP; a bad file keeps the previous table.

mod context;
mod failures;
mod identity;
mod layer;
pub mod oidc;
mod policy;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use http::HeaderMap;
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use crate::domain::DomainError;
use crate::domain::access::Grant;
use crate::domain::session::{ConsoleSession, SignInFlow};

pub use context::RequestContext;
pub use layer::AuthLayer;
pub use policy::{
    Access, CallKind, call_kind, check_role, method_label, registry_method, required_access,
};
pub use tokens::{
    MIN_TOKEN_BITS, PrincipalTable, TokensFileError, generate_token, hash_token, hash_token_entry,
    token_entropy_bits,
};

/// The identity used while the server runs without authentication.
pub const ANONYMOUS: &str = "anonymous";

/// An authenticated caller: its name and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name recorded as `created_by` and as every event's actor.
    pub name: String,
    /// Role and limits.
    pub grant: Grant,
    /// Where it came from when an identity provider's token named it:
    /// "ISSUER SUBJECT" (recorded with every event).
    pub source: Option<String>,
}

impl Principal {
    /// The caller of a server without authentication.
    pub fn anonymous() -> Self {
        Self {
            name: ANONYMOUS.to_owned(),
            grant: Grant::unrestricted(),
            source: None,
        }
    }
}

/// Resolves credentials to principals. Without a tokens file everyone is
/// anonymous with every right (the server then listens on loopback only,
/// unless told otherwise).
#[derive(Debug)]
pub struct Authenticator {
    file: Option<PathBuf>,
    table: RwLock<Arc<PrincipalTable>>,
    /// Bumped by every reload that changed the table: open streams
    /// re-check their credential then.
    generation: watch::Sender<u64>,
    /// Failed attempts per peer: logged and slowed.
    failures: failures::Failures,
}

/// What a caller authenticated with, kept by its open streams so a reload
/// that revokes or changes it can end them. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A bearer token, by its digest.
    Token([u8; 32]),
    /// A client certificate, by the names it carries.
    Certificate(Vec<String>),
    /// An identity provider's token, by the identity it verified.
    Jwt(oidc::TokenIdentity),
    /// No authentication on this server.
    Anonymous,
}

impl Credential {
    /// When the credential expires by itself (an identity provider's
    /// token), if it does.
    pub fn expires_at(&self) -> Option<std::time::SystemTime> {
        match self {
            Self::Jwt(identity) => Some(identity.expires_at()),
            Self::Token(_) | Self::Certificate(_) | Self::Anonymous => None,
        }
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(..)"),
            Self::Jwt(identity) => f.debug_tuple("Jwt").field(identity).finish(),
            Self::Certificate(names) => f.debug_tuple("Certificate").field(names).finish(),
            Self::Anonymous => f.write_str("Anonymous"),
        }
    }
}

impl Authenticator {
    /// No authentication.
    pub fn disabled() -> Self {
        Self {
            file: None,
            table: RwLock::new(Arc::new(PrincipalTable::default())),
            generation: watch::channel(0).0,
            failures: failures::Failures::default(),
        }
    }

    /// Principals from the tokens file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, TokensFileError> {
        let table = PrincipalTable::read(path)?;
        Ok(Self {
            file: Some(path.to_path_buf()),
            table: RwLock::new(Arc::new(table)),
            generation: watch::channel(0).0,
            failures: failures::Failures::default(),
        })
    }

    /// Whether requests must authenticate.
    pub fn is_enabled(&self) -> bool {
        self.file.is_some()
    }

    /// Re-reads the tokens file. On error the previous table stays in force
    /// and the error says why; connections are not touched either way.
    pub fn reload(&self) -> Result<usize, TokensFileError> {
        let Some(path) = &self.file else {
            return Ok(0);
        };
        let mut table = PrincipalTable::read(path)?;
        table.trust.keep_keys_of(&self.table().trust);
        let count = table.len();
        if let Ok(mut current) = self.table.write() {
            *current = Arc::new(table);
        }
        self.generation.send_modify(|generation| *generation += 1);
        Ok(count)
    }

    /// Records a failed authentication from `peer` (logged, rate-limited);
    /// returns how long to hold the refusal (longer with each failure of
    /// that address in the last minute).
    pub fn failed(&self, peer: Option<std::net::IpAddr>, what: &str) -> std::time::Duration {
        self.failures.record(peer, what)
    }

    /// Changes at every reload of the tokens file.
    pub fn reloads(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Whether `credential` still names `principal`, with the same role and
    /// limits, in the tokens file as it is now.
    pub fn still_valid(&self, credential: &Credential, principal: &Principal) -> bool {
        let table = self.table();
        let now = match credential {
            Credential::Anonymous => return !self.is_enabled(),
            Credential::Token(digest) => table.by_digest(digest),
            Credential::Jwt(identity) => return table.trust.still_valid(identity, principal),
            Credential::Certificate(names) => names
                .iter()
                .find_map(|name| table.by_certificate_name(name)),
        };
        now.as_ref() == Some(principal)
    }

    /// The principal of a console session by the tokens file as it is now:
    /// the holder of the token it was started with, or what the rules make
    /// of the identity provider's claims it keeps; `None` once that is no
    /// longer the session's principal (its sessions then end).
    pub fn session_principal(&self, session: &ConsoleSession) -> Option<Principal> {
        let table = self.table();
        match &session.identity {
            Some(identity) => table.trust.session_principal(identity, &session.principal),
            None => table
                .by_digest(&crate::domain::secret::from_hex_32(&session.token_digest)?)
                .filter(|principal| principal.name == session.principal),
        }
    }

    /// The identity providers people may sign in to the console with.
    pub fn sign_in_providers(&self) -> Vec<oidc::SignInProvider> {
        self.table().trust.sign_in_providers()
    }

    /// Where to send a browser signing in with provider `name`.
    pub async fn sign_in_url(
        &self,
        name: &str,
        flow: &SignInFlow,
    ) -> Result<String, oidc::SignInError> {
        self.table().trust.authorization_url(name, flow).await
    }

    /// The principal a browser signed in as with provider `name`, from the
    /// `code` it brought back: with the identity to keep in its session
    /// and the ID token's digest. A refusal is logged here, as a bearer
    /// token's is.
    pub async fn finish_sign_in(
        &self,
        name: &str,
        code: &str,
        flow: &SignInFlow,
    ) -> Result<(Principal, oidc::TokenIdentity, [u8; 32]), oidc::SignInError> {
        let table = self.table();
        match table.trust.finish_sign_in(name, code, flow).await {
            Ok((principal, identity, id_token)) => {
                Ok((principal, identity, tokens::hash_token(&id_token)))
            }
            Err(oidc::SignInError::Refused(verdict)) => {
                verdict.log_refusal();
                Err(oidc::SignInError::Refused(verdict))
            }
            Err(error) => {
                tracing::warn!(issuer = name, error = %error, "console sign-in with an identity provider failed");
                Err(error)
            }
        }
    }

    fn table(&self) -> Arc<PrincipalTable> {
        match self.table.read() {
            Ok(table) => Arc::clone(&table),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Fetches the keys of every identity provider of the file (start-up):
    /// a provider down now is logged, and fetched again when a token needs
    /// it.
    pub async fn fetch_issuer_keys(&self) {
        self.table().trust.fetch_keys().await;
    }

    /// What the file makes of `token`, step by step (`check-token`).
    pub async fn check_token(&self, token: &str) -> oidc::Verdict {
        self.table().trust.check(token).await
    }

    /// The principal behind a request's credentials: its bearer token if it
    /// sent one, else the client certificate of its TLS connection; with
    /// the credential that named it.
    pub async fn authenticate_credential(
        &self,
        headers: &HeaderMap,
        peer_certificates: Option<&[impl AsRef<[u8]>]>,
    ) -> Result<(Principal, Credential), DomainError> {
        if !self.is_enabled() {
            return Ok((Principal::anonymous(), Credential::Anonymous));
        }
        let table = self.table();
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    DomainError::Unauthenticated(
                        "the authorization header must be `Bearer <token>`".to_owned(),
                    )
                })?;
            let digest = tokens::hash_token(token);
            if let Some(principal) = table.by_digest(&digest) {
                return Ok((principal, Credential::Token(digest)));
            }
            if !table.trust.is_empty() && oidc::Trust::looks_like_jwt(token) {
                let verdict = table.trust.check(token).await;
                verdict.log_refusal();
                if let Ok((principal, identity)) = verdict.outcome {
                    return Ok((principal, Credential::Jwt(identity)));
                }
            }
            // One answer whatever failed: which check did is for the log.
            return Err(DomainError::Unauthenticated(
                "the bearer token is not valid (unknown, expired or revoked); ask an admin \
                 for a token"
                    .to_owned(),
            ));
        }
        if let Some(chain) = peer_certificates
            && let Some(leaf) = chain.first()
        {
            let names = identity::certificate_names(leaf.as_ref());
            return names
                .iter()
                .find_map(|name| table.by_certificate_name(name))
                .map(|principal| (principal, Credential::Certificate(names.clone())))
                .ok_or_else(|| {
                    DomainError::Unauthenticated(format!(
                        "the client certificate ({}) names no principal of the tokens file",
                        if names.is_empty() {
                            "no subject name".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ))
                });
        }
        Err(DomainError::Unauthenticated(
            "this server requires authentication: send `authorization: Bearer <token>` (or \
             connect with a client certificate)"
                .to_owned(),
        ))
    }
}

/// Compares two digests in time independent of where they differ.
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}
