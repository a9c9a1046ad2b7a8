//! Use cases of freezes: an admin holds an alias still (no moves at all,
//! break-glass included) or a version (no status or metadata change), and
//! releases it; and the check every guarded change makes.

use chrono::{DateTime, Utc};

use super::idempotent::{Replay, idempotent};
use super::versions::change_time;
use crate::domain::commands::{Caller, FreezeCommand, UnfreezeCommand};
use crate::domain::governance::{Freeze, FreezeTarget, check_unfrozen};
use crate::domain::idempotency::Outcome;
use crate::domain::{AliasName, DomainError, DomainResult, EventKind, ModelName};
use crate::store::{FreezeRow, ModelRow, NewEventRow, Tx, freeze_key};

/// The freeze of `target` of `model`, if there is one (expired included).
/// A model never governed has none, and costs no read.
async fn freeze_of<T: Tx>(
    tx: &mut T,
    model: &ModelRow,
    target: &FreezeTarget,
) -> DomainResult<Option<Freeze>> {
    if !model.governed {
        return Ok(None);
    }
    let (alias, version) = freeze_key(target);
    tx.freeze(model.id, &alias, version)
        .await?
        .map(|row| row.into_domain(model.name.clone()))
        .transpose()
}

/// Refuses `action` while `row` (an alias's freeze, read with the alias)
/// is in force.
pub fn check_freeze_row(
    model: &ModelRow,
    row: Option<FreezeRow>,
    now: DateTime<Utc>,
    action: &str,
) -> DomainResult<()> {
    let freeze = row
        .map(|row| row.into_domain(model.name.clone()))
        .transpose()?;
    check_unfrozen(freeze.as_ref(), now, action)
}

/// Refuses `action` on `alias` of `model` while the alias is frozen.
pub async fn check_alias_unfrozen<T: Tx>(
    tx: &mut T,
    model: &ModelRow,
    alias: &AliasName,
    now: DateTime<Utc>,
    action: &str,
) -> DomainResult<()> {
    let freeze = freeze_of(tx, model, &FreezeTarget::Alias(alias.clone())).await?;
    check_unfrozen(freeze.as_ref(), now, action)
}

/// Refuses `action` on `version` of `model` while the version is frozen.
pub async fn check_version_unfrozen<T: Tx>(
    tx: &mut T,
    model: &ModelRow,
    version: i64,
    now: DateTime<Utc>,
    action: &str,
) -> DomainResult<()> {
    let freeze = freeze_of(tx, model, &FreezeTarget::Version(version)).await?;
    check_unfrozen(freeze.as_ref(), now, action)
}

/// Freezes an alias or a version; see `RegistryService.FreezeAlias` and
/// `FreezeVersion`. ALREADY_EXISTS while a freeze is in force.
pub async fn freeze<T: Tx>(
    tx: &mut T,
    command: FreezeCommand,
    caller: Caller,
) -> DomainResult<Freeze> {
    caller.check_model(&command.model_name)?;
    let model = command.model_name.clone();
    let method = match command.target {
        FreezeTarget::Alias(_) => "FreezeAlias",
        FreezeTarget::Version(_) => "FreezeVersion",
    };
    idempotent(
        tx,
        &caller,
        method,
        &model,
        command,
        async |tx, command, claim| {
            let locked = tx.lock_model(&command.model_name).await?;
            let now = change_time(&locked);
            let model = locked.row;
            if let FreezeTarget::Version(version) = command.target
                && tx.version_row(model.id, version).await?.is_none()
            {
                return Err(DomainError::NotFound(format!(
                    "model {:?} has no version {version}",
                    model.name
                )));
            }
            if let Some(existing) = freeze_of(tx, &model, &command.target).await?
                && existing.holds_at(now)
            {
                return Err(DomainError::AlreadyExists(format!(
                    "{} of model {:?} is frozen already, by {:?} ({})",
                    existing.target, model.name, existing.frozen_by, existing.reason
                )));
            }
            let expires_at = command
                .duration_seconds
                .map(|seconds| now + chrono::Duration::seconds(seconds));
            let row = FreezeRow::new(
                model.id,
                &command.target,
                command.reason.clone(),
                &caller,
                now,
                expires_at,
            );
            tx.save_freeze(row.clone()).await?;
            tx.mark_governed(model.id).await?;
            tx.touch_model(model.id, now).await?;
            let (alias, version) = freeze_key(&command.target);
            let kind = match command.target {
                FreezeTarget::Alias(_) => EventKind::AliasFrozen,
                FreezeTarget::Version(_) => EventKind::VersionFrozen,
            };
            let event = freeze_event(kind, &model, &command.target, command.reason, &caller, now);
            let outcome = Outcome::Frozen {
                model: model.name.clone(),
                alias,
                version,
            };
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((row.into_domain(model.name)?, settled))
        },
    )
    .await
}

