//! The client carries consistency tokens: the newest a change answered is
//! sent with its alias reads, and can be handed to a client of another
//! replica, whose reads then include the change.

use model_registry_client::{RegisterModel, RegistryClient};
use model_registry_e2e::{Backend, HeldFeed, TestServer};
use model_registry_server::server::ServeOptions;
use model_registry_server::store::DatabaseUrl;

/// Two replicas with every feed held back, so a replica's cache trails
/// every commit made through the other until a token says otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_makes_reads_through_another_replica_include_the_change() {
    let Some(a) = TestServer::builder(Backend::Postgres).start().await else {
        return;
    };
    let b = a.replica(ServeOptions::default()).await;
    let DatabaseUrl::Postgres(url) = &a.database_url else {
        unreachable!("a PostgreSQL server");
    };
    let deployer = RegistryClient::connect(a.url.clone()).await.unwrap();
    let elsewhere = RegistryClient::connect(b.url.clone()).await.unwrap();
    for _ in 0..2 {
        deployer
            .register_model(
                RegisterModel::new("churn")
                    .algorithm("X")
                    .artifact_uri("s3://x"),
            )
            .await
            .unwrap();
    }
    // Once its watch has the move, the other replica's feed has applied it.
    let mut moves = elsewhere
        .raw()
        .watch_production_model(model_registry_client::proto::WatchProductionModelRequest {
            model_name: "churn".into(),
            after_event_id: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(moves.message().await.unwrap().unwrap().initial);
    deployer
        .set_production_model("churn", 1)
        .reason("first")
        .await
        .unwrap();
    let moved = moves.message().await.unwrap().unwrap();
    assert_eq!(moved.model_version.map(|v| v.version), Some(1));
    let first = deployer.consistency_token();
    assert!(first.starts_with("v1."), "{first:?}");
    // The deployer reads its own move (its reads send its token).
    assert_eq!(
        deployer
            .get_production_model("churn")
            .await
            .unwrap()
            .version(),
        1
    );
    elsewhere.observe_consistency_token(&first);
    assert_eq!(
        elsewhere
            .get_production_model("churn")
            .await
            .unwrap()
            .version(),
        1
    );

    let held = HeldFeed::hold(url).await;
    deployer
        .set_production_model("churn", 2)
        .reason("second")
        .await
        .unwrap();
    assert_ne!(deployer.consistency_token(), first, "a newer token");
    assert_eq!(
        elsewhere
            .get_production_model("churn")
            .await
            .unwrap()
            .version(),
        1,
        "the other replica's cache has not heard of the move"
    );
    elsewhere.observe_consistency_token(&deployer.consistency_token());
    // An older token seen later does not replace the newer one.
    elsewhere.observe_consistency_token(&first);
    assert_eq!(elsewhere.consistency_token(), deployer.consistency_token());
    assert_eq!(
        elsewhere
            .get_production_model("churn")
            .await
            .unwrap()
            .version(),
        2
    );
    assert_eq!(
        elsewhere
            .get_version_by_alias("churn", "production")
            .await
            .unwrap()
            .version(),
        2
    );
    held.release().await;
}
