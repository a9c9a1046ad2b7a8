//! Use cases of aliases: set, roll back, delete, and the reads (now, as of
//! a time, and with the event that put it there, for watches).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::idempotent::{Claim, Settled, idempotent};
use super::versions::{change_time, get_version};
use crate::domain::alias::{self, AliasName};
use crate::domain::commands::{AliasMoved, Caller, DeleteAlias, RollbackAlias, SetAlias};
use crate::domain::governance::{self, DirectMove};
use crate::domain::idempotency::Outcome;
use crate::domain::signature::TrustCheck;
use crate::domain::{DomainError, DomainResult, EventKind, ModelName, ModelVersion, VersionRef};
use crate::store::{EventRow, ModelRow, NewEventRow, Tx, VersionRow};

/// Points an alias at a version; see `RegistryService.SetModelAlias`.
pub async fn set_alias<T: Tx>(
    tx: &mut T,
    command: SetAlias,
    caller: Caller,
    trust: Arc<dyn TrustCheck>,
) -> DomainResult<AliasMoved> {
    caller.check_alias(&command.model_name, &command.alias)?;
    let model = command.model_name.clone();
    idempotent(
        tx,
        &caller,
        "SetModelAlias",
        &model,
        command,
        async |tx, command, claim| {
            let locked = tx.lock_model(&command.model_name).await?;
            let now = change_time(&locked);
            let model = locked.row;
            let alias = &command.alias;
            let mut state = tx
                .alias_move_state(&model, alias, Some(command.version))
                .await?;
            super::freezes::check_freeze_row(&model, state.freeze.take(), now, "moving it")?;
            let policy = super::policies::policy_from_rows(
                &model,
                state.policy.take(),
                state.inherited.take(),
            )?;
            governance::check_direct_move(
                &command.model_name,
                policy.as_ref(),
                DirectMove::Set,
                command.emergency,
                &caller,
            )?;
            let Some(candidate) = state.candidate else {
                return Err(DomainError::NotFound(format!(
                    "model {:?} has no version {}",
                    model.name, command.version
                )));
            };
            let current = state.current.map(|row| row.version);
            alias::check_expected_current(alias, command.expected_current, current)?;
            if current == Some(command.version) {
                let settled = claim
                    .settle(
                        tx,
                        Outcome::AliasMoved {
                            version_id: candidate.id.clone(),
                            previous: current,
                            unchanged: true,
                        },
                    )
                    .await?;
                let moved = AliasMoved {
                    version: tx.with_aliases(candidate, model.name).await?,
                    previous: current,
                    unchanged: true,
                };
                return Ok((moved, settled));
            }
            alias::check_holdable(alias, command.version, candidate.status()?)?;
            if let Some(gate) = &command.gate {
                let current_metrics = match current {
                    Some(version) => tx
                        .version_row(model.id, version)
                        .await?
                        .map(|row| row.metrics())
                        .transpose()?,
                    None => None,
                };
                alias::check_gate(
                    alias,
                    Some(gate),
                    (command.version, &candidate.metrics()?),
                    current.zip(current_metrics.as_ref()),
                )?;
            }
            if let Some(policy) = policy.as_ref().filter(|_| !command.emergency) {
                // A policy's evidence holds for every move of its alias; a
                // break-glass move is the one exception.
                super::governance::check_policy_evidence(
                    tx, &*trust, &model, policy, &candidate, current, now,
                )
                .await?;
            }
            let mut event = NewEventRow::new(EventKind::AliasSet, model.id, &caller, now);
            event.emergency = command.emergency;
            event.rollback_event_id = alias::rollback_pointer_of_move(
                state
                    .latest_event
                    .as_ref()
                    .map(EventRow::alias_entry)
                    .as_ref(),
            );
            event.reason = command.reason;
            let to = AliasMove {
                model,
                alias: command.alias,
                current,
                target: candidate,
                now,
            };
            move_alias(tx, claim, to, event).await
        },
    )
    .await
}

