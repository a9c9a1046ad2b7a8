//! A token file is read again when it changes: a long-running client uses a
//! rotated token (Kubernetes swaps projected tokens in place) from its next
//! call, without restarting.

use std::sync::Arc;

use model_registry_client::{ClientOptions, Error, RegisterModel, RegistryClient};
use model_registry_e2e::{TestServer, on_both_backends};
use model_registry_server::auth::{Authenticator, hash_token_entry};
use model_registry_server::domain::access::Role;
use model_registry_server::server::ServeOptions;

on_both_backends!(backend: a_rotated_token_file_is_used_from_the_next_call);

async fn a_rotated_token_file_is_used_from_the_next_call(backend: model_registry_e2e::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    model_registry_e2e::write_tokens_file(
        &tokens,
        &[
            hash_token_entry(
                "a-reader-token-from-the-platform",
                "dashboards",
                Role::Reader,
            ),
            hash_token_entry("a-trainer-token-rotated-in-later", "ci", Role::Trainer),
        ]
        .join("\n"),
    );
    let options = ServeOptions {
        authenticator: Arc::new(Authenticator::from_file(&tokens).unwrap()),
        ..ServeOptions::default()
    };
    let Some(server) = TestServer::builder(backend).options(options).start().await else {
        return;
    };
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "a-reader-token-from-the-platform\n").unwrap();
    let client = RegistryClient::connect_with(
        server.url.clone(),
        ClientOptions {
            token_file: Some(token_file.clone()),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    let register = || {
        RegisterModel::new("churn")
            .algorithm("X")
            .artifact_uri("s3://churn/1")
    };
    let refused = client.register_model(register()).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Some(tonic::Code::PermissionDenied),
        "{refused}"
    );

    // Rotated in place, as the kubelet does: the same client, no restart.
    std::fs::write(&token_file, "a-trainer-token-rotated-in-later\n").unwrap();
    let registered = client.register_model(register()).await.unwrap();
    assert_eq!(registered.version(), 1);
    let clone = client.clone();
    assert!(
        clone.get_model("churn").await.is_ok(),
        "clones share the file"
    );

    // A file that goes missing mid-rotation: the last token read is used.
    std::fs::remove_file(&token_file).unwrap();
    assert!(client.get_model("churn").await.is_ok());

    let both = RegistryClient::connect_with(
        server.url.clone(),
        ClientOptions {
            token: Some("x".into()),
            token_file: Some(token_file.clone()),
            ..ClientOptions::default()
        },
    )
    .await;
    assert!(matches!(both, Err(Error::InvalidInput(_))));
    std::fs::write(&token_file, "  \n").unwrap();
    let empty = RegistryClient::connect_with(
        server.url.clone(),
        ClientOptions {
            token_file: Some(token_file),
            ..ClientOptions::default()
        },
    )
    .await;
    assert!(matches!(empty, Err(Error::InvalidInput(ref reason)) if reason.contains("empty")));
}
