//! `modelreg policy`, `request`, `approve`, `reject`, `cancel` and
//! `requests`: governed promotion.

use clap::{Args, Subcommand};
use model_registry_client::proto as pb;
use model_registry_client::{
    AliasPolicy, ChangeRequest, ChangeRequestState, Error, RegistryClient,
};

use crate::output;
use crate::printer::Printer;
use crate::target::{VersionOrAlias, parse_version_or_alias};

/// `modelreg policy` and its subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Set the policy an alias moves under (admin; a new revision).
    #[command(
        after_help = "Examples:\n  modelreg policy set churn production --protected --approvals 2 --reason \"release process\"\n  modelreg policy set churn production --protected --soak canary=24h --gate-metric auc --gate-min-delta 0.005 --reason \"evidence first\"\n  modelreg policy set 'fraud-*' production --protected --reason \"every fraud- model, now and later\""
    )]
    Set(PolicySetArgs),
    /// Show an alias's policy in force (its own, or inherited from a prefix).
    #[command(
        after_help = "Example:\n  modelreg policy show churn production\n  modelreg policy show 'fraud-*' production"
    )]
    Show {
        /// The model, or PREFIX* for the policy set on a prefix.
        name: String,
        /// The alias.
        alias: String,
    },
    /// List policies: every model's own, one model's in force, or those set on prefixes.
    #[command(
        after_help = "Example:\n  modelreg policy list\n  modelreg policy list churn\n  modelreg policy list --prefixes"
    )]
    List {
        /// Only this model's in force: its own, and those it inherits.
        #[arg(conflicts_with = "prefixes")]
        name: Option<String>,
        /// The policies set on model-name prefixes instead.
        #[arg(long)]
        prefixes: bool,
    },
    /// Remove an alias's policy (admin; the alias moves freely again).
    #[command(
        after_help = "Example:\n  modelreg policy delete churn production --reason \"freeze over\""
    )]
    Delete {
        /// The model, or PREFIX* for the policy set on a prefix.
        name: String,
        /// The alias.
        alias: String,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
}

/// The arguments of `modelreg policy set`.
#[derive(Debug, Args)]
pub struct PolicySetArgs {
    /// The model, or PREFIX* (quoted) for every model whose name starts
    /// with PREFIX, now and later, that has no policy of its own.
    name: String,
    /// The alias governed, e.g. production.
    alias: String,
    /// The alias moves only through approved change requests.
    #[arg(long)]
    protected: bool,
    /// Approvals a request needs, never the requester's own (default 1).
    #[arg(long, value_name = "N")]
    approvals: Option<i32>,
    /// The role approvers hold: deployer (default) or admin.
    #[arg(long, value_name = "ROLE")]
    approver_role: Option<String>,
    /// How long a request stays open, e.g. 72h (default), 30m, 7d.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    request_ttl: Option<i64>,
    /// Evidence: the candidate has been on ALIAS for DURATION, e.g. canary=24h.
    #[arg(long, value_name = "ALIAS=DURATION", value_parser = parse_soak)]
    soak: Option<(String, i64)>,
    /// Evidence: the candidate beats the current version on this metric.
    #[arg(long)]
    gate_metric: Option<String>,
    /// The margin the candidate must win by.
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
    /// Rolling back the alias needs a change request too.
    #[arg(long)]
    rollback_requires_approval: bool,
    /// Evidence: the version carries a verified signature (for every move,
    /// rollbacks included).
    #[arg(long)]
    require_signature: bool,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: String,
}

/// The arguments of `modelreg request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The model.
    name: String,
    /// The alias to move, e.g. production.
    alias: String,
    /// A version number, or @ALIAS for the version another alias points at.
    #[arg(value_parser = parse_version_or_alias)]
    version: VersionOrAlias,
    /// Why (shown to approvers, recorded in the audit trail).
    #[arg(long)]
    reason: String,
    /// Only if the alias points at this version now (0: nowhere).
    #[arg(long)]
    expect_current: Option<i64>,
}

/// The arguments of `modelreg approve`, `reject` and `cancel`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The change request's number.
    id: i64,
    /// What you say (required to reject).
    #[arg(long)]
    comment: Option<String>,
}

