//! Governed promotion end to end: alias policies, protected aliases that
//! move only through a change request approved by another principal,
//! evidence checked when a move is requested and again when it is applied,
//! break-glass moves by an admin, expiry, and approvals racing each other
//! (across replicas on PostgreSQL).

use std::sync::Arc;
use std::time::{Duration, Instant};

use model_registry_api::v1 as pb;
use model_registry_server::auth::{Authenticator, hash_token};
use model_registry_server::server::ServeOptions;
use tonic::Code;
use tonic_types::StatusExt;

use model_registry_e2e::{
    Backend, TestServer, TokenClient, client_with_token, on_both_backends, registration,
};

on_both_backends!(
    backend: a_protected_alias_moves_only_through_a_request_another_principal_approves,
    a_request_fails_when_the_alias_moved_since_it_was_made,
    evidence_is_checked_when_a_move_is_requested_and_again_when_it_is_applied,
    approvers_must_qualify_and_requests_end_once,
    an_expired_request_cannot_be_approved,
    policies_are_versioned_audited_and_checked,
    concurrent_approvals_apply_a_request_exactly_once,
    a_frozen_alias_refuses_every_move_and_a_frozen_version_every_change,
    an_alias_has_one_open_request_per_version_and_a_bounded_queue,
    a_protected_alias_keeps_the_versions_its_rollbacks_reach,
);

/// Deployers that approve concurrently.
const APPROVERS: usize = 6;

