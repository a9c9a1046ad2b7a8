//! Use cases of models: update, and the reads.

use super::idempotent::idempotent;
use super::versions::change_time;
use crate::domain::commands::{Caller, ModelQuery, UpdateModel};
use crate::domain::idempotency::Outcome;
use crate::domain::page::{ModelCursor, Page};
use crate::domain::{DomainResult, EventKind, Model, ModelName};
use crate::store::{NewEventRow, Tx};

/// Changes a model's description and tags; see `RegistryService.UpdateModel`.
pub async fn update_model<T: Tx>(
    tx: &mut T,
    command: UpdateModel,
    caller: Caller,
) -> DomainResult<Model> {
    caller.check_model(&command.model_name)?;
    let model = command.model_name.clone();
    idempotent(
        tx,
        &caller,
        "UpdateModel",
        &model,
        command,
        async |tx, command, claim| {
            let locked = tx.lock_model(&command.model_name).await?;
            let now = change_time(&locked);
            let mut model = locked.row;
            let tags = command.apply_to_tags(model.tags()?)?;
            tx.save_model_details(&mut model, command.description, &tags, now)
                .await?;
            let mut event = NewEventRow::new(EventKind::ModelUpdated, model.id, &caller, now);
            event.reason = command.reason;
            let outcome = Outcome::Model {
                name: model.name.clone(),
            };
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            Ok((tx.model_with_aliases(model).await?, settled))
        },
    )
    .await
}

/// Reads one model with its aliases.
pub async fn get_model<T: Tx>(tx: &mut T, name: ModelName) -> DomainResult<Model> {
    let row = tx.find_model(&name).await?;
    tx.model_with_aliases(row).await
}

/// Lists models by name.
pub async fn list_models<T: Tx>(
    tx: &mut T,
    query: ModelQuery,
) -> DomainResult<Page<Model, ModelCursor>> {
    tx.list_models(&query).await
}
