//! TLS and mutual TLS: a client trusting the CA reaches the server, a
//! client certificate names its principal, and a plaintext client against
//! a TLS server fails at once instead of hanging.

use std::sync::Arc;
use std::time::{Duration, Instant};

use model_registry_api::v1 as pb;
use model_registry_api::v1::registry_service_client::RegistryServiceClient;
use model_registry_server::auth::{Authenticator, hash_token};
use model_registry_server::server::{ServeOptions, tls_config};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use model_registry_e2e::{Backend, TestCertificates, TestServer, registration};

async fn tls_server(certs: &TestCertificates) -> TestServer {
    let tokens = certs.dir.path().join("tokens.toml");
    let digest: String = hash_token("trainer-token")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    model_registry_e2e::write_tokens_file(
        &tokens,
        &format!(
            "[[principal]]\nname = \"ci\"\nrole = \"trainer\"\ntoken_sha256 = \"{digest}\"\n\n\
             [[principal]]\nname = \"deployer.example.com\"\nrole = \"deployer\"\nclient_certificate = true\n"
        ),
    );
    let options = ServeOptions {
        authenticator: Arc::new(Authenticator::from_file(&tokens).unwrap()),
        tls: Some(tls_config(&certs.server_cert, &certs.server_key, Some(&certs.ca)).unwrap()),
        ..ServeOptions::default()
    };
    TestServer::builder(Backend::Sqlite)
        .options(options)
        .start()
        .await
        .expect("SQLite needs no server")
}

fn endpoint(server: &TestServer, tls: Option<ClientTlsConfig>) -> Endpoint {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoint = Endpoint::from_shared(format!("{scheme}://127.0.0.1:{}", server.addr.port()))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10));
    match tls {
        Some(tls) => endpoint.tls_config(tls).unwrap(),
        None => endpoint,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_names_its_principal_over_mutual_tls() {
    let certs = TestCertificates::generate("deployer.example.com");
    let server = tls_server(&certs).await;
    let ca = Certificate::from_pem(std::fs::read(&certs.ca).unwrap());
    let identity = Identity::from_pem(
        std::fs::read(&certs.client_cert).unwrap(),
        std::fs::read(&certs.client_key).unwrap(),
    );

    // A token over TLS without a client certificate: the token's principal.
    let channel = endpoint(
        &server,
        Some(ClientTlsConfig::new().ca_certificate(ca.clone())),
    )
    .connect()
    .await
    .unwrap();
    let token: tonic::metadata::MetadataValue<_> = "Bearer trainer-token".parse().unwrap();
    let mut trainer =
        RegistryServiceClient::with_interceptor(channel, move |mut r: tonic::Request<()>| {
            r.metadata_mut().insert("authorization", token.clone());
            Ok(r)
        });
    let version = trainer
        .register_model(registration("churn", 0.9))
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(version.created_by, "ci");

    // The client certificate alone: its name is the principal.
    let channel = endpoint(
        &server,
        Some(ClientTlsConfig::new().ca_certificate(ca).identity(identity)),
    )
    .connect()
    .await
    .unwrap();
    let mut deployer = RegistryServiceClient::new(channel);
    deployer
        .set_production_model(pb::SetProductionModelRequest {
            model_name: "churn".into(),
            version: 1,
            reason: "mTLS".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let events = deployer
        .list_events(pb::ListEventsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .events;
    assert_eq!(events.last().unwrap().actor, "deployer.example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_or_plaintext_client_is_refused_promptly() {
    let certs = TestCertificates::generate("deployer.example.com");
    let server = tls_server(&certs).await;
    let started = Instant::now();
    let plaintext = endpoint(&server, None).connect().await;
    let plaintext_failed = match plaintext {
        Err(_) => true,
        Ok(channel) => {
            // tonic's client classifies the broken handshake itself
            // (UNKNOWN or INTERNAL "transport error"): what matters is that
            // it fails at once.
            RegistryServiceClient::new(channel)
                .list_models(pb::ListModelsRequest::default())
                .await
                .is_err()
        }
    };
    assert!(plaintext_failed);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no hang: {:?}",
        started.elapsed()
    );

    // A client that does not trust the server's CA refuses to connect.
    let other = TestCertificates::generate("x");
    let untrusted = endpoint(
        &server,
        Some(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(std::fs::read(&other.ca).unwrap())),
        ),
    )
    .connect()
    .await;
    assert!(untrusted.is_err());
    // A client certificate from another CA is refused by the server.
    let foreign = endpoint(
        &server,
        Some(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(std::fs::read(&certs.ca).unwrap()))
                .identity(Identity::from_pem(
                    std::fs::read(&other.client_cert).unwrap(),
                    std::fs::read(&other.client_key).unwrap(),
                )),
        ),
    )
    .connect()
    .await;
    let refused = match foreign {
        Err(_) => true,
        Ok(channel) => RegistryServiceClient::new(channel)
            .list_models(pb::ListModelsRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "a certificate from another CA is not accepted");
}
