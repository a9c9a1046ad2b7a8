//! `modelreg`: the Model Registry from the shell. Tables for people,
//! `--output json` for scripts; exit code 0 on success, and on failure a
//! one-line `error: …` naming the cause with an exit code per kind of error.

mod import;
mod jq;
mod legacy;
mod output;
mod profile;
mod target;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use model_registry_client::proto as pb;
use model_registry_client::{
    AliasMove, AliasRollback, BestVersion, ClientOptions, Error, Event, Model, ModelStatus,
    ModelVersion, RegisterModel, RegistryClient, SetAlias, TlsOptions,
};
use output::Format;
use target::{VersionOrAlias, VersionTarget, parse_version_or_alias};
use tonic::Code;

const EXIT_CODES: &str = "\
Exit codes: 0 success; 1 other failure; 2 invalid arguments (INVALID_ARGUMENT);
3 not found (NOT_FOUND); 4 refused by the current state (FAILED_PRECONDITION,
ABORTED, ALREADY_EXISTS); 5 server or database unavailable (UNAVAILABLE).";

/// Command-line client of the Model Registry.
#[derive(Debug, Parser)]
#[command(name = "modelreg", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// The registry's gRPC endpoint.
    #[arg(
        long,
        env = "MODEL_REGISTRY_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    url: String,
    /// Bearer token sent with every call.
    #[arg(
        long,
        env = "MODEL_REGISTRY_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    /// PEM file of the CA that signed the server's certificate (https://
    /// URLs trust the system's roots without it).
    #[arg(long, env = "MODEL_REGISTRY_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --client-key).
    #[arg(
        long,
        env = "MODEL_REGISTRY_CLIENT_CERT",
        requires = "client_key",
        global = true
    )]
    client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(
        long,
        env = "MODEL_REGISTRY_CLIENT_KEY",
        requires = "client_cert",
        global = true
    )]
    client_key: Option<PathBuf>,
    /// Name expected on the server's certificate, when not the URL's host.
    #[arg(long, env = "MODEL_REGISTRY_TLS_DOMAIN", global = true)]
    tls_domain: Option<String>,
    /// Seconds each call may take.
    #[arg(
        long,
        env = "MODEL_REGISTRY_TIMEOUT",
        default_value_t = 30.0,
        global = true
    )]
    timeout: f64,
    /// Compress requests and answers with gzip (large registrations and
    /// listings over slow links).
    #[arg(long, env = "MODEL_REGISTRY_GZIP", global = true)]
    gzip: bool,
    /// Output format.
    #[arg(
        long,
        short = 'o',
        value_enum,
        env = "MODEL_REGISTRY_OUTPUT",
        default_value = "table",
        global = true
    )]
    output: Format,
    /// Print only identifiers, one per line: version numbers, event ids or
    /// model names (for `xargs` and shell loops).
    #[arg(long, short = 'q', global = true, conflicts_with = "jq")]
    quiet: bool,
    /// A jq filter applied to the JSON document before printing it (as `gh
    /// --jq`): strings print raw, other values as JSON. Implies `-o json`.
    #[arg(long, global = true, value_name = "EXPR")]
    jq: Option<String>,
    /// A named profile (URL, token file, CA) from the config file
    /// ($MODEL_REGISTRY_CONFIG, else ~/.config/modelreg/config.toml); flags
    /// and environment variables given explicitly win over it.
    #[arg(long, env = "MODEL_REGISTRY_PROFILE", global = true)]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List registered models with their production version.
    #[command(after_help = "Example:\n  modelreg models\n  modelreg models -o json")]
    Models,
    /// List a model's versions, filtered and ordered.
    #[command(
        after_help = "Examples:\n  modelreg versions churn\n  modelreg versions churn --status active --order-by auc --limit 5"
    )]
    Versions {
        /// The model.
        name: String,
        /// Only versions in this status (repeatable).
        #[arg(long, value_enum)]
        status: Vec<StatusArg>,
        /// Only versions of this algorithm.
        #[arg(long)]
        algorithm: Option<String>,
        /// `version`, `trained`, `created`, or a metric name such as `auc`
        /// (metrics list the best first).
        #[arg(long, default_value = "version")]
        order_by: String,
        /// Smallest first, whatever the default of the ordering.
        #[arg(long, conflicts_with = "descending")]
        ascending: bool,
        /// Largest first, whatever the default of the ordering.
        #[arg(long)]
        descending: bool,
        /// Most versions to list.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only versions holding this alias (repeatable: any of them).
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// Only versions whose METRIC is at least VALUE, e.g. `--min
        /// auc=0.9` (repeatable: all of them).
        #[arg(long = "min", value_parser = parse_metric, allow_hyphen_values = true)]
        min_metrics: Vec<(String, f64)>,
        /// Only versions with this tag, KEY=VALUE (repeatable: all of them).
        #[arg(long = "tag", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
    },
    /// Show one model: description, tags, version count and aliases.
    #[command(after_help = "Example:\n  modelreg model churn\n  modelreg model churn -o json")]
    Model {
        /// The model.
        name: String,
    },
    /// Change the description and tags of a model, or with VERSION of one
    /// of its versions (nothing else is mutable).
    #[command(
        after_help = "Examples:\n  modelreg update churn --description \"Churn propensity, weekly retrain\" --tag team=growth\n  modelreg update churn 3 --tag reviewed=yes --remove-tag draft --reason \"model review\""
    )]
    Update {
        /// The model.
        name: String,
        /// The version to change (the model itself without it).
        version: Option<i64>,
        /// The new description.
        #[arg(long)]
        description: Option<String>,
        /// Add or overwrite a tag, KEY=VALUE (repeatable).
        #[arg(long = "tag", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
        /// Remove a tag (repeatable).
        #[arg(long = "remove-tag")]
        remove_tags: Vec<String>,
        /// Why (recorded in the audit trail).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Show one version in full.
    #[command(
        after_help = "Examples:\n  modelreg show churn 3\n  modelreg show churn@staging\n  modelreg show churn@latest\n  modelreg show --id 0192f7c1-…"
    )]
    Show {
        /// The model, or MODEL@ALIAS for the version an alias points at.
        #[arg(required_unless_present = "id")]
        name: Option<String>,
        /// The version number (not with MODEL@ALIAS).
        version: Option<i64>,
        /// The version's id instead of name and number.
        #[arg(long, conflicts_with_all = ["name", "version"])]
        id: Option<String>,
    },
    /// Show the ACTIVE version with the best value of a metric.
    #[command(
        after_help = "Examples:\n  modelreg best churn --metric auc\n  modelreg best churn --metric log_loss --lowest"
    )]
    Best {
        /// The model.
        name: String,
        /// The metric to compare.
        #[arg(long)]
        metric: String,
        /// Lowest value wins (losses, errors).
        #[arg(long)]
        lowest: bool,
    },
    /// Show the production version, now or at a past time.
    #[command(
        after_help = "Examples:\n  modelreg production churn\n  modelreg production churn --as-of 2026-01-18T12:00:00Z"
    )]
    Production {
        /// The model.
        name: String,
        /// A past moment (RFC 3339, or YYYY-MM-DD in UTC).
        #[arg(long, value_parser = parse_time_arg)]
        as_of: Option<std::time::SystemTime>,
    },
    /// Make a version production.
    #[command(
        after_help = "Examples:\n  modelreg promote churn 3 --reason \"best AUC on holdout\"\n  modelreg promote churn@staging --reason \"staging checks passed\"\n  modelreg promote churn 4 --reason retrain --expect-current 3 --gate-metric auc --gate-min-delta 0.005"
    )]
    Promote {
        /// The model, or MODEL@ALIAS to promote the version an alias points at.
        name: String,
        /// The version to promote (not with MODEL@ALIAS).
        version: Option<i64>,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
        /// Only if this version is production now (0: only if none is).
        #[arg(long)]
        expect_current: Option<i64>,
        #[command(flatten)]
        gate: Gate,
    },
    /// Return production to the version before the current one.
    #[command(after_help = "Example:\n  modelreg rollback churn --reason \"v4 raised complaints\"")]
    Rollback {
        /// The model.
        name: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
        /// Only if this version is production now (ABORTED otherwise).
        #[arg(long)]
        expect_current: Option<i64>,
    },
    /// Move, delete, roll back or list a model's aliases (production,
    /// staging, canary ...).
    #[command(
        subcommand,
        after_help = "Examples:\n  modelreg alias set churn canary 3 --reason \"5% of traffic\"\n  modelreg alias set churn production @staging --reason \"staging checks passed\"\n  modelreg alias rollback churn canary --reason \"error rate up\"\n  modelreg alias list churn"
    )]
    Alias(AliasCommand),
    /// Follow an alias: print where it points, then each change as it
    /// happens (reconnecting and resuming while the registry is away) until
    /// Ctrl-C.
    #[command(
        after_help = "Examples:\n  modelreg watch churn\n  modelreg watch churn@canary -o json\n  modelreg watch churn --alias canary\n\nWith -o json, one JSON object per line."
    )]
    Watch {
        /// The model (production is followed), or NAME@ALIAS.
        name: String,
        /// The alias to follow (instead of NAME@ALIAS; default production).
        #[arg(long)]
        alias: Option<String>,
        /// Resume after this event id (print the changes since).
        #[arg(long, default_value_t = 0)]
        after_event_id: i64,
    },
    /// Import a CSV export of the old MODEL_REGISTRY table as versions of one
    /// model (re-running it creates nothing).
    #[command(after_help = import::AFTER_HELP)]
    ImportLegacy {
        /// The CSV file.
        file: PathBuf,
        /// The model every row becomes a version of (e.g. churn).
        #[arg(long)]
        model: String,
        /// Import the good rows even when some are bad (the bad ones are listed).
        #[arg(long)]
        skip_bad_rows: bool,
        /// Check every row and say what would be created; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Move the model's existing production alias to the row flagged
        /// IS_PRODUCTION (without it an existing production stays).
        #[arg(long)]
        set_production: bool,
    },
    /// Mark a version DEPRECATED.
    #[command(after_help = "Example:\n  modelreg deprecate churn 2 --reason \"superseded by v3\"")]
    Deprecate(StatusChange),
    /// Mark a version ARCHIVED (final).
    #[command(after_help = "Example:\n  modelreg archive churn 1 --reason \"retention policy\"")]
    Archive(StatusChange),
    /// Make a DEPRECATED version ACTIVE again.
    #[command(
        after_help = "Example:\n  modelreg reinstate churn 2 --reason \"needed for A/B test\""
    )]
    Reinstate(StatusChange),
    /// Show the audit trail, oldest first.
    #[command(
        after_help = "Examples:\n  modelreg history\n  modelreg history churn --version 3\n  modelreg history churn --since 2026-01-01"
    )]
    History {
        /// Only this model.
        name: Option<String>,
        /// Only this version (needs the model).
        #[arg(long, requires = "name")]
        version: Option<i64>,
        /// Only events at or after this time (RFC 3339, or YYYY-MM-DD in UTC).
        #[arg(long, value_parser = parse_time_arg)]
        since: Option<std::time::SystemTime>,
        /// Most events to show.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Register a new version.
    #[command(
        after_help = "Examples:\n  modelreg register churn --algorithm XGBoost --artifact model.pkl --metric auc=0.91 --metric f1=0.77\n  modelreg register churn --from-json model_metadata.json"
    )]
    Register(Box<Registration>),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  modelreg completions bash > /etc/bash_completion.d/modelreg"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum AliasCommand {
    /// Point an alias at a version (atomically; the move is recorded).
    #[command(
        after_help = "Examples:\n  modelreg alias set churn canary 3 --reason \"5% of traffic\"\n  modelreg alias set churn canary 4 --reason retrain --expect-current 3 --gate-metric auc --gate-min-delta 0.005\n  modelreg alias set churn production @staging --reason \"staging checks passed\""
    )]
    Set {
        /// The model.
        name: String,
        /// The alias, e.g. canary.
        alias: String,
        /// A version number, or @ALIAS for the version another alias points at.
        #[arg(value_parser = parse_version_or_alias)]
        version: VersionOrAlias,
        #[command(flatten)]
        change: AliasChange,
        #[command(flatten)]
        gate: Gate,
    },
    /// Remove an alias (its history stays in the trail).
    #[command(
        after_help = "Example:\n  modelreg alias delete churn canary --reason \"canary finished\""
    )]
    Delete {
        /// The model.
        name: String,
        /// The alias.
        alias: String,
        #[command(flatten)]
        change: AliasChange,
    },
    /// Return an alias to the version it pointed at before.
    #[command(
        after_help = "Example:\n  modelreg alias rollback churn canary --reason \"error rate up\""
    )]
    Rollback {
        /// The model.
        name: String,
        /// The alias.
        alias: String,
        #[command(flatten)]
        change: AliasChange,
    },
    /// List a model's aliases and the versions they point at.
    #[command(after_help = "Example:\n  modelreg alias list churn")]
    List {
        /// The model.
        name: String,
    },
}

