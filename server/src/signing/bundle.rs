//! The OpenSSF model-signing bundle (v1.x): a Sigstore bundle (v0.3 JSON)
//! whose DSSE envelope carries an in-toto statement. The statement's one
//! subject is the model, its digest the SHA-256 over the files' digests in
//! order; the predicate lists every file with its digest. Nothing here is
//! trusted until `super::verify` has checked the envelope's signature.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::signature::SignedFile;

/// The largest bundle accepted: a manifest of tens of thousands of files.
pub const MAX_BUNDLE_BYTES: usize = 3 * 1024 * 1024;
/// The DSSE payload type of an in-toto statement.
const IN_TOTO: &str = "application/vnd.in-toto+json";
/// The statement type model-signing writes.
const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// The predicate type of model-signing v1.
const PREDICATE_V1: &str = "https://model_signing/signature/v1.0";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    verification_material: RawMaterial,
    dsse_envelope: Option<Envelope>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    public_key: Option<Value>,
    x509_certificate_chain: Option<Chain>,
    certificate: Option<Value>,
    #[serde(default)]
    tlog_entries: Vec<Value>,
}

#[derive(Deserialize)]
struct Chain {
    certificates: Vec<RawCertificate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCertificate {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

/// What the bundle says who signed with.
pub enum Material {
    /// A public key the verifier must already hold (the `key` method).
    PublicKey,
    /// A certificate chain, leaf first, in DER (the `certificate` method).
    Certificates(Vec<Vec<u8>>),
}

/// A bundle taken apart, not yet verified.
pub struct Parsed {
    /// Who signed with.
    pub material: Material,
    /// The bytes the signature covers: DSSE's pre-authentication encoding
    /// of the payload.
    pub signed_bytes: Vec<u8>,
    /// The signature (DER-encoded ECDSA).
    pub signature: Vec<u8>,
    /// The statement (the envelope's payload).
    pub payload: Vec<u8>,
}

/// Takes a bundle apart; the error says what is wrong with it.
pub fn parse(bundle: &str) -> Result<Parsed, String> {
    if bundle.len() > MAX_BUNDLE_BYTES {
        return Err(format!(
            "the bundle is larger than {} MiB",
            MAX_BUNDLE_BYTES / 1024 / 1024
        ));
    }
    let parsed: Bundle = serde_json::from_str(bundle)
        .map_err(|e| format!("not a model-signing bundle (Sigstore bundle JSON): {e}"))?;
    if !parsed
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
    {
        return Err(format!(
            "mediaType {:?} is not a Sigstore bundle's",
            parsed.media_type
        ));
    }
    let material = parsed.verification_material;
    let material = match (
        material.public_key,
        material.x509_certificate_chain,
        material.certificate,
    ) {
        (Some(_), None, None) => Material::PublicKey,
        (None, Some(chain), None) if !chain.certificates.is_empty() => Material::Certificates(
            chain
                .certificates
                .iter()
                .map(|c| STANDARD.decode(&c.raw_bytes))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("a certificate of the chain is not base64: {e}"))?,
        ),
        (None, None, Some(_)) if !material.tlog_entries.is_empty() => {
            return Err(
                "a keyless (Sigstore) bundle: this server verifies the key and certificate \
                 methods only (see the README)"
                    .to_owned(),
            );
        }
        _ => {
            return Err(
                "verificationMaterial must hold a publicKey or an x509CertificateChain".to_owned(),
            );
        }
    };
    let envelope = parsed
        .dsse_envelope
        .ok_or("the bundle has no dsseEnvelope (a message signature is not a model signature)")?;
    if envelope.payload_type != IN_TOTO {
        return Err(format!(
            "the envelope's payloadType is {:?}, not {IN_TOTO:?}",
            envelope.payload_type
        ));
    }
    let [signature] = envelope.signatures.as_slice() else {
        return Err(format!(
            "the envelope must carry exactly one signature, not {}",
            envelope.signatures.len()
        ));
    };
    let payload = STANDARD
        .decode(&envelope.payload)
        .map_err(|e| format!("the envelope's payload is not base64: {e}"))?;
    let signature = STANDARD
        .decode(&signature.sig)
        .map_err(|e| format!("the envelope's signature is not base64: {e}"))?;
    Ok(Parsed {
        material,
        signed_bytes: pae(&envelope.payload_type, &payload),
        signature,
        payload,
    })
}

/// DSSE v1's pre-authentication encoding: what the signature covers.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    bytes.extend_from_slice(payload);
    bytes
}

