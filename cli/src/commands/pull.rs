//! `modelreg pull`: downloads a version's artifact and verifies it where
//! the bytes are used: every file against the signature's manifest (the
//! bundle verified again by the registry against its trust file), or the
//! one file against its registered sha256. Nothing is left in the target
//! directory unless all of it verifies.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use model_registry_client::proto::GetVersionSignatureResponse;
use model_registry_client::{Error, ModelVersion, RegistryClient};
use serde_json::json;

use crate::manifest::{self, Manifest};
use crate::printer::Printer;
use crate::{fetch, output};

/// The arguments of `modelreg pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// NAME (its production version), NAME@ALIAS or NAME:VERSION.
    pub target: String,
    /// The directory to download into: it must not exist, or be empty.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Also write the signature bundle here (for `model_signing verify`).
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Take a version that has neither a signature nor a sha256 as is.
    #[arg(long)]
    pub allow_unverified: bool,
    /// Give up when the source sends nothing for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0, value_parser = positive_seconds)]
    pub stall_timeout: f64,
    /// Give up (exit 8, keeping nothing) past this many bytes in all: for
    /// artifacts registered without a size, whose source could otherwise
    /// fill the disk.
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_bytes: Option<u64>,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && Duration::try_from_secs_f64(seconds).is_ok() => Ok(seconds),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

/// What the download was checked against.
enum Check {
    /// The signature's files.
    Signature(Box<GetVersionSignatureResponse>),
    /// The registered sha256 of a one-file artifact.
    Sha256,
    /// Nothing (`--allow-unverified`).
    Nothing,
}

/// `modelreg pull`.
pub async fn pull(client: &RegistryClient, args: PullArgs, printer: &Printer) -> Result<(), Error> {
    let version = resolve(client, &args.target).await?;
    let (check, expected) = expectation(client, &version, args.allow_unverified).await?;
    let target = &args.to;
    let staging = staging_dir(target).await?;
    let names: Vec<String> = match &check {
        Check::Signature(_) => expected.keys().cloned().collect(),
        Check::Sha256 | Check::Nothing => Vec::new(),
    };
    let artifact = version.artifact();
    let limits = fetch::Limits {
        stall: Duration::from_secs_f64(args.stall_timeout),
        registered_size: u64::try_from(artifact.size_bytes)
            .ok()
            .filter(|&size| size > 0),
        max_bytes: args.max_bytes,
    };
    let downloaded = async {
        let found = match fetch::download(&artifact.uri, &names, &staging, limits).await? {
            Some(streamed) => streamed,
            None => manifest::digests(&staging).await?,
        };
        verify(&version, &check, &expected, &found)?;
        Ok::<_, Error>(found)
    }
    .await;
    let found = match downloaded {
        Ok(found) => found,
        Err(error) => {
            let _ = tokio::fs::remove_dir_all(&staging).await;
            return Err(error);
        }
    };
    if tokio::fs::metadata(target).await.is_ok() {
        // Checked empty by `staging_dir`.
        let _ = tokio::fs::remove_dir(target).await;
    }
    tokio::fs::rename(&staging, target)
        .await
        .map_err(|source| Error::File {
            path: target.display().to_string(),
            source,
        })?;
    if let (Some(path), Check::Signature(signature)) = (&args.bundle, &check) {
        tokio::fs::write(path, &signature.bundle)
            .await
            .map_err(|source| Error::File {
                path: path.display().to_string(),
                source,
            })?;
    }
    print_pulled(&version, &check, &found, target, printer);
    Ok(())
}

/// The version `NAME`, `NAME@ALIAS` or `NAME:VERSION` names.
async fn resolve(client: &RegistryClient, target: &str) -> Result<ModelVersion, Error> {
    if let Some((model, alias)) = target.split_once('@') {
        return client.get_version_by_alias(model, alias).await;
    }
    if let Some((model, number)) = target.split_once(':') {
        let number = number.parse::<i64>().map_err(|_| {
            Error::InvalidInput(format!(
                "{number:?} is not a version number: use NAME:VERSION (churn:3), NAME@ALIAS or NAME"
            ))
        })?;
        return client.get_model_version(model, number).await;
    }
    client.get_version_by_alias(target, "production").await
}