/// The arguments of `modelreg requests`.
#[derive(Debug, Args)]
pub struct RequestsArgs {
    /// Only this model's requests.
    name: Option<String>,
    /// Only requests to move this alias.
    #[arg(long)]
    alias: Option<String>,
    /// Only requests in this state.
    #[arg(long, value_enum)]
    state: Option<StateArg>,
    /// Only requests made by this principal.
    #[arg(long)]
    requester: Option<String>,
    /// At most this many requests, newest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

/// The arguments of `modelreg freeze` and `unfreeze`.
#[derive(Debug, Args)]
pub struct FreezeArgs {
    /// MODEL@ALIAS for an alias, or MODEL with VERSION for a version.
    name: String,
    /// The version (not with MODEL@ALIAS).
    version: Option<i64>,
    /// Why (recorded in the audit trail).
    #[arg(long)]
    reason: String,
    /// An alias freeze ends by itself after this long, e.g. 2h (freeze only).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    duration: Option<i64>,
}

/// A change request state on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StateArg {
    Pending,
    Applied,
    Rejected,
    Cancelled,
    Expired,
    Failed,
}

impl From<StateArg> for ChangeRequestState {
    fn from(state: StateArg) -> Self {
        match state {
            StateArg::Pending => Self::Pending,
            StateArg::Applied => Self::Applied,
            StateArg::Rejected => Self::Rejected,
            StateArg::Cancelled => Self::Cancelled,
            StateArg::Expired => Self::Expired,
            StateArg::Failed => Self::Failed,
        }
    }
}

/// `90s`, `30m`, `24h`, `7d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration like 90s, 30m, 24h or 7d");
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let count: i64 = number.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    count.checked_mul(scale).ok_or_else(bad)
}

fn parse_soak(text: &str) -> Result<(String, i64), String> {
    let (alias, duration) = text
        .split_once('=')
        .filter(|(alias, _)| !alias.is_empty())
        .ok_or_else(|| format!("{text:?} is not ALIAS=DURATION, e.g. canary=24h"))?;
    Ok((alias.to_owned(), parse_duration(duration)?))
}

/// `modelreg policy …`.
pub async fn policy_command(
    client: &RegistryClient,
    command: PolicyCommand,
    printer: &Printer,
) -> Result<(), Error> {
    match command {
        PolicyCommand::Set(args) => {
            let PolicySetArgs {
                name,
                alias,
                protected,
                approvals,
                approver_role,
                request_ttl,
                soak,
                gate_metric,
                gate_min_delta,
                gate_lower_is_better,
                rollback_requires_approval,
                require_signature,
                reason,
            } = args;
            let mut policy = match prefix_of(&name) {
                Some(prefix) => AliasPolicy::for_prefix(prefix, alias),
                None => AliasPolicy::new(name, alias),
            };
            if protected {
                policy = policy.protected();
            }
            if let Some(approvals) = approvals {
                policy = policy.required_approvals(approvals);
            }
            if let Some(role) = approver_role {
                policy = policy.approver_role(role);
            }
            if let Some(seconds) = request_ttl {
                policy = policy.request_ttl_seconds(seconds);
            }
            if let Some((alias, seconds)) = soak {
                policy = policy.min_soak(alias, seconds);
            }
            if let Some(metric) = gate_metric {
                policy = policy.gate(metric, gate_min_delta);
                if gate_lower_is_better {
                    policy = policy.lower_is_better();
                }
            }
            if rollback_requires_approval {
                policy = policy.rollback_requires_approval();
            }
            if require_signature {
                policy = policy.require_signature();
            }
            let set = client.set_alias_policy(policy).reason(reason).await?;
            print_policy(&set, printer)
        }
        PolicyCommand::Show { name, alias } => {
            let policy = match prefix_of(&name) {
                Some(prefix) => client.prefix_policy(prefix, &alias).await?,
                None => client.alias_policy(&name, &alias).await?,
            };
            print_policy(&policy, printer)
        }
        PolicyCommand::List { name, prefixes } => {
            let policies = if prefixes {
                client.prefix_policies().await?
            } else {
                client.alias_policies(name.as_deref()).await?
            };
            let raw: Vec<pb::AliasPolicy> = policies.iter().map(|p| p.raw().clone()).collect();
            printer.print(
                output::canonical_list(&raw)?,
                output::table(
                    &["MODEL", "ALIAS", "REVISION", "RULES"],
                    &raw.iter()
                        .map(|p| {
                            vec![
                                governed_text(p),
                                p.alias.clone(),
                                p.revision.to_string(),
                                rules_text(p),
                            ]
                        })
                        .collect::<Vec<_>>(),
                ),
            );
            Ok(())
        }
        PolicyCommand::Delete {
            name,
            alias,
            reason,
        } => {
            let removal = match prefix_of(&name) {
                Some(prefix) => client.delete_prefix_policy(prefix, &alias),
                None => client.delete_alias_policy(&name, &alias),
            };
            let revision = removal.reason(reason).await?;
            let response = pb::DeleteAliasPolicyResponse {
                revision,
                consistency_token: client.consistency_token(),
            };
            printer.print(
                output::canonical(&response)?,
                format!("{name}@{alias} has no policy now (revision {revision} removed)"),
            );
            Ok(())
        }
    }
}