/// The statement's model name, manifest digest and files (sorted by
/// name), once its subject digest is checked against the files.
pub fn statement(payload: &[u8]) -> Result<(String, String, Vec<SignedFile>), String> {
    let statement: Value =
        serde_json::from_slice(payload).map_err(|e| format!("the statement is not JSON: {e}"))?;
    let text = |value: &Value, key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    if text(&statement, "_type").as_deref() != Some(STATEMENT_V1) {
        return Err(format!("the statement's _type is not {STATEMENT_V1:?}"));
    }
    if text(&statement, "predicateType").as_deref() != Some(PREDICATE_V1) {
        return Err(format!(
            "the statement's predicateType is not {PREDICATE_V1:?} (model-signing v1)"
        ));
    }
    let Some([subject]) = statement
        .get("subject")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    else {
        return Err("the statement must have exactly one subject".to_owned());
    };
    let name = text(subject, "name").ok_or("the subject has no name")?;
    let root = subject
        .get("digest")
        .and_then(|digest| text(digest, "sha256"))
        .ok_or("the subject has no sha256 digest")?;
    let predicate = statement.get("predicate").ok_or("no predicate")?;
    let method = predicate
        .get("serialization")
        .and_then(|s| text(s, "method"));
    if method.as_deref() != Some("files") {
        return Err(format!(
            "the model was serialized by {method:?}; this server checks per-file manifests \
             (\"files\") only"
        ));
    }
    let resources = predicate
        .get("resources")
        .and_then(Value::as_array)
        .ok_or("the predicate lists no resources")?;
    let mut hasher = Sha256::new();
    let mut files = Vec::with_capacity(resources.len());
    for resource in resources {
        let name = text(resource, "name").ok_or("a resource has no name")?;
        check_file_name(&name)?;
        if text(resource, "algorithm").as_deref() != Some("sha256") {
            return Err(format!("{name:?} is not hashed with sha256"));
        }
        let digest = text(resource, "digest").ok_or_else(|| format!("{name:?} has no digest"))?;
        let raw =
            hex_32(&digest).ok_or_else(|| format!("{name:?}: digest is not 64 hex digits"))?;
        hasher.update(raw);
        files.push(crate::domain::signature::SignedFile {
            name,
            sha256: digest.to_ascii_lowercase(),
        });
    }
    let computed = crate::domain::secret::hex(&hasher.finalize());
    if !computed.eq_ignore_ascii_case(&root) {
        return Err(format!(
            "the subject's digest {root} is not the digest of the files listed ({computed}): \
             the manifest is inconsistent"
        ));
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    if files.windows(2).any(|pair| pair[0].name == pair[1].name) {
        return Err("a file is listed twice".to_owned());
    }
    Ok((name, computed, files))
}

/// A listed file must be a path inside the model, as model-signing writes
/// it: relative, `/`-separated, with no empty, `.` or `..` part, no
/// backslash and no control character. Whatever else is refused here,
/// when it is registered, rather than by each deployer's `pull` (which
/// would not write it outside its directory either) or on a page.
fn check_file_name(name: &str) -> Result<(), String> {
    let inside = name
        .split('/')
        .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\\'));
    if inside && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(format!(
            "the statement lists the file {name:?}, which is not a relative path inside the model"
        ))
    }
}

