//! Authentication and roles end to end: every RPC with every role, without
//! a token and with an unknown one; principals limited to aliases and to
//! model-name prefixes; and the principal recorded as actor and creator.

use std::sync::Arc;

use model_registry_api::v1 as pb;
use model_registry_server::auth::{Authenticator, hash_token};
use model_registry_server::domain::access::Role;
use model_registry_server::server::ServeOptions;
use model_registry_server::signing::SignatureTrust;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use model_registry_e2e::signing::TestSigner;
use model_registry_e2e::{Backend, TestServer, TokenClient, client_with_token, registration};

/// The tokens file of these tests, with the principals' tokens.
fn tokens_file(dir: &std::path::Path) -> std::path::PathBuf {
    let hex = |token: &str| -> String {
        hash_token(token)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let mut text = String::new();
    for (name, role, token, limits) in [
        ("dashboards", "reader", "reader-token", ""),
        ("ci", "trainer", "trainer-token", ""),
        ("release-bot", "deployer", "deployer-token", ""),
        ("ops", "admin", "admin-token", ""),
        (
            "staging-bot",
            "deployer",
            "staging-token",
            "aliases = [\"staging\"]\n",
        ),
        (
            "churn-ci",
            "trainer",
            "churn-token",
            "model_prefixes = [\"churn\"]\n",
        ),
        // Makes the change requests others approve in the matrix.
        ("requester", "deployer", "requester-token", ""),
    ] {
        text.push_str(&format!(
            "[[principal]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n{limits}\n",
            hex(token)
        ));
    }
    let path = dir.join("tokens.toml");
    model_registry_e2e::write_tokens_file(&path, &text);
    path
}

async fn start(backend: Backend) -> Option<(TestServer, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let authenticator = Authenticator::from_file(&tokens_file(dir.path())).unwrap();
    let signer = TestSigner::new(dir.path(), "matrix-key", MATRIX_KEY);
    let options = ServeOptions {
        authenticator: Arc::new(authenticator),
        signatures: Arc::new(SignatureTrust::from_file(&signer.trust_file).unwrap()),
        ..ServeOptions::default()
    };
    let server = TestServer::builder(backend)
        .options(options)
        .start()
        .await?;
    Some((server, dir))
}

/// Every RegistryService RPC and the role it needs.
const RPCS: [(&str, Role); 42] = [
    ("GetModelVersion", Role::Reader),
    ("GetProductionModel", Role::Reader),
    ("GetModelVersionByAlias", Role::Reader),
    ("ListModelVersions", Role::Reader),
    ("GetBestModelVersion", Role::Reader),
    ("ListModels", Role::Reader),
    ("GetModel", Role::Reader),
    ("ListEvents", Role::Reader),
    ("RegisterModel", Role::Trainer),
    ("UpdateModelVersion", Role::Trainer),
    ("AttachSignature", Role::Trainer),
    ("GetVersionSignature", Role::Reader),
    ("SetModelAlias", Role::Deployer),
    ("DeleteModelAlias", Role::Deployer),
    ("RollbackModelAlias", Role::Deployer),
    ("SetProductionModel", Role::Deployer),
    ("RollbackProductionModel", Role::Deployer),
    ("UpdateModelVersionStatus", Role::Deployer),
    ("UpdateModel", Role::Admin),
    ("GetAliasPolicy", Role::Reader),
    ("ListAliasPolicies", Role::Reader),
    ("SetAliasPolicy", Role::Admin),
    ("DeleteAliasPolicy", Role::Admin),
    ("GetAliasChangeRequest", Role::Reader),
    ("ListAliasChangeRequests", Role::Reader),
    ("CreateAliasChangeRequest", Role::Deployer),
    ("ApproveAliasChangeRequest", Role::Deployer),
    ("RejectAliasChangeRequest", Role::Deployer),
    ("CancelAliasChangeRequest", Role::Deployer),
    ("FreezeAlias", Role::Admin),
    ("UnfreezeAlias", Role::Admin),
    ("FreezeVersion", Role::Admin),
    ("UnfreezeVersion", Role::Admin),
    ("CreateWebhook", Role::Admin),
    ("GetWebhook", Role::Admin),
    ("ListWebhooks", Role::Admin),
    ("UpdateWebhook", Role::Admin),
    ("DeleteWebhook", Role::Admin),
    ("ResumeWebhook", Role::Admin),
    ("RotateWebhookSecret", Role::Admin),
    ("ReplayWebhook", Role::Admin),
    ("ListWebhookDeliveries", Role::Admin),
];

/// The seed of the key the matrix's signatures are made with.
const MATRIX_KEY: u8 = 7;

/// A signature of version 1 of `churn`, by the key the server trusts.
fn matrix_signature() -> pb::AttachSignatureRequest {
    let dir = tempfile::tempdir().unwrap();
    let signer = TestSigner::new(dir.path(), "matrix-key", MATRIX_KEY);
    pb::AttachSignatureRequest {
        model_name: "churn".into(),
        version: 1,
        bundle: signer.bundle(
            "churn",
            &[("model.pkl", b"weights"), ("config.json", b"{}")],
        ),
        ..Default::default()
    }
}

/// The subscription the webhook RPCs are called on.
static PREPARED_WEBHOOK: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

fn webhook_settings() -> pb::CreateWebhookRequest {
    pb::CreateWebhookRequest {
        url: "https://hooks.example.com/registry".into(),
        ..Default::default()
    }
}

fn freeze_alias() -> pb::FreezeAliasRequest {
    pb::FreezeAliasRequest {
        model_name: "churn".into(),
        alias: "frozen".into(),
        reason: "matrix".into(),
        ..Default::default()
    }
}

fn freeze_version() -> pb::FreezeVersionRequest {
    pb::FreezeVersionRequest {
        model_name: "churn".into(),
        version: 2,
        reason: "matrix".into(),
        request_id: String::new(),
    }
}

/// The change request `prepare` made last, for the call that decides it.
static PREPARED_REQUEST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// An unprotected policy of alias `alias` of `churn`: requests need one
/// approval.
fn policy(alias: &str) -> pb::SetAliasPolicyRequest {
    pb::SetAliasPolicyRequest {
        policy: Some(pb::AliasPolicy {
            model_name: "churn".into(),
            alias: alias.into(),
            ..Default::default()
        }),
        reason: "matrix".into(),
        request_id: String::new(),
    }
}

/// A request to point `review` at whichever of versions 2 and 3 it does not
/// point at, made by the principal of `token`.
/// Cancels every open request to move `review` (an alias takes one open
/// request per version), as the admin.
async fn cancel_open_requests(admin: &mut TokenClient) {
    let open = admin
        .list_alias_change_requests(pb::ListAliasChangeRequestsRequest {
            model_name: "churn".into(),
            alias: "review".into(),
            state: pb::ChangeRequestState::Pending as i32,
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .change_requests;
    for request in open {
        admin
            .cancel_alias_change_request(pb::CancelAliasChangeRequestRequest {
                id: request.id,
                comment: "matrix: clear the queue".into(),
                request_id: String::new(),
            })
            .await
            .unwrap();
    }
}

async fn prepare_request(admin: &mut TokenClient, server_client: &mut TokenClient) {
    cancel_open_requests(admin).await;
    let current = admin
        .get_model_version_by_alias(pb::GetModelVersionByAliasRequest {
            model_name: "churn".into(),
            alias: "review".into(),
            as_of: None,
            consistency_token: String::new(),
        })
        .await
        .ok()
        .and_then(|r| r.into_inner().model_version)
        .map(|v| v.version);
    let made = server_client
        .create_alias_change_request(pb::CreateAliasChangeRequestRequest {
            model_name: "churn".into(),
            alias: "review".into(),
            version: if current == Some(2) { 3 } else { 2 },
            reason: "matrix".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    PREPARED_REQUEST.store(
        made.change_request.unwrap().id,
        std::sync::atomic::Ordering::SeqCst,
    );
}

#[test]
fn the_matrix_covers_every_unary_rpc_of_the_service() {
    use prost::Message;

    let set = prost_types::FileDescriptorSet::decode(model_registry_api::FILE_DESCRIPTOR_SET)
        .expect("the API's descriptor set");
    let service = set
        .file
        .iter()
        .flat_map(|file| &file.service)
        .find(|service| service.name() == "RegistryService")
        .expect("RegistryService");
    // Streams (the watches) are checked by their own tests.
    let mut unary: Vec<&str> = service
        .method
        .iter()
        .filter(|method| !method.server_streaming())
        .map(|method| method.name())
        .collect();
    let mut listed: Vec<&str> = RPCS.iter().map(|(rpc, _)| *rpc).collect();
    unary.sort_unstable();
    listed.sort_unstable();
    assert_eq!(
        listed, unary,
        "every unary RPC is in the role matrix (RPCS), with the role it must need"
    );
}

fn set_alias(alias: &str, version: i64) -> pb::SetModelAliasRequest {
    pb::SetModelAliasRequest {
        model_name: "churn".into(),
        alias: alias.into(),
        version,
        reason: "matrix".into(),
        ..Default::default()
    }
}

/// Puts the state `rpc` needs in place, as the admin (change requests as
/// a principal the caller may decide for).
async fn prepare(server: &TestServer, admin: &mut TokenClient, rpc: &str) {
    match rpc {
        "GetVersionSignature" => {
            admin.attach_signature(matrix_signature()).await.unwrap();
        }
        "GetWebhook"
        | "UpdateWebhook"
        | "DeleteWebhook"
        | "ResumeWebhook"
        | "RotateWebhookSecret"
        | "ReplayWebhook"
        | "ListWebhookDeliveries" => {
            let made = admin.create_webhook(webhook_settings()).await.unwrap();
            let id = made.into_inner().webhook.unwrap().id;
            PREPARED_WEBHOOK.store(id, std::sync::atomic::Ordering::SeqCst);
        }
        "DeleteAliasPolicy" => {
            admin.set_alias_policy(policy("doomed")).await.unwrap();
        }
        "CreateAliasChangeRequest" => cancel_open_requests(admin).await,
        // Each call freezes anew, or unfreezes what is frozen.
        "FreezeAlias" => {
            let _not_frozen = admin
                .unfreeze_alias(pb::UnfreezeAliasRequest {
                    model_name: "churn".into(),
                    alias: "frozen".into(),
                    reason: "matrix".into(),
                    request_id: String::new(),
                })
                .await;
        }
        "UnfreezeAlias" => {
            let _already = admin.freeze_alias(freeze_alias()).await;
        }
        "FreezeVersion" => {
            let _not_frozen = admin
                .unfreeze_version(pb::UnfreezeVersionRequest {
                    model_name: "churn".into(),
                    version: 2,
                    reason: "matrix".into(),
                    request_id: String::new(),
                })
                .await;
        }
        "UnfreezeVersion" => {
            let _already = admin.freeze_version(freeze_version()).await;
        }
        // Approved and rejected by anyone but the requester.
        "ApproveAliasChangeRequest" | "RejectAliasChangeRequest" => {
            let mut requester = client_with_token(server, Some("requester-token"));
            prepare_request(admin, &mut requester).await;
        }
        // Cancelled by the requester (a deployer) or an admin.
        "CancelAliasChangeRequest" => {
            let mut requester = client_with_token(server, Some("deployer-token"));
            prepare_request(admin, &mut requester).await;
        }
        "DeleteModelAlias" => {
            admin.set_model_alias(set_alias("doomed", 1)).await.unwrap();
        }
        "RollbackModelAlias" => {
            admin
                .set_model_alias(set_alias("staging", 1))
                .await
                .unwrap();
            admin
                .set_model_alias(set_alias("staging", 2))
                .await
                .unwrap();
        }
        "RollbackProductionModel" => {
            admin
                .set_model_alias(set_alias("production", 2))
                .await
                .unwrap();
            admin
                .set_model_alias(set_alias("production", 1))
                .await
                .unwrap();
        }
        "UpdateModelVersionStatus" => {
            let _already_active = admin
                .update_model_version_status(pb::UpdateModelVersionStatusRequest {
                    model_name: "churn".into(),
                    version: 4,
                    status: pb::ModelStatus::Active as i32,
                    reason: "matrix".into(),
                    ..Default::default()
                })
                .await;
        }
        _ => {}
    }
}

/// Calls `rpc` with a request that succeeds when the caller may make it.
async fn call(client: &mut TokenClient, rpc: &str) -> Result<(), tonic::Status> {
    let webhook = || PREPARED_WEBHOOK.load(std::sync::atomic::Ordering::SeqCst);
    let version = |v: i64| pb::GetModelVersionRequest {
        model_name: "churn".into(),
        version: v,
        ..Default::default()
    };
    match rpc {
        "GetModelVersion" => client.get_model_version(version(1)).await.map(drop),
        "GetProductionModel" => client
            .get_production_model(pb::GetProductionModelRequest {
                model_name: "churn".into(),
                as_of: None,
                consistency_token: String::new(),
            })
            .await
            .map(drop),
        "GetModelVersionByAlias" => client
            .get_model_version_by_alias(pb::GetModelVersionByAliasRequest {
                model_name: "churn".into(),
                alias: "latest".into(),
                as_of: None,
                consistency_token: String::new(),
            })
            .await
            .map(drop),
        "ListModelVersions" => client
            .list_model_versions(pb::ListModelVersionsRequest::default())
            .await
            .map(drop),
        "GetBestModelVersion" => client
            .get_best_model_version(pb::GetBestModelVersionRequest {
                model_name: "churn".into(),
                metric: "auc".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "ListModels" => client
            .list_models(pb::ListModelsRequest::default())
            .await
            .map(drop),
        "GetModel" => client
            .get_model(pb::GetModelRequest {
                model_name: "churn".into(),
            })
            .await
            .map(drop),
        "ListEvents" => client
            .list_events(pb::ListEventsRequest::default())
            .await
            .map(drop),
        "RegisterModel" => client
            .register_model(registration("churn", 0.7))
            .await
            .map(drop),
        "AttachSignature" => client.attach_signature(matrix_signature()).await.map(drop),
        "GetVersionSignature" => client
            .get_version_signature(pb::GetVersionSignatureRequest {
                model_name: "churn".into(),
                version: 1,
            })
            .await
            .map(drop),
        "UpdateModelVersion" => client
            .update_model_version(pb::UpdateModelVersionRequest {
                model_name: "churn".into(),
                version: 1,
                set_tags: [("reviewed".into(), "yes".into())].into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "SetModelAlias" => client
            .set_model_alias(set_alias("canary", 3))
            .await
            .map(drop),
        "DeleteModelAlias" => client
            .delete_model_alias(pb::DeleteModelAliasRequest {
                emergency: false,
                model_name: "churn".into(),
                alias: "doomed".into(),
                reason: "matrix".into(),
                expected_current_version: None,
                request_id: String::new(),
            })
            .await
            .map(drop),
        "RollbackModelAlias" => client
            .rollback_model_alias(pb::RollbackModelAliasRequest {
                emergency: false,
                model_name: "churn".into(),
                alias: "staging".into(),
                reason: "matrix".into(),
                expected_current_version: None,
                request_id: String::new(),
            })
            .await
            .map(drop),
        "SetProductionModel" => client
            .set_production_model(pb::SetProductionModelRequest {
                model_name: "churn".into(),
                version: 1,
                reason: "matrix".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "RollbackProductionModel" => client
            .rollback_production_model(pb::RollbackProductionModelRequest {
                emergency: false,
                model_name: "churn".into(),
                reason: "matrix".into(),
                expected_current_version: None,
                request_id: String::new(),
            })
            .await
            .map(drop),
        "UpdateModelVersionStatus" => client
            .update_model_version_status(pb::UpdateModelVersionStatusRequest {
                model_name: "churn".into(),
                version: 4,
                status: pb::ModelStatus::Deprecated as i32,
                reason: "matrix".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "UpdateModel" => client
            .update_model(pb::UpdateModelRequest {
                model_name: "churn".into(),
                description: Some("churn".into()),
                ..Default::default()
            })
            .await
            .map(drop),
        "GetAliasPolicy" => client
            .get_alias_policy(pb::GetAliasPolicyRequest {
                model_name: "churn".into(),
                alias: "review".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "ListAliasPolicies" => client
            .list_alias_policies(pb::ListAliasPoliciesRequest::default())
            .await
            .map(drop),
        "SetAliasPolicy" => client.set_alias_policy(policy("review")).await.map(drop),
        "DeleteAliasPolicy" => client
            .delete_alias_policy(pb::DeleteAliasPolicyRequest {
                model_name: "churn".into(),
                alias: "doomed".into(),
                reason: "matrix".into(),
                request_id: String::new(),
                ..Default::default()
            })
            .await
            .map(drop),
        "GetAliasChangeRequest" => client
            .get_alias_change_request(pb::GetAliasChangeRequestRequest { id: 1 })
            .await
            .map(drop),
        "ListAliasChangeRequests" => client
            .list_alias_change_requests(pb::ListAliasChangeRequestsRequest::default())
            .await
            .map(drop),
        "CreateAliasChangeRequest" => client
            .create_alias_change_request(pb::CreateAliasChangeRequestRequest {
                model_name: "churn".into(),
                alias: "review".into(),
                version: 1,
                reason: "matrix".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "ApproveAliasChangeRequest" => client
            .approve_alias_change_request(pb::ApproveAliasChangeRequestRequest {
                id: PREPARED_REQUEST.load(std::sync::atomic::Ordering::SeqCst),
                comment: "matrix".into(),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "RejectAliasChangeRequest" => client
            .reject_alias_change_request(pb::RejectAliasChangeRequestRequest {
                id: PREPARED_REQUEST.load(std::sync::atomic::Ordering::SeqCst),
                comment: "matrix".into(),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "CancelAliasChangeRequest" => client
            .cancel_alias_change_request(pb::CancelAliasChangeRequestRequest {
                id: PREPARED_REQUEST.load(std::sync::atomic::Ordering::SeqCst),
                comment: "matrix".into(),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "FreezeAlias" => client.freeze_alias(freeze_alias()).await.map(drop),
        "UnfreezeAlias" => client
            .unfreeze_alias(pb::UnfreezeAliasRequest {
                model_name: "churn".into(),
                alias: "frozen".into(),
                reason: "matrix".into(),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "FreezeVersion" => client.freeze_version(freeze_version()).await.map(drop),
        "UnfreezeVersion" => client
            .unfreeze_version(pb::UnfreezeVersionRequest {
                model_name: "churn".into(),
                version: 2,
                reason: "matrix".into(),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "CreateWebhook" => client.create_webhook(webhook_settings()).await.map(drop),
        "ListWebhooks" => client
            .list_webhooks(pb::ListWebhooksRequest {})
            .await
            .map(drop),
        "GetWebhook" => client
            .get_webhook(pb::GetWebhookRequest { id: webhook() })
            .await
            .map(drop),
        "UpdateWebhook" => client
            .update_webhook(pb::UpdateWebhookRequest {
                id: webhook(),
                url: "https://hooks.example.com/v2".into(),
                ..Default::default()
            })
            .await
            .map(drop),
        "DeleteWebhook" => client
            .delete_webhook(pb::DeleteWebhookRequest {
                id: webhook(),
                request_id: String::new(),
            })
            .await
            .map(drop),
        // Admitted, and refused by the use case: the subscription delivers.
        "ResumeWebhook" => match client
            .resume_webhook(pb::ResumeWebhookRequest {
                id: webhook(),
                ..Default::default()
            })
            .await
        {
            Err(status) if status.code() == tonic::Code::FailedPrecondition => Ok(()),
            other => other.map(drop),
        },
        "RotateWebhookSecret" => client
            .rotate_webhook_secret(pb::RotateWebhookSecretRequest {
                id: webhook(),
                ..Default::default()
            })
            .await
            .map(drop),
        "ReplayWebhook" => client
            .replay_webhook(pb::ReplayWebhookRequest {
                id: webhook(),
                from: Some(pb::replay_webhook_request::From::FromEventId(1)),
                request_id: String::new(),
            })
            .await
            .map(drop),
        "ListWebhookDeliveries" => client
            .list_webhook_deliveries(pb::ListWebhookDeliveriesRequest {
                id: webhook(),
                limit: 0,
            })
            .await
            .map(drop),
        other => panic!("no call for {other}"),
    }
}

async fn seed(admin: &mut TokenClient) {
    for auc in [0.81, 0.82, 0.83, 0.84] {
        admin
            .register_model(registration("churn", auc))
            .await
            .unwrap();
    }
    admin
        .set_model_alias(set_alias("production", 1))
        .await
        .unwrap();
    // The alias `review` has a policy, and request 1 exists.
    admin.set_alias_policy(policy("review")).await.unwrap();
    admin
        .create_alias_change_request(pb::CreateAliasChangeRequestRequest {
            model_name: "churn".into(),
            alias: "review".into(),
            version: 1,
            reason: "matrix".into(),
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn every_rpc_is_open_to_exactly_the_roles_that_need_it(backend: Backend) {
    let Some((server, _dir)) = start(backend).await else {
        return;
    };
    let mut admin = client_with_token(&server, Some("admin-token"));
    seed(&mut admin).await;
    let identities: [(Option<&str>, Option<Role>); 6] = [
        (None, None),
        (Some("not-a-token"), None),
        (Some("reader-token"), Some(Role::Reader)),
        (Some("trainer-token"), Some(Role::Trainer)),
        (Some("deployer-token"), Some(Role::Deployer)),
        (Some("admin-token"), Some(Role::Admin)),
    ];
    for (rpc, needed) in RPCS {
        for (token, role) in identities {
            prepare(&server, &mut admin, rpc).await;
            let mut client = client_with_token(&server, token);
            let outcome = call(&mut client, rpc).await;
            match role {
                None => {
                    let status = outcome.expect_err("refused without valid credentials");
                    assert_eq!(
                        status.code(),
                        Code::Unauthenticated,
                        "{rpc} {token:?}: {status:?}"
                    );
                }
                Some(role) if role < needed => {
                    let status = outcome.expect_err("refused below the needed role");
                    assert_eq!(
                        status.code(),
                        Code::PermissionDenied,
                        "{rpc} {role}: {status:?}"
                    );
                    assert!(
                        status
                            .message()
                            .contains(&format!("needs the role {needed}")),
                        "{rpc} {role}: {}",
                        status.message()
                    );
                }
                Some(role) => {
                    outcome.unwrap_or_else(|s| panic!("{rpc} as {role}: {s:?}"));
                }
            }
        }
    }
}

async fn limited_principals_change_only_their_aliases_and_models(backend: Backend) {
    let Some((server, _dir)) = start(backend).await else {
        return;
    };
    let mut admin = client_with_token(&server, Some("admin-token"));
    seed(&mut admin).await;
    admin
        .register_model(registration("fraud", 0.9))
        .await
        .unwrap();

    let mut staging_bot = client_with_token(&server, Some("staging-token"));
    staging_bot
        .set_model_alias(set_alias("staging", 2))
        .await
        .unwrap();
    for refused in [
        staging_bot
            .set_model_alias(set_alias("production", 2))
            .await
            .map(drop),
        call(&mut staging_bot, "SetProductionModel").await,
        call(&mut staging_bot, "RollbackProductionModel").await,
    ] {
        let status = refused.expect_err("production is not the staging bot's");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert!(
            status.message().contains("\"production\""),
            "{}",
            status.message()
        );
    }
    // Its role still covers everything a deployer may do elsewhere.
    call(&mut staging_bot, "RegisterModel").await.unwrap();

    let mut churn_ci = client_with_token(&server, Some("churn-token"));
    churn_ci
        .register_model(registration("churn-eu", 0.8))
        .await
        .unwrap();
    let refused = churn_ci
        .register_model(registration("fraud", 0.8))
        .await
        .expect_err("fraud is not a churn model");
    assert_eq!(refused.code(), Code::PermissionDenied);
    // Also when the version is named by id, which does not name the model.
    let fraud_id = admin
        .get_model_version(pb::GetModelVersionRequest {
            model_name: "fraud".into(),
            version: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap()
        .id;
    let by_id = churn_ci
        .update_model_version(pb::UpdateModelVersionRequest {
            id: fraud_id,
            set_tags: [("x".into(), "y".into())].into(),
            ..Default::default()
        })
        .await
        .expect_err("refused by id too");
    assert_eq!(by_id.code(), Code::PermissionDenied);
}

async fn the_principal_is_the_creator_and_the_actor(backend: Backend) {
    let Some((server, _dir)) = start(backend).await else {
        return;
    };
    let mut trainer = client_with_token(&server, Some("trainer-token"));
    let version = trainer
        .register_model(registration("churn", 0.9))
        .await
        .unwrap()
        .into_inner()
        .model_version
        .unwrap();
    assert_eq!(version.created_by, "ci");
    let mut deployer = client_with_token(&server, Some("deployer-token"));
    deployer
        .set_production_model(pb::SetProductionModelRequest {
            model_name: "churn".into(),
            version: 1,
            reason: "ship it".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut reader = client_with_token(&server, Some("reader-token"));
    let events = reader
        .list_events(pb::ListEventsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .events;
    let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["ci", "ci", "release-bot"]);
    // Health needs no credentials.
    let health = HealthClient::new(server.channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);
}

model_registry_e2e::on_both_backends!(
    backend:
    every_rpc_is_open_to_exactly_the_roles_that_need_it,
    limited_principals_change_only_their_aliases_and_models,
    the_principal_is_the_creator_and_the_actor,
    a_reload_that_revokes_a_token_ends_its_open_streams_only,
    a_principal_holds_at_most_its_share_of_watch_streams
);

/// With --max-streams-per-principal 3, a principal's fourth watch is
/// RESOURCE_EXHAUSTED naming it; another principal still opens watches, and
/// a closed watch frees its place.
async fn a_principal_holds_at_most_its_share_of_watch_streams(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        authenticator: Arc::new(Authenticator::from_file(&tokens_file(dir.path())).unwrap()),
        streams_per_principal: 3,
        ..ServeOptions::default()
    };
    let Some(server) = TestServer::builder(backend).options(options).start().await else {
        return;
    };
    let mut reader = client_with_token(&server, Some("reader-token"));
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(
            reader
                .watch_events(pb::WatchEventsRequest::default())
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let refused = reader
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().contains("dashboards"), "{refused:?}");
    client_with_token(&server, Some("trainer-token"))
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .expect("another principal has places of its own");
    drop(open.pop());
    let reopened = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let Ok(stream) = reader.watch_events(pb::WatchEventsRequest::default()).await {
                return stream;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(reopened.is_ok(), "a closed watch frees its place");
}

/// Removing a principal from the tokens file and reloading it (SIGHUP)
/// ends that principal's open watch streams with UNAUTHENTICATED at once;
/// other principals' streams carry on.
async fn a_reload_that_revokes_a_token_ends_its_open_streams_only(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = tokens_file(dir.path());
    let authenticator = Arc::new(Authenticator::from_file(&tokens).unwrap());
    let options = ServeOptions {
        authenticator: Arc::clone(&authenticator),
        ..ServeOptions::default()
    };
    let Some(server) = TestServer::builder(backend).options(options).start().await else {
        return;
    };
    let mut admin = client_with_token(&server, Some("admin-token"));
    seed(&mut admin).await;
    let mut revoked = client_with_token(&server, Some("reader-token"))
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut kept = client_with_token(&server, Some("trainer-token"))
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();

    // The reader's entry goes; everyone else's stays as it was.
    let text = std::fs::read_to_string(&tokens).unwrap();
    let without_reader: Vec<&str> = text
        .split("[[principal]]")
        .filter(|entry| !entry.contains("\"dashboards\""))
        .collect();
    model_registry_e2e::write_tokens_file(&tokens, &without_reader.join("[[principal]]"));
    assert_eq!(authenticator.reload().unwrap(), 6);

    // Events from before the reload may still be on their way; then the
    // end.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        loop {
            match revoked.message().await {
                Ok(Some(_)) => {}
                other => return other.map(|_| ()),
            }
        }
    })
    .await
    .expect("the revoked stream ends within a second");
    assert_eq!(ended.unwrap_err().code(), Code::Unauthenticated);
    admin
        .register_model(registration("fraud", 0.9))
        .await
        .unwrap();
    let delivered = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        loop {
            let event = kept.message().await.unwrap().expect("an event");
            if event.event.is_some_and(|event| event.model_name == "fraud") {
                return;
            }
        }
    })
    .await;
    assert!(
        delivered.is_ok(),
        "the other principal's stream still delivers"
    );
}