fn tokens_file(dir: &std::path::Path) -> std::path::PathBuf {
    let hex = |token: &str| -> String {
        hash_token(token)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let mut principals = vec![
        ("alice".to_owned(), "deployer"),
        ("bob".to_owned(), "deployer"),
        ("carol".to_owned(), "deployer"),
        ("ops".to_owned(), "admin"),
        ("dave".to_owned(), "trainer"),
        // An admin of the `fraud-` models only.
        ("fraud-ops".to_owned(), "admin"),
    ];
    principals.extend((0..APPROVERS).map(|i| (format!("approver-{i}"), "deployer")));
    let mut text = String::new();
    for (name, role) in principals {
        let limits = if name == "fraud-ops" {
            "model_prefixes = [\"fraud-\"]\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "[[principal]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n{limits}\n",
            hex(&format!("{name}-token"))
        ));
    }
    let path = dir.join("tokens.toml");
    model_registry_e2e::write_tokens_file(&path, &text);
    path
}

pub(crate) struct Governed {
    server: TestServer,
    dir: tempfile::TempDir,
}

impl Governed {
    pub(crate) async fn start(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let server = TestServer::builder(backend)
            .options(options(dir.path()))
            .start()
            .await?;
        Some(Self { server, dir })
    }

    pub(crate) fn as_(&self, name: &str) -> TokenClient {
        client_with_token(&self.server, Some(&format!("{name}-token")))
    }

    /// Registers `churn` with versions 1.. at these AUCs, production at 1.
    async fn seed(&self, aucs: &[f64]) {
        let mut ops = self.as_("ops");
        for auc in aucs {
            ops.register_model(registration("churn", *auc))
                .await
                .unwrap();
        }
        ops.set_production_model(pb::SetProductionModelRequest {
            model_name: "churn".into(),
            version: 1,
            reason: "first".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }

    async fn set_policy(&self, policy: pb::AliasPolicy) -> pb::AliasPolicy {
        self.as_("ops")
            .set_alias_policy(pb::SetAliasPolicyRequest {
                policy: Some(policy),
                reason: "governance".into(),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .policy
            .unwrap()
    }
}

fn options(dir: &std::path::Path) -> ServeOptions {
    ServeOptions {
        authenticator: Arc::new(Authenticator::from_file(&tokens_file(dir)).unwrap()),
        ..ServeOptions::default()
    }
}

/// A protected `production` of `churn` needing `approvals`.
fn protected(approvals: i32) -> pb::AliasPolicy {
    pb::AliasPolicy {
        model_name: "churn".into(),
        alias: "production".into(),
        protected: true,
        required_approvals: approvals,
        ..Default::default()
    }
}

async fn request(
    client: &mut TokenClient,
    version: i64,
) -> Result<pb::AliasChangeRequest, tonic::Status> {
    client
        .create_alias_change_request(pb::CreateAliasChangeRequestRequest {
            model_name: "churn".into(),
            alias: "production".into(),
            version,
            reason: format!("promote {version}"),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().change_request.unwrap())
}

async fn approve(
    client: &mut TokenClient,
    id: i64,
    comment: &str,
) -> Result<pb::AliasChangeRequest, tonic::Status> {
    client
        .approve_alias_change_request(pb::ApproveAliasChangeRequestRequest {
            id,
            comment: comment.into(),
            request_id: String::new(),
        })
        .await
        .map(|r| r.into_inner().change_request.unwrap())
}

async fn production(client: &mut TokenClient) -> i64 {
    client
        .get_production_model(pb::GetProductionModelRequest {
            model_name: "churn".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap()
        .version
}

async fn events(client: &mut TokenClient) -> Vec<pb::Event> {
    client
        .list_events(pb::ListEventsRequest {
            model_name: "churn".into(),
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events
}

/// The next message of a watch, within ten seconds.
async fn next_update(stream: &mut tonic::Streaming<pb::AliasUpdate>) -> pb::AliasUpdate {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an update within ten seconds")
        .unwrap()
        .expect("the stream stays open")
}

pub(crate) fn state(request: &pb::AliasChangeRequest) -> pb::ChangeRequestState {
    pb::ChangeRequestState::try_from(request.state).unwrap()
}

async fn a_protected_alias_moves_only_through_a_request_another_principal_approves(
    backend: Backend,
) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    governed.seed(&[0.81, 0.83, 0.85]).await;
    let policy = governed.set_policy(protected(1)).await;
    assert_eq!((policy.revision, policy.updated_by.as_str()), (1, "ops"));
    let (mut alice, mut bob, mut ops) = (
        governed.as_("alice"),
        governed.as_("bob"),
        governed.as_("ops"),
    );

    // Every direct change is refused, naming the policy and the flow.
    let direct = alice
        .set_production_model(pb::SetProductionModelRequest {
            model_name: "churn".into(),
            version: 2,
            reason: "just do it".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(direct.code(), Code::FailedPrecondition, "{direct:?}");
    assert!(
        direct.message().contains("CreateAliasChangeRequest"),
        "{direct:?}"
    );
    let details = direct.get_error_details();
    let violation = &details.precondition_failure().unwrap().violations[0];
    assert_eq!(violation.r#type, "ALIAS_PROTECTED");
    assert_eq!(violation.subject, "models/churn/aliases/production");
    let via_alias = alice
        .set_model_alias(pb::SetModelAliasRequest {
            model_name: "churn".into(),
            alias: "production".into(),
            version: 2,
            reason: "sideways".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(via_alias.code(), Code::FailedPrecondition);
    let delete = alice
        .delete_model_alias(pb::DeleteModelAliasRequest {
            model_name: "churn".into(),
            alias: "production".into(),
            reason: "gone".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(delete.code(), Code::FailedPrecondition);
    assert_eq!(production(&mut alice).await, 1);

    // A deployer watching production hears of the move only, not of the
    // request and approval that lead to it.
    let mut watch = bob
        .watch_production_model(pb::WatchProductionModelRequest {
            model_name: "churn".into(),
            after_event_id: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let initial = next_update(&mut watch).await;
    assert!(initial.initial);

    // The requester cannot approve; another deployer's approval applies it.
    let made = request(&mut alice, 2).await.unwrap();
    assert_eq!(state(&made), pb::ChangeRequestState::Pending);
    assert_eq!(
        (made.from_version, made.requester.as_str()),
        (Some(1), "alice")
    );
    let own = approve(&mut alice, made.id, "lgtm").await.unwrap_err();
    assert_eq!(own.code(), Code::PermissionDenied);
    assert!(own.message().contains("two-person rule"), "{own:?}");
    assert_eq!(production(&mut alice).await, 1);
    let applied = approve(&mut bob, made.id, "numbers check out")
        .await
        .unwrap();
    assert_eq!(state(&applied), pb::ChangeRequestState::Applied);
    assert_eq!(applied.decided_by, "bob");
    assert_eq!(applied.approvals[0].principal, "bob");
    assert_eq!(production(&mut alice).await, 2);
    let moved = next_update(&mut watch).await;
    let event = moved.event.unwrap();
    assert_eq!(
        (
            moved.model_version.unwrap().version,
            event.r#type,
            event.change_request_id
        ),
        (2, pb::EventType::AliasSet as i32, Some(made.id))
    );
    drop(watch);

    // The trail: request, approval and move, with both actors.
    let trail: Vec<(i32, String, Option<i64>)> = events(&mut ops)
        .await
        .into_iter()
        .filter(|e| e.change_request_id == Some(made.id))
        .map(|e| (e.r#type, e.actor, e.new_version))
        .collect();
    assert_eq!(
        trail,
        [
            (pb::EventType::ChangeRequested as i32, "alice".into(), None),
            (pb::EventType::ChangeApproved as i32, "bob".into(), None),
            (pb::EventType::AliasSet as i32, "bob".into(), Some(2)),
        ]
    );

    // Rollback stays the emergency action (recorded), and walks the alias's
    // own history past the request's events.
    let back = alice
        .rollback_production_model(pb::RollbackProductionModelRequest {
            model_name: "churn".into(),
            reason: "error rate up".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.model_version.unwrap().version, 1);

    // Break-glass: refused to a deployer, allowed to an admin, flagged.
    let glass = |version| pb::SetProductionModelRequest {
        model_name: "churn".into(),
        version,
        reason: "incident 42".into(),
        emergency: true,
        ..Default::default()
    };
    let refused = alice.set_production_model(glass(3)).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    ops.set_production_model(glass(3)).await.unwrap();
    assert_eq!(production(&mut alice).await, 3);
    let last = events(&mut ops).await.pop().unwrap();
    assert_eq!(
        (last.r#type, last.emergency, last.actor.as_str()),
        (pb::EventType::AliasSet as i32, true, "ops")
    );
    assert!(
        events(&mut ops)
            .await
            .iter()
            .filter(|e| e.emergency)
            .count()
            == 1,
        "only the break-glass move is flagged"
    );

    // Without the policy, the old shortcuts work again.
    ops.delete_alias_policy(pb::DeleteAliasPolicyRequest {
        model_name: "churn".into(),
        alias: "production".into(),
        reason: "release freeze over".into(),
        request_id: String::new(),
        ..Default::default()
    })
    .await
    .unwrap();
    alice
        .set_production_model(pb::SetProductionModelRequest {
            model_name: "churn".into(),
            version: 2,
            reason: "direct again".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(production(&mut alice).await, 2);
}

async fn a_request_fails_when_the_alias_moved_since_it_was_made(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    governed.seed(&[0.81, 0.83, 0.85, 0.86, 0.87]).await;
    governed.set_policy(protected(1)).await;
    let (mut alice, mut bob, mut ops) = (
        governed.as_("alice"),
        governed.as_("bob"),
        governed.as_("ops"),
    );
    let made = request(&mut alice, 4).await.unwrap();
    assert_eq!(made.from_version, Some(1));
    // Someone else moves production (break-glass) before the approval.
    ops.set_production_model(pb::SetProductionModelRequest {
        model_name: "churn".into(),
        version: 5,
        reason: "hotfix".into(),
        emergency: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let failed = approve(&mut bob, made.id, "ok").await.unwrap();
    assert_eq!(state(&failed), pb::ChangeRequestState::Failed);
    assert!(
        failed
            .decision_note
            .contains("moved since the request was made"),
        "{}",
        failed.decision_note
    );
    assert_eq!(
        production(&mut bob).await,
        5,
        "a request made against 1 never moves 5"
    );
    let last: Vec<i32> = events(&mut ops)
        .await
        .iter()
        .rev()
        .take(2)
        .map(|e| e.r#type)
        .collect();
    assert_eq!(
        last,
        [
            pb::EventType::ChangeFailed as i32,
            pb::EventType::ChangeApproved as i32
        ]
    );
    // A failed request is over.
    let again = approve(&mut governed.as_("carol"), made.id, "me too")
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // Compare-and-set at request time too.
    let stale = alice
        .create_alias_change_request(pb::CreateAliasChangeRequestRequest {
            model_name: "churn".into(),
            alias: "production".into(),
            version: 3,
            reason: "stale view".into(),
            expected_current_version: Some(1),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
}

async fn evidence_is_checked_when_a_move_is_requested_and_again_when_it_is_applied(
    backend: Backend,
) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    // Version 2 is worse than production's 1; 3 and 4 are better.
    governed.seed(&[0.85, 0.80, 0.90, 0.91]).await;
    let mut policy = protected(1);
    policy.gate_metric = "auc".into();
    policy.gate_min_delta = 0.01;
    policy.soak_alias = "canary".into();
    policy.min_soak_seconds = 1;
    governed.set_policy(policy.clone()).await;
    let (mut alice, mut bob, mut ops) = (
        governed.as_("alice"),
        governed.as_("bob"),
        governed.as_("ops"),
    );
    let canary = |version| pb::SetModelAliasRequest {
        model_name: "churn".into(),
        alias: "canary".into(),
        version,
        reason: "soak".into(),
        ..Default::default()
    };

    // Below the gate: refused when asked.
    let worse = request(&mut alice, 2).await.unwrap_err();
    assert_eq!(worse.code(), Code::FailedPrecondition);
    assert!(worse.message().contains("metric gate"), "{worse:?}");
    // Not on canary: refused.
    let unsoaked = request(&mut alice, 3).await.unwrap_err();
    assert!(
        unsoaked.message().contains("is not on alias \"canary\""),
        "{unsoaked:?}"
    );
    // On canary, but not for long enough yet, then long enough.
    alice.set_model_alias(canary(3)).await.unwrap();
    let soaked = until_granted(&mut alice, 3).await;
    assert_eq!(state(&soaked), pb::ChangeRequestState::Pending);

    // The evidence changes before approval: canary moves on.
    alice.set_model_alias(canary(4)).await.unwrap();
    let failed = approve(&mut bob, soaked.id, "ok").await.unwrap();
    assert_eq!(state(&failed), pb::ChangeRequestState::Failed);
    assert!(
        failed.decision_note.contains("is not on alias \"canary\""),
        "{}",
        failed.decision_note
    );
    assert_eq!(production(&mut bob).await, 1);

    // The policy grows stricter before approval: the gate fails at apply time.
    let four = until_granted(&mut alice, 4).await;
    policy.gate_min_delta = 0.2;
    governed.set_policy(policy.clone()).await;
    let failed = approve(&mut bob, four.id, "ok").await.unwrap();
    assert_eq!(state(&failed), pb::ChangeRequestState::Failed);
    assert!(
        failed.decision_note.contains("metric gate"),
        "{}",
        failed.decision_note
    );

    // With the evidence in place, the approval applies.
    policy.gate_min_delta = 0.01;
    governed.set_policy(policy).await;
    let four = request(&mut alice, 4).await.unwrap();
    let applied = approve(&mut bob, four.id, "ok").await.unwrap();
    assert_eq!(state(&applied), pb::ChangeRequestState::Applied);
    assert_eq!(production(&mut ops).await, 4);
}

/// Retries a request refused only because the candidate has not soaked
/// long enough yet (the policies here need one second), for at most ten
/// seconds.
async fn until_granted(client: &mut TokenClient, version: i64) -> pb::AliasChangeRequest {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match request(client, version).await {
            Ok(made) => return made,
            Err(status)
                if status.message().contains("has been on alias") && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }
}

async fn approvers_must_qualify_and_requests_end_once(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    governed.seed(&[0.81, 0.83, 0.85]).await;
    let mut policy = protected(2);
    governed.set_policy(policy.clone()).await;
    let (mut alice, mut bob, mut carol, mut ops, mut dave) = (
        governed.as_("alice"),
        governed.as_("bob"),
        governed.as_("carol"),
        governed.as_("ops"),
        governed.as_("dave"),
    );

    // Two approvals: the first keeps it pending, a principal counts once, a
    // retried approval (same request_id) is answered once.
    let made = request(&mut alice, 2).await.unwrap();
    assert_eq!(made.required_approvals, 2);
    let first = pb::ApproveAliasChangeRequestRequest {
        id: made.id,
        comment: "first".into(),
        request_id: "bob-approves-1".into(),
    };
    let once = bob
        .approve_alias_change_request(first.clone())
        .await
        .unwrap();
    let retried = bob.approve_alias_change_request(first).await.unwrap();
    assert_eq!(
        once.into_inner().change_request,
        retried.into_inner().change_request
    );
    let twice = approve(&mut bob, made.id, "again").await.unwrap_err();
    assert_eq!(twice.code(), Code::FailedPrecondition, "{twice:?}");
    assert_eq!(production(&mut bob).await, 1);
    let trainer = approve(&mut dave, made.id, "me").await.unwrap_err();
    assert_eq!(trainer.code(), Code::PermissionDenied);
    let applied = approve(&mut carol, made.id, "second").await.unwrap();
    assert_eq!(state(&applied), pb::ChangeRequestState::Applied);
    assert_eq!(applied.approvals.len(), 2);
    assert_eq!(production(&mut bob).await, 2);

    // An admin-only approver role refuses deployers.
    policy.required_approvals = 1;
    policy.approver_role = "admin".into();
    governed.set_policy(policy).await;
    let next = request(&mut alice, 3).await.unwrap();
    let deployer = approve(&mut bob, next.id, "ok").await.unwrap_err();
    assert_eq!(deployer.code(), Code::PermissionDenied);
    assert!(deployer.message().contains("admin"), "{deployer:?}");

    // Rejection: not by the requester, with a comment that is kept as text.
    let reject = |id, comment: &str| pb::RejectAliasChangeRequestRequest {
        id,
        comment: comment.into(),
        request_id: String::new(),
    };
    let own = alice
        .reject_alias_change_request(reject(next.id, "nah"))
        .await
        .unwrap_err();
    assert_eq!(own.code(), Code::PermissionDenied);
    let hostile = "<script>alert(1)</script> DROP TABLE events; --";
    let rejected = ops
        .reject_alias_change_request(reject(next.id, hostile))
        .await
        .unwrap()
        .into_inner()
        .change_request
        .unwrap();
    assert_eq!(state(&rejected), pb::ChangeRequestState::Rejected);
    assert_eq!(rejected.decision_note, hostile);
    let late = approve(&mut ops, next.id, "ok").await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);

    // Cancellation: the requester or an admin, nobody else.
    let third = request(&mut alice, 3).await.unwrap();
    let cancel = |id| pb::CancelAliasChangeRequestRequest {
        id,
        comment: "changed my mind".into(),
        request_id: String::new(),
    };
    let other = bob
        .cancel_alias_change_request(cancel(third.id))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    let cancelled = alice
        .cancel_alias_change_request(cancel(third.id))
        .await
        .unwrap()
        .into_inner()
        .change_request
        .unwrap();
    assert_eq!(state(&cancelled), pb::ChangeRequestState::Cancelled);

    // Listings filter by state and requester, newest first, in pages.
    let list = |state: pb::ChangeRequestState, token: String| pb::ListAliasChangeRequestsRequest {
        model_name: "churn".into(),
        requester: "alice".into(),
        state: state as i32,
        page_size: 1,
        page_token: token,
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = ops
            .list_alias_change_requests(list(pb::ChangeRequestState::Unspecified, token))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.change_requests.iter().map(|r| (r.id, r.state)));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        [
            (third.id, pb::ChangeRequestState::Cancelled as i32),
            (next.id, pb::ChangeRequestState::Rejected as i32),
            (made.id, pb::ChangeRequestState::Applied as i32),
        ]
    );
    let applied_only = ops
        .list_alias_change_requests(pb::ListAliasChangeRequestsRequest {
            state: pb::ChangeRequestState::Applied as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .change_requests;
    assert_eq!(applied_only.len(), 1);

    // A request needs a policy on its alias.
    let unguarded = alice
        .create_alias_change_request(pb::CreateAliasChangeRequestRequest {
            model_name: "churn".into(),
            alias: "staging".into(),
            version: 2,
            reason: "no policy".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unguarded.code(), Code::FailedPrecondition);
    let missing = approve(&mut bob, 9999, "who").await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

async fn an_expired_request_cannot_be_approved(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    governed.seed(&[0.81, 0.83]).await;
    let mut policy = protected(1);
    policy.request_ttl_seconds = 1;
    governed.set_policy(policy).await;
    let (mut alice, mut bob) = (governed.as_("alice"), governed.as_("bob"));
    let made = request(&mut alice, 2).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let read = bob
            .get_alias_change_request(pb::GetAliasChangeRequestRequest { id: made.id })
            .await
            .unwrap()
            .into_inner()
            .change_request
            .unwrap();
        if state(&read) == pb::ChangeRequestState::Expired {
            break;
        }
        assert!(Instant::now() < deadline, "the request never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let late = approve(&mut bob, made.id, "too late").await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("expired"), "{late:?}");
    assert_eq!(production(&mut bob).await, 1);
    let expired = bob
        .list_alias_change_requests(pb::ListAliasChangeRequestsRequest {
            state: pb::ChangeRequestState::Expired as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .change_requests;
    assert_eq!(expired.iter().map(|r| r.id).collect::<Vec<_>>(), [made.id]);
    // An expired request is no longer open: the same move may be asked again.
    let again = request(&mut alice, 2).await.unwrap();
    assert_ne!(again.id, made.id);
}

async fn an_alias_has_one_open_request_per_version_and_a_bounded_queue(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    let aucs: Vec<f64> = (0..22).map(|i| 0.70 + f64::from(i) * 0.01).collect();
    governed.seed(&aucs).await;
    governed.set_policy(protected(1)).await;
    let (mut alice, mut bob) = (governed.as_("alice"), governed.as_("bob"));
    let first = request(&mut alice, 2).await.unwrap();
    let duplicate = request(&mut bob, 2).await.unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists, "{duplicate:?}");
    assert!(
        duplicate
            .message()
            .contains(&format!("change request {} already asks", first.id)),
        "{duplicate:?}"
    );
    // Once it is decided, the same move may be asked again.
    alice
        .cancel_alias_change_request(pb::CancelAliasChangeRequestRequest {
            id: first.id,
            comment: "wrong reason".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    request(&mut bob, 2).await.unwrap();
    // Twenty open requests fill the alias's queue.
    for version in 3..=21 {
        request(&mut alice, version).await.unwrap();
    }
    let full = request(&mut alice, 22).await.unwrap_err();
    assert_eq!(full.code(), Code::ResourceExhausted, "{full:?}");
    assert!(
        full.message().contains("20 open change requests"),
        "{full:?}"
    );
    let open = bob
        .list_alias_change_requests(pb::ListAliasChangeRequestsRequest {
            state: pb::ChangeRequestState::Pending as i32,
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .change_requests;
    assert_eq!(open.len(), 20, "the refused request left nothing behind");
    // Deciding one frees a place.
    let rejected = bob
        .reject_alias_change_request(pb::RejectAliasChangeRequestRequest {
            id: open[1].id,
            comment: "not this one".into(),
            request_id: String::new(),
        })
        .await;
    assert!(rejected.is_ok(), "{rejected:?}");
    request(&mut alice, 22).await.unwrap();
}

async fn policies_are_versioned_audited_and_checked(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    governed.seed(&[0.81]).await;
    let mut ops = governed.as_("ops");
    let first = governed.set_policy(protected(1)).await;
    assert_eq!(first.request_ttl_seconds, 72 * 3600, "the default");
    assert_eq!(first.approver_role, "deployer", "the default");
    let same = governed.set_policy(protected(1)).await;
    assert_eq!(
        same.revision, 1,
        "an unchanged policy is not a new revision"
    );
    let second = governed.set_policy(protected(2)).await;
    assert_eq!(second.revision, 2);
    let read = ops
        .get_alias_policy(pb::GetAliasPolicyRequest {
            model_name: "churn".into(),
            alias: "production".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    assert_eq!(read, second);
    let audited: Vec<String> = events(&mut ops)
        .await
        .into_iter()
        .filter(|e| e.r#type == pb::EventType::AliasPolicySet as i32)
        .map(|e| e.detail)
        .collect();
    assert_eq!(audited.len(), 2);
    assert!(audited[1].contains("\"revision\":2"), "{}", audited[1]);
    assert!(
        audited[1].contains("\"required_approvals\":2"),
        "{}",
        audited[1]
    );

    // Every bad field is named.
    let bad = pb::AliasPolicy {
        model_name: "churn".into(),
        alias: "production".into(),
        required_approvals: 11,
        approver_role: "reader".into(),
        soak_alias: "production".into(),
        min_soak_seconds: 60,
        request_ttl_seconds: -5,
        ..Default::default()
    };
    let refused = ops
        .set_alias_policy(pb::SetAliasPolicyRequest {
            policy: Some(bad),
            reason: "bad".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let mut fields: Vec<String> = refused
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    fields.sort();
    fields.dedup();
    assert_eq!(
        fields,
        [
            "policy.approver_role",
            "policy.request_ttl_seconds",
            "policy.required_approvals",
            "policy.soak_alias"
        ]
    );
    let no_model = ops
        .set_alias_policy(pb::SetAliasPolicyRequest {
            policy: Some(pb::AliasPolicy {
                model_name: "nope".into(),
                alias: "production".into(),
                ..Default::default()
            }),
            reason: "x".into(),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(no_model.code(), Code::NotFound);

    // Listed, then removed (recorded), then gone.
    governed
        .set_policy(pb::AliasPolicy {
            model_name: "churn".into(),
            alias: "staging".into(),
            ..Default::default()
        })
        .await;
    let listed: Vec<String> = ops
        .list_alias_policies(pb::ListAliasPoliciesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .policies
        .into_iter()
        .map(|p| p.alias)
        .collect();
    assert_eq!(listed, ["production", "staging"]);
    let removed = ops
        .delete_alias_policy(pb::DeleteAliasPolicyRequest {
            model_name: "churn".into(),
            alias: "production".into(),
            reason: "done".into(),
            request_id: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.revision, 2);
    let gone = ops
        .get_alias_policy(pb::GetAliasPolicyRequest {
            model_name: "churn".into(),
            alias: "production".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(
        events(&mut ops).await.pop().unwrap().r#type,
        pb::EventType::AliasPolicyDeleted as i32
    );
}

async fn concurrent_approvals_apply_a_request_exactly_once(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    governed.seed(&[0.81, 0.83]).await;
    governed.set_policy(protected(1)).await;
    // On PostgreSQL, the approvals arrive through three replicas.
    let mut replicas = Vec::new();
    if backend == Backend::Postgres {
        for _ in 0..2 {
            replicas.push(governed.server.replica(options(governed.dir.path())).await);
        }
    }
    let servers: Vec<&TestServer> = std::iter::once(&governed.server)
        .chain(replicas.iter())
        .collect();
    let made = request(&mut governed.as_("alice"), 2).await.unwrap();
    let mut approvals = tokio::task::JoinSet::new();
    for i in 0..APPROVERS {
        let server = servers[i % servers.len()];
        let mut client = client_with_token(server, Some(&format!("approver-{i}-token")));
        approvals.spawn(async move { approve(&mut client, made.id, "race").await });
    }
    let outcomes = approvals.join_all().await;
    let applied = outcomes
        .iter()
        .filter(|o| {
            o.as_ref()
                .is_ok_and(|r| state(r) == pb::ChangeRequestState::Applied)
        })
        .count();
    assert_eq!(applied, 1, "{outcomes:?}");
    for outcome in &outcomes {
        if let Err(status) = outcome {
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
        }
    }
    let mut ops = governed.as_("ops");
    let moves = events(&mut ops)
        .await
        .into_iter()
        .filter(|e| {
            e.r#type == pb::EventType::AliasSet as i32 && e.change_request_id == Some(made.id)
        })
        .count();
    assert_eq!(moves, 1);
    assert_eq!(production(&mut ops).await, 2);
}

async fn a_frozen_alias_refuses_every_move_and_a_frozen_version_every_change(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    governed.seed(&[0.81, 0.83, 0.85]).await;
    governed.set_policy(protected(1)).await;
    let (mut alice, mut bob, mut ops) = (
        governed.as_("alice"),
        governed.as_("bob"),
        governed.as_("ops"),
    );
    let pending = request(&mut alice, 2).await.unwrap();
    let freeze = ops
        .freeze_alias(pb::FreezeAliasRequest {
            model_name: "churn".into(),
            alias: "production".into(),
            reason: "incident 42".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .freeze
        .unwrap();
    assert_eq!(
        (freeze.frozen_by.as_str(), freeze.expires_at),
        ("ops", None)
    );
    let again = ops
        .freeze_alias(pb::FreezeAliasRequest {
            model_name: "churn".into(),
            alias: "production".into(),
            reason: "twice".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    // Nothing moves it: break-glass, rollback, deletion, a request's apply.
    let glass = ops
        .set_production_model(pb::SetProductionModelRequest {
            model_name: "churn".into(),
            version: 3,
            reason: "break glass".into(),
            emergency: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(glass.code(), Code::FailedPrecondition);
    assert!(glass.message().contains("incident 42"), "{glass:?}");
    let rollback = ops
        .rollback_production_model(pb::RollbackProductionModelRequest {
            model_name: "churn".into(),
            reason: "back".into(),
            emergency: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(rollback.code(), Code::FailedPrecondition);
    let delete = ops
        .delete_model_alias(pb::DeleteModelAliasRequest {
            model_name: "churn".into(),
            alias: "production".into(),
            reason: "gone".into(),
            emergency: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(delete.code(), Code::FailedPrecondition);
    let apply = approve(&mut bob, pending.id, "ok").await.unwrap_err();
    assert_eq!(apply.code(), Code::FailedPrecondition);
    let new_request = request(&mut alice, 3).await.unwrap_err();
    assert_eq!(new_request.code(), Code::FailedPrecondition);
    assert_eq!(production(&mut ops).await, 1);

    // Unfrozen, the pending request (still pending) applies.
    ops.unfreeze_alias(pb::UnfreezeAliasRequest {
        model_name: "churn".into(),
        alias: "production".into(),
        reason: "incident over".into(),
        request_id: String::new(),
    })
    .await
    .unwrap();
    let applied = approve(&mut bob, pending.id, "ok").await.unwrap();
    assert_eq!(state(&applied), pb::ChangeRequestState::Applied);

    // A freeze with an end lets go by itself.
    ops.freeze_alias(pb::FreezeAliasRequest {
        model_name: "churn".into(),
        alias: "canary".into(),
        reason: "release window".into(),
        duration_seconds: 1,
        request_id: String::new(),
    })
    .await
    .unwrap();
    let canary = pb::SetModelAliasRequest {
        model_name: "churn".into(),
        alias: "canary".into(),
        version: 3,
        reason: "soak".into(),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match alice.set_model_alias(canary.clone()).await {
            Ok(_) => break,
            Err(status)
                if status.code() == Code::FailedPrecondition && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("{status:?}"),
        }
    }

    // A frozen version: no status or metadata change until unfrozen.
    ops.freeze_version(pb::FreezeVersionRequest {
        model_name: "churn".into(),
        version: 1,
        reason: "audit hold".into(),
        request_id: String::new(),
    })
    .await
    .unwrap();
    let status = ops
        .update_model_version_status(pb::UpdateModelVersionStatusRequest {
            model_name: "churn".into(),
            version: 1,
            status: pb::ModelStatus::Deprecated as i32,
            reason: "old".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("audit hold"), "{status:?}");
    let tags = ops
        .update_model_version(pb::UpdateModelVersionRequest {
            model_name: "churn".into(),
            version: 1,
            set_tags: [("k".into(), "v".into())].into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(tags.code(), Code::FailedPrecondition);
    ops.unfreeze_version(pb::UnfreezeVersionRequest {
        model_name: "churn".into(),
        version: 1,
        reason: "audit done".into(),
        request_id: String::new(),
    })
    .await
    .unwrap();
    ops.update_model_version_status(pb::UpdateModelVersionStatusRequest {
        model_name: "churn".into(),
        version: 1,
        status: pb::ModelStatus::Deprecated as i32,
        reason: "old".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let kinds: Vec<i32> = events(&mut ops).await.iter().map(|e| e.r#type).collect();
    for kind in [
        pb::EventType::AliasFrozen,
        pb::EventType::AliasUnfrozen,
        pb::EventType::VersionFrozen,
        pb::EventType::VersionUnfrozen,
    ] {
        assert!(kinds.contains(&(kind as i32)), "{kind:?} in the trail");
    }
}

async fn set_status(
    client: &mut TokenClient,
    model: &str,
    version: i64,
    status: pb::ModelStatus,
) -> Result<(), tonic::Status> {
    client
        .update_model_version_status(pb::UpdateModelVersionStatusRequest {
            model_name: model.into(),
            version,
            status: status as i32,
            reason: "tidy".into(),
            ..Default::default()
        })
        .await
        .map(drop)
}

/// Rolling back is the emergency action: a protected alias keeps the
/// versions its rollbacks return to from being archived (final), not those
/// it was rolled back from, nor anything of a model without a policy.
async fn a_protected_alias_keeps_the_versions_its_rollbacks_reach(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    governed.seed(&[0.81, 0.83, 0.85, 0.87]).await;
    let mut ops = governed.as_("ops");
    for version in [2, 3] {
        ops.set_production_model(pb::SetProductionModelRequest {
            model_name: "churn".into(),
            version,
            reason: "release".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    // 3 went bad: back to 2, whose rollback returns to 1.
    ops.rollback_model_alias(pb::RollbackModelAliasRequest {
        model_name: "churn".into(),
        alias: "production".into(),
        reason: "3 went bad".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    governed.set_policy(protected(1)).await;

    let refused = set_status(&mut ops, "churn", 1, pb::ModelStatus::Archived)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let details = refused.get_error_details();
    let violation = &details.precondition_failure().unwrap().violations[0];
    assert_eq!(
        (violation.r#type.as_str(), violation.subject.as_str()),
        ("ROLLBACK_TARGET", "models/churn/versions/1")
    );
    assert!(refused.message().contains("\"production\""), "{refused:?}");
    // Deprecating can be undone, so it stays allowed; the version rolled
    // back from and one never in production may go.
    set_status(&mut ops, "churn", 1, pb::ModelStatus::Deprecated)
        .await
        .unwrap();
    set_status(&mut ops, "churn", 3, pb::ModelStatus::Archived)
        .await
        .unwrap();
    set_status(&mut ops, "churn", 4, pb::ModelStatus::Archived)
        .await
        .unwrap();
    let still = set_status(&mut ops, "churn", 1, pb::ModelStatus::Archived)
        .await
        .unwrap_err();
    assert_eq!(still.code(), Code::FailedPrecondition, "{still:?}");

    // Without protection (or without any policy) archiving is as before.
    governed
        .set_policy(pb::AliasPolicy {
            protected: false,
            gate_metric: "auc".into(),
            ..protected(1)
        })
        .await;
    set_status(&mut ops, "churn", 1, pb::ModelStatus::Archived)
        .await
        .unwrap();
    for auc in [0.8, 0.9] {
        ops.register_model(registration("plain", auc))
            .await
            .unwrap();
    }
    for version in [1, 2] {
        ops.set_production_model(pb::SetProductionModelRequest {
            model_name: "plain".into(),
            version,
            reason: "release".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    set_status(&mut ops, "plain", 1, pb::ModelStatus::Archived)
        .await
        .unwrap();
}
