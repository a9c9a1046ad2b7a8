//! Use cases of alias policies: set, removed and read, on one model or on
//! a model-name prefix (inherited by every model named so that has no
//! policy of its own for the alias; the longest matching prefix wins), and
//! the policy in force when an alias moves.

use super::idempotent::{Replay, idempotent, mismatch};
use super::versions::change_time;
use crate::domain::alias::AliasName;
use crate::domain::commands::{Caller, DeletePolicy, PolicyQuery, SetPolicy};
use crate::domain::governance::{AliasPolicy, PolicyRules, PolicyScope, rollback_target_refusal};
use crate::domain::idempotency::Outcome;
use crate::domain::page::{Page, PolicyCursor};
use crate::domain::{
    ChangeQueue, DomainError, DomainResult, EventKind, ModelName, ModelPrefix, time,
};
use crate::store::{ModelRow, NewEventRow, PolicyRow, PrefixPolicyRow, Tx, to_json};

/// Policies of one model read at most, per listing page: more than any
/// model has aliases.
const MAX_POLICIES_OF_A_MODEL: usize = 10_000;

/// The policy in force for `alias` of `model`: its own, else the one it
/// inherits. A model never governed has none, and costs no read.
pub async fn policy_of<T: Tx>(
    tx: &mut T,
    model: &ModelRow,
    alias: &AliasName,
) -> DomainResult<Option<AliasPolicy>> {
    if !model.governed {
        return Ok(None);
    }
    let own = tx.alias_policy(model.id, alias).await?;
    let inherited = match own {
        Some(_) => None,
        // Longest prefix first: the first is the one inherited.
        None => tx
            .inherited_policies(&model.model_name(), Some(alias))
            .await?
            .into_iter()
            .next(),
    };
    policy_from_rows(model, own, inherited)
}

/// The policy in force, from the rows read with the alias (its own, and
/// the one it inherits when it has none).
pub fn policy_from_rows(
    model: &ModelRow,
    own: Option<PolicyRow>,
    inherited: Option<PrefixPolicyRow>,
) -> DomainResult<Option<AliasPolicy>> {
    match (own, inherited) {
        (Some(own), _) => own.into_domain(model.name.clone()).map(Some),
        (None, Some(inherited)) => inherited.into_domain().map(Some),
        (None, None) => Ok(None),
    }
}

/// Refuses to archive a version that the rollback chain of one of the
/// model's protected aliases reaches (see `rollback_target_refusal`).
pub async fn check_archivable<T: Tx>(
    tx: &mut T,
    model: &ModelRow,
    version: i64,
) -> DomainResult<()> {
    if !model.governed {
        return Ok(());
    }
    for alias in tx.aliases_that_held(model.id, version).await? {
        let alias = AliasName::try_from(alias)?;
        let Some(policy) = policy_of(tx, model, &alias).await? else {
            continue;
        };
        if !policy.rules.protected {
            continue;
        }
        let start = tx
            .latest_alias_event(model.id, &alias)
            .await?
            .and_then(|latest| latest.rollback_event_id);
        if let Some(start) = start
            && tx.rollback_chain_reaches(start, version).await?
        {
            return Err(rollback_target_refusal(
                &model.model_name(),
                version,
                &alias,
                &policy,
            ));
        }
    }
    Ok(())
}

/// Marks a new model governed when a prefix policy covers it; ordered
/// with prefix-policy changes, so one committed concurrently either sees
/// the model or is seen here.
pub async fn inherit_prefix_policies<T: Tx>(tx: &mut T, model: &ModelRow) -> DomainResult<()> {
    tx.order_with_prefix_policies(false).await?;
    if !tx
        .inherited_policies(&model.model_name(), None)
        .await?
        .is_empty()
    {
        tx.mark_governed(model.id).await?;
    }
    Ok(())
}

/// Sets an alias's policy on a model or a prefix; see
/// `RegistryService.SetAliasPolicy`. A policy equal to the current one
/// changes nothing.
pub async fn set_policy<T: Tx>(
    tx: &mut T,
    command: SetPolicy,
    caller: Caller,
) -> DomainResult<AliasPolicy> {
    command.rules.check(&command.alias)?;
    match command.scope.clone() {
        PolicyScope::Model(name) => {
            caller.check_alias(&name, &command.alias)?;
            set_model_policy(tx, &name, command, caller).await
        }
        PolicyScope::Prefix { prefix } => {
            caller.check_family(&prefix, &command.alias)?;
            set_prefix_policy(tx, &prefix, command, caller).await
        }
    }
}

