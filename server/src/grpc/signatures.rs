//! Model signatures on the wire: the bundle is verified here, against the
//! server's trust file, before the use case stores what it found; the
//! handlers' bodies (the service's trait methods call them).

use model_registry_api::v1 as pb;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use super::context::change_of;
use super::convert;
use super::service::RegistryService;
use crate::domain::access::Caller;
use crate::domain::commands::AttachSignature;
use crate::domain::signature::{SignedRegistration, TrustCheck};
use crate::domain::validate::{self, MAX_REASON_CHARS};
use crate::domain::{
    DomainError, DomainResult, ModelName, NewVersion, VersionRef, Violations, secret, time,
};
use crate::signing::MAX_BUNDLE_BYTES;

impl RegistryService {
    /// See `RegistryService.AttachSignature`.
    pub(super) async fn answer_attach_signature(
        &self,
        request: Request<pb::AttachSignatureRequest>,
    ) -> Result<Response<pb::AttachSignatureResponse>, Status> {
        let (caller, request) = change_of(request)?;
        let mut v = Violations::default();
        let fields = (
            v.check(ModelName::parse("model_name", &request.model_name)),
            v.check(validate::version_number("version", request.version)),
            v.check(validate::optional_text(
                "reason",
                &request.reason,
                MAX_REASON_CHARS,
            )),
        );
        if request.bundle.trim().is_empty() {
            v.add(
                "bundle",
                "is required: the JSON file `model_signing sign` writes",
            );
        } else {
            v.check(bundle_size("bundle", &request.bundle));
        }
        let (Some(model), Some(version), Some(reason)) = fields else {
            return Err(v.into_error().into());
        };
        v.finish()?;
        // A failure is the use case's to answer, after a retry's replay; a
        // call without a request key has nothing to replay.
        let verified = self
            .signatures
            .verify("bundle", &request.bundle, &model, time::now());
        if caller.idempotency_key.is_none() {
            verified.as_ref().map_err(Clone::clone)?;
        }
        let command = AttachSignature {
            target: VersionRef::Number(model, version),
            bundle_sha256: sha256_hex(&request.bundle),
            reason,
            verified,
        };
        let attached = self.registry.attach_signature(command, caller).await?;
        Ok(Response::new(pb::AttachSignatureResponse {
            model_version: Some(convert::version_to_wire(attached.value)),
            consistency_token: convert::token_to_wire(attached.token),
        }))
    }

    /// Verifies the signature a registration carries (`bundle`; none when
    /// empty) into `new`. A bundle that fails, or a missing one the trust
    /// file requires, is refused by the use case once it knows the call is
    /// not the retry of one that succeeded; at once when there is nothing
    /// to replay (`validate_only`, or no request key).
    pub(super) fn sign_registration(
        &self,
        new: &mut NewVersion,
        bundle: &str,
        validate_only: bool,
        caller: &Caller,
    ) -> Result<(), Status> {
        if bundle.trim().is_empty() {
            new.unsigned_refusal = self
                .signatures
                .check_unsigned_registration(&new.model_name)
                .err();
        } else {
            bundle_size("signature_bundle", bundle)?;
            new.signature = Some(SignedRegistration {
                bundle_sha256: sha256_hex(bundle),
                verified: self.signatures.verify(
                    "signature_bundle",
                    bundle,
                    &new.model_name,
                    time::now(),
                ),
            });
        }
        if validate_only || caller.idempotency_key.is_none() {
            new.checked_signature()?;
        }
        Ok(())
    }

    /// See `RegistryService.GetVersionSignature`.
    pub(super) async fn answer_get_version_signature(
        &self,
        request: Request<pb::GetVersionSignatureRequest>,
    ) -> Result<Response<pb::GetVersionSignatureResponse>, Status> {
        let request = request.into_inner();
        let target = convert::version_ref(String::new(), &request.model_name, request.version)?;
        let (version, files, bundle) = self.registry.version_signature(target).await?;
        let untrusted_reason = match &version.signature {
            Some(summary) => {
                self.signatures
                    .distrust(&bundle, &version.model_name, summary.verified_at)
            }
            None => Some("the version has no signature summary".to_owned()),
        };
        Ok(Response::new(pb::GetVersionSignatureResponse {
            trusted_now: untrusted_reason.is_none(),
            untrusted_reason: untrusted_reason.unwrap_or_default(),
            model_version: Some(convert::version_to_wire(version)),
            files: files
                .into_iter()
                .map(convert::signed_file_to_wire)
                .collect(),
            bundle,
        }))
    }
}

/// Refuses a bundle (request field `field`) over the size limit.
fn bundle_size(field: &str, bundle: &str) -> DomainResult<()> {
    if bundle.len() > MAX_BUNDLE_BYTES {
        return Err(DomainError::invalid(
            field,
            format!("is larger than {} MiB", MAX_BUNDLE_BYTES / 1024 / 1024),
        ));
    }
    Ok(())
}

fn sha256_hex(bundle: &str) -> String {
    secret::hex(&Sha256::digest(bundle.as_bytes()))
}
