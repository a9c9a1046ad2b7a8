//! Alias policies set on a model-name prefix: inherited by every model
//! named so (existing, and registered later, even while the policy is
//! being set), overridden by a model's own policy or a longer prefix,
//! audited as events of no single model, and limited to admins whose
//! model prefixes cover the whole family.

use model_registry_api::v1 as pb;
use tonic::Code;
use tonic_types::StatusExt;

use super::governance::{Governed, state};
use model_registry_e2e::{Backend, TokenClient, on_both_backends, registration};

on_both_backends!(
    backend: a_policy_set_on_a_prefix_governs_every_model_named_so,
    a_prefix_policy_is_overridden_listed_audited_and_removed,
    models_created_while_a_prefix_policy_is_set_are_all_governed,
    prefix_policies_need_an_admin_of_the_whole_family_and_valid_fields,
);

/// `production` of every model named `prefix`…, protected, one approval.
fn protected_family(prefix: &str) -> pb::AliasPolicy {
    pb::AliasPolicy {
        model_prefix: prefix.into(),
        alias: "production".into(),
        protected: true,
        required_approvals: 1,
        ..Default::default()
    }
}

async fn set_policy(
    client: &mut TokenClient,
    policy: pb::AliasPolicy,
) -> Result<pb::AliasPolicy, tonic::Status> {
    client
        .set_alias_policy(pb::SetAliasPolicyRequest {
            policy: Some(policy),
            reason: "governance".into(),
            request_id: String::new(),
        })
        .await
        .map(|r| r.into_inner().policy.unwrap())
}

async fn register(client: &mut TokenClient, model: &str, versions: usize) {
    for _ in 0..versions {
        client
            .register_model(registration(model, 0.8))
            .await
            .unwrap();
    }
}

async fn promote(client: &mut TokenClient, model: &str, version: i64) -> Result<(), tonic::Status> {
    client
        .set_production_model(pb::SetProductionModelRequest {
            model_name: model.into(),
            version,
            reason: "direct".into(),
            ..Default::default()
        })
        .await
        .map(drop)
}

