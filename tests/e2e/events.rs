//! ListEvents: the trail's filters and pagination.

use model_registry_api::v1 as pb;
use tonic::Code;

use model_registry_e2e::{
    TestServer, all_events, code_of, events_in_pages, on_both_backends, promote, register_many,
    set_status,
};

on_both_backends!(events_filter_by_model_version_type_and_time_and_page_in_order);

async fn events_filter_by_model_version_type_and_time_and_page_in_order(server: TestServer) {
    let mut client = server.client.clone();
    register_many(&mut client, "churn", 3).await;
    register_many(&mut client, "fraud", 1).await;
    promote(&mut client, "churn", 2).await.unwrap();
    set_status(&mut client, "churn", 1, pb::ModelStatus::Deprecated)
        .await
        .unwrap();

    let churn = all_events(&mut client, "churn").await;
    // 1 created + 3 registered + 1 promoted + 1 status change.
    assert_eq!(churn.len(), 6);
    assert!(churn.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    assert!(churn.iter().all(|e| e.model_name == "churn"));

    let only = |request: pb::ListEventsRequest| {
        let mut client = client.clone();
        async move {
            client
                .list_events(request)
                .await
                .unwrap()
                .into_inner()
                .events
        }
    };
    let version_1 = only(pb::ListEventsRequest {
        model_name: "churn".into(),
        version: Some(1),
        ..Default::default()
    })
    .await;
    assert_eq!(version_1.len(), 2, "registered, then deprecated");
    let production = only(pb::ListEventsRequest {
        types: vec![pb::EventType::AliasSet as i32],
        ..Default::default()
    })
    .await;
    assert_eq!(production.len(), 1);
    assert_eq!(production[0].new_version, Some(2));
    let since_promotion = only(pb::ListEventsRequest {
        model_name: "churn".into(),
        since: production[0].occurred_at,
        ..Default::default()
    })
    .await;
    assert_eq!(since_promotion.len(), 2);
    let until_promotion = only(pb::ListEventsRequest {
        model_name: "churn".into(),
        until: production[0].occurred_at,
        ..Default::default()
    })
    .await;
    assert_eq!(until_promotion.len(), 4);

    // Small pages return the same trail, each event once.
    let paged: Vec<i64> = events_in_pages(&mut client, "", 4)
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(paged.len(), 8);
    assert!(paged.windows(2).all(|w| w[0] < w[1]));

    let version_without_model = pb::ListEventsRequest {
        version: Some(1),
        ..Default::default()
    };
    assert_eq!(
        code_of(client.list_events(version_without_model).await),
        Code::InvalidArgument
    );
    let unknown = pb::ListEventsRequest {
        model_name: "nope".into(),
        ..Default::default()
    };
    assert_eq!(code_of(client.list_events(unknown).await), Code::NotFound);
}