/// The metric gate of a move (production or any alias).
#[derive(Debug, Args)]
struct Gate {
    /// Refuse unless the candidate beats the alias's current version (for
    /// `promote`, production's) on this metric.
    #[arg(long)]
    gate_metric: Option<String>,
    /// The margin the candidate must win by under the gate.
    #[arg(
        long,
        default_value_t = 0.0,
        requires = "gate_metric",
        allow_hyphen_values = true
    )]
    gate_min_delta: f64,
    /// The gate metric is a loss: lower is better.
    #[arg(long, requires = "gate_metric")]
    gate_lower_is_better: bool,
}

impl Gate {
    /// `request` with this gate, when one was asked for.
    fn apply(self, request: SetAlias<'_>) -> SetAlias<'_> {
        match self.gate_metric {
            Some(metric) if self.gate_lower_is_better => {
                request.gate(metric, self.gate_min_delta).lower_is_better()
            }
            Some(metric) => request.gate(metric, self.gate_min_delta),
            None => request,
        }
    }
}

/// What every alias change takes.
#[derive(Debug, Args)]
struct AliasChange {
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: String,
    /// Only if the alias points at this version now (0: only if it does not
    /// exist); ABORTED otherwise.
    #[arg(long)]
    expect_current: Option<i64>,
}

#[derive(Debug, Args)]
struct StatusChange {
    /// The model, or MODEL@ALIAS for the version an alias points at.
    name: String,
    /// The version (not with MODEL@ALIAS).
    version: Option<i64>,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: String,
}

#[derive(Debug, Args)]
struct Registration {
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
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StatusArg {
    Active,
    Deprecated,
    Archived,
}

impl From<StatusArg> for ModelStatus {
    fn from(status: StatusArg) -> Self {
        match status {
            StatusArg::Active => Self::Active,
            StatusArg::Deprecated => Self::Deprecated,
            StatusArg::Archived => Self::Archived,
        }
    }
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))
}

