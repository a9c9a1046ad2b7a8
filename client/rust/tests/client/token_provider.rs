//! A token printed by a command is fetched again shortly before it
//! expires: a long-running client switches to the platform's next token
//! before the one it holds runs out, without restarting.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use model_registry_client::{ClientOptions, RegisterModel, RegistryClient, TokenProvider};
use model_registry_e2e::TestServer;
use model_registry_server::auth::{Authenticator, hash_token_entry};
use model_registry_server::domain::access::Role;
use model_registry_server::server::ServeOptions;

/// A JWT-shaped token expiring at `exp` (seconds since the epoch). The
/// server knows it as a static token (its digest is in the tokens file);
/// only the client reads its `exp`, to plan the refresh.
fn expiring_token(name: &str, exp: u64) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(&format!(r#"{{"sub":"{name}","exp":{exp}}}"#)),
        b64(name)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_token_is_fetched_again_before_it_expires() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let first = expiring_token("first", now + 3);
    let next = expiring_token("next", now + 600);
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    model_registry_e2e::write_tokens_file(
        &tokens,
        &[
            hash_token_entry(&first, "ci-first", Role::Trainer),
            hash_token_entry(&next, "ci-next", Role::Trainer),
        ]
        .join("\n"),
    );
    let options = ServeOptions {
        authenticator: Arc::new(Authenticator::from_file(&tokens).unwrap()),
        ..ServeOptions::default()
    };
    let Some(server) = TestServer::builder(model_registry_e2e::Backend::Sqlite)
        .options(options)
        .start()
        .await
    else {
        return;
    };
    let token_file = dir.path().join("issued");
    std::fs::write(&token_file, &first).unwrap();
    let client = RegistryClient::connect_with(
        server.url.clone(),
        ClientOptions {
            token_provider: Some(TokenProvider::Command(vec![
                "cat".into(),
                token_file.display().to_string(),
            ])),
            token_refresh_before: Duration::from_secs(2),
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    let register = |n: u32| {
        RegisterModel::new("churn")
            .algorithm("X")
            .artifact_uri(format!("s3://churn/{n}"))
    };
    let version = client.register_model(register(0)).await.unwrap();
    assert_eq!(version.created_by(), "ci-first");
    // The platform has the next token ready; the client keeps the one it
    // holds until two seconds before that one's expiry, then runs the
    // command again.
    std::fs::write(&token_file, &next).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 1;
    loop {
        let version = client.register_model(register(n)).await.unwrap();
        if version.created_by() == "ci-next" {
            break;
        }
        assert_eq!(version.created_by(), "ci-first");
        assert!(
            Instant::now() < deadline,
            "the token was never fetched again"
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let switched_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        switched_at <= now + 3,
        "switched only after the first token expired"
    );
}
