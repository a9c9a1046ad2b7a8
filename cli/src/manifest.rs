//! What a download must hold, and whether it does: every file a version's
//! signature covers with its SHA-256 (read from the bundle's own statement
//! and matched against the registry's manifest), or the one file its
//! registered sha256 names.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use model_registry_client::Error;
use model_registry_client::proto as pb;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

/// Files (relative paths with `/`) and their SHA-256, lowercase hex.
pub type Manifest = BTreeMap<String, String>;

/// The files the signature covers: the registry's manifest, which must be
/// the one the bundle's statement lists.
pub fn of_signature(signature: &pb::GetVersionSignatureResponse) -> Result<Manifest, Error> {
    let registry: Manifest = signature
        .files
        .iter()
        .map(|file| (file.name.clone(), file.sha256.to_ascii_lowercase()))
        .collect();
    let signed = of_bundle(&signature.bundle)?;
    if signed != registry {
        return Err(Error::Verification(
            "the registry's list of signed files is not the one in the signature's statement"
                .to_owned(),
        ));
    }
    Ok(signed)
}

/// The files an OpenSSF model-signing bundle's in-toto statement lists.
fn of_bundle(bundle: &str) -> Result<Manifest, Error> {
    let unreadable = |why: &str| Error::Verification(format!("the signature bundle {why}"));
    let bundle: Value = serde_json::from_str(bundle).map_err(|_| unreadable("is not JSON"))?;
    let payload = bundle
        .pointer("/dsseEnvelope/payload")
        .and_then(Value::as_str)
        .ok_or_else(|| unreadable("has no DSSE payload"))?;
    let statement = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .map_err(|_| unreadable("payload is not base64"))?;
    let statement: Value =
        serde_json::from_slice(&statement).map_err(|_| unreadable("statement is not JSON"))?;
    let resources = statement
        .pointer("/predicate/resources")
        .and_then(Value::as_array)
        .ok_or_else(|| unreadable("statement lists no files"))?;
    resources
        .iter()
        .map(|resource| {
            let text = |key: &str| resource.get(key).and_then(Value::as_str);
            match (text("name"), text("algorithm"), text("digest")) {
                (Some(name), Some("sha256"), Some(digest)) => {
                    Ok((name.to_owned(), digest.to_ascii_lowercase()))
                }
                _ => Err(unreadable("statement lists a file without a sha256")),
            }
        })
        .collect()
}

/// SHA-256 of every file under `dir`, by relative path with `/`.
pub async fn digests(dir: &Path) -> Result<Manifest, Error> {
    let io = |path: &Path, source| Error::File {
        path: path.display().to_string(),
        source,
    };
    let mut found = Manifest::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let mut entries = tokio::fs::read_dir(&current)
            .await
            .map_err(|e| io(&current, e))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| io(&current, e))? {
            let path = entry.path();
            if entry.file_type().await.map_err(|e| io(&path, e))?.is_dir() {
                pending.push(path);
                continue;
            }
            let relative: Vec<String> = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| io(&path, e))?;
            let mut hasher = Sha256::new();
            let mut buffer = vec![0; 1 << 20];
            loop {
                let read = file.read(&mut buffer).await.map_err(|e| io(&path, e))?;
                if read == 0 {
                    break;
                }
                hasher.update(&buffer[..read]);
            }
            found.insert(relative.join("/"), hex(&hasher.finalize()));
        }
    }
    Ok(found)
}

/// A digest as lowercase hex, as manifests hold it.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Every way `found` differs from `expected`, one line per file; empty
/// when the download is what was signed or registered.
pub fn differences(expected: &Manifest, found: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, digest) in expected {
        match found.get(name) {
            None => problems.push(format!("{name}: missing from the download")),
            Some(actual) if actual != digest => problems.push(format!(
                "{name}: sha256 {actual}, but {digest} was signed or registered"
            )),
            Some(_) => {}
        }
    }
    for name in found.keys().filter(|name| !expected.contains_key(*name)) {
        problems.push(format!(
            "{name}: not covered by the signature (an extra file)"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(files: &[(&str, &str)]) -> Manifest {
        files
            .iter()
            .map(|(n, d)| ((*n).to_owned(), (*d).to_owned()))
            .collect()
    }

    #[test]
    fn each_missing_changed_or_extra_file_is_named() {
        let expected = manifest(&[("a.bin", "01"), ("b.json", "02"), ("c/d", "03")]);
        let found = manifest(&[("a.bin", "01"), ("b.json", "ff"), ("e.txt", "04")]);
        let problems = differences(&expected, &found);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("b.json: sha256 ff"));
        assert!(problems[1].starts_with("c/d: missing"));
        assert!(problems[2].starts_with("e.txt: not covered"));
        assert!(differences(&expected, &expected).is_empty());
    }

    #[test]
    fn the_bundle_statement_gives_the_signed_files() {
        let statement = serde_json::json!({
            "predicate": {"resources": [
                {"name": "w.bin", "algorithm": "sha256", "digest": "AB"},
            ]}
        });
        let payload = base64::engine::general_purpose::STANDARD.encode(statement.to_string());
        let bundle = serde_json::json!({"dsseEnvelope": {"payload": payload}}).to_string();
        assert_eq!(of_bundle(&bundle).unwrap(), manifest(&[("w.bin", "ab")]));
        assert!(of_bundle("{}").is_err());
    }
}