async fn policy_of(client: &mut TokenClient, model: &str) -> pb::AliasPolicy {
    client
        .get_alias_policy(pb::GetAliasPolicyRequest {
            model_name: model.into(),
            alias: "production".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap()
}

async fn a_policy_set_on_a_prefix_governs_every_model_named_so(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    let (mut ops, mut alice, mut bob) = (
        governed.as_("ops"),
        governed.as_("alice"),
        governed.as_("bob"),
    );
    register(&mut ops, "fraud-cards", 2).await;
    register(&mut ops, "churn", 2).await;

    let set = set_policy(&mut ops, protected_family("fraud-"))
        .await
        .unwrap();
    assert_eq!(
        (
            set.model_name.as_str(),
            set.model_prefix.as_str(),
            set.revision
        ),
        ("", "fraud-", 1)
    );

    // A model of the family that existed before the policy is governed...
    let refused = promote(&mut alice, "fraud-cards", 2).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("inherited from prefix \"fraud-\""),
        "{refused:?}"
    );
    let details = refused.get_error_details();
    let violation = &details.precondition_failure().unwrap().violations[0];
    assert_eq!(violation.r#type, "ALIAS_PROTECTED");
    assert_eq!(violation.subject, "prefixes/fraud-/aliases/production");
    // ...so is one registered after it; a model outside it is not.
    register(&mut ops, "fraud-wire", 2).await;
    let refused = promote(&mut alice, "fraud-wire", 1).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    promote(&mut alice, "churn", 2).await.unwrap();
    // Other aliases of the family move freely.
    alice
        .set_model_alias(pb::SetModelAliasRequest {
            model_name: "fraud-wire".into(),
            alias: "canary".into(),
            version: 2,
            reason: "try".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    // The inherited policy is the one a model reads, naming its prefix.
    let inherited = policy_of(&mut alice, "fraud-wire").await;
    assert_eq!(
        (
            inherited.model_name.as_str(),
            inherited.model_prefix.as_str()
        ),
        ("", "fraud-")
    );

    // The request flow runs on it like on a model's own policy.
    let request = alice
        .create_alias_change_request(pb::CreateAliasChangeRequestRequest {
            model_name: "fraud-wire".into(),
            alias: "production".into(),
            version: 2,
            reason: "canary looked fine".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .change_request
        .unwrap();
    assert_eq!(request.required_approvals, 1);
    let own = bob
        .approve_alias_change_request(pb::ApproveAliasChangeRequestRequest {
            id: request.id,
            comment: "ok".into(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .change_request
        .unwrap();
    assert_eq!(state(&own), pb::ChangeRequestState::Applied);
    let production = alice
        .get_production_model(pb::GetProductionModelRequest {
            model_name: "fraud-wire".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(production.version, 2);
}

async fn a_prefix_policy_is_overridden_listed_audited_and_removed(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    let (mut ops, mut alice) = (governed.as_("ops"), governed.as_("alice"));
    register(&mut ops, "fraud-cards", 2).await;
    register(&mut ops, "fraud-wire", 2).await;
    set_policy(&mut ops, protected_family("fraud-"))
        .await
        .unwrap();

    // A model's own policy overrides the family's...
    set_policy(
        &mut ops,
        pb::AliasPolicy {
            model_name: "fraud-cards".into(),
            alias: "production".into(),
            gate_metric: "auc".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    promote(&mut alice, "fraud-cards", 2).await.unwrap();
    // ...and so does a longer prefix.
    let longer = set_policy(
        &mut ops,
        pb::AliasPolicy {
            protected: false,
            ..protected_family("fraud-w")
        },
    )
    .await
    .unwrap();
    assert_eq!(longer.revision, 1);
    promote(&mut alice, "fraud-wire", 1).await.unwrap();
    // Setting the same rules again is no new revision; new rules are.
    let same = set_policy(&mut ops, protected_family("fraud-"))
        .await
        .unwrap();
    assert_eq!(same.revision, 1);
    let revised = set_policy(
        &mut ops,
        pb::AliasPolicy {
            required_approvals: 2,
            ..protected_family("fraud-")
        },
    )
    .await
    .unwrap();
    assert_eq!(revised.revision, 2);

    // Listings: the prefixes' policies; one model's policies in force.
    let on_prefixes = ops
        .list_alias_policies(pb::ListAliasPoliciesRequest {
            prefixes: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .policies;
    let named: Vec<(&str, i64)> = on_prefixes
        .iter()
        .map(|p| (p.model_prefix.as_str(), p.revision))
        .collect();
    assert_eq!(named, [("fraud-", 2), ("fraud-w", 1)]);
    let of_wire = ops
        .list_alias_policies(pb::ListAliasPoliciesRequest {
            model_name: "fraud-wire".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .policies;
    assert_eq!(of_wire.len(), 1);
    assert_eq!(of_wire[0].model_prefix, "fraud-w");
    let every_own = ops
        .list_alias_policies(pb::ListAliasPoliciesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .policies;
    let owners: Vec<&str> = every_own.iter().map(|p| p.model_name.as_str()).collect();
    assert_eq!(owners, ["fraud-cards"]);

    // A model cannot delete what it inherits; the prefix's policy goes
    // with the prefix named, and the shorter prefix governs again.
    let inherited = ops
        .delete_alias_policy(pb::DeleteAliasPolicyRequest {
            model_name: "fraud-wire".into(),
            alias: "production".into(),
            reason: "try".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(inherited.code(), Code::FailedPrecondition, "{inherited:?}");
    assert!(inherited.message().contains("fraud-w"), "{inherited:?}");
    let removed = ops
        .delete_alias_policy(pb::DeleteAliasPolicyRequest {
            model_prefix: "fraud-w".into(),
            alias: "production".into(),
            reason: "wire joins the family rules".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(removed.revision, 1);
    let refused = promote(&mut alice, "fraud-wire", 2).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let gone = ops
        .get_alias_policy(pb::GetAliasPolicyRequest {
            model_prefix: "fraud-w".into(),
            alias: "production".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // The trail holds each change, naming the prefix and no model; a
    // model's own trail does not.
    let trail = ops
        .list_events(pb::ListEventsRequest {
            types: vec![
                pb::EventType::AliasPolicySet.into(),
                pb::EventType::AliasPolicyDeleted.into(),
            ],
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    let steps: Vec<(&str, &str, &str, &str)> = trail
        .iter()
        .map(|e| {
            (
                e.model_name.as_str(),
                e.model_prefix.as_str(),
                e.actor.as_str(),
                if e.r#type == pb::EventType::AliasPolicySet as i32 {
                    "set"
                } else {
                    "deleted"
                },
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("", "fraud-", "ops", "set"),
            ("fraud-cards", "", "ops", "set"),
            ("", "fraud-w", "ops", "set"),
            ("", "fraud-", "ops", "set"),
            ("", "fraud-w", "ops", "deleted"),
        ]
    );
    assert!(trail[3].detail.contains("\"revision\":2"), "{:?}", trail[3]);
    assert_eq!(trail[4].reason, "wire joins the family rules");
    // The change feed carries them too, in the same order.
    let mut feed = ops
        .watch_events(pb::WatchEventsRequest {
            after_event_id: trail[0].id,
            types: vec![
                pb::EventType::AliasPolicySet.into(),
                pb::EventType::AliasPolicyDeleted.into(),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for expected in &trail[1..] {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), feed.message())
            .await
            .expect("the next event within ten seconds")
            .unwrap()
            .unwrap()
            .event
            .unwrap();
        assert_eq!(
            (next.id, next.model_prefix.as_str()),
            (expected.id, expected.model_prefix.as_str())
        );
    }
    let of_model = ops
        .list_events(pb::ListEventsRequest {
            model_name: "fraud-wire".into(),
            types: vec![pb::EventType::AliasPolicySet.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .events;
    assert!(of_model.is_empty(), "{of_model:?}");
}

/// Models registered while the policy is set: each is either seen by the
/// policy's change or sees the policy as it is created.
async fn models_created_while_a_prefix_policy_is_set_are_all_governed(backend: Backend) {
    const MODELS: usize = 12;
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    let mut registrations = tokio::task::JoinSet::new();
    for i in 0..MODELS {
        let mut ops = governed.as_("ops");
        registrations.spawn(async move { register(&mut ops, &format!("fraud-{i}"), 1).await });
    }
    set_policy(&mut governed.as_("ops"), protected_family("fraud-"))
        .await
        .unwrap();
    registrations.join_all().await;
    let mut alice = governed.as_("alice");
    for i in 0..MODELS {
        let refused = promote(&mut alice, &format!("fraud-{i}"), 1)
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::FailedPrecondition,
            "fraud-{i}: {refused:?}"
        );
    }
}

async fn prefix_policies_need_an_admin_of_the_whole_family_and_valid_fields(backend: Backend) {
    let Some(governed) = Governed::start(backend).await else {
        return;
    };
    // An admin of `fraud-` models governs `fraud-` and narrower families,
    // never a wider one (it would govern models outside its reach).
    let mut fraud_ops = governed.as_("fraud-ops");
    set_policy(&mut fraud_ops, protected_family("fraud-cards"))
        .await
        .unwrap();
    let wider = set_policy(&mut fraud_ops, protected_family("fr"))
        .await
        .unwrap_err();
    assert_eq!(wider.code(), Code::PermissionDenied, "{wider:?}");
    let removal = fraud_ops
        .delete_alias_policy(pb::DeleteAliasPolicyRequest {
            model_prefix: "f".into(),
            alias: "production".into(),
            reason: "x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(removal.code(), Code::PermissionDenied, "{removal:?}");
    // A deployer sets no policy at all.
    let deployer = set_policy(&mut governed.as_("alice"), protected_family("fraud-"))
        .await
        .unwrap_err();
    assert_eq!(deployer.code(), Code::PermissionDenied, "{deployer:?}");

    // One of model_name and model_prefix, valid, named in the error.
    let mut ops = governed.as_("ops");
    let field_of = |status: tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        status
            .get_error_details()
            .bad_request()
            .unwrap()
            .field_violations[0]
            .field
            .clone()
    };
    let both = pb::AliasPolicy {
        model_name: "fraud-cards".into(),
        ..protected_family("fraud-")
    };
    assert_eq!(
        field_of(set_policy(&mut ops, both).await.unwrap_err()),
        "policy.model_prefix"
    );
    let neither = pb::AliasPolicy {
        model_prefix: String::new(),
        ..protected_family("fraud-")
    };
    assert_eq!(
        field_of(set_policy(&mut ops, neither).await.unwrap_err()),
        "policy.model_name"
    );
    assert_eq!(
        field_of(
            set_policy(&mut ops, protected_family("Fraud "))
                .await
                .unwrap_err()
        ),
        "policy.model_prefix"
    );
    let listing = ops
        .list_alias_policies(pb::ListAliasPoliciesRequest {
            model_name: "fraud-cards".into(),
            prefixes: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(field_of(listing), "prefixes");
}
