//! Use cases of versions: register, change status, update, and the reads.

use chrono::{DateTime, Utc};

use super::idempotent::idempotent;
use crate::domain::commands::{
    AttachSignature, BestVersionQuery, Caller, ChangeStatus, UpdateVersion, VersionQuery,
};
use crate::domain::idempotency::Outcome;
use crate::domain::page::{Page, VersionCursor};
use crate::domain::signature::SignedFile;
use crate::domain::{
    DomainError, DomainResult, EventKind, ModelName, ModelVersion, NewVersion, VersionRef,
    VersionStatus, time,
};
use crate::store::{LockedModel, ModelRow, NewEventRow, Tx, VersionRow};

/// Registers a new version; see `RegistryService.RegisterModel`.
pub async fn register<T: Tx>(
    tx: &mut T,
    new: NewVersion,
    caller: Caller,
) -> DomainResult<ModelVersion> {
    caller.check_model(&new.model_name)?;
    let model = new.model_name.clone();
    idempotent(
        tx,
        &caller,
        "RegisterModel",
        &model,
        new,
        async |tx, new, claim| {
            // Before any lock: registrations from before request keys existed
            // do not change any more.
            if let Some(earlier) = legacy_registration(tx, &caller, &new).await? {
                let settled = claim
                    .settle(
                        tx,
                        Outcome::Version {
                            id: earlier.id.clone(),
                        },
                    )
                    .await?;
                return Ok((earlier, settled));
            }
            // Not a retry of a registration that succeeded: a bundle that
            // failed verification (or a signature required and missing)
            // refuses it now, before anything is written.
            let signature = new.checked_signature()?;
            // Every registration for this model queued (in `idempotent`) until
            // the one before it committed, which makes version numbers gap-free.
            let (locked, created) = tx
                .create_and_lock_model(&new.model_name, time::now())
                .await?;
            let now = change_time(&locked);
            let model = locked.row;
            let mut events = Vec::new();
            if created {
                super::policies::inherit_prefix_policies(tx, &model).await?;
                events.push(NewEventRow::new(
                    EventKind::ModelCreated,
                    model.id,
                    &caller,
                    now,
                ));
            }
            let mut row = VersionRow::new(model.id, model.next_version, &new, &caller, now)?;
            tx.insert_version(&model, &row, &new, now).await?;
            let mut event = NewEventRow::new(EventKind::VersionRegistered, model.id, &caller, now);
            event.version = Some(row.version);
            event.new_status = Some(VersionStatus::Active.as_str().to_owned());
            events.push(event);
            if let Some(verified) = signature {
                tx.save_signature(&mut row, verified, now).await?;
                let mut event =
                    NewEventRow::new(EventKind::SignatureAttached, model.id, &caller, now);
                event.version = Some(row.version);
                event.detail = Some(verified.describe());
                events.push(event);
            }
            let outcome = Outcome::Version { id: row.id.clone() };
            let (settled, _) = claim.settle_with_events(tx, outcome, events).await?;
            // A new version holds no alias yet.
            Ok((row.into_domain(model.name, Vec::new())?, settled))
        },
    )
    .await
}

/// A registration the caller made before request keys existed, under its
/// idempotency key (kept in model_versions.request_id then): replayed when
/// this request registers the same thing, refused when it differs.
async fn legacy_registration<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    new: &NewVersion,
) -> DomainResult<Option<ModelVersion>> {
    let model_name = &new.model_name;
    let Some(key) = &caller.idempotency_key else {
        return Ok(None);
    };
    match tx.version_by_request_id(&caller.identity, key).await? {
        None => Ok(None),
        Some((row, owner)) if owner == model_name.as_str() => {
            let earlier = tx.with_aliases(row, owner).await?;
            new.check_same_registration_as(&earlier, key)?;
            Ok(Some(earlier))
        }
        Some((row, owner)) => Err(DomainError::AlreadyExists(format!(
            "request_id {key:?} was already used to register version {} of model {owner:?}; \
             use a new request_id for a new registration",
            row.version
        ))),
    }
}

