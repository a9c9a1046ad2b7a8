//! `modelreg versions`, `show`, `best`, `production` and `history`: reading versions and the trail.

use clap::Args;
use model_registry_client::proto as pb;
use model_registry_client::{BestVersion, Error, Event, ModelVersion, RegistryClient};

use super::{StatusArg, parse_metric, parse_pair, parse_time_arg};
use crate::output;
use crate::printer::Printer;
use crate::target::VersionTarget;

/// The arguments of `modelreg versions`.
#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// The model.
    pub name: String,
    /// Only versions in this status (repeatable).
    #[arg(long, value_enum)]
    pub status: Vec<StatusArg>,
    /// Only versions of this algorithm.
    #[arg(long)]
    pub algorithm: Option<String>,
    /// `version`, `trained`, `created`, or a metric name such as `auc`
    /// (metrics list the best first).
    #[arg(long, default_value = "version")]
    pub order_by: String,
    /// Smallest first, whatever the default of the ordering.
    #[arg(long, conflicts_with = "descending")]
    pub ascending: bool,
    /// Largest first, whatever the default of the ordering.
    #[arg(long)]
    pub descending: bool,
    /// Most versions to list.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Only versions holding this alias (repeatable: any of them).
    #[arg(long = "alias")]
    pub aliases: Vec<String>,
    /// Only versions whose METRIC is at least VALUE, e.g. `--min
    /// auc=0.9` (repeatable: all of them).
    #[arg(long = "min", value_parser = parse_metric, allow_hyphen_values = true)]
    pub min_metrics: Vec<(String, f64)>,
    /// Only versions with this tag, KEY=VALUE (repeatable: all of them).
    #[arg(long = "tag", value_parser = parse_pair)]
    pub tags: Vec<(String, String)>,
}

/// The arguments of `modelreg show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The model, or MODEL@ALIAS for the version an alias points at.
    #[arg(required_unless_present = "id")]
    pub name: Option<String>,
    /// The version number (not with MODEL@ALIAS).
    pub version: Option<i64>,
    /// The version's id instead of name and number.
    #[arg(long, conflicts_with_all = ["name", "version"])]
    pub id: Option<String>,
}

/// The arguments of `modelreg best`.
#[derive(Debug, Args)]
pub struct BestArgs {
    /// The model.
    pub name: String,
    /// The metric to compare.
    #[arg(long)]
    pub metric: String,
    /// Lowest value wins (losses, errors).
    #[arg(long)]
    pub lowest: bool,
}

/// The arguments of `modelreg production`.
#[derive(Debug, Args)]
pub struct ProductionArgs {
    /// The model.
    pub name: String,
    /// A past moment (RFC 3339, or YYYY-MM-DD in UTC).
    #[arg(long, value_parser = parse_time_arg)]
    pub as_of: Option<std::time::SystemTime>,
}

/// The arguments of `modelreg history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this model.
    pub name: Option<String>,
    /// Only this version (needs the model).
    #[arg(long, requires = "name")]
    pub version: Option<i64>,
    /// Only events at or after this time (RFC 3339, or YYYY-MM-DD in UTC).
    #[arg(long, value_parser = parse_time_arg)]
    pub since: Option<std::time::SystemTime>,
    /// Most events to show.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// `modelreg versions`.
pub async fn versions(
    client: &RegistryClient,
    args: VersionsArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let VersionsArgs {
        name,
        status,
        algorithm,
        order_by,
        ascending,
        descending,
        limit,
        aliases,
        min_metrics,
        tags,
    } = args;
    let mut listing = client
        .list_model_versions(name)
        .page_size(limit.clamp(1, 500) as i32)
        .limit(limit);
    // Metrics list the best first; the rest in ascending order.
    let best_first = match order_by.as_str() {
        "version" => false,
        "trained" => {
            listing = listing.order_by_trained_at();
            false
        }
        "created" => {
            listing = listing.order_by_created_at();
            false
        }
        metric => {
            listing = listing.order_by_metric(metric);
            true
        }
    };
    if (best_first && ascending) || (!best_first && descending) {
        listing = listing.reverse();
    }
    for status in status {
        listing = listing.status(status.into());
    }
    if let Some(algorithm) = algorithm {
        listing = listing.algorithm(algorithm);
    }
    for alias in aliases {
        listing = listing.alias(alias);
    }
    for (metric, min) in min_metrics {
        listing = listing.min_metric(metric, min);
    }
    for (key, value) in tags {
        listing = listing.tag(key, value);
    }
    let versions = listing.await?;
    printer.print(
        output::canonical_list(versions.iter().map(ModelVersion::raw))?,
        output::versions_table(&versions),
    );
    Ok(())
}

/// `modelreg show`.
pub async fn show(client: &RegistryClient, args: ShowArgs, printer: &Printer) -> Result<(), Error> {
    let ShowArgs { name, version, id } = args;
    let version = match (id, name) {
        (Some(id), _) => client.get_model_version_by_id(&id).await?,
        (None, Some(name)) => match VersionTarget::parse(&name, version)? {
            VersionTarget::Number(model, number) => {
                client.get_model_version(&model, number).await?
            }
            VersionTarget::Alias(model, alias) => client.get_version_by_alias(model, alias).await?,
        },
        (None, None) => {
            return Err(Error::InvalidInput(
                "give NAME VERSION, NAME@ALIAS or --id ID".to_owned(),
            ));
        }
    };
    let mut text = output::version_details(&version);
    if version.signature().is_some() {
        let signature = client
            .version_signature(version.model_name(), version.version())
            .await?;
        text.push('\n');
        text.push_str(&output::signature_details(&signature));
    }
    printer.print(output::canonical(version.raw())?, text);
    Ok(())
}

/// `modelreg best`.
pub async fn best(client: &RegistryClient, args: BestArgs, printer: &Printer) -> Result<(), Error> {
    let BestArgs {
        name,
        metric,
        lowest,
    } = args;
    let mut query = client.get_best_model_version(&name, &metric);
    if lowest {
        query = query.lowest();
    }
    let BestVersion { version, value } = query.await?;
    let best = pb::GetBestModelVersionResponse {
        model_version: Some(version.raw().clone()),
        value,
    };
    printer.print(
        output::canonical(&best)?,
        format!("{metric} = {value}\n{}", output::version_details(&version)),
    );
    Ok(())
}

/// `modelreg production`.
pub async fn production(
    client: &RegistryClient,
    args: ProductionArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let ProductionArgs { name, as_of } = args;
    let mut read = client.get_production_model(name);
    if let Some(at) = as_of {
        read = read.as_of(at);
    }
    let version = read.await?;
    printer.print(
        output::canonical(version.raw())?,
        output::version_details(&version),
    );
    Ok(())
}

/// `modelreg history`.
pub async fn history(
    client: &RegistryClient,
    args: HistoryArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let HistoryArgs {
        name,
        version,
        since,
        limit,
    } = args;
    let mut listing = client
        .list_events()
        .page_size(limit.clamp(1, 500) as i32)
        .limit(limit);
    if let Some(name) = name {
        listing = listing.model(name);
    }
    if let Some(version) = version {
        listing = listing.version(version);
    }
    if let Some(since) = since {
        listing = listing.since(since);
    }
    let events = listing.await?;
    printer.print(
        output::canonical_list(events.iter().map(Event::raw))?,
        output::events_table(&events),
    );
    Ok(())
}
