//! Use cases of governed promotion: change requests (made, approved,
//! rejected, cancelled, read), and the evidence a policy asks of a
//! candidate (policies themselves are in `policies.rs`). The final
//! approval applies the move in the same transaction, against the alias
//! state the request was made on.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::aliases::{AliasMove, record_move};
use super::idempotent::{Settled, idempotent};
use super::versions::change_time;
use crate::domain::access::Role;
use crate::domain::alias::{self, AliasName};
use crate::domain::commands::{Caller, DecideRequest, RequestMove, RequestQuery};
use crate::domain::governance::{
    AliasPolicy, Approval, ChangeRequest, Evidence, MAX_OPEN_REQUESTS_PER_ALIAS, RequestState,
    check_evidence, check_new_request,
};
use crate::domain::idempotency::Outcome;
use crate::domain::page::{Page, RequestCursor};
use crate::domain::signature::{SignatureStanding, TrustCheck};
use crate::domain::{DomainError, DomainResult, EventKind, ModelName, time};
use crate::store::{
    ModelRow, NewChangeRequestRow, NewEventRow, RequestDecisionRow, Tx, VersionRow, from_db_time,
    to_db_time, to_json,
};

/// Refuses a candidate lacking the evidence `policy` requires, reading
/// what it needs: the current version's metrics (for a gate) and where
/// the soak alias points and since when.
pub async fn check_policy_evidence<T: Tx>(
    tx: &mut T,
    trust: &dyn TrustCheck,
    model: &ModelRow,
    policy: &AliasPolicy,
    candidate: &VersionRow,
    current: Option<i64>,
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let rules = &policy.rules;
    let candidate_signature =
        signature_standing(tx, trust, model, candidate, rules.require_signature).await?;
    let current_metrics = match (current, &rules.gate) {
        (Some(version), Some(_)) => tx
            .version_row(model.id, version)
            .await?
            .map(|row| row.metrics())
            .transpose()?,
        _ => None,
    };
    let soak_alias_holds = match &rules.soak {
        Some(soak) => match tx.alias_row(model.id, &soak.alias).await? {
            Some(row) => Some((
                row.version,
                from_db_time(tx.event(row.event_id).await?.occurred_at),
            )),
            None => None,
        },
        None => None,
    };
    let candidate_metrics = candidate.metrics()?;
    check_evidence(
        &policy.alias,
        rules,
        &Evidence {
            candidate: (candidate.version, candidate.status()?, &candidate_metrics),
            candidate_signature,
            current: current.zip(current_metrics.as_ref()),
            soak_alias_holds,
            now,
        },
    )
}

/// Where `candidate` stands for a policy requiring a signature: when
/// `required`, its signature (if any) is verified again against the trust
/// file as it is now, so a revoked signer's versions stop qualifying;
/// otherwise only whether one is attached (no read, no verification).
pub async fn signature_standing<T: Tx>(
    tx: &mut T,
    trust: &dyn TrustCheck,
    model: &ModelRow,
    candidate: &VersionRow,
    required: bool,
) -> DomainResult<SignatureStanding> {
    let Some(summary) = candidate.signature()? else {
        return Ok(SignatureStanding::Unsigned);
    };
    if !required {
        return Ok(SignatureStanding::Trusted);
    }
    let Some((_, bundle)) = tx.signature_details(&candidate.id).await? else {
        return Ok(SignatureStanding::Unsigned);
    };
    let name = ModelName::from_stored(model.name.clone());
    Ok(match trust.distrust(&bundle, &name, summary.verified_at) {
        Some(why) => SignatureStanding::Distrusted(why),
        None => SignatureStanding::Trusted,
    })
}