/// Changes a version's status through the status machine.
pub async fn change_status<T: Tx>(
    tx: &mut T,
    command: ChangeStatus,
    caller: Caller,
) -> DomainResult<ModelVersion> {
    let model = model_of(tx, &command.target).await?;
    idempotent(
        tx,
        &caller,
        "UpdateModelVersionStatus",
        &model,
        command,
        async |tx, command, claim| {
            let (model, mut row, now) =
                lock_unfrozen_version(tx, &caller, &command.target, "changing its status").await?;
            let from = row.status()?;
            let held = tx.aliases_of_version(model.id, row.version).await?;
            from.check_transition(command.status, row.version, &held)?;
            if command.status == VersionStatus::Archived {
                super::policies::check_archivable(tx, &model, row.version).await?;
            }
            if caller.grant.aliases.is_some() {
                let mut reached = tx.aliases_that_held(model.id, row.version).await?;
                reached.extend(held.iter().cloned());
                let latest = tx.latest_active_version(model.id).await?;
                let moves_latest = from.moves_latest(command.status, row.version, latest);
                caller.check_status_change(row.version, &reached, moves_latest)?;
            }
            tx.save_version_status(&mut row, command.status, now)
                .await?;
            let mut event = NewEventRow::new(EventKind::StatusChanged, model.id, &caller, now);
            event.version = Some(row.version);
            event.previous_status = Some(from.as_str().to_owned());
            event.new_status = Some(command.status.as_str().to_owned());
            event.reason = command.reason;
            let outcome = Outcome::Version { id: row.id.clone() };
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((row.into_domain(model.name, held)?, settled))
        },
    )
    .await
}

/// Changes a version's description and tags.
pub async fn update_version<T: Tx>(
    tx: &mut T,
    command: UpdateVersion,
    caller: Caller,
) -> DomainResult<ModelVersion> {
    let model = model_of(tx, &command.target).await?;
    idempotent(
        tx,
        &caller,
        "UpdateModelVersion",
        &model,
        command,
        async |tx, command, claim| {
            let (model, mut row, now) = lock_unfrozen_version(
                tx,
                &caller,
                &command.target,
                "changing its description or tags",
            )
            .await?;
            let tags = command.apply_to_tags(row.tags()?)?;
            tx.save_version_details(&mut row, command.description, &tags, now)
                .await?;
            let mut event = NewEventRow::new(EventKind::VersionUpdated, model.id, &caller, now);
            event.version = Some(row.version);
            event.reason = command.reason;
            let outcome = Outcome::Version { id: row.id.clone() };
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((tx.with_aliases(row, model.name).await?, settled))
        },
    )
    .await
}

/// Attaches a verified signature to a version (replacing the one it had);
/// see `RegistryService.AttachSignature`.
pub async fn attach_signature<T: Tx>(
    tx: &mut T,
    command: AttachSignature,
    caller: Caller,
) -> DomainResult<ModelVersion> {
    let model = model_of(tx, &command.target).await?;
    idempotent(
        tx,
        &caller,
        "AttachSignature",
        &model,
        command,
        async |tx, command, claim| {
            // Not a retry of one that succeeded: a failed bundle refuses it.
            let verified = command.verified.as_ref().map_err(Clone::clone)?;
            let (model, mut row, now) =
                lock_unfrozen_version(tx, &caller, &command.target, "attaching a signature")
                    .await?;
            verified.check_artifact("bundle", &row.artifact())?;
            tx.save_signature(&mut row, verified, now).await?;
            let mut event = NewEventRow::new(EventKind::SignatureAttached, model.id, &caller, now);
            event.version = Some(row.version);
            event.reason = command.reason;
            event.detail = Some(verified.describe());
            let outcome = Outcome::Version { id: row.id.clone() };
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((tx.with_aliases(row, model.name).await?, settled))
        },
    )
    .await
}

/// A version's signature: the version (with the summary), the files it
/// covers and the bundle; NOT_FOUND when none is attached.
pub async fn version_signature<T: Tx>(
    tx: &mut T,
    target: VersionRef,
) -> DomainResult<(ModelVersion, Vec<SignedFile>, String)> {
    let version = get_version(tx, target).await?;
    match tx.signature_details(&version.id).await? {
        Some((files, bundle)) => Ok((version, files, bundle)),
        None => Err(DomainError::NotFound(format!(
            "version {} of model {:?} has no signature attached (AttachSignature adds one)",
            version.version,
            version.model_name.as_str()
        ))),
    }
}

/// Reads one version.
pub async fn get_version<T: Tx>(tx: &mut T, target: VersionRef) -> DomainResult<ModelVersion> {
    match tx.find_version(&target).await? {
        Some(version) => Ok(version),
        None => Err(version_not_found(tx, &target).await),
    }
}