fn parse_metric(text: &str) -> Result<(String, f64), String> {
    let (name, value) = parse_pair(text)?;
    let value = value
        .parse::<f64>()
        .map_err(|_| format!("{text:?}: the value must be a number"))?;
    Ok((name, value))
}

fn parse_time_arg(text: &str) -> Result<std::time::SystemTime, String> {
    legacy::parse_time(text)
        .ok_or_else(|| format!("{text:?} is not a time like 2026-01-18T12:00:00Z or 2026-01-18"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let cli = match with_profile(cli, &matches) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error}");
            return ExitCode::from(exit_code(&error));
        }
    };
    let url = cli.url.clone();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut stderr = std::io::stderr();
            // UNAVAILABLE without a request id never reached the server:
            // say which server.
            if error.is_unavailable() && error.request_id().is_none() {
                let _ = writeln!(stderr, "error: cannot reach {url}: {error}");
            } else if let Some(hint) = plaintext_to_tls_hint(&url, &error) {
                let _ = writeln!(stderr, "error: {error}\nhint: {hint}");
            } else {
                let _ = writeln!(stderr, "error: {error}");
            }
            ExitCode::from(exit_code(&error))
        }
    }
}

/// Fills what the command line and environment left at their defaults from
/// `--profile`.
fn with_profile(mut cli: Cli, matches: &clap::ArgMatches) -> Result<Cli, Error> {
    let Some(name) = cli.profile.clone() else {
        return Ok(cli);
    };
    let profile = profile::load(&name)?;
    let unset = |id: &str| {
        matches!(
            matches.value_source(id),
            None | Some(clap::parser::ValueSource::DefaultValue)
        )
    };
    if unset("url")
        && let Some(url) = profile.url.clone()
    {
        cli.url = url;
    }
    if unset("token")
        && let Some(token) = profile.token()?
    {
        cli.token = Some(token);
    }
    if unset("ca_file") && profile.ca_file.is_some() {
        cli.ca_file = profile.ca_file.clone();
    }
    if unset("client_cert") && unset("client_key") && profile.client_cert.is_some() {
        cli.client_cert = profile.client_cert.clone();
        cli.client_key = profile.client_key.clone();
    }
    Ok(cli)
}

