//! The subcommands, one module per family, each with its arguments and its
//! `run` functions; [`run`] dispatches. Output goes through one
//! [`Printer`].

pub mod aliases;
pub mod governance;
pub mod models;
pub mod pull;
pub mod register;
pub mod status;
pub mod versions;
pub mod webhooks;

use clap::Subcommand;
use model_registry_client::{Error, ModelStatus, RegistryClient};

use crate::printer::Printer;
use crate::{import, legacy};

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List registered models with their production version.
    #[command(after_help = "Example:\n  modelreg models\n  modelreg models -o json")]
    Models,
    /// List a model's versions, filtered and ordered.
    #[command(
        after_help = "Examples:\n  modelreg versions churn\n  modelreg versions churn --status active --order-by auc --limit 5"
    )]
    Versions(versions::VersionsArgs),
    /// Show one model: description, tags, version count and aliases.
    #[command(after_help = "Example:\n  modelreg model churn\n  modelreg model churn -o json")]
    Model(models::ModelArgs),
    /// Change the description and tags of a model, or with VERSION of one
    /// of its versions (nothing else is mutable).
    #[command(
        after_help = "Examples:\n  modelreg update churn --description \"Churn propensity, weekly retrain\" --tag team=growth\n  modelreg update churn 3 --tag reviewed=yes --remove-tag draft --reason \"model review\""
    )]
    Update(models::UpdateArgs),
    /// Show one version in full.
    #[command(
        after_help = "Examples:\n  modelreg show churn 3\n  modelreg show churn@staging\n  modelreg show churn@latest\n  modelreg show --id 0192f7c1-…"
    )]
    Show(versions::ShowArgs),
    /// Download a version's artifact into a directory and verify it: every
    /// file against the version's signature, or the one file against its
    /// registered sha256; nothing is kept unless all of it verifies.
    #[command(
        after_help = "Examples:\n  modelreg pull churn --to ./model\n  modelreg pull churn@canary --to ./canary --bundle canary.sig\n  modelreg pull churn:3 --to ./v3\n\nSources: file://, http(s):// and s3:// (credentials and AWS_ENDPOINT_URL from the usual AWS_* variables).\nExit status 8 when the download does not verify."
    )]
    Pull(pull::PullArgs),
    /// Show the ACTIVE version with the best value of a metric.
    #[command(
        after_help = "Examples:\n  modelreg best churn --metric auc\n  modelreg best churn --metric log_loss --lowest"
    )]
    Best(versions::BestArgs),
    /// Show the production version, now or at a past time.
    #[command(
        after_help = "Examples:\n  modelreg production churn\n  modelreg production churn --as-of 2026-01-18T12:00:00Z"
    )]
    Production(versions::ProductionArgs),
    /// Make a version production.
    #[command(
        after_help = "Examples:\n  modelreg promote churn 3 --reason \"best AUC on holdout\"\n  modelreg promote churn@staging --reason \"staging checks passed\"\n  modelreg promote churn 4 --reason retrain --expect-current 3 --gate-metric auc --gate-min-delta 0.005"
    )]
    Promote(aliases::PromoteArgs),
    /// Return production to the version before the current one.
    #[command(after_help = "Example:\n  modelreg rollback churn --reason \"v4 raised complaints\"")]
    Rollback(aliases::RollbackArgs),
    /// Move, delete, roll back or list a model's aliases (production,
    /// staging, canary ...).
    #[command(
        subcommand,
        after_help = "Examples:\n  modelreg alias set churn canary 3 --reason \"5% of traffic\"\n  modelreg alias set churn production @staging --reason \"staging checks passed\"\n  modelreg alias rollback churn canary --reason \"error rate up\"\n  modelreg alias list churn"
    )]
    Alias(aliases::AliasCommand),
    /// Follow an alias: print where it points, then each change as it
    /// happens (reconnecting and resuming while the registry is away) until
    /// Ctrl-C.
    #[command(
        after_help = "Examples:\n  modelreg watch churn\n  modelreg watch churn@canary -o json\n  modelreg watch churn --alias canary\n\nWith -o json, one JSON object per line."
    )]
    Watch(aliases::WatchArgs),
    /// Import a CSV export of the old MODEL_REGISTRY table as versions of one
    /// model (re-running it creates nothing).
    #[command(after_help = import::AFTER_HELP)]
    ImportLegacy(register::ImportLegacyArgs),
    /// Mark a version DEPRECATED.
    #[command(after_help = "Example:\n  modelreg deprecate churn 2 --reason \"superseded by v3\"")]
    Deprecate(status::StatusChange),
    /// Mark a version ARCHIVED (final).
    #[command(after_help = "Example:\n  modelreg archive churn 1 --reason \"retention policy\"")]
    Archive(status::StatusChange),
    /// Make a DEPRECATED version ACTIVE again.
    #[command(
        after_help = "Example:\n  modelreg reinstate churn 2 --reason \"needed for A/B test\""
    )]
    Reinstate(status::StatusChange),
    /// Show the audit trail, oldest first.
    #[command(
        after_help = "Examples:\n  modelreg history\n  modelreg history churn --version 3\n  modelreg history churn --since 2026-01-01"
    )]
    History(versions::HistoryArgs),
    /// Register a new version.
    #[command(
        after_help = "Examples:\n  modelreg register churn --algorithm XGBoost --artifact model.pkl --metric auc=0.91 --metric f1=0.77\n  modelreg register churn --from-json model_metadata.json"
    )]
    Register(Box<register::Registration>),
    /// Set, show, list or remove the policy an alias moves under (who
    /// approves its moves, and on what evidence).
    #[command(
        subcommand,
        after_help = "Examples:\n  modelreg policy set churn production --protected --approvals 2 --soak canary=24h --reason \"release process\"\n  modelreg policy show churn production\n  modelreg policy list"
    )]
    Policy(governance::PolicyCommand),
    /// Ask for an alias with a policy to point at a version; others approve.
    #[command(
        after_help = "Examples:\n  modelreg request churn production 5 --reason \"won the canary\"\n  modelreg request churn production @canary --reason \"canary checks passed\""
    )]
    Request(governance::RequestArgs),
    /// Approve a change request (never your own); the last approval moves
    /// the alias.
    #[command(after_help = "Example:\n  modelreg approve 7 --comment \"metrics reviewed\"")]
    Approve(governance::DecideArgs),
    /// Reject a change request, with a comment.
    #[command(
        after_help = "Example:\n  modelreg reject 7 --comment \"recall dropped on segment B\""
    )]
    Reject(governance::DecideArgs),
    /// Withdraw a change request (yours, or any as an admin).
    #[command(after_help = "Example:\n  modelreg cancel 7 --comment \"superseded by 8\"")]
    Cancel(governance::DecideArgs),
    /// List change requests, newest first.
    #[command(
        after_help = "Examples:\n  modelreg requests\n  modelreg requests churn --state pending"
    )]
    Requests(governance::RequestsArgs),
    /// Freeze an alias (no moves at all, break-glass included) or a version
    /// (no status or metadata change); admins.
    #[command(
        after_help = "Examples:\n  modelreg freeze churn@production --reason \"incident 42\"\n  modelreg freeze churn@production --reason \"release freeze\" --for 48h\n  modelreg freeze churn 3 --reason \"audit hold\""
    )]
    Freeze(governance::FreezeArgs),
    /// End a freeze; admins.
    #[command(
        after_help = "Examples:\n  modelreg unfreeze churn@production --reason \"incident over\"\n  modelreg unfreeze churn 3 --reason \"audit done\""
    )]
    Unfreeze(governance::FreezeArgs),
    /// Subscribe URLs to the trail's events (signed HTTP POSTs), see what
    /// was delivered, replay, resume; admins.
    #[command(
        subcommand,
        after_help = "Examples:\n  modelreg webhook create https://deploy.example.com/hooks/registry --model-prefix fraud- --event-type alias_set\n  modelreg webhook list\n  modelreg webhook deliveries 1"
    )]
    Webhook(webhooks::WebhookCommand),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  modelreg completions bash > /etc/bash_completion.d/modelreg"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Runs `command` against `client`.
