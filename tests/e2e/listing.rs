//! ListModelVersions, GetBestModelVersion and ListModels: filters, orderings
//! and pagination.

use model_registry_api::v1 as pb;
use tonic::Code;

use model_registry_e2e::{
    Client, TestServer, code_of, on_both_backends, promote, register, registration, set_status,
};

on_both_backends!(
    version_listings_filter_by_every_criterion,
    version_listings_order_by_metric_training_time_and_creation,
    best_version_picks_the_highest_or_lowest_active_value,
    models_are_listed_by_name_with_their_production_version,
    bad_page_tokens_and_sizes_are_refused,
    metric_pages_walk_through_ties_without_skipping_or_repeating,
);

fn trained(request: &mut pb::RegisterModelRequest, finished_seconds: i64) {
    request.training = Some(pb::TrainingInfo {
        finished_at: Some(prost_types::Timestamp {
            seconds: finished_seconds,
            nanos: 0,
        }),
        ..Default::default()
    });
}

async fn versions(client: &mut Client, request: pb::ListModelVersionsRequest) -> Vec<i64> {
    client
        .list_model_versions(request)
        .await
        .unwrap()
        .into_inner()
        .model_versions
        .into_iter()
        .map(|v| v.version)
        .collect()
}

async fn version_listings_filter_by_every_criterion(server: TestServer) {
    let mut client = server.client.clone();
    for (i, (algorithm, auc, team)) in [
        ("XGBoost", 0.81, "growth"),
        ("CatBoost", 0.86, "growth"),
        ("XGBoost", 0.91, "risk"),
        ("CatBoost", 0.76, "risk"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut request = registration("churn", auc);
        request.algorithm = algorithm.into();
        request.tags = [("team".into(), team.into())].into();
        trained(&mut request, 1_000 * (i as i64 + 1));
        register(&mut client, request).await;
    }
    register(&mut client, registration("fraud", 0.99)).await;
    set_status(&mut client, "churn", 4, pb::ModelStatus::Deprecated)
        .await
        .unwrap();
    promote(&mut client, "churn", 2).await.unwrap();

    let churn = || pb::ListModelVersionsRequest {
        model_name: "churn".into(),
        ..Default::default()
    };
    assert_eq!(versions(&mut client, churn()).await, [1, 2, 3, 4]);
    let all = versions(&mut client, pb::ListModelVersionsRequest::default()).await;
    assert_eq!(all.len(), 5, "no model filter lists every model");
    assert_eq!(
        versions(
            &mut client,
            pb::ListModelVersionsRequest {
                algorithm: "CatBoost".into(),
                ..churn()
            }
        )
        .await,
        [2, 4]
    );
    assert_eq!(
        versions(
            &mut client,
            pb::ListModelVersionsRequest {
                statuses: vec![pb::ModelStatus::Deprecated as i32],
                ..churn()
            }
        )
        .await,
        [4]
    );
    assert_eq!(
        versions(
            &mut client,
            pb::ListModelVersionsRequest {
                tags: [("team".into(), "risk".into())].into(),
                ..churn()
            }
        )
        .await,
        [3, 4]
    );
    assert_eq!(
        versions(
            &mut client,
            pb::ListModelVersionsRequest {
                min_metrics: [("auc".into(), 0.85)].into(),
                ..churn()
            }
        )
        .await,
        [2, 3]
    );
    assert_eq!(
        versions(
            &mut client,
            pb::ListModelVersionsRequest {
                trained_after: Some(prost_types::Timestamp {
                    seconds: 2_000,
                    nanos: 0
                }),
                trained_before: Some(prost_types::Timestamp {
                    seconds: 4_000,
                    nanos: 0
                }),
                ..churn()
            }
        )
        .await,
        [2, 3]
    );
    assert_eq!(
        versions(
            &mut client,
            pb::ListModelVersionsRequest {
                production_only: true,
                ..churn()
            }
        )
        .await,
        [2]
    );
    assert_eq!(
        versions(
            &mut client,
            pb::ListModelVersionsRequest {
                algorithm: "XGBoost".into(),
                min_metrics: [("auc".into(), 0.85)].into(),
                ..churn()
            }
        )
        .await,
        [3],
        "filters combine with AND"
    );
    assert_eq!(
        code_of(
            client
                .list_model_versions(pb::ListModelVersionsRequest {
                    model_name: "nope".into(),
                    ..Default::default()
                })
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code_of(
            client
                .list_model_versions(pb::ListModelVersionsRequest {
                    trained_after: Some(prost_types::Timestamp {
                        seconds: 5_000,
                        nanos: 0
                    }),
                    trained_before: Some(prost_types::Timestamp {
                        seconds: 4_000,
                        nanos: 0
                    }),
                    ..churn()
                })
                .await
        ),
        Code::InvalidArgument
    );
}

async fn version_listings_order_by_metric_training_time_and_creation(server: TestServer) {
    let mut client = server.client.clone();
    for (auc, finished) in [(0.7, 3_000), (0.9, 1_000), (0.8, 2_000)] {
        let mut request = registration("churn", auc);
        trained(&mut request, finished);
        register(&mut client, request).await;
    }
    let mut untrained = registration("churn", 0.95);
    untrained.metrics.clear();
    register(&mut client, untrained).await;
    let ordered =
        |order_by: pb::VersionOrder, metric: &str, descending: bool| pb::ListModelVersionsRequest {
            model_name: "churn".into(),
            order_by: order_by as i32,
            order_metric: metric.into(),
            descending,
            ..Default::default()
        };
    assert_eq!(
        versions(&mut client, ordered(pb::VersionOrder::Metric, "auc", true)).await,
        [2, 3, 1]
    );
    assert_eq!(
        versions(&mut client, ordered(pb::VersionOrder::Metric, "auc", false)).await,
        [1, 3, 2]
    );
    assert_eq!(
        versions(&mut client, ordered(pb::VersionOrder::TrainedAt, "", false)).await,
        [2, 3, 1]
    );
    assert_eq!(
        versions(&mut client, ordered(pb::VersionOrder::CreatedAt, "", true)).await,
        [4, 3, 2, 1]
    );
    assert_eq!(
        versions(&mut client, ordered(pb::VersionOrder::Version, "", true)).await,
        [4, 3, 2, 1]
    );
    assert_eq!(
        code_of(
            client
                .list_model_versions(ordered(pb::VersionOrder::Metric, "", false))
                .await
        ),
        Code::InvalidArgument
    );
}

async fn best_version_picks_the_highest_or_lowest_active_value(server: TestServer) {
    let mut client = server.client.clone();
    for auc in [0.8, 0.95, 0.9, 0.7] {
        register(&mut client, registration("churn", auc)).await;
    }
    set_status(&mut client, "churn", 2, pb::ModelStatus::Deprecated)
        .await
        .unwrap();
    let best = |lowest: bool, statuses: Vec<i32>| pb::GetBestModelVersionRequest {
        model_name: "churn".into(),
        metric: "auc".into(),
        lowest,
        statuses,
    };
    let highest = client
        .get_best_model_version(best(false, vec![]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (highest.model_version.unwrap().version, highest.value),
        (3, 0.9),
        "the deprecated 0.95 is skipped"
    );
    let lowest = client
        .get_best_model_version(best(true, vec![]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lowest.model_version.unwrap().version, 4);
    let any = client
        .get_best_model_version(best(
            false,
            vec![
                pb::ModelStatus::Active as i32,
                pb::ModelStatus::Deprecated as i32,
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(any.model_version.unwrap().version, 2);
    let mut unknown_metric = best(false, vec![]);
    unknown_metric.metric = "recall".into();
    assert_eq!(
        code_of(client.get_best_model_version(unknown_metric).await),
        Code::NotFound
    );
    let mut no_metric = best(false, vec![]);
    no_metric.metric = String::new();
    assert_eq!(
        code_of(client.get_best_model_version(no_metric).await),
        Code::InvalidArgument
    );
}

async fn models_are_listed_by_name_with_their_production_version(server: TestServer) {
    let mut client = server.client.clone();
    for name in ["fraud", "churn", "churn_v2", "churnx", "ranking"] {
        register(&mut client, registration(name, 0.8)).await;
    }
    promote(&mut client, "fraud", 1).await.unwrap();
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_models(pb::ListModelsRequest {
                page_size: 2,
                page_token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.models.len() <= 2);
        names.extend(
            page.models
                .into_iter()
                .map(|m| (m.name, m.production_version, m.version_count)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let expected = [
        ("churn", None),
        ("churn_v2", None),
        ("churnx", None),
        ("fraud", Some(1)),
        ("ranking", None),
    ];
    assert_eq!(names.len(), expected.len());
    for ((name, production, count), (want_name, want_production)) in names.iter().zip(expected) {
        assert_eq!(
            (name.as_str(), *production, *count),
            (want_name, want_production, 1)
        );
    }
    // '_' in a prefix is a literal underscore, not a wildcard.
    let prefixed = client
        .list_models(pb::ListModelsRequest {
            name_prefix: "churn_".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let prefixed: Vec<String> = prefixed.models.into_iter().map(|m| m.name).collect();
    assert_eq!(prefixed, ["churn_v2"]);
}

async fn bad_page_tokens_and_sizes_are_refused(server: TestServer) {
    let mut client = server.client.clone();
    for _ in 0..3 {
        register(&mut client, registration("churn", 0.8)).await;
    }
    let page = client
        .list_model_versions(pb::ListModelVersionsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let status = model_registry_e2e::status_of(
        client
            .list_model_versions(pb::ListModelVersionsRequest {
                page_token: page.next_page_token.clone(),
                descending: true,
                ..Default::default()
            })
            .await,
    );
    assert_eq!(
        status.code(),
        Code::InvalidArgument,
        "a token is bound to its ordering"
    );
    assert!(status.message().starts_with("invalid page_token"));
    for page_token in ["garbage", "eyJ4IjoxfQ"] {
        let request = pb::ListModelVersionsRequest {
            page_token: page_token.into(),
            ..Default::default()
        };
        assert_eq!(
            code_of(client.list_model_versions(request).await),
            Code::InvalidArgument
        );
    }
    for page_size in [-1, 501] {
        let request = pb::ListEventsRequest {
            page_size,
            ..Default::default()
        };
        assert_eq!(
            code_of(client.list_events(request).await),
            Code::InvalidArgument
        );
    }
}

async fn metric_pages_walk_through_ties_without_skipping_or_repeating(server: TestServer) {
    let mut client = server.client.clone();
    // Three values, each held by several versions: pages of two split ties.
    for auc in [0.7, 0.9, 0.8, 0.9, 0.7, 0.8, 0.9, 0.7] {
        register(&mut client, registration("churn", auc)).await;
    }
    for descending in [true, false] {
        let mut request = pb::ListModelVersionsRequest {
            model_name: "churn".into(),
            order_by: pb::VersionOrder::Metric as i32,
            order_metric: "auc".into(),
            descending,
            page_size: 2,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = client
                .list_model_versions(request.clone())
                .await
                .unwrap()
                .into_inner();
            seen.extend(
                page.model_versions
                    .iter()
                    .map(|v| (v.metrics["auc"], v.version)),
            );
            if page.next_page_token.is_empty() {
                break;
            }
            request.page_token = page.next_page_token;
        }
        let mut versions: Vec<i64> = seen.iter().map(|&(_, v)| v).collect();
        versions.sort_unstable();
        assert_eq!(versions, (1..=8).collect::<Vec<_>>(), "each version once");
        let values: Vec<f64> = seen.iter().map(|&(auc, _)| auc).collect();
        let mut sorted = values.clone();
        sorted.sort_by(|a, b| {
            if descending {
                b.total_cmp(a)
            } else {
                a.total_cmp(b)
            }
        });
        assert_eq!(values, sorted, "in metric order across pages");
    }
}