fn freeze_event(
    kind: EventKind,
    model: &ModelRow,
    target: &FreezeTarget,
    reason: String,
    caller: &Caller,
    now: DateTime<Utc>,
) -> NewEventRow {
    let mut event = NewEventRow::new(kind, model.id, caller, now);
    match target {
        FreezeTarget::Alias(alias) => event.alias = Some(alias.as_str().to_owned()),
        FreezeTarget::Version(version) => event.version = Some(*version),
    }
    event.reason = reason;
    event
}

/// What ending a freeze answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unfrozen;

impl Replay for Unfrozen {
    async fn replay<T: Tx>(_tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::Unfrozen => Ok(Self),
            other => Err(super::idempotent::mismatch(other)),
        }
    }
}

impl Replay for Freeze {
    async fn replay<T: Tx>(tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::Frozen {
                model,
                alias,
                version,
            } => {
                let model = tx.find_model(&ModelName::from_stored(model)).await?;
                match tx.freeze(model.id, &alias, version).await? {
                    Some(row) => row.into_domain(model.name),
                    None => Err(DomainError::NotFound(format!(
                        "the freeze this request made on model {:?} has ended since",
                        model.name
                    ))),
                }
            }
            other => Err(super::idempotent::mismatch(other)),
        }
    }
}

/// Ends a freeze; see `RegistryService.UnfreezeAlias` and
/// `UnfreezeVersion`. NOT_FOUND when none is in force.
pub async fn unfreeze<T: Tx>(
    tx: &mut T,
    command: UnfreezeCommand,
    caller: Caller,
) -> DomainResult<Unfrozen> {
    caller.check_model(&command.model_name)?;
    let model = command.model_name.clone();
    let method = match command.target {
        FreezeTarget::Alias(_) => "UnfreezeAlias",
        FreezeTarget::Version(_) => "UnfreezeVersion",
    };
    idempotent(
        tx,
        &caller,
        method,
        &model,
        command,
        async |tx, command, claim| {
            let locked = tx.lock_model(&command.model_name).await?;
            let now = change_time(&locked);
            let model = locked.row;
            let in_force = freeze_of(tx, &model, &command.target)
                .await?
                .filter(|freeze| freeze.holds_at(now));
            if in_force.is_none() {
                return Err(DomainError::NotFound(format!(
                    "{} of model {:?} is not frozen",
                    command.target, model.name
                )));
            }
            let (alias, version) = freeze_key(&command.target);
            tx.delete_freeze(model.id, &alias, version).await?;
            tx.touch_model(model.id, now).await?;
            let kind = match command.target {
                FreezeTarget::Alias(_) => EventKind::AliasUnfrozen,
                FreezeTarget::Version(_) => EventKind::VersionUnfrozen,
            };
            let event = freeze_event(kind, &model, &command.target, command.reason, &caller, now);
            let (settled, _) = claim
                .settle_with_events(tx, Outcome::Unfrozen, vec![event])
                .await?;
            Ok((Unfrozen, settled))
        },
    )
    .await
}