/// A plaintext (`http://`) call that failed in the transport, with no
/// answer from the registry, is most often a TLS server: say so.
fn plaintext_to_tls_hint(url: &str, error: &Error) -> Option<String> {
    let address = url.strip_prefix("http://")?;
    let transport = matches!(error.code(), Some(Code::Unknown | Code::Internal))
        && error.request_id().is_none()
        && error.to_string().contains("transport error");
    transport.then(|| {
        format!(
            "if the server serves TLS, use --url https://{address} (with --ca-file for a private CA)"
        )
    })
}

/// The exit status for `error`, as the README documents it.
fn exit_code(error: &Error) -> u8 {
    match error.code() {
        Some(Code::InvalidArgument) => 2,
        Some(Code::NotFound) => 3,
        Some(Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists) => 4,
        Some(Code::Unavailable) => 5,
        Some(Code::Unauthenticated) => 6,
        Some(Code::PermissionDenied) => 7,
        Some(_) => 1,
        None if error.is_invalid_argument() => 2,
        None => 1,
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    if let Command::Completions { shell } = cli.command {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "modelreg", &mut script);
        let _ = std::io::stdout().write_all(&script);
        return Ok(());
    }
    let mut options = ClientOptions {
        token: cli.token.clone(),
        timeout: Duration::try_from_secs_f64(cli.timeout).ok(),
        gzip: cli.gzip,
        ..ClientOptions::default()
    };
    if cli.ca_file.is_some() || cli.client_cert.is_some() || cli.tls_domain.is_some() {
        let mut tls = match &cli.ca_file {
            Some(ca_file) => TlsOptions::from_ca_file(ca_file)?,
            None => TlsOptions::default(),
        };
        if let (Some(cert), Some(key)) = (&cli.client_cert, &cli.client_key) {
            tls = tls.with_client_identity(cert, key)?;
        }
        tls.domain = cli.tls_domain.clone();
        options.tls = Some(tls);
    }
    // A bad filter is refused before anything is asked of the server.
    let filter = cli
        .jq
        .as_deref()
        .map(jq::Filter::parse)
        .transpose()
        .map_err(|why| Error::InvalidInput(format!("--jq: {why}")))?;
    let client = RegistryClient::connect_with(cli.url.clone(), options).await?;
    let format = cli.output;
    let quiet = cli.quiet;
    // A filter failing on the answer fails the command once it is printed.
    let filter_failure = std::cell::Cell::new(None);
    let filtered = |json: serde_json::Value, filter: &jq::Filter| match filter.run(json) {
        Ok(outputs) => outputs.join("\n"),
        Err(why) => {
            filter_failure.set(Some(why));
            String::new()
        }
    };
    // Written without println!, which panics when the reader hung up
    // (`modelreg versions churn | head`).
    let print = |json: serde_json::Value, text: String| {
        let rendered = match (&filter, format) {
            (Some(filter), _) => filtered(json, filter),
            (None, _) if quiet => output::identities(&json),
            (None, Format::Json) => format!("{json:#}"),
            (None, Format::Yaml) => output::yaml(&json),
            (None, Format::Table) => text,
        };
        if !rendered.is_empty() {
            let _ = writeln!(std::io::stdout(), "{rendered}");
        }
    };

    match cli.command {
        Command::Completions { .. } => {}
        Command::Models => {
            let models = client.list_models().await?;
            print(
                output::canonical_list(models.iter().map(Model::raw))?,
                output::models_table(&models),
            );
        }
        Command::Model { name } => {
            let model = client.get_model(&name).await?;
            print(
                output::canonical(model.raw())?,
                output::model_details(&model),
            );
        }
        Command::Update {
            name,
            version: Some(version),
            description,
            tags,
            remove_tags,
            reason,
        } => {
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
            print(
                output::canonical(version.raw())?,
                output::version_details(&version),
            );
        }
        Command::Update {
            name,
            version: None,
            description,
            tags,
            remove_tags,
            reason,
        } => {
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
            print(
                output::canonical(model.raw())?,
                output::model_details(&model),
            );
        }
        Command::Versions {
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
        } => {
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
            print(
                output::canonical_list(versions.iter().map(ModelVersion::raw))?,
                output::versions_table(&versions),
            );
        }
        Command::Show { name, version, id } => {
            let version = match (id, name) {
                (Some(id), _) => client.get_model_version_by_id(&id).await?,
                (None, Some(name)) => match VersionTarget::parse(&name, version)? {
                    VersionTarget::Number(model, number) => {
                        client.get_model_version(&model, number).await?
                    }
                    VersionTarget::Alias(model, alias) => {
                        client.get_version_by_alias(model, alias).await?
                    }
                },
                (None, None) => {
                    return Err(Error::InvalidInput(
                        "give NAME VERSION, NAME@ALIAS or --id ID".to_owned(),
                    ));
                }
            };
            print(
                output::canonical(version.raw())?,
                output::version_details(&version),
            );
        }
        Command::Best {
            name,
            metric,
            lowest,
        } => {
            let mut query = client.get_best_model_version(&name, &metric);
            if lowest {
                query = query.lowest();
            }
            let BestVersion { version, value } = query.await?;
            let best = pb::GetBestModelVersionResponse {
                model_version: Some(version.raw().clone()),
                value,
            };
            print(
                output::canonical(&best)?,
                format!("{metric} = {value}\n{}", output::version_details(&version)),
            );
        }
        Command::Production { name, as_of } => {
            let mut read = client.get_production_model(name);
            if let Some(at) = as_of {
                read = read.as_of(at);
            }
            let version = read.await?;
            print(
                output::canonical(version.raw())?,
                output::version_details(&version),
            );
        }
        Command::Promote {
            name,
            version,
            reason,
            expect_current,
            gate,
        } => {
            let target = VersionTarget::parse(&name, version)?;
            let version = target.resolve(&client).await?;
            let mut request = client
                .set_alias(target.model(), "production", version)
                .reason(reason);
            if let Some(expected) = expect_current {
                request = request.expect_current(expected);
            }
            let response = gate.apply(request).send().await?;
            print_alias_move(target.model(), "production", version, &response, print)?;
        }
        Command::Rollback {
            name,
            reason,
            expect_current,
        } => {
            rollback(
                &client,
                &name,
                "production",
                AliasChange {
                    reason,
                    expect_current,
                },
                print,
            )
            .await?;
        }
        Command::Alias(command) => alias_command(&client, command, print).await?,
        Command::Watch {
            name,
            alias,
            after_event_id,
        } => {
            use tokio_stream::StreamExt;
            let (name, alias) = target::alias_of(&name, alias.as_deref())?;
            let mut updates = client.watch_alias_after(&name, &alias, after_event_id);
            loop {
                let update = tokio::select! {
                    update = updates.next() => update,
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                };
                match update {
                    Some(Ok(update)) => {
                        let document = output::canonical(update.raw())?;
                        let line = match (&filter, format) {
                            (Some(filter), _) => filtered(document, filter),
                            (None, _) if quiet => output::identities(&document),
                            // One object per line, for `jq` and friends.
                            (None, Format::Json) => document.to_string(),
                            (None, Format::Yaml) => format!("---\n{}", output::yaml(&document)),
                            (None, Format::Table) => output::alias_update_line(&update),
                        };
                        if let Some(why) = filter_failure.take() {
                            return Err(Error::InvalidInput(format!("--jq: {why}")));
                        }
                        let mut stdout = std::io::stdout();
                        if writeln!(stdout, "{line}")
                            .and_then(|()| stdout.flush())
                            .is_err()
                        {
                            return Ok(());
                        }
                    }
                    Some(Err(error)) => return Err(error),
                    None => return Ok(()),
                }
            }
        }
        Command::ImportLegacy {
            file,
            model,
            skip_bad_rows,
            dry_run,
            set_production,
        } => {
            let options = import::ImportOptions {
                skip_bad_rows,
                dry_run,
                set_production,
            };
            let report = import::import(&client, &file, &model, options).await?;
            print(report.to_json(&model), report.to_text(&model));
        }
        Command::Deprecate(change) => {
            status_change(&client, change, ModelStatus::Deprecated, print).await?
        }
        Command::Archive(change) => {
            status_change(&client, change, ModelStatus::Archived, print).await?
        }
        Command::Reinstate(change) => {
            status_change(&client, change, ModelStatus::Active, print).await?
        }
        Command::History {
            name,
            version,
            since,
            limit,
        } => {
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
            print(
                output::canonical_list(events.iter().map(Event::raw))?,
                output::events_table(&events),
            );
        }
        Command::Register(registration) => {
            let version = client
                .register_model(build_registration(*registration)?)
                .await?;
            let text = format!(
                "registered {} version {} (id {})",
                version.model_name(),
                version.version(),
                version.id()
            );
            print(output::canonical(version.raw())?, text);
        }
    }
    match filter_failure.take() {
        Some(why) => Err(Error::InvalidInput(format!("--jq: {why}"))),
        None => Ok(()),
    }
}

