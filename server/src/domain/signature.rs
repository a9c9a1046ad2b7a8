//! Model signatures: what a verified OpenSSF model-signing bundle says
//! (who signed, how, and every file of the model with its digest), and
//! the rule that ties it to the version it is attached to.

use chrono::{DateTime, Utc};

use super::error::{DomainError, DomainResult};
use super::types::{Artifact, ModelName};

/// How a bundle was signed (the model-signing specification's methods the
/// server verifies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureMethod {
    /// A private key whose public half the operator trusts.
    Key,
    /// A certificate chaining to a CA the operator trusts.
    Certificate,
}

impl SignatureMethod {
    /// The method's name in the API and the trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Certificate => "certificate",
        }
    }
}

/// Checks a stored signature against the signature trust file as it is
/// now: a signer removed from the file stops vouching for what it signed.
/// The signing module implements it; the use cases that move aliases ask
/// it, so an alias policy requiring a signature honours a revocation.
pub trait TrustCheck: Send + Sync {
    /// Why `bundle`, attached to a version of `model` and verified at
    /// `verified_at` (certificates are judged at that time), no longer
    /// verifies; `None` when it does.
    fn distrust(
        &self,
        bundle: &str,
        model: &ModelName,
        verified_at: DateTime<Utc>,
    ) -> Option<String>;
}

/// Where a version stands for a policy requiring a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStanding {
    /// No signature is attached.
    Unsigned,
    /// Its signature verifies against the trust file as it is now.
    Trusted,
    /// Its signature no longer verifies, and why.
    Distrusted(String),
}

/// One file of a signed model and its SHA-256 (hexadecimal).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedFile {
    /// Its path within the model, as the signer wrote it.
    pub name: String,
    /// Its SHA-256, lowercase hexadecimal.
    pub sha256: String,
}

/// What a verified signature says, kept with the version it is attached to
/// (small: every read of the version carries it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignatureSummary {
    /// How it was signed.
    pub method: SignatureMethod,
    /// Who signed: the trusted key's name, or the certificate's identity.
    pub signer: String,
    /// The `[[signer]]` entry of the trust file that vouched for it.
    pub trusted_by: String,
    /// When the server verified it.
    pub verified_at: DateTime<Utc>,
    /// The number of files the signature covers.
    pub file_count: usize,
    /// The statement's subject digest: SHA-256 over the files' digests.
    pub manifest_sha256: String,
    /// The model name the signer gave the statement's subject.
    pub signed_name: String,
}

/// A bundle the server verified: its summary, the files it covers and the
/// bundle itself (JSON, returned as attached, for upstream verifiers).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifiedSignature {
    /// What it says.
    pub summary: SignatureSummary,
    /// Every file with its digest, sorted by name.
    pub files: Vec<SignedFile>,
    /// The bundle as attached.
    pub bundle: String,
}

/// A signature sent with a registration, verified before the use case
/// runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SignedRegistration {
    /// SHA-256 of the bundle as sent: what a retry of the registration
    /// must repeat.
    pub bundle_sha256: String,
    /// What verifying it found, or why it failed (which refuses the
    /// registration unless it is the retry of one that succeeded).
    #[serde(skip)]
    pub verified: DomainResult<VerifiedSignature>,
}

impl VerifiedSignature {
    /// Whether the signature can stand for `artifact`: an artifact that is
    /// one file (a signature over a single file) with a registered sha256
    /// must have that digest; a directory's files are checked where they
    /// are downloaded.
    /// A mismatch is a violation of the request's `field` (the bundle).
    pub fn check_artifact(&self, field: &str, artifact: &Artifact) -> DomainResult<()> {
        if let ([only], false) = (self.files.as_slice(), artifact.sha256.is_empty())
            && !only.sha256.eq_ignore_ascii_case(&artifact.sha256)
        {
            return Err(DomainError::invalid(
                field,
                format!(
                    "the signature covers {:?} with sha256 {}, but the version's artifact was \
                     registered with sha256 {}: it signs other bytes",
                    only.name, only.sha256, artifact.sha256
                ),
            ));
        }
        Ok(())
    }

    /// One line for the trail: who signed how, and what.
    pub fn describe(&self) -> String {
        let summary = &self.summary;
        format!(
            "signed by {} ({} method, trusted by {:?}): {} file(s), manifest sha256 {}",
            summary.signer,
            summary.method.as_str(),
            summary.trusted_by,
            summary.file_count,
            summary.manifest_sha256
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(files: &[(&str, &str)]) -> VerifiedSignature {
        VerifiedSignature {
            summary: SignatureSummary {
                method: SignatureMethod::Key,
                signer: "training-pipeline".to_owned(),
                trusted_by: "training-pipeline".to_owned(),
                verified_at: Utc::now(),
                file_count: files.len(),
                manifest_sha256: "ab".repeat(32),
                signed_name: "churn".to_owned(),
            },
            files: files
                .iter()
                .map(|(name, sha256)| SignedFile {
                    name: (*name).to_owned(),
                    sha256: (*sha256).to_owned(),
                })
                .collect(),
            bundle: "{}".to_owned(),
        }
    }

    fn artifact(sha256: &str) -> Artifact {
        Artifact {
            uri: "s3://models/churn/model.pkl".to_owned(),
            sha256: sha256.to_owned(),
            ..Artifact::default()
        }
    }

    #[test]
    fn a_single_file_signature_must_match_the_registered_sha256() {
        let one = signature(&[("model.pkl", &"0a".repeat(32))]);
        assert!(
            one.check_artifact("bundle", &artifact(&"0a".repeat(32)))
                .is_ok()
        );
        assert!(
            one.check_artifact("bundle", &artifact(&"0A".repeat(32)))
                .is_ok()
        );
        let refused = one
            .check_artifact("bundle", &artifact(&"0b".repeat(32)))
            .unwrap_err();
        assert!(
            refused.to_string().contains("signs other bytes"),
            "{refused}"
        );
        // Without a registered digest there is nothing to compare.
        assert!(one.check_artifact("bundle", &artifact("")).is_ok());
    }

    #[test]
    fn a_directory_signature_is_checked_where_it_is_downloaded() {
        let many = signature(&[("a.bin", &"0a".repeat(32)), ("b.json", &"0c".repeat(32))]);
        assert!(
            many.check_artifact("bundle", &artifact(&"0b".repeat(32)))
                .is_ok()
        );
    }
}