async fn set_model_policy<T: Tx>(
    tx: &mut T,
    name: &ModelName,
    command: SetPolicy,
    caller: Caller,
) -> DomainResult<AliasPolicy> {
    idempotent(
        tx,
        &caller,
        "SetAliasPolicy",
        name,
        command,
        async |tx, command, claim| {
            let locked = tx.lock_model(name).await?;
            let now = change_time(&locked);
            let model = locked.row;
            let outcome = Outcome::Policy {
                model: model.name.clone(),
                alias: command.alias.as_str().to_owned(),
            };
            let existing = tx.alias_policy(model.id, &command.alias).await?;
            if let Some(existing) = existing.as_ref() {
                let policy = existing.clone().into_domain(model.name.clone())?;
                if policy.rules == command.rules {
                    let settled = claim.settle(tx, outcome).await?;
                    return Ok((policy, settled));
                }
            }
            let revision = existing.map_or(1, |policy| policy.revision + 1);
            let row = PolicyRow::new(
                model.id,
                &command.alias,
                &command.rules,
                revision,
                &caller,
                now,
            )?;
            tx.save_alias_policy(row.clone()).await?;
            tx.mark_governed(model.id).await?;
            tx.touch_model(model.id, now).await?;
            let mut event = NewEventRow::new(EventKind::AliasPolicySet, model.id, &caller, now);
            set_event(&mut event, &command, revision)?;
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((row.into_domain(model.name)?, settled))
        },
    )
    .await
}

async fn set_prefix_policy<T: Tx>(
    tx: &mut T,
    prefix: &ModelPrefix,
    command: SetPolicy,
    caller: Caller,
) -> DomainResult<AliasPolicy> {
    idempotent(
        tx,
        &caller,
        "SetAliasPolicy",
        ChangeQueue::Prefix(prefix),
        command,
        async |tx, command, claim| {
            tx.order_with_prefix_policies(true).await?;
            let now = time::now();
            let outcome = Outcome::PrefixPolicy {
                prefix: prefix.as_str().to_owned(),
                alias: command.alias.as_str().to_owned(),
            };
            let existing = tx.prefix_policy(prefix, &command.alias).await?;
            if let Some(existing) = existing.as_ref() {
                let policy = existing.clone().into_domain()?;
                if policy.rules == command.rules {
                    let settled = claim.settle(tx, outcome).await?;
                    return Ok((policy, settled));
                }
            }
            let revision = existing.map_or(1, |policy| policy.revision + 1);
            let row = PrefixPolicyRow::new(
                prefix,
                &command.alias,
                &command.rules,
                revision,
                &caller,
                now,
            )?;
            tx.save_prefix_policy(row.clone()).await?;
            // Every model of the family reads policies from now on; models
            // created later are marked as they are (`inherit_prefix_policies`).
            tx.mark_family_governed(prefix).await?;
            let mut event = NewEventRow::of_prefix(EventKind::AliasPolicySet, prefix, &caller, now);
            set_event(&mut event, &command, revision)?;
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((row.into_domain()?, settled))
        },
    )
    .await
}

/// Fills the ALIAS_POLICY_SET event of `command` setting `revision`.
fn set_event(event: &mut NewEventRow, command: &SetPolicy, revision: i64) -> DomainResult<()> {
    event.alias = Some(command.alias.as_str().to_owned());
    event.reason.clone_from(&command.reason);
    event.detail = Some(to_json(&serde_json::json!({
        "revision": revision,
        "rules": &command.rules as &PolicyRules,
    }))?);
    Ok(())
}

impl Replay for AliasPolicy {
    async fn replay<T: Tx>(tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::Policy { model, alias } => {
                let alias = AliasName::try_from(alias)?;
                let name = ModelName::from_stored(model);
                let model = tx.find_model(&name).await?;
                match tx.alias_policy(model.id, &alias).await? {
                    Some(row) => row.into_domain(model.name),
                    None => Err(no_policy(&PolicyScope::Model(name), &alias)),
                }
            }
            Outcome::PrefixPolicy { prefix, alias } => {
                let alias = AliasName::try_from(alias)?;
                let scope = PolicyScope::Prefix {
                    prefix: ModelPrefix::from_stored(prefix),
                };
                get_policy(tx, scope, alias).await
            }
            other => Err(mismatch(other)),
        }
    }
}

/// What removing a policy answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyRemoved {
    /// The revision removed.
    pub revision: i64,
}

impl Replay for PolicyRemoved {
    async fn replay<T: Tx>(_tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::PolicyDeleted { revision } => Ok(Self { revision }),
            other => Err(mismatch(other)),
        }
    }
}

/// Removes a policy set on a model or a prefix; see
/// `RegistryService.DeleteAliasPolicy`. Pending change requests stay, and
/// can still be approved; models once governed stay marked so.
pub async fn delete_policy<T: Tx>(
    tx: &mut T,
    command: DeletePolicy,
    caller: Caller,
) -> DomainResult<PolicyRemoved> {
    match command.scope.clone() {
        PolicyScope::Model(name) => {
            caller.check_alias(&name, &command.alias)?;
            delete_model_policy(tx, &name, command, caller).await
        }
        PolicyScope::Prefix { prefix } => {
            caller.check_family(&prefix, &command.alias)?;
            delete_prefix_policy(tx, &prefix, command, caller).await
        }
    }
}

