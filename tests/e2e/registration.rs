//! RegisterModel, GetModelVersion and GetModel: what is stored, how versions
//! are numbered, idempotency, and refusal of bad input.

use model_registry_api::v1 as pb;
use tonic::Code;

use model_registry_e2e::{
    TestServer, all_events, code_of, get_model, get_version, on_both_backends, register,
    registration, status_of,
};

on_both_backends!(
    registration_stores_every_field_and_numbers_versions_from_one,
    a_retried_request_id_returns_the_same_version_and_creates_nothing,
    invalid_registrations_name_the_field_and_write_nothing,
    versions_are_found_by_id_or_by_number_and_missing_ones_are_not_found,
);

async fn registration_stores_every_field_and_numbers_versions_from_one(server: TestServer) {
    let mut client = server.client.clone();
    let request = pb::RegisterModelRequest {
        model_name: "churn".into(),
        algorithm: "CatBoost".into(),
        artifact: Some(pb::Artifact {
            uri: "s3://models/churn/catboost.pkl".into(),
            metadata_uri: "s3://models/churn/catboost.json".into(),
            sha256: "AB".repeat(32),
            size_bytes: 12_345,
        }),
        metrics: [
            ("auc".into(), 0.91),
            ("f1".into(), 0.7),
            ("log_loss".into(), 0.35),
        ]
        .into(),
        params: [("depth".into(), "6".into())].into(),
        tags: [("team".into(), "growth".into())].into(),
        training: Some(pb::TrainingInfo {
            started_at: Some(prost_types::Timestamp {
                seconds: 1_768_761_600,
                nanos: 0,
            }),
            finished_at: Some(prost_types::Timestamp {
                seconds: 1_768_761_900,
                nanos: 250_000_000,
            }),
            train_samples: 8000,
            test_samples: 2000,
            feature_names: vec!["tenure".into(), "monthly_charges".into()],
            dataset_uri: "s3://data/churn.parquet".into(),
            code_version: "abc123".into(),
            ..Default::default()
        }),
        metadata: Some(prost_types::Struct {
            fields: [(
                "threshold".to_owned(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::NumberValue(0.5)),
                },
            )]
            .into(),
        }),
        description: "weekly retrain".into(),
        request_id: String::new(),
        validate_only: false,
        signature_bundle: String::new(),
    };
    // A validate-only registration answers what would be stored and writes
    // nothing: no model, no version, no event.
    let preview = register(
        &mut client,
        pb::RegisterModelRequest {
            validate_only: true,
            ..request.clone()
        },
    )
    .await;
    assert_eq!((preview.version, preview.id.as_str()), (0, ""));
    assert_eq!(preview.artifact.as_ref().unwrap().sha256, "ab".repeat(32));
    assert_eq!(preview.training.as_ref().unwrap().feature_count, 2);
    assert_eq!(
        code_of(get_model(&mut client, "churn").await),
        tonic::Code::NotFound
    );
    let mut invalid = request.clone();
    invalid.validate_only = true;
    invalid.metrics.insert("auc".into(), 1.5);
    let refused = status_of(client.register_model(invalid).await);
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("metrics[auc]"), "{refused:?}");

    let first = register(&mut client, request.clone()).await;
    assert_eq!(first.model_name, "churn");
    assert_eq!(first.version, 1);
    assert_eq!(first.status, pb::ModelStatus::Active as i32);
    assert!(!first.is_production);
    assert_eq!(first.created_by, "anonymous");
    let artifact = first.artifact.clone().unwrap();
    assert_eq!(
        artifact.sha256,
        "ab".repeat(32),
        "sha256 is stored in lower case"
    );
    assert_eq!(artifact.size_bytes, 12_345);
    let training = first.training.clone().unwrap();
    assert_eq!(
        training.duration_seconds, 300.25,
        "derived from the two times"
    );
    assert_eq!(training.feature_count, 2, "derived from the names");
    assert_eq!(first.metrics["log_loss"], 0.35);

    // What was returned is what is stored.
    let stored = client
        .get_model_version(pb::GetModelVersionRequest {
            id: first.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(stored, first);

    let second = register(&mut client, request).await;
    assert_eq!(second.version, 2);
    assert_ne!(second.id, first.id);
    let model = get_model(&mut client, "churn").await.unwrap();
    assert_eq!(model.version_count, 2);
    assert_eq!(model.production_version, None);

    let kinds: Vec<i32> = all_events(&mut client, "churn")
        .await
        .iter()
        .map(|e| e.r#type)
        .collect();
    assert_eq!(
        kinds,
        [
            pb::EventType::ModelCreated as i32,
            pb::EventType::VersionRegistered as i32,
            pb::EventType::VersionRegistered as i32
        ]
    );
}

async fn a_retried_request_id_returns_the_same_version_and_creates_nothing(server: TestServer) {
    let mut client = server.client.clone();
    let mut request = registration("churn", 0.8);
    request.request_id = "train-run-42".into();
    let first = register(&mut client, request.clone()).await;
    let events_before = all_events(&mut client, "churn").await.len();

    let retried = register(&mut client, request.clone()).await;
    assert_eq!(retried, first);
    assert_eq!(all_events(&mut client, "churn").await.len(), events_before);
    let model = get_model(&mut client, "churn").await.unwrap();
    assert_eq!(model.version_count, 1);

    // The same key for another model is a mistake, and changes nothing.
    request.model_name = "fraud".into();
    let status = status_of(client.register_model(request).await);
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(
        status.message().contains("train-run-42"),
        "{}",
        status.message()
    );
    assert_eq!(
        code_of(get_model(&mut client, "fraud").await),
        Code::NotFound
    );
}

async fn invalid_registrations_name_the_field_and_write_nothing(server: TestServer) {
    let mut client = server.client.clone();
    let valid = registration("churn", 0.8);
    let mut cases: Vec<(&str, pb::RegisterModelRequest)> = Vec::new();
    let mut r = valid.clone();
    r.model_name = "Churn Model".into();
    cases.push(("model_name", r));
    let mut r = valid.clone();
    r.algorithm = String::new();
    cases.push(("algorithm", r));
    let mut r = valid.clone();
    r.artifact = None;
    cases.push(("artifact", r));
    let mut r = valid.clone();
    r.artifact.as_mut().unwrap().sha256 = "not-a-digest".into();
    cases.push(("artifact.sha256", r));
    let mut r = valid.clone();
    r.artifact.as_mut().unwrap().size_bytes = -1;
    cases.push(("artifact.size_bytes", r));
    let mut r = valid.clone();
    r.metrics.insert("auc".into(), 1.5);
    cases.push(("metrics[auc]", r));
    let mut r = valid.clone();
    r.metrics.insert("loss".into(), f64::NAN);
    cases.push(("metrics[loss]", r));
    let mut r = valid.clone();
    r.tags.insert("bad key".into(), "x".into());
    cases.push(("tags", r));
    let mut r = valid.clone();
    r.training = Some(pb::TrainingInfo {
        started_at: Some(prost_types::Timestamp {
            seconds: 200,
            nanos: 0,
        }),
        finished_at: Some(prost_types::Timestamp {
            seconds: 100,
            nanos: 0,
        }),
        ..Default::default()
    });
    cases.push(("training.finished_at", r));
    let mut r = valid.clone();
    r.training = Some(pb::TrainingInfo {
        train_samples: -5,
        ..Default::default()
    });
    cases.push(("training.train_samples", r));
    let mut r = valid.clone();
    r.description = "x".repeat(5000);
    cases.push(("description", r));

    for (field, request) in cases {
        let status = status_of(client.register_model(request).await);
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert!(
            status.message().starts_with(&format!("invalid {field}:")),
            "{field}: message {:?} should name the field",
            status.message()
        );
    }
    let models = client
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(models.models.is_empty(), "nothing was written: {models:?}");
    let events = client
        .list_events(pb::ListEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(events.events.is_empty());
}

async fn versions_are_found_by_id_or_by_number_and_missing_ones_are_not_found(server: TestServer) {
    let mut client = server.client.clone();
    let v1 = register(&mut client, registration("churn", 0.8)).await;
    let by_number = get_version(&mut client, "churn", 1).await.unwrap();
    assert_eq!(by_number, v1);

    let missing = status_of(get_version(&mut client, "churn", 9).await);
    assert_eq!(missing.code(), Code::NotFound);
    assert!(
        missing.message().contains("has no version 9"),
        "{}",
        missing.message()
    );
    let no_model = status_of(get_version(&mut client, "fraud", 1).await);
    assert_eq!(no_model.code(), Code::NotFound);
    assert!(
        no_model.message().contains("does not exist"),
        "{}",
        no_model.message()
    );
    assert_eq!(
        code_of(
            client
                .get_model_version(pb::GetModelVersionRequest {
                    id: "nope".into(),
                    ..Default::default()
                })
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code_of(
            client
                .get_model_version(pb::GetModelVersionRequest {
                    id: v1.id.clone(),
                    model_name: "churn".into(),
                    version: 1
                })
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code_of(get_model(&mut client, "fraud").await),
        Code::NotFound
    );
}
