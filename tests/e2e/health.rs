//! Health and lifecycle: SERVING only while the database answers, recovery
//! without a restart, and graceful shutdown.

use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use model_registry_e2e::{
    TestServer, code_of, get_model, on_both_backends, postgres_base_url, register, registration,
};

on_both_backends!(
    health_is_serving_for_the_server_and_the_registry_service,
    shutdown_stops_serving_and_returns_cleanly
);

async fn health(server: &TestServer, service: &str) -> ServingStatus {
    let response = HealthClient::new(server.channel.clone())
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health answers")
        .into_inner();
    ServingStatus::try_from(response.status).unwrap_or(ServingStatus::Unknown)
}

/// Polls health until it reports `want`, for at most ten seconds.
async fn wait_for_health(server: &TestServer, want: ServingStatus) {
    for _ in 0..100 {
        if health(server, "").await == want
            && health(server, model_registry_api::REGISTRY_SERVICE_NAME).await == want
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("health did not become {want:?} within 10 s");
}

async fn health_is_serving_for_the_server_and_the_registry_service(server: TestServer) {
    wait_for_health(&server, ServingStatus::Serving).await;
}

async fn shutdown_stops_serving_and_returns_cleanly(server: TestServer) {
    wait_for_health(&server, ServingStatus::Serving).await;
    let addr = server.addr;
    server
        .stop()
        .await
        .expect("serve returns Ok after shutdown");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the port no longer accepts connections"
    );
}

/// A TCP proxy in front of PostgreSQL that the test can cut and restore.
struct Proxy {
    addr: std::net::SocketAddr,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = watch::channel(true);
        let state = up.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut down = state.subscribe();
                if !*down.borrow() {
                    continue; // refused: dropped at once
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up }
    }

    fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_postgres_turns_health_not_serving_and_calls_unavailable_then_recovers() {
    let base = postgres_base_url();
    let authority = base
        .rsplit('@')
        .next()
        .unwrap_or("127.0.0.1:5432")
        .to_owned();
    let proxy = Proxy::start(authority.clone()).await;
    let proxied = proxy.addr.to_string();
    let Some(server) = TestServer::postgres_via(move |url| url.replacen(&authority, &proxied, 1))
        .start()
        .await
    else {
        return;
    };
    let mut client = server.client.clone();
    register(&mut client, registration("churn", 0.8)).await;
    wait_for_health(&server, ServingStatus::Serving).await;

    proxy.set_up(false);
    wait_for_health(&server, ServingStatus::NotServing).await;
    let read = get_model(&mut client, "churn").await;
    assert_eq!(code_of(read), Code::Unavailable);
    let write = client.register_model(registration("churn", 0.9)).await;
    assert_eq!(code_of(write), Code::Unavailable);

    proxy.set_up(true);
    wait_for_health(&server, ServingStatus::Serving).await;
    let version = register(&mut client, registration("churn", 0.9)).await;
    assert_eq!(version.version, 2, "the failed registration left no gap");
}
