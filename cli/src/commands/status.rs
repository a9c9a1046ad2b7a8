//! `modelreg deprecate`, `archive` and `reinstate`: a version's status.

use clap::Args;
use model_registry_client::{Error, ModelStatus, RegistryClient};

use crate::output;
use crate::printer::Printer;
use crate::target::VersionTarget;

/// What a status change takes.
#[derive(Debug, Args)]
pub struct StatusChange {
    /// The model, or MODEL@ALIAS for the version an alias points at.
    name: String,
    /// The version (not with MODEL@ALIAS).
    version: Option<i64>,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: String,
}

/// `modelreg deprecate`, `archive` or `reinstate`: moves a version to `status`.
pub async fn status_change(
    client: &RegistryClient,
    change: StatusChange,
    status: ModelStatus,
    printer: &Printer,
) -> Result<(), Error> {
    let target = VersionTarget::parse(&change.name, change.version)?;
    let number = target.resolve(client).await?;
    let version = client
        .update_model_version_status(target.model(), number, status)
        .reason(change.reason)
        .await?;
    let text = format!(
        "{} version {} is now {status}",
        version.model_name(),
        version.version(),
    );
    printer.print(output::canonical(version.raw())?, text);
    Ok(())
}
