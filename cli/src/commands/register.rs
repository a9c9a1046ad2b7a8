//! `modelreg register` and `import-legacy`: new versions.

use std::path::PathBuf;

use clap::Args;
use model_registry_client::{Error, RegisterModel, RegistryClient};

use super::{parse_metric, parse_pair, parse_time_arg};
use crate::printer::Printer;
use crate::{import, legacy, output};

/// The arguments of `modelreg register`.
#[derive(Debug, Args)]
pub struct Registration {
    /// The model (the task, e.g. churn).
    name: String,
    /// Algorithm or model family, e.g. XGBoost.
    #[arg(long)]
    algorithm: Option<String>,
    /// A local artifact file: its path, SHA-256 and size are recorded.
    #[arg(long, conflicts_with = "artifact_uri")]
    artifact: Option<PathBuf>,
    /// A remote artifact location, recorded as is.
    #[arg(long)]
    artifact_uri: Option<String>,
    /// A metric, NAME=VALUE (repeatable).
    #[arg(long, value_parser = parse_metric)]
    metric: Vec<(String, f64)>,
    /// A hyperparameter, NAME=VALUE (repeatable).
    #[arg(long, value_parser = parse_pair)]
    param: Vec<(String, String)>,
    /// A tag, KEY=VALUE (repeatable).
    #[arg(long, value_parser = parse_pair)]
    tag: Vec<(String, String)>,
    /// A description.
    #[arg(long)]
    description: Option<String>,
    /// When training started (RFC 3339, or YYYY-MM-DD in UTC); needs
    /// --finished-at.
    #[arg(long, value_parser = parse_time_arg, requires = "finished_at", help_heading = "Training facts")]
    started_at: Option<std::time::SystemTime>,
    /// When training finished.
    #[arg(long, value_parser = parse_time_arg, help_heading = "Training facts")]
    finished_at: Option<std::time::SystemTime>,
    /// Training wall time in seconds (when start and end are not known).
    #[arg(long, conflicts_with = "started_at", help_heading = "Training facts")]
    duration_seconds: Option<f64>,
    /// Rows the model was trained on.
    #[arg(long, help_heading = "Training facts")]
    train_samples: Option<i64>,
    /// Rows it was evaluated on.
    #[arg(long, help_heading = "Training facts")]
    test_samples: Option<i64>,
    /// Feature names, comma-separated (their count is recorded too).
    #[arg(long, value_delimiter = ',', help_heading = "Training facts")]
    features: Vec<String>,
    /// The number of features, when their names are not given.
    #[arg(long, conflicts_with = "features", help_heading = "Training facts")]
    feature_count: Option<i64>,
    /// Where the training data came from.
    #[arg(long, help_heading = "Training facts")]
    dataset_uri: Option<String>,
    /// The code that trained it (a git SHA, a tag).
    #[arg(long, help_heading = "Training facts")]
    code_version: Option<String>,
    /// The old training scripts' metadata JSON file; flags override it.
    #[arg(long)]
    from_json: Option<PathBuf>,
    /// Idempotency key (default: random); reuse a run's id to never register it twice.
    #[arg(long)]
    request_id: Option<String>,
    /// The model's signature: the bundle `model_signing sign` wrote
    /// (verified by the server, kept with the version).
    #[arg(long, value_name = "BUNDLE")]
    signature: Option<PathBuf>,
}

/// The arguments of `modelreg import-legacy`.
#[derive(Debug, Args)]
pub struct ImportLegacyArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// The model every row becomes a version of (e.g. churn).
    #[arg(long)]
    pub model: String,
    /// Import the good rows even when some are bad (the bad ones are listed).
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Check every row and say what would be created; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Move the model's existing production alias to the row flagged
    /// IS_PRODUCTION (without it an existing production stays).
    #[arg(long)]
    pub set_production: bool,
}