/// Asks for an alias to move; see `RegistryService.CreateAliasChangeRequest`.
/// The alias must have a policy, and the candidate its evidence.
pub async fn create_request<T: Tx>(
    tx: &mut T,
    command: RequestMove,
    caller: Caller,
    trust: Arc<dyn TrustCheck>,
) -> DomainResult<ChangeRequest> {
    caller.check_alias(&command.model_name, &command.alias)?;
    let model = command.model_name.clone();
    idempotent(
        tx,
        &caller,
        "CreateAliasChangeRequest",
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
            super::freezes::check_freeze_row(
                &model,
                state.freeze.take(),
                now,
                "requesting a move",
            )?;
            let Some(policy) = super::policies::policy_from_rows(
                &model,
                state.policy.take(),
                state.inherited.take(),
            )?
            else {
                return Err(DomainError::FailedPrecondition(format!(
                    "alias {alias:?} of model {:?} has no policy, so nobody approves its moves; \
                     move it with SetModelAlias, or ask an admin for a policy \
                     (SetAliasPolicy)",
                    model.name
                )));
            };
            let Some(candidate) = state.candidate else {
                return Err(DomainError::NotFound(format!(
                    "model {:?} has no version {}",
                    model.name, command.version
                )));
            };
            let current = state.current.as_ref().map(|row| row.version);
            alias::check_expected_current(alias, command.expected_current, current)?;
            if current == Some(command.version) {
                return Err(DomainError::FailedPrecondition(format!(
                    "alias {alias:?} points at version {} already",
                    command.version
                )));
            }
            check_policy_evidence(tx, &*trust, &model, &policy, &candidate, current, now).await?;
            let limit = i64::try_from(MAX_OPEN_REQUESTS_PER_ALIAS).unwrap_or(i64::MAX);
            let open = tx
                .open_requests_of_alias(model.id, alias, now, limit)
                .await?;
            check_new_request(alias, command.version, &open)?;
            let expires_at = now + chrono::Duration::seconds(policy.rules.request_ttl_seconds);
            let id = tx
                .insert_change_request(NewChangeRequestRow {
                    model_id: model.id,
                    alias: alias.as_str().to_owned(),
                    version: command.version,
                    from_version: current,
                    from_event_id: state.current.as_ref().map(|row| row.event_id),
                    required_approvals: i64::from(policy.rules.required_approvals),
                    reason: command.reason.clone(),
                    requester: caller.identity.clone(),
                    state: RequestState::Pending.as_str().to_owned(),
                    approvals: "[]".to_owned(),
                    created_at: to_db_time(now),
                    expires_at: to_db_time(expires_at),
                })
                .await?;
            tx.touch_model(model.id, now).await?;
            let mut event =
                request_event(EventKind::ChangeRequested, &model, alias, id, &caller, now);
            event.version = Some(command.version);
            event.previous_version = current;
            event.reason = command.reason;
            let outcome = Outcome::ChangeRequest { id };
            let (settled, _) = claim.settle_with_events(tx, outcome, vec![event]).await?;
            let request = read_request(tx, id, now).await?;
            Ok((request, settled))
        },
    )
    .await
}

/// An event about change request `id`.
fn request_event(
    kind: EventKind,
    model: &ModelRow,
    alias: &AliasName,
    id: i64,
    caller: &Caller,
    now: DateTime<Utc>,
) -> NewEventRow {
    let mut event = NewEventRow::new(kind, model.id, caller, now);
    event.alias = Some(alias.as_str().to_owned());
    event.change_request_id = Some(id);
    event
}

impl super::idempotent::Replay for ChangeRequest {
    async fn replay<T: Tx>(tx: &mut T, outcome: Outcome) -> DomainResult<Self> {
        match outcome {
            Outcome::ChangeRequest { id } => read_request(tx, id, time::now()).await,
            other => Err(super::idempotent::mismatch(other)),
        }
    }
}

async fn read_request<T: Tx>(
    tx: &mut T,
    id: i64,
    now: DateTime<Utc>,
) -> DomainResult<ChangeRequest> {
    match tx.change_request(id).await? {
        Some((row, model)) => row.into_domain(model, now),
        None => Err(DomainError::NotFound(format!(
            "there is no change request {id}"
        ))),
    }
}

/// Reads a change request.
pub async fn get_request<T: Tx>(tx: &mut T, id: i64) -> DomainResult<ChangeRequest> {
    read_request(tx, id, time::now()).await
}

/// Lists change requests, newest first.
pub async fn list_requests<T: Tx>(
    tx: &mut T,
    query: RequestQuery,
) -> DomainResult<Page<ChangeRequest, RequestCursor>> {
    tx.list_change_requests(&query, time::now()).await
}

/// How a decider acts on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// ApproveAliasChangeRequest.
    Approve,
    /// RejectAliasChangeRequest.
    Reject,
    /// CancelAliasChangeRequest.
    Cancel,
}

impl Decision {
    /// The RegistryService method that makes this decision.
    pub fn method(self) -> &'static str {
        match self {
            Self::Approve => "ApproveAliasChangeRequest",
            Self::Reject => "RejectAliasChangeRequest",
            Self::Cancel => "CancelAliasChangeRequest",
        }
    }
}

