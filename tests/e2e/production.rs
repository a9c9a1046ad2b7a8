//! SetProductionModel, RollbackProductionModel and GetProductionModel: the
//! atomic switch, compare-and-set, the metric gate, rollback and `as_of`.

use model_registry_api::v1 as pb;
use tonic::Code;

use model_registry_e2e::{
    TestServer, all_events, code_of, get_model, on_both_backends, production_version, promote,
    register, register_many, registration, set_status, status_of,
};

on_both_backends!(
    promotion_switches_production_atomically_and_records_the_change,
    only_an_existing_active_version_can_be_promoted_with_a_reason,
    compare_and_set_refuses_a_stale_expectation_and_changes_nothing,
    the_metric_gate_keeps_a_worse_model_out_of_production,
    rollback_after_three_promotions_walks_back_through_history,
    rollback_refuses_when_the_previous_version_is_no_longer_active,
    as_of_answers_which_version_was_production_at_a_time,
);

async fn promotion_switches_production_atomically_and_records_the_change(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    assert_eq!(
        code_of(
            client
                .get_production_model(pb::GetProductionModelRequest {
                    model_name: "churn".into(),
                    as_of: None,
                    consistency_token: String::new(),
                })
                .await
        ),
        Code::NotFound
    );

    let first = promote(&mut client, "churn", 1).await.unwrap();
    assert_eq!(first.previous_version, None);
    assert!(first.model_version.unwrap().is_production);
    let second = promote(&mut client, "churn", 2).await.unwrap();
    assert_eq!(second.previous_version, Some(1));
    assert!(!second.unchanged);
    assert_eq!(production_version(&mut client, "churn").await, Some(2));

    let versions = client
        .list_model_versions(pb::ListModelVersionsRequest {
            model_name: "churn".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .model_versions;
    let flags: Vec<(i64, bool)> = versions
        .iter()
        .map(|v| (v.version, v.is_production))
        .collect();
    assert_eq!(flags, [(1, false), (2, true)]);
    let model = get_model(&mut client, "churn").await.unwrap();
    assert_eq!(model.production_version, Some(2));

    // Promoting the production version again changes nothing and records nothing.
    let events_before = all_events(&mut client, "churn").await.len();
    let again = promote(&mut client, "churn", 2).await.unwrap();
    assert!(again.unchanged);
    assert_eq!(all_events(&mut client, "churn").await.len(), events_before);

    let last = all_events(&mut client, "churn").await.pop().unwrap();
    assert_eq!(last.r#type, pb::EventType::AliasSet as i32);
    assert_eq!(
        (last.previous_version, last.new_version),
        (Some(1), Some(2))
    );
    assert_eq!(last.reason, "promote 2");
    assert_eq!(last.actor, "anonymous");
}

async fn only_an_existing_active_version_can_be_promoted_with_a_reason(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    set_status(&mut client, "churn", 1, pb::ModelStatus::Deprecated)
        .await
        .unwrap();
    let refused = status_of(promote(&mut client, "churn", 1).await);
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("DEPRECATED"),
        "{}",
        refused.message()
    );
    assert_eq!(
        code_of(promote(&mut client, "churn", 7).await),
        Code::NotFound
    );
    assert_eq!(
        code_of(promote(&mut client, "fraud", 1).await),
        Code::NotFound
    );
    let no_reason = status_of(
        client
            .set_production_model(pb::SetProductionModelRequest {
                model_name: "churn".into(),
                version: 2,
                reason: "  ".into(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(no_reason.code(), Code::InvalidArgument);
    assert!(no_reason.message().starts_with("invalid reason"));
    assert_eq!(production_version(&mut client, "churn").await, None);
}

async fn compare_and_set_refuses_a_stale_expectation_and_changes_nothing(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 3).await;
    let cas = |version: i64, expected: i64| pb::SetProductionModelRequest {
        model_name: "churn".into(),
        version,
        reason: "cas".into(),
        expected_current_version: Some(expected),
        ..Default::default()
    };
    client
        .set_production_model(cas(1, 0))
        .await
        .expect("0 means: none is production");
    client
        .set_production_model(cas(2, 1))
        .await
        .expect("1 is current");
    let stale = status_of(client.set_production_model(cas(3, 1)).await);
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(production_version(&mut client, "churn").await, Some(2));
    assert_eq!(
        code_of(client.set_production_model(cas(3, 0)).await),
        Code::Aborted
    );
    let rollback = status_of(
        client
            .rollback_production_model(pb::RollbackProductionModelRequest {
                emergency: false,
                model_name: "churn".into(),
                reason: "cas".into(),
                expected_current_version: Some(3),
                request_id: String::new(),
            })
            .await,
    );
    assert_eq!(rollback.code(), Code::Aborted);
    assert_eq!(production_version(&mut client, "churn").await, Some(2));
}

async fn the_metric_gate_keeps_a_worse_model_out_of_production(server: TestServer) {
    let mut client = server.client.clone();
    for auc in [0.90, 0.905, 0.93] {
        register(&mut client, registration("churn", auc)).await;
    }
    let gated = |version: i64| pb::SetProductionModelRequest {
        model_name: "churn".into(),
        version,
        reason: "gated".into(),
        gate_metric: "auc".into(),
        gate_min_delta: 0.01,
        ..Default::default()
    };
    client
        .set_production_model(gated(1))
        .await
        .expect("no production yet: the gate passes");
    let refused = status_of(client.set_production_model(gated(2)).await);
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("metric gate"),
        "{}",
        refused.message()
    );
    assert_eq!(production_version(&mut client, "churn").await, Some(1));
    client
        .set_production_model(gated(3))
        .await
        .expect("0.93 beats 0.90 + 0.01");
    assert_eq!(production_version(&mut client, "churn").await, Some(3));
    let mut missing_metric = gated(1);
    missing_metric.gate_metric = "recall".into();
    assert_eq!(
        code_of(client.set_production_model(missing_metric).await),
        Code::FailedPrecondition
    );
}

async fn rollback_after_three_promotions_walks_back_through_history(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 3).await;
    let rollback = |reason: &str| pb::RollbackProductionModelRequest {
        emergency: false,
        model_name: "churn".into(),
        reason: reason.into(),
        expected_current_version: None,
        request_id: String::new(),
    };
    assert_eq!(
        code_of(
            client
                .rollback_production_model(rollback("nothing yet"))
                .await
        ),
        Code::FailedPrecondition
    );
    for version in 1..=3 {
        promote(&mut client, "churn", version).await.unwrap();
    }
    let back = client
        .rollback_production_model(rollback("v3 regressed"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.model_version.unwrap().version, 2);
    assert_eq!(back.rolled_back_version, 3);
    assert_eq!(production_version(&mut client, "churn").await, Some(2));
    let back = client
        .rollback_production_model(rollback("v2 too"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(back.model_version.unwrap().version, 1);
    let exhausted = status_of(client.rollback_production_model(rollback("again")).await);
    assert_eq!(exhausted.code(), Code::FailedPrecondition);
    assert_eq!(production_version(&mut client, "churn").await, Some(1));

    let last = all_events(&mut client, "churn").await.pop().unwrap();
    assert_eq!(last.r#type, pb::EventType::AliasRolledBack as i32);
    assert_eq!(
        (last.previous_version, last.new_version),
        (Some(2), Some(1))
    );
    assert_eq!(last.reason, "v2 too");
}

async fn rollback_refuses_when_the_previous_version_is_no_longer_active(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 2).await;
    promote(&mut client, "churn", 1).await.unwrap();
    promote(&mut client, "churn", 2).await.unwrap();
    set_status(&mut client, "churn", 1, pb::ModelStatus::Archived)
        .await
        .unwrap();
    let refused = status_of(
        client
            .rollback_production_model(pb::RollbackProductionModelRequest {
                emergency: false,
                model_name: "churn".into(),
                reason: "regression".into(),
                expected_current_version: None,
                request_id: String::new(),
            })
            .await,
    );
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("ARCHIVED"),
        "{}",
        refused.message()
    );
    assert_eq!(production_version(&mut client, "churn").await, Some(2));
}

async fn as_of_answers_which_version_was_production_at_a_time(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 3).await;
    for version in 1..=3 {
        promote(&mut client, "churn", version).await.unwrap();
    }
    client
        .rollback_production_model(pb::RollbackProductionModelRequest {
            emergency: false,
            model_name: "churn".into(),
            reason: "regression".into(),
            expected_current_version: None,
            request_id: String::new(),
        })
        .await
        .unwrap();
    let changes: Vec<prost_types::Timestamp> = all_events(&mut client, "churn")
        .await
        .into_iter()
        .filter(|e| e.new_version.is_some())
        .map(|e| e.occurred_at.unwrap())
        .collect();
    assert_eq!(changes.len(), 4);
    let micro_before = |t: &prost_types::Timestamp| {
        let micros = t.seconds * 1_000_000 + i64::from(t.nanos / 1000) - 1;
        prost_types::Timestamp {
            seconds: micros.div_euclid(1_000_000),
            nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
        }
    };
    let at = |t: prost_types::Timestamp| {
        let mut client = client.clone();
        async move {
            client
                .get_production_model(pb::GetProductionModelRequest {
                    model_name: "churn".into(),
                    as_of: Some(t),
                    consistency_token: String::new(),
                })
                .await
                .map(|r| r.into_inner().model_version.unwrap().version)
        }
    };
    assert_eq!(code_of(at(micro_before(&changes[0])).await), Code::NotFound);
    assert_eq!(at(changes[0]).await.unwrap(), 1);
    assert_eq!(at(micro_before(&changes[1])).await.unwrap(), 1);
    assert_eq!(at(changes[1]).await.unwrap(), 2);
    assert_eq!(at(changes[2]).await.unwrap(), 3);
    assert_eq!(at(changes[3]).await.unwrap(), 2, "after the rollback");
    let far_future = prost_types::Timestamp {
        seconds: 4_000_000_000,
        nanos: 0,
    };
    assert_eq!(at(far_future).await.unwrap(), 2);
    let invalid = prost_types::Timestamp {
        seconds: 0,
        nanos: 2_000_000_000,
    };
    assert_eq!(code_of(at(invalid).await), Code::InvalidArgument);
}
