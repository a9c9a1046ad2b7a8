//! Downloads a version's artifact into a local directory: `file://` (a
//! file or a directory, copied), `http(s)://` (one file, or the files a
//! signature names under the URL as a directory) and `s3://` (one object,
//! or every object under the prefix, through `object_store` with the usual
//! `AWS_*` environment). Bytes are streamed to disk, never held whole.
//!
//! The source is not trusted to behave: one that stops sending fails the
//! download after [`Limits::stall`] instead of hanging the deployer, and
//! one that sends more than the registered size (or the caller's
//! `--max-bytes`) fails it before the disk fills.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use model_registry_client::Error;

use crate::manifest::{self, Manifest};
use object_store::ClientOptions;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_stream::StreamExt;

/// How long one HTTP download may take to connect.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What a download may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest wait for the source's next bytes (or answer).
    pub stall: Duration,
    /// Most bytes in all: the artifact's registered `size_bytes`.
    pub registered_size: Option<u64>,
    /// Most bytes in all: the caller's own cap (`--max-bytes`), for
    /// artifacts registered without a size, or a disk smaller than it.
    pub max_bytes: Option<u64>,
}

/// One download's progress against its [`Limits`], and the SHA-256 of each
/// file it streamed (taken as the bytes go to disk, so a large model is not
/// read back to be verified).
struct Transfer<'a> {
    uri: &'a str,
    limits: Limits,
    received: u64,
    streamed: Manifest,
}

impl Transfer<'_> {
    /// `step`, unless the source keeps it waiting longer than the stall
    /// limit.
    async fn within_stall<T>(
        &self,
        step: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        tokio::time::timeout(self.limits.stall, step)
            .await
            .unwrap_or_else(|_| {
                Err(Error::InvalidInput(format!(
                    "cannot download {}: the source sent nothing for {} s (--stall-timeout)",
                    self.uri,
                    self.limits.stall.as_secs_f64()
                )))
            })
    }

    /// Counts `bytes` more, refusing them past the registered size or the
    /// caller's cap.
    fn count(&mut self, bytes: u64) -> Result<(), Error> {
        self.received = self.received.saturating_add(bytes);
        if let Some(most) = self
            .limits
            .registered_size
            .filter(|&most| self.received > most)
        {
            return Err(Error::Verification(format!(
                "{} holds more than the {most} bytes registered as its size_bytes; \
                 stopped there and kept nothing",
                self.uri
            )));
        }
        if let Some(most) = self.limits.max_bytes.filter(|&most| self.received > most) {
            return Err(Error::Verification(format!(
                "{} holds more than the {most} bytes --max-bytes allows; \
                 stopped there and kept nothing",
                self.uri
            )));
        }
        Ok(())
    }

    /// Writes `chunks` to the file `name` (a relative path with `/`) under
    /// `into`, hashing them on the way.
    async fn save<S, B, E>(
        &mut self,
        mut chunks: S,
        into: &Path,
        name: &str,
        failed: impl Fn(E) -> Error,
    ) -> Result<(), Error>
    where
        S: tokio_stream::Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
    {
        let target = destination(into, name)?;
        create_parent(&target).await?;
        let mut file = tokio::fs::File::create(&target)
            .await
            .map_err(|e| io_error(&target, e))?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = self.within_stall(async { Ok(chunks.next().await) }).await? {
            let chunk = chunk.map_err(&failed)?;
            self.count(chunk.as_ref().len() as u64)?;
            hasher.update(chunk.as_ref());
            file.write_all(chunk.as_ref())
                .await
                .map_err(|e| io_error(&target, e))?;
        }
        file.flush().await.map_err(|e| io_error(&target, e))?;
        self.streamed
            .insert(name.to_owned(), manifest::hex(&hasher.finalize()));
        Ok(())
    }
}