async fn status_change(
    client: &RegistryClient,
    change: StatusChange,
    status: ModelStatus,
    print: impl Fn(serde_json::Value, String),
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
    print(output::canonical(version.raw())?, text);
    Ok(())
}

async fn alias_command(
    client: &RegistryClient,
    command: AliasCommand,
    print: impl Fn(serde_json::Value, String),
) -> Result<(), Error> {
    match command {
        AliasCommand::Set {
            name,
            alias,
            version,
            change,
            gate,
        } => {
            let version = version.resolve(client, &name).await?;
            let mut request = client
                .set_alias(&name, &alias, version)
                .reason(change.reason);
            if let Some(expected) = change.expect_current {
                request = request.expect_current(expected);
            }
            let response = gate.apply(request).send().await?;
            print_alias_move(&name, &alias, version, &response, print)?;
        }
        AliasCommand::Delete {
            name,
            alias,
            change,
        } => {
            let mut request = client.delete_alias(&name, &alias).reason(change.reason);
            if let Some(expected) = change.expect_current {
                request = request.expect_current(expected);
            }
            let previous = request.send().await?;
            let response = pb::DeleteModelAliasResponse {
                previous_version: previous,
            };
            print(
                output::canonical(&response)?,
                format!("{name}@{alias} deleted (it pointed at version {previous})"),
            );
        }
        AliasCommand::Rollback {
            name,
            alias,
            change,
        } => rollback(client, &name, &alias, change, print).await?,
        AliasCommand::List { name } => {
            let model = client.get_model(&name).await?;
            print(
                output::canonical(model.raw())?,
                output::aliases_table(&model),
            );
        }
    }
    Ok(())
}

