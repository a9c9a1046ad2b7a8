//! A builder for registrations, so a training job states what it trained
//! instead of assembling protobuf messages.

use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use model_registry_api::json::json_to_struct;
use model_registry_api::v1 as pb;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A model version to register.
///
/// A fresh `request_id` is set on creation, so the client can retry the
/// registration safely: the server returns the first result for a repeated
/// id instead of registering twice.
///
/// ```no_run
/// # async fn example() -> Result<(), model_registry_client::Error> {
/// use model_registry_client::{RegisterModel, RegistryClient};
///
/// let client = RegistryClient::connect("http://127.0.0.1:50051").await?;
/// let version = client
///     .register_model(
///         RegisterModel::new("churn")
///             .algorithm("XGBoost")
///             .artifact_file("models/churn.pkl")?
///             .metric("auc", 0.91)
///             .metric("f1", 0.77)
///             .param("max_depth", "6")
///             .train_samples(8000)
///             .test_samples(2000),
///     )
///     .await?;
/// println!("registered churn version {}", version.version());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterModel {
    request: pb::RegisterModelRequest,
}

impl RegisterModel {
    /// A registration of a new version of `model_name`, with a fresh request id.
    pub fn new(model_name: impl Into<String>) -> Self {
        Self {
            request: pb::RegisterModelRequest {
                model_name: model_name.into(),
                request_id: uuid::Uuid::new_v4().to_string(),
                ..Default::default()
            },
        }
    }

    /// The algorithm or model family, e.g. `XGBoost`.
    pub fn algorithm(mut self, algorithm: impl Into<String>) -> Self {
        self.request.algorithm = algorithm.into();
        self
    }

    /// Where the artifact lives, without checksum or size.
    pub fn artifact_uri(mut self, uri: impl Into<String>) -> Self {
        self.artifact().uri = uri.into();
        self
    }

    /// A local artifact file: records it as an absolute `file://` URI, with
    /// its SHA-256 and size.
    pub fn artifact_file(mut self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file_error = |source| Error::File {
            path: path.display().to_string(),
            source,
        };
        let absolute = std::path::absolute(path).map_err(file_error)?;
        let mut file = std::fs::File::open(&absolute).map_err(file_error)?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut size_bytes: i64 = 0;
        loop {
            let read = file.read(&mut buffer).map_err(file_error)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            size_bytes += read as i64;
        }
        let digest = hasher.finalize();
        let artifact = self.artifact();
        artifact.uri = file_uri(&absolute);
        artifact.sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
        artifact.size_bytes = size_bytes;
        Ok(self)
    }

    /// Where the metadata file written beside the artifact lives.
    pub fn metadata_uri(mut self, uri: impl Into<String>) -> Self {
        self.artifact().metadata_uri = uri.into();
        self
    }

    /// One evaluation metric.
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.request.metrics.insert(name.into(), value);
        self
    }

    /// One hyperparameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.params.insert(name.into(), value.into());
        self
    }

    /// One tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.request.tags.insert(key.into(), value.into());
        self
    }

    /// A free-form description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.request.description = description.into();
        self
    }

    /// When training started and finished; the server derives the duration.
    pub fn trained_between(mut self, started: SystemTime, finished: SystemTime) -> Self {
        let training = self.training();
        training.started_at = Some(started.into());
        training.finished_at = Some(finished.into());
        self
    }

    /// When training finished, when its start is not known.
    pub fn finished_at(mut self, finished: SystemTime) -> Self {
        self.training().finished_at = Some(finished.into());
        self
    }

    /// Training wall time in seconds, when the start and end are not known.
    pub fn duration_seconds(mut self, seconds: f64) -> Self {
        self.training().duration_seconds = seconds;
        self
    }

    /// Number of training samples.
    pub fn train_samples(mut self, count: i64) -> Self {
        self.training().train_samples = count;
        self
    }

    /// Number of held-out test samples.
    pub fn test_samples(mut self, count: i64) -> Self {
        self.training().test_samples = count;
        self
    }

    /// Number of input features, when their names are not given.
    pub fn feature_count(mut self, count: i64) -> Self {
        self.training().feature_count = count;
        self
    }

    /// Names of the input features, in order (sets the count too).
    pub fn feature_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.training().feature_names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Where the training data came from.
    pub fn dataset_uri(mut self, uri: impl Into<String>) -> Self {
        self.training().dataset_uri = uri.into();
        self
    }

    /// The training code's version, e.g. a git commit.
    pub fn code_version(mut self, version: impl Into<String>) -> Self {
        self.training().code_version = version.into();
        self
    }

    /// Further metadata, which must be a JSON object.
    pub fn metadata(mut self, metadata: serde_json::Value) -> Result<Self> {
        match metadata {
            serde_json::Value::Object(object) => {
                self.request.metadata = Some(json_to_struct(object));
                Ok(self)
            }
            _ => Err(Error::InvalidInput(
                "metadata must be a JSON object".to_owned(),
            )),
        }
    }

    /// Replaces the generated request id, e.g. with the training run's id so
    /// that re-running the same job never registers twice.
    pub fn request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request.request_id = request_id.into();
        self
    }

    /// Registers the version with its signature: the bundle (JSON)
    /// `model_signing sign` writes, which the server verifies.
    pub fn signature_bundle(mut self, bundle: impl Into<String>) -> Self {
        self.request.signature_bundle = bundle.into();
        self
    }

    /// Asks the server only to check the registration against every rule
    /// and return it as it would be stored (version 0, no id), writing
    /// nothing.
    pub fn validate_only(mut self) -> Self {
        self.request.validate_only = true;
        self
    }

    /// The request as sent.
    pub fn into_request(self) -> pb::RegisterModelRequest {
        self.request
    }

    fn artifact(&mut self) -> &mut pb::Artifact {
        self.request.artifact.get_or_insert_with(Default::default)
    }

    fn training(&mut self) -> &mut pb::TrainingInfo {
        self.request.training.get_or_insert_with(Default::default)
    }
}