/// Characters escaped in a file name's path segment of an HTTP URL.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// Downloads the artifact at `uri` into the empty directory `into`. When
/// the artifact is a directory whose listing cannot be read (HTTP),
/// `names` (the files a signature covers) say what to fetch.
///
/// Returns the SHA-256 of every file when it was taken on the way (HTTP
/// and S3); a local copy is hashed where it lands, by the caller.
pub async fn download(
    uri: &str,
    names: &[String],
    into: &Path,
    limits: Limits,
) -> Result<Option<Manifest>, Error> {
    let mut transfer = Transfer {
        uri,
        limits,
        received: 0,
        streamed: Manifest::new(),
    };
    if let Some(path) = uri.strip_prefix("file://") {
        let path = PathBuf::from(percent_decode_str(path).decode_utf8_lossy().as_ref());
        copy_local(&path, into, &mut transfer).await?;
        return Ok(None);
    }
    if uri.starts_with("https://") || uri.starts_with("http://") {
        download_http(uri, names, into, &mut transfer).await?;
        return Ok(Some(transfer.streamed));
    }
    if let Some(rest) = uri.strip_prefix("s3://") {
        download_s3(rest, into, &mut transfer).await?;
        return Ok(Some(transfer.streamed));
    }
    Err(Error::InvalidInput(format!(
        "cannot download {uri:?}: modelreg pull reads file://, http(s):// and s3:// artifacts"
    )))
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::File {
        path: path.display().to_string(),
        source,
    }
}

/// The last segment of a path or URL: the file name a one-file artifact
/// is saved under.
fn base_name(path: &str) -> Result<String, Error> {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|name| !name.is_empty() && *name != "." && *name != "..")
        .map(|name| percent_decode_str(name).decode_utf8_lossy().into_owned())
        .ok_or_else(|| Error::InvalidInput(format!("{path:?} names no file")))
}

/// Where `name` (a relative path with `/`) goes under `into`, refusing
/// names that would leave it.
fn destination(into: &Path, name: &str) -> Result<PathBuf, Error> {
    let mut path = into.to_path_buf();
    for part in name.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\\') {
            return Err(Error::Verification(format!(
                "refusing the file name {name:?}: it would be written outside the target directory"
            )));
        }
        path.push(part);
    }
    Ok(path)
}

async fn create_parent(path: &Path) -> Result<(), Error> {
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| io_error(parent, e))?;
    }
    Ok(())
}

