//! `modelreg models`, `model` and `update`: models and their metadata.

use clap::Args;
use model_registry_client::{Error, Model, RegistryClient};

use super::parse_pair;
use crate::output;
use crate::printer::Printer;

/// The arguments of `modelreg model`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// The model.
    pub name: String,
}

/// The arguments of `modelreg update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The model.
    pub name: String,
    /// The version to change (the model itself without it).
    pub version: Option<i64>,
    /// The new description.
    #[arg(long)]
    pub description: Option<String>,
    /// Add or overwrite a tag, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_parser = parse_pair)]
    pub tags: Vec<(String, String)>,
    /// Remove a tag (repeatable).
    #[arg(long = "remove-tag")]
    pub remove_tags: Vec<String>,
    /// Why (recorded in the audit trail).
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `modelreg models`.
pub async fn models(client: &RegistryClient, printer: &Printer) -> Result<(), Error> {
    let models = client.list_models().await?;
    printer.print(
        output::canonical_list(models.iter().map(Model::raw))?,
        output::models_table(&models),
    );
    Ok(())
}

/// `modelreg model`.
pub async fn model(
    client: &RegistryClient,
    args: ModelArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let ModelArgs { name } = args;
    let model = client.get_model(&name).await?;
    printer.print(
        output::canonical(model.raw())?,
        output::model_details(&model),
    );
    Ok(())
}

/// `modelreg update`: a model, or with VERSION one of its versions.
pub async fn update(
    client: &RegistryClient,
    args: UpdateArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let UpdateArgs {
        name,
        version,
        description,
        tags,
        remove_tags,
        reason,
    } = args;
    match version {
        Some(version) => {
            let mut update = client.update_model_version(name, version).reason(reason);
            if let Some(description) = description {
                update = update.description(description);
            }
            for (key, value) in tags {
                update = update.tag(key, value);
            }
            for key in remove_tags {
                update = update.remove_tag(key);
            }
            let version = update.await?;
            printer.print(
                output::canonical(version.raw())?,
                output::version_details(&version),
            );
        }
        None => {
            let mut update = client.update_model(name).reason(reason);
            if let Some(description) = description {
                update = update.description(description);
            }
            for (key, value) in tags {
                update = update.tag(key, value);
            }
            for key in remove_tags {
                update = update.remove_tag(key);
            }
            let model = update.send().await?;
            printer.print(
                output::canonical(model.raw())?,
                output::model_details(&model),
            );
        }
    }
    Ok(())
}