/// Lists versions with filters, ordering and keyset pagination.
pub async fn list_versions<T: Tx>(
    tx: &mut T,
    query: VersionQuery,
) -> DomainResult<Page<ModelVersion, VersionCursor>> {
    if let Some(cursor) = &query.after
        && (cursor.order != query.order || cursor.descending != query.descending)
    {
        return Err(VersionCursor::foreign_ordering());
    }
    let model_id = match &query.model_name {
        Some(name) => Some(tx.find_model(name).await?.id),
        None => None,
    };
    tx.list_versions(&query, model_id).await
}

/// Finds the version with the best value of a metric (ACTIVE versions
/// unless the query names statuses).
pub async fn best_version<T: Tx>(
    tx: &mut T,
    query: BestVersionQuery,
) -> DomainResult<(ModelVersion, f64)> {
    let model = tx.find_model(&query.model_name).await?;
    let statuses = if query.statuses.is_empty() {
        vec![VersionStatus::Active]
    } else {
        query.statuses
    };
    match tx
        .best_version(model.id, &query.metric, &statuses, query.lowest)
        .await?
    {
        Some((row, value)) => Ok((tx.with_aliases(row, model.name).await?, value)),
        None => Err(DomainError::NotFound(format!(
            "model {:?} has no version in status {} with metric {:?}",
            query.model_name.as_str(),
            statuses
                .iter()
                .map(|status| status.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
            query.metric
        ))),
    }
}

/// The model of the version `target` names; NOT_FOUND when there is none.
async fn model_of<T: Tx>(tx: &mut T, target: &VersionRef) -> DomainResult<ModelName> {
    match target {
        VersionRef::Number(name, _) => Ok(name.clone()),
        VersionRef::Id(id) => match tx.model_of_version(id).await? {
            Some(name) => Ok(name),
            None => Err(version_not_found(tx, target).await),
        },
    }
}

/// Locks the model of a version and reads the version.
async fn lock_version<T: Tx>(
    tx: &mut T,
    target: &VersionRef,
) -> DomainResult<(LockedModel, VersionRow)> {
    let (model, row) = match target {
        VersionRef::Number(name, version) => {
            let model = tx.lock_model(name).await?;
            let row = tx.version_row(model.row.id, *version).await?;
            (model, row)
        }
        VersionRef::Id(id) => {
            let model = model_of(tx, target).await?;
            let model = tx.lock_model(&model).await?;
            let row = tx.version_row_by_id(id).await?;
            (model, row)
        }
    };
    match row {
        Some(row) => Ok((model, row)),
        None => Err(version_not_found(tx, target).await),
    }
}

/// Locks a version's model for a change by `caller` and reads the
/// version, refusing it when frozen (`doing` says what was refused): the
/// model's row, the version's and the change's time.
async fn lock_unfrozen_version<T: Tx>(
    tx: &mut T,
    caller: &Caller,
    target: &VersionRef,
    doing: &str,
) -> DomainResult<(ModelRow, VersionRow, DateTime<Utc>)> {
    let (locked, row) = lock_version(tx, target).await?;
    let now = change_time(&locked);
    let model = locked.row;
    caller.check_model(&ModelName::from_stored(model.name.clone()))?;
    super::freezes::check_version_unfrozen(tx, &model, row.version, now, doing).await?;
    Ok((model, row, now))
}

/// The NOT_FOUND for a version, saying whether the model or only the
/// version is missing.
async fn version_not_found<T: Tx>(tx: &mut T, target: &VersionRef) -> DomainError {
    match target {
        VersionRef::Id(id) => DomainError::NotFound(format!("there is no version with id {id:?}")),
        VersionRef::Number(name, version) => match tx.find_model(name).await {
            Ok(model) => DomainError::NotFound(format!(
                "model {name:?} has no version {version} (its versions are 1 to {})",
                model.next_version - 1
            )),
            Err(error) => error,
        },
    }
}

/// The time of a change to model `model_id`: now, but never before the
/// model's last event, whatever this replica's clock says, so `as_of` and
/// the trail's order by time agree with the order of changes.
pub fn change_time(model: &LockedModel) -> DateTime<Utc> {
    let now = time::now();
    match model.last_event_at {
        Some(last) if last > now => last,
        _ => now,
    }
}