/// Bytes a `file://` URI's path keeps as they are: the unreserved
/// characters and the separator, as Python's `Path.as_uri()` keeps them, so
/// both clients record the same file the same way.
const FILE_URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The `file://` URI of an absolute local path, its bytes escaped as
/// Python's `Path.as_uri()` escapes them.
pub fn file_uri(absolute: &Path) -> String {
    #[cfg(unix)]
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(absolute.as_os_str()).to_vec();
    #[cfg(not(unix))]
    let bytes = absolute.to_string_lossy().replace('\\', "/").into_bytes();
    format!(
        "file://{}",
        percent_encoding::percent_encode(&bytes, FILE_URI_PATH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use model_registry_api::json::struct_to_json;

    #[test]
    fn artifact_file_records_path_checksum_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.pkl");
        std::fs::write(&path, b"abc").unwrap();
        let request = RegisterModel::new("churn")
            .artifact_file(&path)
            .unwrap()
            .into_request();
        let artifact = request.artifact.unwrap();
        assert_eq!(
            artifact.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(artifact.size_bytes, 3);
        assert_eq!(artifact.uri, format!("file://{}", path.display()));
        assert!(
            RegisterModel::new("churn")
                .artifact_file(dir.path().join("missing"))
                .is_err()
        );
    }

    #[test]
    fn a_local_artifact_is_an_absolute_file_uri_with_unsafe_bytes_escaped() {
        assert_eq!(
            file_uri(Path::new("/models/churn v2/xgb#1.pkl")),
            "file:///models/churn%20v2/xgb%231.pkl"
        );
        assert_eq!(file_uri(Path::new("/m/a-b_c.d~e")), "file:///m/a-b_c.d~e");
        let relative = RegisterModel::new("churn")
            .artifact_file("Cargo.toml")
            .unwrap()
            .into_request();
        let uri = relative.artifact.unwrap().uri;
        assert!(
            uri.starts_with("file:///") && uri.ends_with("/Cargo.toml"),
            "{uri}"
        );
    }

    #[test]
    fn every_registration_gets_its_own_request_id() {
        let a = RegisterModel::new("churn").into_request();
        let b = RegisterModel::new("churn").into_request();
        assert!(!a.request_id.is_empty());
        assert_ne!(a.request_id, b.request_id);
    }

    #[test]
    fn metadata_must_be_an_object_and_round_trips() {
        let value = serde_json::json!({"threshold": 0.5, "classes": ["stay", "churn"]});
        let request = RegisterModel::new("churn")
            .metadata(value.clone())
            .unwrap()
            .into_request();
        let metadata = struct_to_json(&request.metadata.unwrap()).unwrap();
        assert_eq!(serde_json::Value::Object(metadata), value);
        assert!(
            RegisterModel::new("churn")
                .metadata(serde_json::json!([1]))
                .is_err()
        );
    }
}