/// `modelreg import-legacy`.
pub async fn import_legacy(
    client: &RegistryClient,
    args: ImportLegacyArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let ImportLegacyArgs {
        file,
        model,
        skip_bad_rows,
        dry_run,
        set_production,
    } = args;
    let options = import::ImportOptions {
        skip_bad_rows,
        dry_run,
        set_production,
    };
    let report = import::import(client, &file, &model, options).await?;
    printer.print(report.to_json(&model), report.to_text(&model));
    Ok(())
}

/// `modelreg register`.
pub async fn register(
    client: &RegistryClient,
    registration: Registration,
    printer: &Printer,
) -> Result<(), Error> {
    let version = client
        .register_model(build_registration(registration)?)
        .await?;
    let text = format!(
        "registered {} version {} (id {})",
        version.model_name(),
        version.version(),
        version.id()
    );
    printer.print(output::canonical(version.raw())?, text);
    Ok(())
}

fn build_registration(args: Registration) -> Result<RegisterModel, Error> {
    let legacy = args
        .from_json
        .as_deref()
        .map(legacy::LegacyMetadata::read)
        .transpose()?;
    let mut registration = RegisterModel::new(&args.name);
    let algorithm = args
        .algorithm
        .or_else(|| legacy.as_ref().and_then(|l| l.algorithm.clone()))
        .ok_or_else(|| {
            Error::InvalidInput(
                "--algorithm is required (or an algorithm/model_name key in --from-json)"
                    .to_owned(),
            )
        })?;
    registration = registration.algorithm(algorithm);
    let legacy_artifact = legacy.as_ref().and_then(|l| l.artifact_path.clone());
    registration = match (args.artifact, args.artifact_uri, legacy_artifact) {
        (Some(path), _, _) => registration.artifact_file(path)?,
        (None, Some(uri), _) => registration.artifact_uri(uri),
        (None, None, Some(path)) if std::path::Path::new(&path).is_file() => {
            registration.artifact_file(path)?
        }
        (None, None, Some(uri)) => registration.artifact_uri(uri),
        (None, None, None) => {
            return Err(Error::InvalidInput(
                "--artifact PATH or --artifact-uri URI is required (or model_file_path in --from-json)".to_owned(),
            ));
        }
    };
    if let Some(legacy) = legacy {
        registration = legacy.apply(registration)?;
    }
    for (name, value) in args.metric {
        registration = registration.metric(name, value);
    }
    for (name, value) in args.param {
        registration = registration.param(name, value);
    }
    for (key, value) in args.tag {
        registration = registration.tag(key, value);
    }
    if let Some(description) = args.description {
        registration = registration.description(description);
    }
    registration = match (args.started_at, args.finished_at) {
        (Some(started), Some(finished)) => registration.trained_between(started, finished),
        (None, Some(finished)) => registration.finished_at(finished),
        _ => registration,
    };
    if let Some(seconds) = args.duration_seconds {
        registration = registration.duration_seconds(seconds);
    }
    if let Some(count) = args.train_samples {
        registration = registration.train_samples(count);
    }
    if let Some(count) = args.test_samples {
        registration = registration.test_samples(count);
    }
    if !args.features.is_empty() {
        let count = i64::try_from(args.features.len()).unwrap_or(i64::MAX);
        registration = registration
            .feature_count(count)
            .feature_names(args.features);
    }
    if let Some(count) = args.feature_count {
        registration = registration.feature_count(count);
    }
    if let Some(uri) = args.dataset_uri {
        registration = registration.dataset_uri(uri);
    }
    if let Some(version) = args.code_version {
        registration = registration.code_version(version);
    }
    if let Some(request_id) = args.request_id {
        registration = registration.request_id(request_id);
    }
    if let Some(path) = args.signature {
        let bundle = std::fs::read_to_string(&path)
            .map_err(|e| Error::InvalidInput(format!("--signature {}: {e}", path.display())))?;
        registration = registration.signature_bundle(bundle);
    }
    Ok(registration)
}