pub async fn run(
    command: Command,
    client: &RegistryClient,
    printer: &Printer,
) -> Result<(), Error> {
    match command {
        Command::Models => models::models(client, printer).await,
        Command::Model(args) => models::model(client, args, printer).await,
        Command::Update(args) => models::update(client, args, printer).await,
        Command::Versions(args) => versions::versions(client, args, printer).await,
        Command::Show(args) => versions::show(client, args, printer).await,
        Command::Best(args) => versions::best(client, args, printer).await,
        Command::Pull(args) => pull::pull(client, args, printer).await,
        Command::Production(args) => versions::production(client, args, printer).await,
        Command::History(args) => versions::history(client, args, printer).await,
        Command::Promote(args) => aliases::promote(client, args, printer).await,
        Command::Rollback(args) => aliases::rollback_production(client, args, printer).await,
        Command::Alias(command) => aliases::alias_command(client, command, printer).await,
        Command::Watch(args) => aliases::watch(client, args, printer).await,
        Command::Policy(command) => governance::policy_command(client, command, printer).await,
        Command::Request(args) => governance::request(client, args, printer).await,
        Command::Approve(args) => {
            governance::decide(client, governance::Decision::Approve, args, printer).await
        }
        Command::Reject(args) => {
            governance::decide(client, governance::Decision::Reject, args, printer).await
        }
        Command::Cancel(args) => {
            governance::decide(client, governance::Decision::Cancel, args, printer).await
        }
        Command::Requests(args) => governance::requests(client, args, printer).await,
        Command::Freeze(args) => governance::freeze(client, true, args, printer).await,
        Command::Unfreeze(args) => governance::freeze(client, false, args, printer).await,
        Command::Webhook(command) => webhooks::webhook_command(client, command, printer).await,
        Command::ImportLegacy(args) => register::import_legacy(client, args, printer).await,
        Command::Register(registration) => register::register(client, *registration, printer).await,
        Command::Deprecate(change) => {
            status::status_change(client, change, ModelStatus::Deprecated, printer).await
        }
        Command::Archive(change) => {
            status::status_change(client, change, ModelStatus::Archived, printer).await
        }
        Command::Reinstate(change) => {
            status::status_change(client, change, ModelStatus::Active, printer).await
        }
        // Printed before any connection is made (see main).
        Command::Completions { .. } => Ok(()),
    }
}

/// A status on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StatusArg {
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

pub fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))
}

pub fn parse_metric(text: &str) -> Result<(String, f64), String> {
    let (name, value) = parse_pair(text)?;
    let value = value
        .parse::<f64>()
        .map_err(|_| format!("{text:?}: the value must be a number"))?;
    Ok((name, value))
}

pub fn parse_time_arg(text: &str) -> Result<std::time::SystemTime, String> {
    legacy::parse_time(text)
        .ok_or_else(|| format!("{text:?} is not a time like 2026-01-18T12:00:00Z or 2026-01-18"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
