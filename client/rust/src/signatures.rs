//! Model signatures: a version's signature (the files it covers and the
//! bundle, checked again by the server against its trust file) and
//! attaching one to a version.

use model_registry_api::v1 as pb;

use crate::client::{RegistryClient, new_request_id, version_of};
use crate::error::Result;
use crate::types::ModelVersion;

impl RegistryClient {
    /// Version `version`'s signature: the files with their SHA-256, the
    /// bundle as attached, and whether it verifies against the server's
    /// trust file now (`trusted_now`). NOT_FOUND when it has none.
    pub async fn version_signature(
        &self,
        model_name: &str,
        version: i64,
    ) -> Result<pb::GetVersionSignatureResponse> {
        let request = pb::GetVersionSignatureRequest {
            model_name: model_name.to_owned(),
            version,
        };
        self.retried(request, |mut raw, r| async move {
            raw.get_version_signature(r).await
        })
        .await
    }

    /// Attaches a model-signing bundle (the JSON `model_signing sign`
    /// writes) to a version, once the server verified it; the version
    /// with its signature.
    pub async fn attach_signature(
        &self,
        model_name: &str,
        version: i64,
        bundle: impl Into<String>,
        reason: impl Into<String>,
    ) -> Result<ModelVersion> {
        let request = pb::AttachSignatureRequest {
            model_name: model_name.to_owned(),
            version,
            bundle: bundle.into(),
            reason: reason.into(),
            request_id: new_request_id(),
        };
        let response = self
            .retried(request, |mut raw, r| async move {
                raw.attach_signature(r).await
            })
            .await?;
        version_of(response.model_version)
    }
}