/// Returns an alias to the version it held before; see
/// `RegistryService.RollbackModelAlias`.
pub async fn rollback_alias<T: Tx>(
    tx: &mut T,
    command: RollbackAlias,
    caller: Caller,
    trust: Arc<dyn TrustCheck>,
) -> DomainResult<AliasMoved> {
    caller.check_alias(&command.model_name, &command.alias)?;
    let model = command.model_name.clone();
    idempotent(
        tx,
        &caller,
        "RollbackModelAlias",
        &model,
        command,
        async |tx, command, claim| {
            let locked = tx.lock_model(&command.model_name).await?;
            let now = change_time(&locked);
            let model = locked.row;
            let alias = &command.alias;
            let mut state = tx.alias_move_state(&model, alias, None).await?;
            super::freezes::check_freeze_row(&model, state.freeze.take(), now, "rolling it back")?;
            let policy = super::policies::policy_from_rows(
                &model,
                state.policy.take(),
                state.inherited.take(),
            )?;
            governance::check_direct_move(
                &command.model_name,
                policy.as_ref(),
                DirectMove::Rollback,
                command.emergency,
                &caller,
            )?;
            let current = state.current.map(|row| row.version);
            alias::check_expected_current(alias, command.expected_current, current)?;
            let latest = state.latest_event;
            let source_id =
                alias::rollback_source(alias, latest.as_ref().map(EventRow::alias_entry).as_ref())?;
            let source = tx.event(source_id).await?;
            let corrupt = || {
                DomainError::Internal(format!(
                    "the rollback chain of alias {alias:?} of model {:?} names event {source_id}, \
                 which has no existing version",
                    model.name
                ))
            };
            let target_version = source.new_version.ok_or_else(corrupt)?;
            let target = tx
                .version_row(model.id, target_version)
                .await?
                .ok_or_else(corrupt)?;
            let status = target.status()?;
            alias::check_holdable(alias, target_version, status).map_err(|_| {
                DomainError::FailedPrecondition(format!(
                    "cannot roll alias {alias:?} back to version {target_version}: it is {status}, \
                 and only ACTIVE versions hold aliases; point the alias at a version explicitly \
                 instead"
                ))
            })?;
            // Rolling back skips the policy's other evidence (it is the
            // emergency action), not its signature: an unsigned version
            // never returns to an alias that requires one.
            if let Some(policy) = policy.as_ref().filter(|_| !command.emergency) {
                let required = policy.rules.require_signature;
                let standing =
                    super::governance::signature_standing(tx, &*trust, &model, &target, required)
                        .await?;
                governance::check_signature(alias, &policy.rules, target_version, &standing)?;
            }
            let mut event = NewEventRow::new(EventKind::AliasRolledBack, model.id, &caller, now);
            event.emergency = command.emergency;
            event.rollback_event_id = source.rollback_event_id;
            event.reason = command.reason;
            let to = AliasMove {
                model,
                alias: command.alias,
                current,
                target,
                now,
            };
            move_alias(tx, claim, to, event).await
        },
    )
    .await
}

/// An alias move about to be recorded.
pub(super) struct AliasMove {
    /// The model, locked.
    pub model: ModelRow,
    pub alias: AliasName,
    /// The version the alias points at now.
    pub current: Option<i64>,
    /// The version it is to point at.
    pub target: VersionRow,
    /// When.
    pub now: DateTime<Utc>,
}

/// How every alias move ends (set or rollback): the event (its version
/// fields filled in here), the model's change time, the request key, then
/// last the event and the alias row that names it.
async fn move_alias<T: Tx>(
    tx: &mut T,
    claim: Claim,
    to: AliasMove,
    event: NewEventRow,
) -> DomainResult<(AliasMoved, Settled)> {
    let outcome = Outcome::AliasMoved {
        version_id: to.target.id.clone(),
        previous: to.current,
        unchanged: false,
    };
    let (model_name, current) = (to.model.name.clone(), to.current);
    let (target, settled) = record_move(tx, claim, to, Vec::new(), event, outcome).await?;
    let moved = AliasMoved {
        version: tx.with_aliases(target, model_name).await?,
        previous: current,
        unchanged: false,
    };
    Ok((moved, settled))
}

/// Records an alias move: `event` (the move's, its version fields filled in
/// here) after `preceding` events of the same change, the model's change
/// time, the request key's `outcome`, and the alias row naming the move's
/// event. Returns the version the alias now points at.
pub(super) async fn record_move<T: Tx>(
    tx: &mut T,
    claim: Claim,
    to: AliasMove,
    mut preceding: Vec<NewEventRow>,
    mut event: NewEventRow,
    outcome: Outcome,
) -> DomainResult<(VersionRow, Settled)> {
    let AliasMove {
        model,
        alias,
        current,
        target,
        now,
    } = to;
    event.version = Some(target.version);
    event.alias = Some(alias.as_str().to_owned());
    event.previous_version = current;
    event.new_version = Some(target.version);
    tx.touch_model(model.id, now).await?;
    preceding.push(event);
    let (settled, ids) = claim.settle_with_events(tx, outcome, preceding).await?;
    let event_id = one_event(ids)?;
    tx.point_alias(
        model.id,
        &alias,
        target.version,
        event_id,
        current.is_some(),
    )
    .await?;
    Ok((target, settled))
}