fn print_policy(policy: &AliasPolicy, printer: &Printer) -> Result<(), Error> {
    let raw = policy.raw();
    let text = format!(
        "{}@{} policy revision {} (set by {}): {}",
        governed_text(raw),
        raw.alias,
        raw.revision,
        raw.updated_by,
        rules_text(raw)
    );
    printer.print(output::canonical(raw)?, text);
    Ok(())
}

/// The prefix `name` names when it ends with `*` (`fraud-*`), the way a
/// policy set on every model named so is written here.
fn prefix_of(name: &str) -> Option<&str> {
    name.strip_suffix('*')
}

/// What a policy governs: its model, or `PREFIX*`.
fn governed_text(policy: &pb::AliasPolicy) -> String {
    if policy.model_prefix.is_empty() {
        policy.model_name.clone()
    } else {
        format!("{}*", policy.model_prefix)
    }
}

/// A policy's rules in one line.
fn rules_text(policy: &pb::AliasPolicy) -> String {
    let mut rules = Vec::new();
    if policy.protected {
        rules.push("protected".to_owned());
    }
    rules.push(format!(
        "{} approval(s) by a {}",
        policy.required_approvals, policy.approver_role
    ));
    rules.push(format!(
        "requests open {}",
        duration_text(policy.request_ttl_seconds)
    ));
    if !policy.gate_metric.is_empty() {
        let direction = if policy.gate_lower_is_better {
            "-"
        } else {
            "+"
        };
        rules.push(format!(
            "gate {} {direction}{}",
            policy.gate_metric, policy.gate_min_delta
        ));
    }
    if !policy.soak_alias.is_empty() {
        rules.push(format!(
            "soak {} on {}",
            duration_text(policy.min_soak_seconds),
            policy.soak_alias
        ));
    }
    if policy.rollback_requires_approval {
        rules.push("rollbacks need approval".to_owned());
    }
    if policy.require_signature {
        rules.push("signature required".to_owned());
    }
    rules.join(", ")
}