async fn delete_model_policy<T: Tx>(
    tx: &mut T,
    name: &ModelName,
    command: DeletePolicy,
    caller: Caller,
) -> DomainResult<PolicyRemoved> {
    idempotent(
        tx,
        &caller,
        "DeleteAliasPolicy",
        name,
        command,
        async |tx, command, claim| {
            let locked = tx.lock_model(name).await?;
            let now = change_time(&locked);
            let model = locked.row;
            let Some(existing) = tx.alias_policy(model.id, &command.alias).await? else {
                return Err(match policy_of(tx, &model, &command.alias).await? {
                    Some(inherited) => DomainError::FailedPrecondition(format!(
                        "alias {:?} of model {:?} has no policy of its own: the policy in \
                         force is inherited from {}; delete that one (its model_prefix), or \
                         set one on the model to override it",
                        command.alias, model.name, inherited.scope
                    )),
                    None => no_policy(&command.scope, &command.alias),
                });
            };
            tx.delete_alias_policy(model.id, &command.alias).await?;
            tx.touch_model(model.id, now).await?;
            let mut event = NewEventRow::new(EventKind::AliasPolicyDeleted, model.id, &caller, now);
            event.alias = Some(command.alias.as_str().to_owned());
            event.reason = command.reason;
            let revision = existing.revision;
            let outcome = Outcome::PolicyDeleted { revision };
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((PolicyRemoved { revision }, settled))
        },
    )
    .await
}

async fn delete_prefix_policy<T: Tx>(
    tx: &mut T,
    prefix: &ModelPrefix,
    command: DeletePolicy,
    caller: Caller,
) -> DomainResult<PolicyRemoved> {
    idempotent(
        tx,
        &caller,
        "DeleteAliasPolicy",
        ChangeQueue::Prefix(prefix),
        command,
        async |tx, command, claim| {
            tx.order_with_prefix_policies(true).await?;
            let now = time::now();
            let Some(existing) = tx.prefix_policy(prefix, &command.alias).await? else {
                return Err(no_policy(&command.scope, &command.alias));
            };
            tx.delete_prefix_policy(prefix, &command.alias).await?;
            let mut event =
                NewEventRow::of_prefix(EventKind::AliasPolicyDeleted, prefix, &caller, now);
            event.alias = Some(command.alias.as_str().to_owned());
            event.reason = command.reason;
            let revision = existing.revision;
            let outcome = Outcome::PolicyDeleted { revision };
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((PolicyRemoved { revision }, settled))
        },
    )
    .await
}

fn no_policy(scope: &PolicyScope, alias: &AliasName) -> DomainError {
    DomainError::NotFound(format!(
        "alias {alias:?} of {scope} has no policy; an admin sets one with SetAliasPolicy"
    ))
}

/// Reads a policy: for a model, the one in force (its own or inherited);
/// for a prefix, the one set on it.
pub async fn get_policy<T: Tx>(
    tx: &mut T,
    scope: PolicyScope,
    alias: AliasName,
) -> DomainResult<AliasPolicy> {
    let found = match &scope {
        PolicyScope::Model(name) => {
            let model = tx.find_model(name).await?;
            policy_of(tx, &model, &alias).await?
        }
        PolicyScope::Prefix { prefix } => tx
            .prefix_policy(prefix, &alias)
            .await?
            .map(PrefixPolicyRow::into_domain)
            .transpose()?,
    };
    found.ok_or_else(|| no_policy(&scope, &alias))
}

/// Lists policies: the ones set on prefixes; or one model's in force (its
/// own, and those it inherits for its other aliases), by alias; or every
/// model's own.
pub async fn list_policies<T: Tx>(
    tx: &mut T,
    query: PolicyQuery,
) -> DomainResult<Page<AliasPolicy, PolicyCursor>> {
    if query.prefixes {
        return tx.list_prefix_policies(&query).await;
    }
    let Some(name) = &query.model_name else {
        return tx.list_alias_policies(&query).await;
    };
    let model = tx.find_model(name).await?;
    let own = tx
        .list_alias_policies(&PolicyQuery {
            page_size: MAX_POLICIES_OF_A_MODEL,
            after: None,
            ..query.clone()
        })
        .await?;
    let mut in_force: Vec<AliasPolicy> = own.items.into_iter().map(|(p, _)| p).collect();
    // Longest prefix first: the first of each alias is the one inherited.
    for row in tx.inherited_policies(name, None).await? {
        if !in_force.iter().any(|p| p.alias.as_str() == row.alias) {
            in_force.push(row.into_domain()?);
        }
    }
    in_force.sort_by(|a, b| a.alias.as_str().cmp(b.alias.as_str()));
    let after = query.after.as_ref().map(|c| c.after_alias.as_str());
    let mut items: Vec<(AliasPolicy, PolicyCursor)> = in_force
        .into_iter()
        .filter(|p| after.is_none_or(|after| p.alias.as_str() > after))
        .take(query.page_size + 1)
        .map(|policy| {
            let cursor = PolicyCursor {
                after_model: model.name.clone(),
                after_alias: policy.alias.as_str().to_owned(),
            };
            (policy, cursor)
        })
        .collect();
    let more = items.len() > query.page_size;
    items.truncate(query.page_size);
    Ok(Page { items, more })
}
