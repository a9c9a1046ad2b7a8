//! The signature trust file (`--signature-trust`): whose signatures the
//! server accepts, for which models. Checked whole at start and on every
//! reload, so a mistake is refused before it can vouch for the wrong bytes.
//!
//! ```toml
//! [[signer]]
//! name = "training-pipeline"          # recorded as the signer
//! public_key_file = "training.pub"    # the key method: an EC public key (PEM)
//! model_prefixes = ["churn"]          # optional: the models it may sign
//!
//! [[signer]]
//! name = "acme-ml-ca"
//! ca_file = "acme-ml-ca.pem"          # the certificate method: the CA(s), PEM
//! identities = ["*@acme.example"]     # optional: the leaf's e-mail, URI or CN
//!
//! # RegisterModel of these models must carry a bundle that verifies
//! require_signature_to_register = ["fraud-"]   # model-name prefixes, or "*"
//! ```

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use serde::Deserialize;

use crate::domain::ModelName;
use crate::domain::pattern::Pattern;
use crate::domain::types::ModelPrefix;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default)]
    require_signature_to_register: Vec<String>,
    #[serde(default)]
    signer: Vec<SignerEntry>,
}

/// The trust file, checked.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// Whose signatures are accepted.
    pub signers: Vec<Signer>,
    /// The models whose registrations must be signed: the prefixes, `*`
    /// for every model.
    pub required_to_register: Vec<String>,
}

impl Trust {
    /// The rule (a prefix, or `*`) that makes a registration of `model`
    /// need a signature, if any.
    pub fn registration_rule(&self, model: &ModelName) -> Option<&str> {
        self.required_to_register
            .iter()
            .find(|rule| *rule == "*" || model.as_str().starts_with(rule.as_str()))
            .map(String::as_str)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerEntry {
    name: String,
    public_key_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    identities: Option<Vec<String>>,
    model_prefixes: Option<Vec<String>>,
}

/// A public key of the key method.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// ECDSA over P-256 with SHA-256.
    P256(p256::ecdsa::VerifyingKey),
    /// ECDSA over P-384 with SHA-384.
    P384(p384::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// The key of a SubjectPublicKeyInfo (DER), if it is a supported curve.
    pub fn from_spki_der(der: &[u8]) -> Option<Self> {
        use p256::pkcs8::DecodePublicKey;
        if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Some(Self::P256(key));
        }
        p384::ecdsa::VerifyingKey::from_public_key_der(der)
            .ok()
            .map(Self::P384)
    }

    /// Whether `signature` (DER-encoded ECDSA) signs `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        match self {
            Self::P256(key) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            Self::P384(key) => p384::ecdsa::Signature::from_der(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
        }
    }
}

/// What vouches for a signer's signatures.
#[derive(Debug, Clone)]
pub enum Anchor {
    /// The key method: this public key.
    Key(PublicKey),
    /// The certificate method: certificates chaining to these CAs (DER),
    /// naming one of these identities when given.
    Authorities {
        /// The trusted CA certificates, DER.
        roots: Vec<Vec<u8>>,
        /// The leaf identities accepted; any when `None`.
        identities: Option<Vec<Pattern>>,
    },
}

/// One `[[signer]]` entry.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Its name, recorded as the signer (key method) or as who vouched.
    pub name: String,
    /// What vouches.
    pub anchor: Anchor,
    /// The models it may sign; all when `None`.
    pub model_prefixes: Option<Vec<ModelPrefix>>,
}

impl Signer {
    /// Whether it may sign `model`.
    pub fn covers(&self, model: &ModelName) -> bool {
        self.model_prefixes.as_ref().is_none_or(|prefixes| {
            prefixes
                .iter()
                .any(|prefix| model.as_str().starts_with(prefix.as_str()))
        })
    }
}

/// Reads and checks the trust file at `path` (relative files next to it).
pub fn read(path: &Path) -> Result<Trust, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let file: TrustFile = toml::from_str(&text).map_err(|e| e.to_string())?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut signers: Vec<Signer> = Vec::new();
    for (index, entry) in file.signer.into_iter().enumerate() {
        let at = format!("signer {} ({:?})", index + 1, entry.name);
        let signer = parse_signer(entry, dir).map_err(|e| format!("{at}: {e}"))?;
        if signers.iter().any(|s| s.name == signer.name) {
            return Err(format!("{at}: the name appears twice"));
        }
        signers.push(signer);
    }
    for rule in &file.require_signature_to_register {
        if rule != "*" {
            ModelPrefix::parse("require_signature_to_register", rule)
                .map_err(|e| format!("{e} (or \"*\" for every model)"))?;
        }
    }
    Ok(Trust {
        signers,
        required_to_register: file.require_signature_to_register,
    })
}

fn parse_signer(entry: SignerEntry, dir: &Path) -> Result<Signer, String> {
    if entry.name.trim().is_empty() || entry.name.len() > 128 {
        return Err("name must be 1 to 128 characters".to_owned());
    }
    let anchor = match (entry.public_key_file, entry.ca_file) {
        (Some(file), None) => {
            if entry.identities.is_some() {
                return Err("identities apply to ca_file (certificates), not to a key".to_owned());
            }
            let path = dir.join(file);
            let der = SubjectPublicKeyInfoDer::from_pem_file(&path)
                .map_err(|e| format!("public_key_file {}: no PUBLIC KEY: {e}", path.display()))?;
            let key = PublicKey::from_spki_der(&der).ok_or_else(|| {
                format!(
                    "public_key_file {}: not an EC P-256 or P-384 public key",
                    path.display()
                )
            })?;
            Anchor::Key(key)
        }
        (None, Some(file)) => {
            let path = dir.join(file);
            let roots: Vec<Vec<u8>> = CertificateDer::pem_file_iter(&path)
                .and_then(|certificates| {
                    certificates
                        .map(|c| c.map(|c| c.to_vec()))
                        .collect::<Result<_, _>>()
                })
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            if roots.is_empty() {
                return Err(format!("ca_file {}: holds no CERTIFICATE", path.display()));
            }
            for root in &roots {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(root.as_slice()))
                    .map_err(|e| format!("ca_file {}: not a usable CA: {e:?}", path.display()))?;
            }
            let identities = match entry.identities {
                Some(list) if list.is_empty() => {
                    return Err(
                        "identities is an empty list (leave it out to accept any)".to_owned()
                    );
                }
                other => other.map(|list| list.iter().map(|p| Pattern::new(p)).collect()),
            };
            Anchor::Authorities { roots, identities }
        }
        _ => return Err("give public_key_file or ca_file (exactly one)".to_owned()),
    };
    let model_prefixes = entry
        .model_prefixes
        .map(|list| {
            list.iter()
                .map(|prefix| ModelPrefix::parse("model_prefixes", prefix))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(Signer {
        name: entry.name,
        anchor,
        model_prefixes,
    })
}