fn hex_32(text: &str) -> Option<[u8; 32]> {
    crate::domain::secret::from_hex_32(&text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
    }

    fn statement_of(files: &[(&str, [u8; 32])], root: Option<String>) -> Vec<u8> {
        let mut hasher = Sha256::new();
        for (_, digest) in files {
            hasher.update(digest);
        }
        let root = root.unwrap_or_else(|| crate::domain::secret::hex(&hasher.finalize()));
        serde_json::to_vec(&serde_json::json!({
            "_type": STATEMENT_V1,
            "subject": [{"name": "churn", "digest": {"sha256": root}}],
            "predicateType": PREDICATE_V1,
            "predicate": {
                "serialization": {"method": "files", "hash_type": "sha256"},
                "resources": files.iter().map(|(name, digest)| serde_json::json!({
                    "name": name, "algorithm": "sha256", "digest": crate::domain::secret::hex(digest)
                })).collect::<Vec<_>>(),
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_statement_gives_its_files_when_the_subject_digest_covers_them() {
        let payload = statement_of(&[("weights.bin", [2; 32]), ("config.json", [1; 32])], None);
        let (name, _, files) = statement(&payload).unwrap();
        assert_eq!(name, "churn");
        let names: Vec<_> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["config.json", "weights.bin"]);
        assert_eq!(files[0].sha256, "01".repeat(32));
    }

    #[test]
    fn a_file_outside_the_model_is_refused() {
        for name in [
            "../weights.bin",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "",
            "a\\..\\b",
            "line\nbreak",
        ] {
            let payload = statement_of(&[(name, [2; 32])], None);
            let refusal = statement(&payload).unwrap_err();
            assert!(
                refusal.contains("not a relative path inside the model"),
                "{name:?}: {refusal}"
            );
        }
        let nested = statement_of(&[("tokenizer/vocab.json", [2; 32]), ("..a", [3; 32])], None);
        assert!(statement(&nested).is_ok(), "a dot-leading name is a name");
    }

    /// JSON made of the names a bundle or statement uses, nested at
    /// random, so the parsers get past "not JSON" to every later check.
    fn bundle_like() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let names = proptest::sample::select(vec![
            "mediaType",
            "verificationMaterial",
            "publicKey",
            "x509CertificateChain",
            "certificates",
            "rawBytes",
            "certificate",
            "tlogEntries",
            "dsseEnvelope",
            "payload",
            "payloadType",
            "signatures",
            "sig",
            "_type",
            "subject",
            "name",
            "digest",
            "sha256",
            "predicateType",
            "predicate",
            "serialization",
            "method",
            "resources",
            "algorithm",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            proptest::sample::select(vec![
                "application/vnd.dev.sigstore.bundle.v0.3+json",
                IN_TOTO,
                STATEMENT_V1,
                PREDICATE_V1,
                "files",
                "sha256",
                "",
                "AAAA",
                "../x",
                "\u{0}",
            ])
            .prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(names.clone(), inner, 0..6).prop_map(|fields| {
                    Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest::proptest! {
        /// No bundle or statement panics the parsers: whatever is not a
        /// model-signing bundle is an error that says what is wrong.
        #[test]
        fn no_input_panics_the_parsers(
            text in ".{0,400}",
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
            json in bundle_like(),
        ) {
            let _ = parse(&text);
            let _ = statement(text.as_bytes());
            let _ = statement(&bytes);
            let json = json.to_string();
            let _ = parse(&json);
            let _ = statement(json.as_bytes());
        }

        /// Any files with names inside the model come back sorted, with
        /// their digests, when the subject digest covers them.
        #[test]
        fn listed_files_come_back_sorted(files in proptest::collection::btree_map("[a-z0-9_.-]{1,12}(/[a-z0-9_-]{1,8}){0,2}", proptest::array::uniform32(proptest::num::u8::ANY), 1..8)) {
            let files: Vec<(&str, [u8; 32])> = files
                .iter()
                .filter(|(name, _)| name.split('/').all(|part| part != "." && part != ".."))
                .map(|(name, digest)| (name.as_str(), *digest))
                .collect();
            proptest::prop_assume!(!files.is_empty());
            let (_, _, listed) = statement(&statement_of(&files, None)).unwrap();
            let names: Vec<&str> = listed.iter().map(|f| f.name.as_str()).collect();
            let expected: Vec<&str> = files.iter().map(|(name, _)| *name).collect();
            proptest::prop_assert_eq!(names, expected);
        }
    }

    #[test]
    fn a_subject_digest_over_other_files_is_refused() {
        let payload = statement_of(&[("weights.bin", [2; 32])], Some("00".repeat(32)));
        assert!(statement(&payload).unwrap_err().contains("inconsistent"));
    }
}
