//! A version's signature on its page: who signed how, whether the bundle
//! still verifies against the trust file as it is now, and every file with
//! its digest.

use maud::{Markup, html};

use super::render::moment;
use super::{Console, WebError};
use crate::domain::signature::TrustCheck;
use crate::domain::{ModelVersion, VersionRef};

/// Why `version`'s signature no longer verifies against the trust file as
/// it is now; `None` when it does, or when it has none.
pub(super) async fn distrust(
    console: &Console,
    version: &ModelVersion,
) -> Result<Option<String>, WebError> {
    let Some(summary) = &version.signature else {
        return Ok(None);
    };
    let target = VersionRef::Number(version.model_name.clone(), version.version);
    let (_, _, bundle) = console.registry.version_signature(target).await?;
    Ok(console
        .signatures
        .distrust(&bundle, &version.model_name, summary.verified_at))
}

/// The signature section of `version`'s page (empty when it is unsigned).
pub(super) async fn section(console: &Console, version: &ModelVersion) -> Result<Markup, WebError> {
    let Some(summary) = &version.signature else {
        return Ok(html! {
            h2 { "Signature" }
            p.empty { "None: no signature is attached to this version." }
        });
    };
    let target = VersionRef::Number(version.model_name.clone(), version.version);
    let (_, files, bundle) = console.registry.version_signature(target).await?;
    let distrust = console
        .signatures
        .distrust(&bundle, &version.model_name, summary.verified_at);
    Ok(html! {
        h2 { "Signature" }
        dl.fields #signature {
            dt { "Status" } dd {
                @match &distrust {
                    None => { span.status.active { "VERIFIED" } " (and verifies against the trust file now)" },
                    Some(why) => { span.status.deprecated { "NO LONGER VERIFIES" } " " (why) },
                }
            }
            dt { "Signer" } dd { (summary.signer) }
            dt { "Method" } dd { (summary.method.as_str()) }
            dt { "Trusted by" } dd { (summary.trusted_by) }
            dt { "Verified" } dd { (moment(summary.verified_at)) }
            dt { "Manifest" } dd { code { (summary.manifest_sha256) } }
        }
        table.signed-files {
            thead { tr { th { "File" } th { "SHA-256" } } }
            tbody {
                @for file in &files { tr { td { code { (file.name) } } td { code { (file.sha256) } } } }
            }
        }
    })
}
