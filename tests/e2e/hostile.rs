//! Requests nobody can abuse: page tokens bound to their query and not
//! forgeable, responses bounded in size, every invalid field named with the
//! request id in structured details, and a corpus of hostile inputs each
//! answered with the right code while nothing changes.

use model_registry_api::v1 as pb;
use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;

use model_registry_e2e::{
    Client, TestServer, all_events, on_both_backends, register, registration, status_of,
};

on_both_backends!(
    page_tokens_work_only_for_the_query_that_issued_them,
    large_versions_come_in_pages_that_fit_and_basic_views_leave_them_out,
    errors_name_every_invalid_field_and_carry_the_request_id,
    hostile_inputs_get_the_right_code_and_change_nothing,
);

async fn versions_page(
    client: &mut Client,
    request: pb::ListModelVersionsRequest,
) -> Result<pb::ListModelVersionsResponse, tonic::Status> {
    client
        .list_model_versions(request)
        .await
        .map(tonic::Response::into_inner)
}

async fn page_tokens_work_only_for_the_query_that_issued_them(server: TestServer) {
    let mut client = server.client.clone();
    for model in ["aaa", "bbb"] {
        for auc in [0.6, 0.7, 0.8] {
            register(&mut client, registration(model, auc)).await;
        }
    }
    let first = versions_page(
        &mut client,
        pb::ListModelVersionsRequest {
            model_name: "aaa".into(),
            page_size: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(!first.next_page_token.is_empty());
    // The same query continues; page_size may change between pages.
    let rest = versions_page(
        &mut client,
        pb::ListModelVersionsRequest {
            model_name: "aaa".into(),
            page_size: 50,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(rest.model_versions.len(), 1);
    // The reproduction: aaa's token with model bbb.
    for other in [
        pb::ListModelVersionsRequest {
            model_name: "bbb".into(),
            ..Default::default()
        },
        pb::ListModelVersionsRequest {
            model_name: "aaa".into(),
            descending: true,
            ..Default::default()
        },
        pb::ListModelVersionsRequest {
            model_name: "aaa".into(),
            min_metrics: [("auc".into(), 0.1)].into(),
            ..Default::default()
        },
    ] {
        let refused = status_of(
            versions_page(
                &mut client,
                pb::ListModelVersionsRequest {
                    page_token: first.next_page_token.clone(),
                    ..other
                },
            )
            .await,
        );
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(
            refused.message().contains("another query"),
            "{}",
            refused.message()
        );
    }
    // A token cannot be made up, even from a real one's pieces.
    let (payload, _) = first.next_page_token.split_once('.').unwrap();
    for forged in [
        payload.to_owned(),
        format!("{payload}.AAAA"),
        "eyJhZnRlcl9pZCI6MH0".to_owned(),
    ] {
        let refused = status_of(
            versions_page(
                &mut client,
                pb::ListModelVersionsRequest {
                    model_name: "aaa".into(),
                    page_token: forged,
                    ..Default::default()
                },
            )
            .await,
        );
        assert_eq!(refused.code(), Code::InvalidArgument);
    }
    // Models and events take signed tokens too.
    let models = client
        .list_models(pb::ListModelsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let refused = client
        .list_models(pb::ListModelsRequest {
            name_prefix: "b".into(),
            page_token: models.next_page_token,
            ..Default::default()
        })
        .await;
    assert_eq!(status_of(refused).code(), Code::InvalidArgument);
}

async fn large_versions_come_in_pages_that_fit_and_basic_views_leave_them_out(server: TestServer) {
    let mut client = server.client.clone();
    // About 1.3 MB each: 5,000 feature names of 250 characters.
    for i in 0..3 {
        let mut request = registration("wide", 0.5);
        request.training = Some(pb::TrainingInfo {
            feature_names: (0..5_000).map(|n| format!("{n:0>250}")).collect(),
            ..Default::default()
        });
        request.params = [("seed".into(), i.to_string())].into();
        register(&mut client, request).await;
    }
    // The default (basic) view leaves the large fields out.
    let basic = versions_page(
        &mut client,
        pb::ListModelVersionsRequest {
            model_name: "wide".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(basic.model_versions.len(), 3);
    assert!(
        basic.encoded_len() < 10_000,
        "{} bytes",
        basic.encoded_len()
    );
    let training = basic.model_versions[0].training.as_ref().unwrap();
    assert_eq!(
        (training.feature_count, training.feature_names.len()),
        (5_000, 0)
    );
    assert!(basic.model_versions[0].params.is_empty());

    // The full view cuts pages below the budget and continues where it cut.
    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = versions_page(
            &mut client,
            pb::ListModelVersionsRequest {
                model_name: "wide".into(),
                view: pb::VersionView::Full as i32,
                page_token: token,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(
            page.encoded_len() <= 3 * 1024 * 1024,
            "{} bytes",
            page.encoded_len()
        );
        assert!(!page.model_versions.is_empty());
        for version in &page.model_versions {
            assert_eq!(
                version.training.as_ref().unwrap().feature_names.len(),
                5_000
            );
            seen.push(version.version);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, [1, 2, 3]);
}

async fn errors_name_every_invalid_field_and_carry_the_request_id(server: TestServer) {
    let mut client = server.client.clone();
    let mut request = registration("Bad Name", 1.5);
    request.algorithm = String::new();
    request.artifact = None;
    let refused = status_of(client.register_model(request).await);
    assert_eq!(refused.code(), Code::InvalidArgument);
    let details = refused.get_error_details();
    let fields: Vec<&str> = details
        .bad_request()
        .expect("a BadRequest detail")
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(
        fields,
        ["model_name", "algorithm", "artifact", "metrics[auc]"]
    );
    let request_id = details
        .request_info()
        .expect("a RequestInfo detail")
        .request_id
        .clone();
    assert_eq!(
        refused
            .metadata()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap(),
        request_id
    );
    // Errors without field violations carry the request id too.
    let missing = status_of(
        client
            .get_model(pb::GetModelRequest {
                model_name: "nothing".into(),
            })
            .await,
    );
    assert!(missing.get_error_details().request_info().is_some());
}

/// A RegisterModelRequest whose model name is raw bytes, to send what a
/// well-behaved client never would.
#[derive(Clone, PartialEq, Message)]
struct RawRegistration {
    #[prost(bytes = "vec", tag = "1")]
    model_name: Vec<u8>,
    #[prost(string, tag = "2")]
    algorithm: String,
}

async fn send_raw<M: Message + Send + Sync + 'static>(
    server: &TestServer,
    message: M,
) -> Result<pb::RegisterModelResponse, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(server.channel.clone());
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<M, pb::RegisterModelResponse>::default();
    let path =
        http::uri::PathAndQuery::from_static("/modelregistry.v1.RegistryService/RegisterModel");
    grpc.unary(tonic::Request::new(message), path, codec)
        .await
        .map(tonic::Response::into_inner)
}

fn nested_metadata(depth: usize) -> prost_types::Struct {
    let mut value = prost_types::Value {
        kind: Some(prost_types::value::Kind::StringValue("bottom".into())),
    };
    for _ in 0..depth {
        value = prost_types::Value {
            kind: Some(prost_types::value::Kind::StructValue(prost_types::Struct {
                fields: [("n".to_owned(), value)].into(),
            })),
        };
    }
    prost_types::Struct {
        fields: [("root".to_owned(), value)].into(),
    }
}

async fn hostile_inputs_get_the_right_code_and_change_nothing(server: TestServer) {
    let mut client = server.client.clone();
    register(&mut client, registration("churn", 0.8)).await;
    let before = all_events(&mut client, "churn").await;

    let with = |change: &dyn Fn(&mut pb::RegisterModelRequest)| {
        let mut request = registration("churn", 0.8);
        change(&mut request);
        request
    };
    let megabyte = "x".repeat(1 << 20);
    let cases: Vec<(&str, pb::RegisterModelRequest, Code)> = vec![
        (
            "NUL in a tag value",
            with(&|r| {
                r.tags.insert("team".into(), "gro\0wth".into());
            }),
            Code::InvalidArgument,
        ),
        (
            "NUL in a param",
            with(&|r| {
                r.params.insert("depth".into(), "6\0".into());
            }),
            Code::InvalidArgument,
        ),
        (
            "NUL in metadata",
            with(&|r| {
                r.metadata = Some(prost_types::Struct {
                    fields: [(
                        "k".to_owned(),
                        prost_types::Value {
                            kind: Some(prost_types::value::Kind::StringValue("a\0b".into())),
                        },
                    )]
                    .into(),
                });
            }),
            Code::InvalidArgument,
        ),
        (
            "a control character in the name",
            with(&|r| r.model_name = "churn\n".into()),
            Code::InvalidArgument,
        ),
        (
            "a 1 MB description",
            with(&|r| r.description = megabyte.clone()),
            Code::InvalidArgument,
        ),
        (
            "a 1 MB algorithm",
            with(&|r| r.algorithm = megabyte.clone()),
            Code::InvalidArgument,
        ),
        (
            "NaN",
            with(&|r| {
                r.metrics.insert("loss".into(), f64::NAN);
            }),
            Code::InvalidArgument,
        ),
        (
            "infinity",
            with(&|r| {
                r.metrics.insert("loss".into(), f64::INFINITY);
            }),
            Code::InvalidArgument,
        ),
        (
            "a negative size",
            with(&|r| r.artifact.as_mut().unwrap().size_bytes = -1),
            Code::InvalidArgument,
        ),
        (
            "nesting past the decoder's limit",
            with(&|r| r.metadata = Some(nested_metadata(80))),
            Code::InvalidArgument,
        ),
        (
            "a 5 MB message",
            with(&|r| r.description = "x".repeat(5 << 20)),
            Code::ResourceExhausted,
        ),
    ];
    for (what, request, code) in cases {
        let refused = status_of(client.register_model(request).await);
        assert_eq!(refused.code(), code, "{what}: {refused:?}");
    }
    // SQL in a string is only text.
    let mut sql = registration("churn", 0.8);
    sql.description = "'); DROP TABLE model_versions; --".into();
    sql.tags.insert("note".into(), "1' OR '1'='1".into());
    let stored = register(&mut client, sql).await;
    assert_eq!(stored.description, "'); DROP TABLE model_versions; --");

    let invalid_utf8 = send_raw(
        &server,
        RawRegistration {
            model_name: vec![b'c', 0xff, 0xfe],
            algorithm: "X".into(),
        },
    )
    .await;
    let refused = status_of(invalid_utf8);
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("model_name"),
        "{}",
        refused.message()
    );

    let bad_enums = [
        client
            .update_model_version_status(pb::UpdateModelVersionStatusRequest {
                model_name: "churn".into(),
                version: 1,
                status: 99,
                reason: "x".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        client
            .list_model_versions(pb::ListModelVersionsRequest {
                order_by: 99,
                ..Default::default()
            })
            .await
            .map(drop),
        client
            .list_model_versions(pb::ListModelVersionsRequest {
                view: 42,
                ..Default::default()
            })
            .await
            .map(drop),
        client
            .list_events(pb::ListEventsRequest {
                types: vec![99],
                ..Default::default()
            })
            .await
            .map(drop),
        client
            .list_model_versions(pb::ListModelVersionsRequest {
                algorithm: "X\0".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        client
            .list_model_versions(pb::ListModelVersionsRequest {
                page_token: "\0".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        client
            .list_model_versions(pb::ListModelVersionsRequest {
                tags: (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect(),
                ..Default::default()
            })
            .await
            .map(drop),
    ];
    for result in bad_enums {
        assert_eq!(status_of(result).code(), Code::InvalidArgument);
    }

    let after = all_events(&mut client, "churn").await;
    assert_eq!(
        after.len(),
        before.len() + 1,
        "only the SQL-looking registration changed anything"
    );
}

/// Fails while a query of `database` other than the locking session's is
/// still executing on the PostgreSQL server.
async fn no_query_runs(url: &model_registry_server::store::DatabaseUrl) -> Result<(), String> {
    model_registry_e2e::execute_sql(
        url,
        "DO $$ BEGIN
           IF (SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND pid <> pg_backend_pid()
                 AND state = 'active' AND query LIKE '%model_versions%'
                 AND query NOT LIKE 'LOCK%') > 0
           THEN RAISE EXCEPTION 'a query is still running'; END IF;
         END $$;",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_whose_caller_gave_up_is_cancelled_in_postgres() {
    use std::time::{Duration, Instant};

    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    use model_registry_server::server::ServeOptions;
    use model_registry_server::store::DatabaseUrl;

    let options = ServeOptions {
        request_timeout: Duration::from_millis(400),
        ..ServeOptions::default()
    };
    let Some(server) = TestServer::builder(model_registry_e2e::Backend::Postgres)
        .options(options)
        .start()
        .await
    else {
        return;
    };
    let mut client = server.client.clone();
    register(&mut client, registration("churn", 0.8)).await;
    let DatabaseUrl::Postgres(url) = &server.database_url else {
        unreachable!("a PostgreSQL test");
    };
    // An outside session locks the table, so every read of it waits.
    let mut locker = AsyncPgConnection::establish(url).await.unwrap();
    locker
        .batch_execute("BEGIN; LOCK TABLE model_versions IN ACCESS EXCLUSIVE MODE;")
        .await
        .unwrap();
    let started = Instant::now();
    let outcome = client
        .get_model_version(pb::GetModelVersionRequest {
            model_name: "churn".into(),
            version: 1,
            ..Default::default()
        })
        .await;
    assert!(
        outcome.is_err(),
        "the server's request timeout ends the call"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // The abandoned query does not wait for the lock on the server.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match no_query_runs(&server.database_url).await {
            Ok(()) => break,
            Err(error) if Instant::now() > deadline => panic!("{error}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    locker.batch_execute("ROLLBACK").await.unwrap();
    // The connection the cancelled query ran on is still good.
    for _ in 0..10 {
        client
            .get_model_version(pb::GetModelVersionRequest {
                model_name: "churn".into(),
                version: 1,
                ..Default::default()
            })
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_cannot_lock_out_real_clients() {
    use std::time::{Duration, Instant};

    use model_registry_server::listener::ConnectionLimits;
    use model_registry_server::server::ServeOptions;
    use tokio::io::AsyncReadExt;

    let options = ServeOptions {
        connections: ConnectionLimits {
            max_connections: 8,
            handshake_timeout: Duration::from_millis(300),
        },
        ..ServeOptions::default()
    };
    let server = TestServer::builder(model_registry_e2e::Backend::Sqlite)
        .options(options)
        .start()
        .await
        .unwrap();
    // Far more silent sockets than the server keeps open.
    let mut silent = Vec::new();
    for _ in 0..40 {
        silent.push(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }
    let started = Instant::now();
    let mut client = server.client.clone();
    client
        .list_models(pb::ListModelsRequest::default())
        .await
        .expect("a real client gets through");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The server closed the silent ones it accepted (after its own SETTINGS).
    let mut first = silent.remove(0);
    let mut sent = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), first.read_to_end(&mut sent)).await;
    assert!(
        matches!(closed, Ok(Ok(_)) | Ok(Err(_))),
        "the server hung up: {closed:?}"
    );
}
