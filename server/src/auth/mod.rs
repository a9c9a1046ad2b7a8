//! Authentication: bearer tokens from a tokens file (SHA-256 hashes only)
//! or mutual-TLS client certificates, each mapped to a principal with a
//! role and optional limits; the method → role policy table; and the tower
//! layer that applies both before any handler runs. The file is re-read on
//! SIGHUP; a bad file keeps the previous table.

mod context;
mod identity;
mod layer;
mod policy;
mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::domain::DomainError;
use crate::domain::access::Grant;

pub use context::RequestContext;
pub use layer::AuthLayer;
pub use policy::{Access, CallKind, call_kind, method_label, required_access};
pub use tokens::{PrincipalTable, TokensFileError, hash_token, hash_token_entry};

/// The identity used while the server runs without authentication.
pub const ANONYMOUS: &str = "anonymous";

/// An authenticated caller: its name and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name recorded as `created_by` and as every event's actor.
    pub name: String,
    /// Role and limits.
    pub grant: Grant,
}

impl Principal {
    /// The caller of a server without authentication.
    pub fn anonymous() -> Self {
        Self {
            name: ANONYMOUS.to_owned(),
            grant: Grant::unrestricted(),
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
}

impl Authenticator {
    /// No authentication.
    pub fn disabled() -> Self {
        Self {
            file: None,
            table: RwLock::new(Arc::new(PrincipalTable::default())),
        }
    }

    /// Principals from the tokens file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, TokensFileError> {
        let table = PrincipalTable::read(path)?;
        Ok(Self {
            file: Some(path.to_path_buf()),
            table: RwLock::new(Arc::new(table)),
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
        let table = PrincipalTable::read(path)?;
        let count = table.len();
        if let Ok(mut current) = self.table.write() {
            *current = Arc::new(table);
        }
        Ok(count)
    }

    /// The principal behind a request's credentials: its bearer token if it
    /// sent one, else the client certificate of its TLS connection.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        peer_certificates: Option<&[impl AsRef<[u8]>]>,
    ) -> Result<Principal, DomainError> {
        if !self.is_enabled() {
            return Ok(Principal::anonymous());
        }
        let table = match self.table.read() {
            Ok(table) => Arc::clone(&table),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        };
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
            return table.by_token(token).ok_or_else(|| {
                DomainError::Unauthenticated(
                    "the bearer token is not valid (unknown or revoked); ask an admin for a \
                     token"
                        .to_owned(),
                )
            });
        }
        if let Some(chain) = peer_certificates
            && let Some(leaf) = chain.first()
        {
            let names = identity::certificate_names(leaf.as_ref());
            return names
                .iter()
                .find_map(|name| table.by_certificate_name(name))
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