/// Approves, rejects or cancels a change request; see
/// `RegistryService.ApproveAliasChangeRequest` and its siblings. The
/// approval that completes the request applies the move, or records why it
/// could not (state FAILED): the alias moved since the request was made, or
/// the evidence no longer holds.
pub async fn decide<T: Tx>(
    tx: &mut T,
    command: DecideRequest,
    decision: Decision,
    caller: Caller,
    trust: Arc<dyn TrustCheck>,
) -> DomainResult<ChangeRequest> {
    // Which model's queue to wait in: read before it, and read again in it.
    let model = read_request(tx, command.id, time::now()).await?.model_name;
    idempotent(
        tx,
        &caller,
        decision.method(),
        &model,
        command,
        async |tx, command, claim| {
            let locked = tx.lock_model(&model).await?;
            let now = change_time(&locked);
            let model = locked.row;
            let Some((row, _)) = tx.change_request(command.id).await? else {
                return Err(DomainError::Internal(format!(
                    "change request {} vanished",
                    command.id
                )));
            };
            let from_event_id = row.from_event_id;
            let mut request = row.into_domain(model.name.clone(), now)?;
            request.check_open(now)?;
            let policy = super::policies::policy_of(tx, &model, &request.alias).await?;
            let approver_role = policy
                .as_ref()
                .map_or(Role::Deployer, |p| p.rules.approver_role);
            let mut events = Vec::new();
            let decided = |request: &mut ChangeRequest, state, note: String| {
                request.state = state;
                request.decided_at = Some(now);
                request.decided_by = Some(caller.identity.clone());
                request.decision_note = note;
            };
            let kind = match decision {
                Decision::Reject => {
                    request.check_rejecter(&caller, approver_role)?;
                    decided(
                        &mut request,
                        RequestState::Rejected,
                        command.comment.clone(),
                    );
                    EventKind::ChangeRejected
                }
                Decision::Cancel => {
                    request.check_canceller(&caller)?;
                    decided(
                        &mut request,
                        RequestState::Cancelled,
                        command.comment.clone(),
                    );
                    EventKind::ChangeCancelled
                }
                Decision::Approve => {
                    request.check_approver(&caller, approver_role)?;
                    request.approvals.push(Approval {
                        principal: caller.identity.clone(),
                        comment: command.comment.clone(),
                        at: now,
                    });
                    EventKind::ChangeApproved
                }
            };
            let mut event = request_event(kind, &model, &request.alias, request.id, &caller, now);
            event.version = Some(request.version);
            event.reason = command.comment;
            events.push(event);
            let required = policy
                .as_ref()
                .map_or(request.required_approvals, |p| p.rules.required_approvals);
            let complete = decision == Decision::Approve
                && request.approvals.len() >= usize::try_from(required).unwrap_or(usize::MAX);
            let outcome = Outcome::ChangeRequest { id: request.id };
            if !complete {
                save(tx, &request).await?;
                tx.touch_model(model.id, now).await?;
                let (settled, _) = claim.settle_with_events(tx, outcome, events).await?;
                return Ok((request, settled));
            }
            // The last approval: apply the move, against the alias state the
            // request was made on, with the evidence as it stands now. A
            // frozen alias refuses it, and the request stays pending.
            let alias = request.alias.clone();
            let mut state = tx
                .alias_move_state(&model, &alias, Some(request.version))
                .await?;
            super::freezes::check_freeze_row(
                &model,
                state.freeze.take(),
                now,
                "applying a request",
            )?;
            let current = state.current.as_ref().map(|row| row.version);
            let failure = match state.candidate {
                _ if state.current.as_ref().map(|row| row.event_id) != from_event_id => {
                    Some(format!(
                        "alias {alias:?} moved since the request was made: it pointed at {} \
                         then and points at {} now; make a new request against the current \
                         state",
                        describe(request.from_version),
                        describe(current)
                    ))
                }
                None => Some(format!("version {} no longer exists", request.version)),
                Some(ref candidate) => match &policy {
                    Some(policy) => {
                        check_policy_evidence(tx, &*trust, &model, policy, candidate, current, now)
                            .await
                            .err()
                            .map(|e| e.to_string())
                    }
                    None => alias::check_holdable(&alias, request.version, candidate.status()?)
                        .err()
                        .map(|e| e.to_string()),
                },
            };
            if let Some(note) = failure {
                decided(&mut request, RequestState::Failed, note.clone());
                save(tx, &request).await?;
                tx.touch_model(model.id, now).await?;
                let mut failed = request_event(
                    EventKind::ChangeFailed,
                    &model,
                    &alias,
                    request.id,
                    &caller,
                    now,
                );
                failed.version = Some(request.version);
                failed.reason = note;
                events.push(failed);
                let (settled, _) = claim.settle_with_events(tx, outcome, events).await?;
                return Ok((request, settled));
            }
            let target = state
                .candidate
                .ok_or_else(|| DomainError::Internal("the candidate vanished".to_owned()))?;
            decided(&mut request, RequestState::Applied, String::new());
            save(tx, &request).await?;
            let mut moved = NewEventRow::new(EventKind::AliasSet, model.id, &caller, now);
            moved.change_request_id = Some(request.id);
            moved.reason = request.reason.clone();
            moved.rollback_event_id = alias::rollback_pointer_of_move(
                state
                    .latest_event
                    .as_ref()
                    .map(crate::store::EventRow::alias_entry)
                    .as_ref(),
            );
            let to = AliasMove {
                model,
                alias,
                current,
                target,
                now,
            };
            let (_, settled): (_, Settled) =
                record_move(tx, claim, to, events, moved, outcome).await?;
            Ok((request, settled))
        },
    )
    .await
}

/// Stores a request's approvals and decision.
async fn save<T: Tx>(tx: &mut T, request: &ChangeRequest) -> DomainResult<()> {
    tx.save_request_decision(
        request.id,
        RequestDecisionRow {
            state: request.state.as_str().to_owned(),
            approvals: to_json(&request.approvals)?,
            decided_at: request.decided_at.map(to_db_time),
            decided_by: request.decided_by.clone(),
            decision_note: request.decision_note.clone(),
        },
    )
    .await
}

fn describe(version: Option<i64>) -> String {
    version.map_or_else(|| "no version".to_owned(), |v| format!("version {v}"))
}
