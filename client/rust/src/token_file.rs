//! A bearer token kept in a file: a Kubernetes projected service-account
//! token, or a CI job's token written by a step before. Platforms rotate
//! these files in place (Kubernetes swaps a symlink), so the file is looked
//! at before every call and read again when it changed: a long-running
//! client uses the new token from its next call, without restarting.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};

use crate::error::{Error, Result};

/// What says the file changed: its modification time and length.
type Stamp = (Option<SystemTime>, u64);

/// How close to a read a modification time must be for the read to be
/// trusted: a file rewritten with a token of the same length within the
/// file system's timestamp granularity keeps its stamp (git's "racily
/// clean" index entries have the same problem), so such a file is read
/// again until its stamp is safely older than the read.
const RACY: Duration = Duration::from_secs(2);

/// The latest read: the file's stamp then, when it was read, the header.
#[derive(Debug)]
struct Latest {
    stamp: Stamp,
    read_at: SystemTime,
    header: MetadataValue<Ascii>,
}

/// A token file and the header made from its latest contents.
#[derive(Debug)]
pub(crate) struct TokenFile {
    path: PathBuf,
    latest: Mutex<Latest>,
}

impl TokenFile {
    /// Reads `path` now: a missing, empty or unprintable token is an error
    /// at once rather than at the first call.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            path: path.to_owned(),
            latest: Mutex::new(read(path)?),
        })
    }

    /// The `authorization` header for the next call: the file's token, read
    /// again if the file changed. While the file cannot be read (between
    /// the steps of a rotation) the last token read is used.
    pub(crate) fn header(&self) -> std::result::Result<MetadataValue<Ascii>, Status> {
        let mut latest = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Ok(stamp) = stamp(&self.path)
            && (stamp != latest.stamp || racy(&latest))
        {
            match read(&self.path) {
                Ok(fresh) => *latest = fresh,
                Err(Error::InvalidInput(reason)) => return Err(Status::unauthenticated(reason)),
                Err(_) => {}
            }
        }
        Ok(latest.header.clone())
    }
}

/// Whether the file was modified so shortly before it was read that a
/// rewrite since may not show in its stamp.
fn racy(latest: &Latest) -> bool {
    latest.stamp.0.is_none_or(|modified| {
        latest
            .read_at
            .duration_since(modified)
            .map_or(true, |age| age < RACY)
    })
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.modified().ok(), metadata.len()))
}

fn read(path: &Path) -> Result<Latest> {
    let file_error = |source| Error::File {
        path: path.display().to_string(),
        source,
    };
    let read_at = SystemTime::now();
    let stamp = stamp(path).map_err(file_error)?;
    let text = std::fs::read_to_string(path).map_err(file_error)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::InvalidInput(format!(
            "the token file {} is empty",
            path.display()
        )));
    }
    let header = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
        Error::InvalidInput(format!(
            "the token in {} must be printable ASCII",
            path.display()
        ))
    })?;
    Ok(Latest {
        stamp,
        read_at,
        header,
    })
}
