//! gzip: a compressed request is accepted (it was UNIMPLEMENTED), a client
//! that accepts gzip gets compressed answers, one that does not gets plain
//! ones, and a compressed bomb is refused by its decompressed size.

use model_registry_api::v1 as pb;
use tonic::Code;
use tonic::codec::CompressionEncoding;

use model_registry_e2e::{Backend, TestServer, registration};

/// A registration of about 1 MB that gzip shrinks a hundredfold.
fn large_registration() -> pb::RegisterModelRequest {
    let mut request = registration("churn", 0.9);
    request.training = Some(pb::TrainingInfo {
        feature_names: (0..4000)
            .map(|i| format!("feature_{i:05}_{}", "x".repeat(200)))
            .collect(),
        ..Default::default()
    });
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_requests_are_accepted_and_answers_compressed_for_clients_that_ask() {
    let server = TestServer::builder(Backend::Sqlite).start().await.unwrap();
    let mut gzip = server
        .client
        .clone()
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let registered = gzip
        .register_model(large_registration())
        .await
        .expect("a gzip request is served")
        .into_inner()
        .model_version
        .unwrap();
    let features = registered.training.unwrap().feature_names;
    assert_eq!(features.len(), 4000, "nothing lost on the way");

    let request = || pb::GetModelVersionRequest {
        model_name: "churn".into(),
        version: 1,
        ..Default::default()
    };
    let compressed = gzip.get_model_version(request()).await.unwrap();
    assert_eq!(
        compressed
            .metadata()
            .get("grpc-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    let plain = server
        .client
        .clone()
        .get_model_version(request())
        .await
        .unwrap();
    assert_eq!(plain.metadata().get("grpc-encoding"), None);
    assert_eq!(compressed.into_inner(), plain.into_inner());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_bomb_is_refused_by_its_decompressed_size() {
    let server = TestServer::builder(Backend::Sqlite).start().await.unwrap();
    // 64 MiB of one character: about 64 KiB compressed, far past the
    // 4 MiB request limit once inflated.
    let mut request = registration("churn", 0.9);
    request.description = "0".repeat(64 * 1024 * 1024);
    let status = server
        .client
        .clone()
        .send_compressed(CompressionEncoding::Gzip)
        .register_model(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let models = server
        .client
        .clone()
        .list_models(pb::ListModelsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .models;
    assert!(models.is_empty(), "nothing was registered");
}