/// What the download must hold, and against what it is checked.
async fn expectation(
    client: &RegistryClient,
    version: &ModelVersion,
    allow_unverified: bool,
) -> Result<(Check, Manifest), Error> {
    let (model, number) = (version.model_name(), version.version());
    if version.signature().is_some() {
        let signature = client.version_signature(model, number).await?;
        if !signature.trusted_now {
            return Err(Error::Verification(format!(
                "the signature of {model} version {number} no longer verifies against the \
                 registry's trust file: {}",
                signature.untrusted_reason
            )));
        }
        let expected = manifest::of_signature(&signature)?;
        return Ok((Check::Signature(Box::new(signature)), expected));
    }
    let artifact = version.artifact();
    if !artifact.sha256.is_empty() {
        let name = artifact.uri.trim_end_matches('/').rsplit('/').next();
        let expected = Manifest::from([(
            name.unwrap_or_default().to_owned(),
            artifact.sha256.to_ascii_lowercase(),
        )]);
        return Ok((Check::Sha256, expected));
    }
    if allow_unverified {
        return Ok((Check::Nothing, Manifest::new()));
    }
    Err(Error::Verification(format!(
        "{model} version {number} has neither a signature nor a sha256: nothing to verify the \
         download against (--allow-unverified takes it as is)"
    )))
}

/// Refuses a download that is not what was signed or registered, naming
/// every file that differs.
fn verify(
    version: &ModelVersion,
    check: &Check,
    expected: &Manifest,
    found: &Manifest,
) -> Result<(), Error> {
    let problems = match check {
        Check::Nothing => return Ok(()),
        // One file signed or registered, one file downloaded: its name may
        // differ from the one the signer saw (the artifact was uploaded
        // under another), its bytes may not.
        _ if expected.len() == 1 && found.len() == 1 => {
            let pair = found.iter().zip(expected.values()).next();
            match pair {
                Some(((name, digest), wanted)) if digest != wanted => vec![format!(
                    "{name}: sha256 {digest}, but {wanted} was signed or registered"
                )],
                _ => Vec::new(),
            }
        }
        _ => manifest::differences(expected, found),
    };
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Verification(format!(
        "{} version {} from {} does not verify; nothing was kept: {}",
        version.model_name(),
        version.version(),
        version.artifact().uri,
        problems.join("; ")
    )))
}

/// A fresh directory beside `target` to download into (renamed to
/// `target` once verified); `target` must not exist or be empty.
async fn staging_dir(target: &Path) -> Result<PathBuf, Error> {
    let io = |path: &Path, source| Error::File {
        path: path.display().to_string(),
        source,
    };
    if let Ok(mut entries) = tokio::fs::read_dir(target).await
        && entries
            .next_entry()
            .await
            .map_err(|e| io(target, e))?
            .is_some()
    {
        return Err(Error::InvalidInput(format!(
            "{} is not empty: pull into a new or empty directory",
            target.display()
        )));
    }
    let name = target
        .file_name()
        .ok_or_else(|| Error::InvalidInput(format!("{} names no directory", target.display())))?;
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|e| io(parent, e))?;
    let staging = parent.join(format!(
        ".{}.pulling-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = tokio::fs::remove_dir_all(&staging).await;
    tokio::fs::create_dir(&staging)
        .await
        .map_err(|e| io(&staging, e))?;
    Ok(staging)
}

fn print_pulled(
    version: &ModelVersion,
    check: &Check,
    found: &Manifest,
    target: &Path,
    printer: &Printer,
) {
    let (verified, how) = match check {
        Check::Signature(signature) => {
            let summary = signature
                .model_version
                .as_ref()
                .and_then(|v| v.signature.as_ref());
            let signer = summary.map(|s| s.signer.as_str()).unwrap_or_default();
            let method = summary
                .map(|s| output::signature_method(s.method))
                .unwrap_or_default();
            (
                json!({"by": "signature", "signer": signer, "method": method}),
                format!("verified against the signature ({method} method, signed by {signer})"),
            )
        }
        Check::Sha256 => (
            json!({"by": "sha256"}),
            "verified against the registered sha256".to_owned(),
        ),
        Check::Nothing => (
            json!({"by": "nothing"}),
            "NOT verified: the version has neither a signature nor a sha256".to_owned(),
        ),
    };
    let document = json!({
        "model": version.model_name(),
        "version": version.version(),
        "directory": target.display().to_string(),
        "verified": verified,
        "files": found,
    });
    let mut text = format!(
        "pulled {} version {} into {}: {} file(s), {how}",
        version.model_name(),
        version.version(),
        target.display(),
        found.len()
    );
    for (name, digest) in found {
        text.push_str(&format!("\n  {name}  sha256 {digest}"));
    }
    printer.print(document, text);
}