/// Copies a file, or a directory's files (following no symbolic link out
/// of it: links are refused).
async fn copy_local(source: &Path, into: &Path, transfer: &mut Transfer<'_>) -> Result<(), Error> {
    let metadata = tokio::fs::metadata(source)
        .await
        .map_err(|e| io_error(source, e))?;
    if metadata.is_file() {
        transfer.count(metadata.len())?;
        let name = base_name(&source.to_string_lossy())?;
        let target = into.join(name);
        tokio::fs::copy(source, &target)
            .await
            .map_err(|e| io_error(source, e))?;
        return Ok(());
    }
    let mut pending = vec![source.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries = tokio::fs::read_dir(&dir)
            .await
            .map_err(|e| io_error(&dir, e))?;
        while let Some(entry) = entries.next_entry().await.map_err(|e| io_error(&dir, e))? {
            let path = entry.path();
            let kind = entry.file_type().await.map_err(|e| io_error(&path, e))?;
            let relative = path.strip_prefix(source).unwrap_or(&path);
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let size = entry
                    .metadata()
                    .await
                    .map_err(|e| io_error(&path, e))?
                    .len();
                transfer.count(size)?;
                let target = into.join(relative);
                create_parent(&target).await?;
                tokio::fs::copy(&path, &target)
                    .await
                    .map_err(|e| io_error(&path, e))?;
            } else {
                return Err(Error::Verification(format!(
                    "{} is not a regular file (a symbolic link?): refusing to follow it",
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

async fn download_http(
    uri: &str,
    names: &[String],
    into: &Path,
    transfer: &mut Transfer<'_>,
) -> Result<(), Error> {
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .map_err(|e| Error::InvalidInput(format!("cannot make an HTTP client: {e}")))?;
    let single = base_name(uri)?;
    // A one-file artifact is fetched as is; a directory by its files' names.
    let files: Vec<(String, String)> = match names {
        [] => vec![(uri.to_owned(), single)],
        [only] if *only == single => vec![(uri.to_owned(), single)],
        names => names
            .iter()
            .map(|name| {
                let encoded: Vec<String> = name
                    .split('/')
                    .map(|part| utf8_percent_encode(part, SEGMENT).to_string())
                    .collect();
                (
                    format!("{}/{}", uri.trim_end_matches('/'), encoded.join("/")),
                    name.clone(),
                )
            })
            .collect(),
    };
    for (url, name) in files {
        let failed = |e: reqwest::Error| Error::InvalidInput(format!("cannot download {url}: {e}"));
        let response = transfer
            .within_stall(async {
                client
                    .get(&url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(failed)
            })
            .await?;
        transfer
            .save(response.bytes_stream(), into, &name, failed)
            .await?;
    }
    Ok(())
}

async fn download_s3(
    bucket_and_key: &str,
    into: &Path,
    transfer: &mut Transfer<'_>,
) -> Result<(), Error> {
    let (bucket, key) = bucket_and_key
        .split_once('/')
        .unwrap_or((bucket_and_key, ""));
    // No limit on a whole request (object_store's default, 30 s, would cut
    // a large model's download short): a stall is what fails one.
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_client_options(
            ClientOptions::new()
                .with_timeout_disabled()
                .with_connect_timeout(CONNECT_TIMEOUT),
        );
    // The endpoint variable the AWS SDKs read, and plain HTTP only to an
    // endpoint the operator named so (a local S3-compatible server).
    let endpoint = std::env::var("AWS_ENDPOINT")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .ok();
    if let Some(endpoint) = endpoint {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    let store = builder
        .build()
        .map_err(|e| Error::InvalidInput(format!("cannot reach s3://{bucket}: {e}")))?;
    let failed = |e: object_store::Error| {
        Error::InvalidInput(format!("cannot download s3://{bucket_and_key}: {e}"))
    };
    let key = key.trim_end_matches('/');
    let single = ObjectPath::from(key);
    let head = transfer
        .within_stall(async { Ok(store.head(&single).await) })
        .await?;
    let objects: Vec<(ObjectPath, String)> = match head {
        Ok(_) if !key.is_empty() => vec![(single, base_name(key)?)],
        _ => {
            let prefix = (!key.is_empty()).then(|| ObjectPath::from(key));
            let mut listing = store.list(prefix.as_ref());
            let mut objects = Vec::new();
            while let Some(meta) = transfer
                .within_stall(async { Ok(listing.next().await) })
                .await?
            {
                let meta = meta.map_err(failed)?;
                let relative = meta
                    .location
                    .as_ref()
                    .strip_prefix(key)
                    .unwrap_or(meta.location.as_ref())
                    .trim_start_matches('/')
                    .to_owned();
                objects.push((meta.location, relative));
            }
            if objects.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "s3://{bucket_and_key} holds no object"
                )));
            }
            objects
        }
    };
    for (location, name) in objects {
        let object = transfer
            .within_stall(async { store.get(&location).await.map_err(failed) })
            .await?;
        transfer
            .save(object.into_stream(), into, &name, failed)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_never_leaves_the_target_directory() {
        let into = Path::new("/tmp/model");
        assert_eq!(
            destination(into, "weights/part-1.bin").unwrap(),
            into.join("weights").join("part-1.bin")
        );
        for hostile in ["../etc/passwd", "a/../../b", "/abs", "a//b", "a\\..\\b"] {
            assert!(destination(into, hostile).is_err(), "{hostile}");
        }
    }

    #[test]
    fn a_one_file_artifact_keeps_its_name() {
        assert_eq!(base_name("/models/churn/model.pkl").unwrap(), "model.pkl");
        assert_eq!(
            base_name("https://h/m/my%20model.pkl").unwrap(),
            "my model.pkl"
        );
        assert_eq!(base_name("/models/churn/").unwrap(), "churn");
        assert!(base_name("/").is_err());
    }
}