fn duration_text(seconds: i64) -> String {
    match seconds {
        s if s % 86_400 == 0 && s > 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `modelreg request`.
pub async fn request(
    client: &RegistryClient,
    args: RequestArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let RequestArgs {
        name,
        alias,
        version,
        reason,
        expect_current,
    } = args;
    let version = version.resolve(client, &name).await?;
    let mut request = client
        .request_alias_change(&name, &alias, version)
        .reason(reason);
    if let Some(expected) = expect_current {
        request = request.expect_current(expected);
    }
    let made = request.await?;
    print_request(&made, printer)
}

/// What `modelreg approve`, `reject` and `cancel` do.
#[derive(Debug, Clone, Copy)]
pub enum Decision {
    Approve,
    Reject,
    Cancel,
}

/// `modelreg approve`, `reject`, `cancel`.
pub async fn decide(
    client: &RegistryClient,
    decision: Decision,
    args: DecideArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let DecideArgs { id, comment } = args;
    let builder = match decision {
        Decision::Approve => client.approve_change_request(id),
        Decision::Reject => client.reject_change_request(id),
        Decision::Cancel => client.cancel_change_request(id),
    };
    let decided = builder.comment(comment.unwrap_or_default()).await?;
    print_request(&decided, printer)
}

/// `modelreg requests`.
pub async fn requests(
    client: &RegistryClient,
    args: RequestsArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let RequestsArgs {
        name,
        alias,
        state,
        requester,
        limit,
    } = args;
    let mut listing = client.change_requests().limit(limit);
    if let Some(name) = name {
        listing = listing.model(name);
    }
    if let Some(alias) = alias {
        listing = listing.alias(alias);
    }
    if let Some(state) = state {
        listing = listing.state(state.into());
    }
    if let Some(requester) = requester {
        listing = listing.requester(requester);
    }
    let found = listing.await?;
    let raw: Vec<pb::AliasChangeRequest> = found.iter().map(|r| r.raw().clone()).collect();
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|r| {
            let raw = r.raw();
            vec![
                r.id().to_string(),
                format!("{}@{}", r.model_name(), r.alias()),
                r.version().to_string(),
                raw.from_version
                    .map_or_else(|| "-".to_owned(), |v| v.to_string()),
                r.state().to_string(),
                format!("{}/{}", raw.approvals.len(), raw.required_approvals),
                r.requester().to_owned(),
                raw.reason.clone(),
            ]
        })
        .collect();
    printer.print(
        output::canonical_list(&raw)?,
        output::table(
            &[
                "ID",
                "ALIAS",
                "VERSION",
                "FROM",
                "STATE",
                "APPROVALS",
                "REQUESTER",
                "REASON",
            ],
            &rows,
        ),
    );
    Ok(())
}

/// `modelreg freeze` (`freeze`: true) and `unfreeze`.
pub async fn freeze(
    client: &RegistryClient,
    freeze: bool,
    args: FreezeArgs,
    printer: &Printer,
) -> Result<(), Error> {
    let FreezeArgs {
        name,
        version,
        reason,
        duration,
    } = args;
    let (builder, what) = match (name.split_once('@'), version) {
        (Some((model, alias)), None) if !model.is_empty() && !alias.is_empty() => {
            let builder = if freeze {
                client.freeze_alias(model, alias)
            } else {
                client.unfreeze_alias(model, alias)
            };
            (builder, format!("{model}@{alias}"))
        }
        (None, Some(version)) => {
            let builder = if freeze {
                client.freeze_version(&name, version)
            } else {
                client.unfreeze_version(&name, version)
            };
            (builder, format!("{name} version {version}"))
        }
        _ => {
            return Err(Error::InvalidInput(
                "name MODEL@ALIAS for an alias, or MODEL VERSION for a version".to_owned(),
            ));
        }
    };
    if duration.is_some() && (!freeze || version.is_some()) {
        return Err(Error::InvalidInput(
            "--for applies to freezing an alias only".to_owned(),
        ));
    }
    builder
        .reason(reason)
        .for_seconds(duration.unwrap_or_default())
        .await?;
    let done = if freeze { "frozen" } else { "unfrozen" };
    printer.print(
        serde_json::json!({ "target": what, "frozen": freeze, "consistencyToken": client.consistency_token() }),
        format!("{what} is {done}"),
    );
    Ok(())
}

fn print_request(request: &ChangeRequest, printer: &Printer) -> Result<(), Error> {
    let raw = request.raw();
    let mut text = format!(
        "request {}: {}@{} -> version {} ({}, {}/{} approvals), asked by {}",
        request.id(),
        request.model_name(),
        request.alias(),
        request.version(),
        request.state(),
        raw.approvals.len(),
        raw.required_approvals,
        request.requester()
    );
    if !request.decision_note().is_empty() {
        text.push_str(&format!(": {}", request.decision_note()));
    }
    printer.print(output::canonical(raw)?, text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert_eq!(parse_soak("canary=1h"), Ok(("canary".to_owned(), 3600)));
        assert!(parse_soak("=1h").is_err());
        assert_eq!(duration_text(72 * 3600), "3d");
    }
}
