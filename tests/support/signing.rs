//! Model signatures made the way the `model-signing` package makes them
//! with its `key` method: an in-toto statement listing every file and its
//! SHA-256, in a DSSE envelope signed with a P-256 key, in a Sigstore
//! bundle (v0.3 JSON). The Python tests use the package itself; this is
//! for the Rust tests, which cannot.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

/// A signing key and the trust file that names it.
pub struct TestSigner {
    key: SigningKey,
    /// The signature trust file (`--signature-trust`) trusting this key
    /// as `name` for every model.
    pub trust_file: PathBuf,
}

impl TestSigner {
    /// A key made from `seed`, trusted as `name` by a trust file in `dir`.
    pub fn new(dir: &Path, name: &str, seed: u8) -> Self {
        let key = SigningKey::from_slice(&[seed.max(1); 32]).expect("a valid P-256 scalar");
        let public = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("PEM");
        std::fs::write(dir.join(format!("{name}.pub")), public).expect("write the public key");
        let trust_file = dir.join("signature-trust.toml");
        std::fs::write(
            &trust_file,
            format!("[[signer]]\nname = \"{name}\"\npublic_key_file = \"{name}.pub\"\n"),
        )
        .expect("write the trust file");
        Self { key, trust_file }
    }

    /// A bundle signing a model named `model` made of `files` (name,
    /// content).
    pub fn bundle(&self, model: &str, files: &[(&str, &[u8])]) -> String {
        let mut root = Sha256::new();
        let mut resources = Vec::new();
        for (name, content) in files {
            let digest = Sha256::digest(content);
            root.update(digest);
            resources.push(serde_json::json!({
                "algorithm": "sha256",
                "digest": hex(&digest),
                "name": name,
            }));
        }
        let statement = serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": model, "digest": {"sha256": hex(&root.finalize())}}],
            "predicateType": "https://model_signing/signature/v1.0",
            "predicate": {
                "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": false, "ignore_paths": []},
                "resources": resources,
            },
        });
        let payload = serde_json::to_vec(&statement).expect("JSON");
        let payload_type = "application/vnd.in-toto+json";
        let mut signed = format!(
            "DSSEv1 {} {payload_type} {} ",
            payload_type.len(),
            payload.len()
        )
        .into_bytes();
        signed.extend_from_slice(&payload);
        let signature: Signature = self.key.sign(&signed);
        serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"publicKey": {"hint": "test"}, "tlogEntries": []},
            "dsseEnvelope": {
                "payload": STANDARD.encode(&payload),
                "payloadType": payload_type,
                "signatures": [{"sig": STANDARD.encode(signature.to_der().as_bytes()), "keyid": ""}],
            },
        })
        .to_string()
    }
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
