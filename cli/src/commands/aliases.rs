//! `modelreg promote`, `rollback`, `alias` and `watch`: moving and following aliases.

use clap::{Args, Subcommand};
use model_registry_client::proto as pb;
use model_registry_client::{AliasMove, AliasRollback, Error, RegistryClient, SetAlias};

use crate::output;
use crate::printer::Printer;
use crate::target::{self, VersionOrAlias, VersionTarget, parse_version_or_alias};

/// The arguments of `modelreg promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The model, or MODEL@ALIAS to promote the version an alias points at.
    pub name: String,
    /// The version to promote (not with MODEL@ALIAS).
    pub version: Option<i64>,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    pub reason: String,
    /// Only if this version is production now (0: only if none is).
    #[arg(long)]
    pub expect_current: Option<i64>,
    #[command(flatten)]
    pub gate: Gate,
    /// Break-glass (admins): move a protected production past its policy.
    #[arg(long)]
    pub emergency: bool,
}

/// The arguments of `modelreg rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The model.
    pub name: String,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    pub reason: String,
    /// Only if this version is production now (ABORTED otherwise).
    #[arg(long)]
    pub expect_current: Option<i64>,
    /// Break-glass (admins): roll back past a policy that needs approval.
    #[arg(long)]
    pub emergency: bool,
}

/// The arguments of `modelreg watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The model (production is followed), or NAME@ALIAS.
    pub name: String,
    /// The alias to follow (instead of NAME@ALIAS; default production).
    #[arg(long)]
    pub alias: Option<String>,
    /// Resume after this event id (print the changes since).
    #[arg(long, default_value_t = 0)]
    pub after_event_id: i64,
}

/// `modelreg alias` and its subcommands.
#[derive(Debug, Subcommand)]
pub enum AliasCommand {
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
pub struct Gate {
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
pub struct AliasChange {
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: String,
    /// Only if the alias points at this version now (0: only if it does not
    /// exist); ABORTED otherwise.
    #[arg(long)]
    expect_current: Option<i64>,
    /// Break-glass (admins): change a protected alias past its policy (the
    /// event is flagged).
    #[arg(long)]
    emergency: bool,
}

/// `modelreg promote`.
pub async fn promote(
    client: &RegistryClient,
    args: PromoteArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let PromoteArgs {
        name,
        version,
        reason,
        expect_current,
        gate,
        emergency,
    } = args;
    let target = VersionTarget::parse(&name, version)?;
    let version = target.resolve(client).await?;
    let mut request = client
        .set_alias(target.model(), "production", version)
        .reason(reason);
    if let Some(expected) = expect_current {
        request = request.expect_current(expected);
    }
    if emergency {
        request = request.emergency();
    }
    let response = gate.apply(request).send().await?;
    print_alias_move(
        target.model(),
        "production",
        version,
        &response,
        client.consistency_token(),
        printer,
    )?;
    Ok(())
}

/// `modelreg rollback`: production to the version before.
pub async fn rollback_production(
    client: &RegistryClient,
    args: RollbackArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let RollbackArgs {
        name,
        reason,
        expect_current,
        emergency,
    } = args;
    rollback(
        client,
        &name,
        "production",
        AliasChange {
            reason,
            expect_current,
            emergency,
        },
        printer,
    )
    .await?;
    Ok(())
}

/// `modelreg watch`.
pub async fn watch(
    client: &RegistryClient,
    args: WatchArgs,
    printer: &Printer,
) -> Result<(), Error> {
    use tokio_stream::StreamExt;
    let WatchArgs {
        name,
        alias,
        after_event_id,
    } = args;
    let (name, alias) = target::alias_of(&name, alias.as_deref())?;
    let mut updates = client.watch_alias_after(&name, &alias, after_event_id);
    loop {
        let update = tokio::select! {
            update = updates.next() => update,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match update {
            Some(Ok(update)) => {
                // One object per line, for `jq` and friends.
                let document = output::canonical(update.raw())?;
                if !printer.stream(document, output::alias_update_line(&update))? {
                    return Ok(());
                }
            }
            Some(Err(error)) => return Err(error),
            None => return Ok(()),
        }
    }
}

/// `modelreg alias …`.
pub async fn alias_command(
    client: &RegistryClient,
    command: AliasCommand,
    printer: &Printer,
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
            if change.emergency {
                request = request.emergency();
            }
            let response = gate.apply(request).send().await?;
            print_alias_move(
                &name,
                &alias,
                version,
                &response,
                client.consistency_token(),
                printer,
            )?;
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
            if change.emergency {
                request = request.emergency();
            }
            let previous = request.send().await?;
            let response = pb::DeleteModelAliasResponse {
                previous_version: previous,
                consistency_token: client.consistency_token(),
            };
            printer.print(
                output::canonical(&response)?,
                format!("{name}@{alias} deleted (it pointed at version {previous})"),
            );
        }
        AliasCommand::Rollback {
            name,
            alias,
            change,
        } => rollback(client, &name, &alias, change, printer).await?,
        AliasCommand::List { name } => {
            let model = client.get_model(&name).await?;
            printer.print(
                output::canonical(model.raw())?,
                output::aliases_table(&model),
            );
        }
    }
    Ok(())
}

/// Rolls `alias` of `name` back and prints the move.
async fn rollback(
    client: &RegistryClient,
    name: &str,
    alias: &str,
    change: AliasChange,
    printer: &Printer,
) -> Result<(), Error> {
    let mut request = client.rollback_alias(name, alias).reason(change.reason);
    if let Some(expected) = change.expect_current {
        request = request.expect_current(expected);
    }
    if change.emergency {
        request = request.emergency();
    }
    let AliasRollback {
        version,
        rolled_back_version,
    } = request.send().await?;
    let response = pb::RollbackModelAliasResponse {
        model_version: Some(version.raw().clone()),
        rolled_back_version,
        consistency_token: client.consistency_token(),
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
    printer.print(output::canonical(&response)?, text);
    Ok(())
}

/// Prints an alias move: the response for scripts, a sentence for people.
fn print_alias_move(
    name: &str,
    alias: &str,
    version: i64,
    moved: &AliasMove,
    token: String,
    printer: &Printer,
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
        consistency_token: token,
    };
    printer.print(output::canonical(&response)?, text);
    Ok(())
}