async fn rollback(
    client: &RegistryClient,
    name: &str,
    alias: &str,
    change: AliasChange,
    print: impl Fn(serde_json::Value, String),
) -> Result<(), Error> {
    let mut request = client.rollback_alias(name, alias).reason(change.reason);
    if let Some(expected) = change.expect_current {
        request = request.expect_current(expected);
    }
    let AliasRollback {
        version,
        rolled_back_version,
    } = request.send().await?;
    let response = pb::RollbackModelAliasResponse {
        model_version: Some(version.raw().clone()),
        rolled_back_version,
    };
    let version = version.version();
    let text = if alias == "production" {
        format!(
            "{name} version {version} is production again (rolled back from version {})",
            response.rolled_back_version
        )
    } else {
        format!(
            "{name}@{alias} points at version {version} again (rolled back from version {})",
            response.rolled_back_version
        )
    };
    print(output::canonical(&response)?, text);
    Ok(())
}

fn print_alias_move(
    name: &str,
    alias: &str,
    version: i64,
    moved: &AliasMove,
    print: impl Fn(serde_json::Value, String),
) -> Result<(), Error> {
    let previous = moved.previous_version;
    let what = if alias == "production" {
        format!("{name} version {version}")
    } else {
        format!("{name}@{alias}")
    };
    let text = match (moved.unchanged, previous, alias) {
        (true, _, "production") => {
            format!("{what} already is production; nothing changed")
        }
        (true, _, _) => format!("{what} already points at version {version}; nothing changed"),
        (false, Some(previous), "production") => {
            format!("{what} is now production (was version {previous})")
        }
        (false, None, "production") => format!("{what} is now production"),
        (false, Some(previous), _) => {
            format!("{what} points at version {version} (was version {previous})")
        }
        (false, None, _) => format!("{what} points at version {version}"),
    };
    let response = pb::SetModelAliasResponse {
        model_version: Some(moved.version.raw().clone()),
        previous_version: moved.previous_version,
        unchanged: moved.unchanged,
    };
    print(output::canonical(&response)?, text);
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
    Ok(registration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn metric_and_pair_arguments_parse() {
        assert_eq!(parse_metric("auc=0.91"), Ok(("auc".to_owned(), 0.91)));
        assert!(parse_metric("auc=high").is_err());
        assert!(parse_pair("=x").is_err());
        assert_eq!(
            parse_pair("team=growth=x"),
            Ok(("team".to_owned(), "growth=x".to_owned()))
        );
    }
}
