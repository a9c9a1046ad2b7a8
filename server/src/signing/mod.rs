//! Model signatures: OpenSSF model-signing bundles verified against the
//! operator's trust file (`--signature-trust`) before a version keeps them.
//! The key method (an EC public key the file names) and the certificate
//! method (a chain to a CA the file names) are verified; keyless Sigstore
//! bundles are refused (verifying them needs Fulcio's and Rekor's trusted
//! root and a transparency-log proof, which this server does not check).
//! A refusal is a field violation on `bundle` that says what failed.

mod bundle;
mod certificate;
mod trust;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use rustls_pki_types::UnixTime;

use crate::domain::signature::{SignatureMethod, SignatureSummary, TrustCheck, VerifiedSignature};
use crate::domain::{DomainError, DomainResult, ModelName};

pub use bundle::MAX_BUNDLE_BYTES;
use trust::{Anchor, Signer, Trust};

/// Whose signatures the server accepts; re-read on SIGHUP (a bad file
/// keeps the previous one).
#[derive(Debug, Default)]
pub struct SignatureTrust {
    file: Option<PathBuf>,
    trust: RwLock<Arc<Trust>>,
}

impl TrustCheck for SignatureTrust {
    fn distrust(
        &self,
        bundle: &str,
        model: &ModelName,
        verified_at: DateTime<Utc>,
    ) -> Option<String> {
        self.verify("bundle", bundle, model, verified_at)
            .err()
            .map(|error| error.to_string())
    }
}

impl SignatureTrust {
    /// No trust file: every bundle is refused.
    pub fn none() -> Self {
        Self::default()
    }

    /// The trust file at `path`, read and checked now.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let trust = trust::read(path)
            .map_err(|e| format!("the signature trust file {}: {e}", path.display()))?;
        Ok(Self {
            file: Some(path.to_path_buf()),
            trust: RwLock::new(Arc::new(trust)),
        })
    }

    /// Reads the file again; on error the previous signers stay. The
    /// number of signers now, or `None` without a file.
    pub fn reload(&self) -> Result<Option<usize>, String> {
        let Some(path) = &self.file else {
            return Ok(None);
        };
        let trust = trust::read(path)
            .map_err(|e| format!("the signature trust file {}: {e}", path.display()))?;
        let count = trust.signers.len();
        *self
            .trust
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(trust);
        Ok(Some(count))
    }

    fn trust(&self) -> Arc<Trust> {
        Arc::clone(
            &self
                .trust
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Refuses (FAILED_PRECONDITION) a registration of `model` without a
    /// signature when the trust file requires one.
    pub fn check_unsigned_registration(&self, model: &ModelName) -> DomainResult<()> {
        match self.trust().registration_rule(model) {
            None => Ok(()),
            Some(rule) => Err(DomainError::FailedPrecondition(format!(
                "signature: model {:?} is registered only with a signature that verifies \
                 (require_signature_to_register {rule:?} in the signature trust file); pass \
                 signature_bundle, the JSON file `model_signing sign` writes",
                model.as_str()
            ))),
        }
    }

    /// Verifies `bundle` (request field `field`) as a signature of a
    /// version of `model` at `now`.
    pub fn verify(
        &self,
        field: &str,
        bundle: &str,
        model: &ModelName,
        now: DateTime<Utc>,
    ) -> DomainResult<VerifiedSignature> {
        let refused = |why: String| DomainError::invalid(field, why);
        let parsed = bundle::parse(bundle).map_err(refused)?;
        let trust = self.trust();
        let covering: Vec<&Signer> = trust.signers.iter().filter(|s| s.covers(model)).collect();
        if covering.is_empty() {
            return Err(refused(format!(
                "no [[signer]] of the signature trust file covers model {:?}{}",
                model.as_str(),
                if self.file.is_none() {
                    " (the server runs without --signature-trust)"
                } else {
                    ""
                }
            )));
        }
        let (method, signer, trusted_by) = match &parsed.material {
            bundle::Material::PublicKey => {
                let signer = covering
                    .iter()
                    .find(|signer| match &signer.anchor {
                        Anchor::Key(key) => key.verifies(&parsed.signed_bytes, &parsed.signature),
                        Anchor::Authorities { .. } => false,
                    })
                    .ok_or_else(|| {
                        refused(format!(
                            "the signature does not verify with any public key trusted for \
                             model {:?}: signed by another key, or the statement was changed \
                             after signing",
                            model.as_str()
                        ))
                    })?;
                (
                    SignatureMethod::Key,
                    signer.name.clone(),
                    signer.name.clone(),
                )
            }
            bundle::Material::Certificates(chain) => {
                let unix = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                    u64::try_from(now.timestamp()).unwrap_or(0),
                ));
                let (signer, leaf) =
                    certificate::vouched(chain, &covering, unix).map_err(refused)?;
                if !leaf.key.verifies(&parsed.signed_bytes, &parsed.signature) {
                    return Err(refused(
                        "the signature does not verify with the signing certificate's key: \
                         the statement was changed after signing"
                            .to_owned(),
                    ));
                }
                (
                    SignatureMethod::Certificate,
                    leaf.identity,
                    signer.name.clone(),
                )
            }
        };
        let (signed_name, manifest_sha256, files) =
            bundle::statement(&parsed.payload).map_err(refused)?;
        Ok(VerifiedSignature {
            summary: SignatureSummary {
                method,
                signer,
                trusted_by,
                verified_at: now,
                file_count: files.len(),
                manifest_sha256,
                signed_name,
            },
            files,
            bundle: bundle.to_owned(),
        })
    }
}
