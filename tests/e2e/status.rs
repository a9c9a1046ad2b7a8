//! UpdateModelVersionStatus and UpdateModelVersion: the status machine and
//! the mutable fields.

use model_registry_api::v1 as pb;
use model_registry_api::v1::ModelStatus::{Active, Archived, Deprecated};
use tonic::Code;

use model_registry_e2e::{
    TestServer, all_events, code_of, get_version, on_both_backends, promote, register,
    registration, set_status, status_of,
};

on_both_backends!(
    the_full_status_machine_table_holds,
    the_production_version_can_be_neither_deprecated_nor_archived,
    status_changes_accept_an_id_and_refuse_an_unspecified_status,
    update_model_version_changes_description_and_tags_only,
);

async fn the_full_status_machine_table_holds(server: TestServer) {
    let mut client = server.client.clone();
    let allowed = [
        (Active, Deprecated),
        (Deprecated, Active),
        (Active, Archived),
        (Deprecated, Archived),
    ];
    let mut version = 0;
    for from in [Active, Deprecated, Archived] {
        for to in [Active, Deprecated, Archived] {
            version += 1;
            register(&mut client, registration("churn", 0.8)).await;
            // Bring the fresh version to `from` by allowed steps.
            if from == Deprecated || from == Archived {
                set_status(&mut client, "churn", version, from)
                    .await
                    .unwrap();
            }
            let result = set_status(&mut client, "churn", version, to).await;
            if allowed.contains(&(from, to)) {
                let changed =
                    result.unwrap_or_else(|e| panic!("{from:?} -> {to:?} must be allowed: {e:?}"));
                assert_eq!(changed.status, to as i32);
                let event = all_events(&mut client, "churn").await.pop().unwrap();
                assert_eq!(event.r#type, pb::EventType::StatusChanged as i32);
                assert_eq!(
                    (event.previous_status, event.new_status),
                    (from as i32, to as i32)
                );
                assert_eq!(event.version, Some(version));
            } else {
                let status = status_of(result);
                assert_eq!(
                    status.code(),
                    Code::FailedPrecondition,
                    "{from:?} -> {to:?}: {status:?}"
                );
                let stored = get_version(&mut client, "churn", version).await.unwrap();
                assert_eq!(
                    stored.status, from as i32,
                    "a refused change leaves the status alone"
                );
            }
        }
    }
}

async fn the_production_version_can_be_neither_deprecated_nor_archived(server: TestServer) {
    let mut client = server.client.clone();
    register(&mut client, registration("churn", 0.8)).await;
    promote(&mut client, "churn", 1).await.unwrap();
    for to in [Deprecated, Archived] {
        let refused = status_of(set_status(&mut client, "churn", 1, to).await);
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert!(
            refused.message().contains("holds the alias \"production\""),
            "{}",
            refused.message()
        );
    }
}

async fn status_changes_accept_an_id_and_refuse_an_unspecified_status(server: TestServer) {
    let mut client = server.client.clone();
    let v1 = register(&mut client, registration("churn", 0.8)).await;
    let by_id = client
        .update_model_version_status(pb::UpdateModelVersionStatusRequest {
            id: v1.id.clone(),
            status: Deprecated as i32,
            reason: "superseded".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(by_id.status, Deprecated as i32);
    let unspecified = status_of(
        client
            .update_model_version_status(pb::UpdateModelVersionStatusRequest {
                id: v1.id.clone(),
                reason: "x".into(),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(unspecified.code(), Code::InvalidArgument);
    assert!(unspecified.message().starts_with("invalid status"));
    let no_reason = client
        .update_model_version_status(pb::UpdateModelVersionStatusRequest {
            id: v1.id,
            status: Active as i32,
            ..Default::default()
        })
        .await;
    assert_eq!(code_of(no_reason), Code::InvalidArgument);
}

async fn update_model_version_changes_description_and_tags_only(server: TestServer) {
    let mut client = server.client.clone();
    let mut request = registration("churn", 0.8);
    request.tags = [
        ("team".into(), "growth".into()),
        ("stage".into(), "candidate".into()),
    ]
    .into();
    let v1 = register(&mut client, request).await;
    let updated = client
        .update_model_version(pb::UpdateModelVersionRequest {
            model_name: "churn".into(),
            version: 1,
            description: Some("validated on holdout".into()),
            set_tags: [("stage".into(), "approved".into())].into(),
            remove_tags: vec!["team".into()],
            reason: "review done".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(updated.description, "validated on holdout");
    assert_eq!(
        updated.tags,
        [("stage".to_owned(), "approved".to_owned())].into()
    );
    assert_eq!(updated.metrics, v1.metrics, "metrics are immutable");
    assert_eq!(updated.artifact, v1.artifact, "artifacts are immutable");

    // The tag index follows the change.
    let by_tag = |key: &str, value: &str| pb::ListModelVersionsRequest {
        tags: [(key.to_owned(), value.to_owned())].into(),
        ..Default::default()
    };
    let found = client
        .list_model_versions(by_tag("stage", "approved"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.model_versions.len(), 1);
    let gone = client
        .list_model_versions(by_tag("team", "growth"))
        .await
        .unwrap()
        .into_inner();
    assert!(gone.model_versions.is_empty());

    let event = all_events(&mut client, "churn").await.pop().unwrap();
    assert_eq!(event.r#type, pb::EventType::VersionUpdated as i32);
    assert_eq!(event.reason, "review done");

    let nothing = status_of(
        client
            .update_model_version(pb::UpdateModelVersionRequest {
                model_name: "churn".into(),
                version: 1,
                ..Default::default()
            })
            .await,
    );
    assert_eq!(nothing.code(), Code::InvalidArgument);
}
