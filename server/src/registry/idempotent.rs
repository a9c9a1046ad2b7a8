//! Retries answered once: every change runs through [`idempotent`], which
//! fingerprints the command, claims the caller's request key in the
//! change's own transaction, replays the first call's answer when the key
//! was used before, and hands the change a [`Claim`] it must settle (the
//! only way to make the [`Settled`] it returns), so no change forgets to
//! record its outcome.

use std::future::Future;

use serde::Serialize;

use crate::domain::commands::{AliasMoved, Caller};
use crate::domain::idempotency::{Fingerprint, Outcome};
use crate::domain::{
    ChangeQueue, DomainError, DomainResult, Model, ModelName, ModelVersion, VersionRef, time,
};
use crate::store::{KeyOutcome, NewEventRow, RequestKeyRow, Tx};

/// The caller's request key, claimed by this change (or no key at all).
#[must_use = "a claimed request key must be settled with the change's outcome"]
pub struct Claim {
    key: Option<(String, String)>,
}

/// Proof that a change recorded its outcome under its request key.
pub struct Settled(());

impl Claim {
    /// Records what the change answers, so a retry answers the same, for
    /// a change that writes no event (it replays an earlier one, or changes
    /// nothing).
    pub async fn settle<T: Tx>(self, tx: &mut T, outcome: Outcome) -> DomainResult<Settled> {
        if let Some((principal, request_id)) = &self.key {
            tx.settle_request_key(principal, request_id, outcome.to_json())
                .await?;
        }
        Ok(Settled(()))
    }

    /// Records what the change answers, as [`Claim::settle`], and appends
    /// the change's events (its last statements, sent together): their ids
    /// in order.
    pub async fn settle_with_events<T: Tx>(
        self,
        tx: &mut T,
        outcome: Outcome,
        events: Vec<NewEventRow>,
    ) -> DomainResult<(Settled, Vec<i64>)> {
        let outcome = self.key.map(|(principal, request_id)| KeyOutcome {
            principal,
            request_id,
            outcome: outcome.to_json(),
        });
        let ids = tx.append_events(outcome, events).await?;
        Ok((Settled(()), ids))
    }
}

/// Runs `change` once per request key: a retry of the same request (same
/// method and fingerprint) gets the first call's answer, a different
/// request under a used key ALREADY_EXISTS, and a second call racing the
/// first waits for it (the key's row is claimed in this transaction).
pub async fn idempotent<T, C, O, F>(
    tx: &mut T,
    caller: &Caller,
    method: &'static str,
    queue: impl Into<ChangeQueue<'_>>,
    command: C,
    change: F,
) -> DomainResult<O>
where
    T: Tx,
    C: Serialize,
    O: Replay,
    F: AsyncFnOnce(&mut T, C, Claim) -> DomainResult<(O, Settled)>,
{
    // First, before any write: the change's place among the changes to its
    // model (and in the change feed, see `FeedPosition`); a retry racing
    // the first call waits there for it, then replays it.
    let queue = queue.into();
    let claim = match &caller.idempotency_key {
        None => {
            tx.queue_for_changes(queue).await?;
            Claim { key: None }
        }
        Some(request_id) => {
            let fingerprint = Fingerprint::of(method, &command);
            let first = tx
                .queue_and_claim_request_key(
                    queue,
                    RequestKeyRow::claimed(
                        caller.identity.clone(),
                        request_id.clone(),
                        method,
                        fingerprint.to_json(),
                        time::now(),
                    ),
                )
                .await?;
            if let Some(first) = first {
                fingerprint
                    .check_same_as(&Fingerprint::from_json(&first.fingerprint)?, request_id)?;
                return O::replay(tx, Outcome::from_json(&first.outcome)?).await;
            }
            Claim {
                key: Some((caller.identity.clone(), request_id.clone())),
            }
        }
    };
    let (answer, Settled(())) = change(tx, command, claim).await?;
    Ok(answer)
}

/// An answer a retry can rebuild from the stored [`Outcome`].
pub trait Replay: Sized {
    /// The answer the first call gave, read again.
    fn replay<T: Tx>(
        tx: &mut T,
        outcome: Outcome,
    ) -> impl Future<Output = DomainResult<Self>> + Send;
}

impl Replay for ModelVersion {
    async fn replay<T: Tx>(tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::Version { id } => super::versions::get_version(tx, VersionRef::Id(id)).await,
            other => Err(mismatch(other)),
        }
    }
}

impl Replay for AliasMoved {
    async fn replay<T: Tx>(tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::AliasMoved {
                version_id,
                previous,
                unchanged,
            } => Ok(AliasMoved {
                version: super::versions::get_version(tx, VersionRef::Id(version_id)).await?,
                previous,
                unchanged,
            }),
            other => Err(mismatch(other)),
        }
    }
}

impl Replay for Model {
    async fn replay<T: Tx>(tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::Model { name } => {
                super::models::get_model(tx, ModelName::from_stored(name)).await
            }
            other => Err(mismatch(other)),
        }
    }
}

/// The version a deleted alias pointed at.
impl Replay for i64 {
    async fn replay<T: Tx>(_tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::AliasDeleted { previous } => Ok(previous),
            other => Err(mismatch(other)),
        }
    }
}

pub(super) fn mismatch(outcome: Outcome) -> DomainError {
    DomainError::Internal(format!("a stored outcome of the wrong kind: {outcome:?}"))
}