/// Removes an alias; see `RegistryService.DeleteModelAlias`. Returns the
/// version it pointed at.
pub async fn delete_alias<T: Tx>(
    tx: &mut T,
    command: DeleteAlias,
    caller: Caller,
) -> DomainResult<i64> {
    caller.check_alias(&command.model_name, &command.alias)?;
    let model = command.model_name.clone();
    idempotent(
        tx,
        &caller,
        "DeleteModelAlias",
        &model,
        command,
        async |tx, command, claim| {
            let locked = tx.lock_model(&command.model_name).await?;
            let now = change_time(&locked);
            let model = locked.row;
            let alias = &command.alias;
            super::freezes::check_alias_unfrozen(tx, &model, alias, now, "deleting it").await?;
            let policy = super::policies::policy_of(tx, &model, alias).await?;
            governance::check_direct_move(
                &command.model_name,
                policy.as_ref(),
                DirectMove::Delete,
                command.emergency,
                &caller,
            )?;
            let current = tx.alias_row(model.id, alias).await?;
            alias::check_expected_current(
                alias,
                command.expected_current,
                current.as_ref().map(|row| row.version),
            )?;
            let Some(current) = current else {
                return Err(DomainError::NotFound(format!(
                    "model {:?} has no alias {alias:?} to delete",
                    model.name
                )));
            };
            let latest = tx.latest_alias_event(model.id, alias).await?;
            let mut event = NewEventRow::new(EventKind::AliasDeleted, model.id, &caller, now);
            event.emergency = command.emergency;
            event.version = Some(current.version);
            event.alias = Some(alias.as_str().to_owned());
            event.previous_version = Some(current.version);
            event.rollback_event_id = latest
                .as_ref()
                .map(EventRow::alias_entry)
                .and_then(|entry| alias::rollback_pointer_of_deletion(&entry));
            event.reason = command.reason;
            tx.remove_alias(model.id, alias).await?;
            tx.touch_model(model.id, now).await?;
            let outcome = Outcome::AliasDeleted {
                previous: current.version,
            };
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((current.version, settled))
        },
    )
    .await
}

/// Reads the version an alias of a model points at now (`latest`: the
/// highest ACTIVE version).
pub async fn get_by_alias<T: Tx>(
    tx: &mut T,
    name: ModelName,
    alias: AliasName,
) -> DomainResult<ModelVersion> {
    if alias.is_latest() {
        let model = tx.find_model(&name).await?;
        return match tx.latest_active_version(model.id).await? {
            Some(version) => get_version(tx, VersionRef::Number(name, version)).await,
            None => Err(DomainError::NotFound(format!(
                "model {name:?} has no ACTIVE version, so `latest` points at none"
            ))),
        };
    }
    if let Some(version) = tx.version_by_alias(&name, &alias).await? {
        return Ok(version);
    }
    tx.find_model(&name).await?;
    Err(DomainError::NotFound(format!(
        "model {name:?} has no alias {alias:?}; point it at a version with SetModelAlias"
    )))
}

/// Reads the version an alias pointed at at time `at`, from the event trail
/// (for `latest`: the highest version registered by then that was ACTIVE
/// then).
pub async fn get_by_alias_as_of<T: Tx>(
    tx: &mut T,
    name: ModelName,
    alias: AliasName,
    at: DateTime<Utc>,
) -> DomainResult<ModelVersion> {
    let model = tx.find_model(&name).await?;
    let version = if alias.is_latest() {
        tx.latest_active_version_at(model.id, at).await?
    } else {
        tx.alias_version_at(model.id, &alias, at).await?
    };
    match version {
        Some(version) => get_version(tx, VersionRef::Number(name, version)).await,
        None => Err(DomainError::NotFound(format!(
            "alias {alias:?} of model {name:?} pointed at no version at {}",
            at.to_rfc3339()
        ))),
    }
}

/// The version an alias points at now and the id of the event that put it
/// there; `None` when it points nowhere (the id is then that of its last
/// event, 0 if it never had one). For `latest`, the id of the model's last
/// event.
pub async fn alias_state<T: Tx>(
    tx: &mut T,
    name: ModelName,
    alias: AliasName,
) -> DomainResult<(Option<ModelVersion>, i64)> {
    let model = tx.find_model(&name).await?;
    if alias.is_latest() {
        let last = tx.last_model_event_id(model.id).await?;
        let version = match tx.latest_active_version(model.id).await? {
            Some(number) => Some(get_version(tx, VersionRef::Number(name, number)).await?),
            None => None,
        };
        return Ok((version, last));
    }
    match tx.alias_row(model.id, &alias).await? {
        Some(row) => {
            let version = get_version(tx, VersionRef::Number(name, row.version)).await?;
            Ok((Some(version), row.event_id))
        }
        None => {
            let last = tx
                .latest_alias_event(model.id, &alias)
                .await?
                .map_or(0, |event| event.id);
            Ok((None, last))
        }
    }
}

fn one_event(ids: Vec<i64>) -> DomainResult<i64> {
    ids.last()
        .copied()
        .ok_or_else(|| DomainError::Internal("an appended event has no id".to_owned()))
}
