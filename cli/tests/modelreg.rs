//! `modelreg` end to end against a live server on an ephemeral port: every
//! subcommand, both output formats, and the exit codes of errors.
#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::process::Output;

use model_registry_e2e::{TestServer, on_both_backends};
use serde_json::Value;

on_both_backends!(
    every_subcommand_works_in_both_formats_and_errors_exit_non_zero,
    watch_prints_the_state_then_each_change_one_json_object_per_line,
    alias_commands_move_roll_back_and_name_versions_by_alias,
    import_legacy_registers_every_row_once_and_refuses_bad_files,
    show_omits_unknown_training_facts_and_names_an_unreachable_url,
    yaml_and_quiet_print_the_same_data_for_scripts,
    model_update_and_version_filters,
    register_records_training_facts_from_flags,
    a_profile_supplies_the_url_and_token_unless_a_flag_overrides_it,
    tables_fit_a_narrow_terminal_and_stay_one_line_per_row_in_a_pipe,
);

on_both_backends!(backend: a_two_person_promotion_with_modelreg);
on_both_backends!(backend: webhook_subcommands_manage_a_subscription_and_show_its_deliveries);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modelreg_speaks_tls_with_a_ca_file_and_mutual_tls_with_a_client_certificate() {
    use std::sync::Arc;

    use model_registry_e2e::{Backend, TestCertificates};
    use model_registry_server::auth::Authenticator;
    use model_registry_server::server::{ServeOptions, tls_config};

    let certs = TestCertificates::generate("release.example.com");
    let tokens = certs.dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "{}\n[[principal]]\nname = \"release.example.com\"\nrole = \"deployer\"\nclient_certificate = true\n",
            model_registry_server::auth::hash_token_entry(
                "trainer-secret",
                "ci",
                model_registry_server::domain::access::Role::Trainer
            )
        ),
    )
    .unwrap();
    let options = ServeOptions {
        authenticator: Arc::new(Authenticator::from_file(&tokens).unwrap()),
        tls: Some(tls_config(&certs.server_cert, &certs.server_key, Some(&certs.ca)).unwrap()),
        ..ServeOptions::default()
    };
    let server = TestServer::builder(Backend::Sqlite)
        .options(options)
        .start()
        .await
        .unwrap();
    let url = format!("https://127.0.0.1:{}", server.addr.port());
    let ca = certs.ca.to_str().unwrap();

    // Without the CA the system roots do not trust the test CA: refused.
    let untrusted = modelreg(&url, &["--token", "trainer-secret", "models"]).await;
    assert_eq!(
        untrusted.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&untrusted.stderr)
    );
    let registered = modelreg(
        &url,
        &[
            "--ca-file",
            ca,
            "--token",
            "trainer-secret",
            "register",
            "churn",
            "--algorithm",
            "XGBoost",
            "--artifact-uri",
            "s3://m/1",
            "--metric",
            "auc=0.9",
        ],
    )
    .await;
    assert!(stdout(&registered).starts_with("registered churn version 1"));
    // The token from a file (a platform's rotated token), not the command line.
    let token_file = certs.dir.path().join("token");
    std::fs::write(&token_file, "trainer-secret\n").unwrap();
    let token_file = token_file.to_str().unwrap();
    let listed = modelreg(
        &url,
        &["--ca-file", ca, "--token-file", token_file, "models"],
    )
    .await;
    assert!(stdout(&listed).contains("churn"));
    let both = modelreg(
        &url,
        &[
            "--ca-file",
            ca,
            "--token",
            "x",
            "--token-file",
            token_file,
            "models",
        ],
    )
    .await;
    assert_eq!(both.status.code(), Some(2), "clap refuses both");
    let promoted = modelreg(
        &url,
        &[
            "--ca-file",
            ca,
            "--client-cert",
            certs.client_cert.to_str().unwrap(),
            "--client-key",
            certs.client_key.to_str().unwrap(),
            "promote",
            "churn",
            "1",
            "--reason",
            "mTLS",
        ],
    )
    .await;
    assert_eq!(
        stdout(&promoted).trim(),
        "churn version 1 is now production"
    );
    let history = json(
        &modelreg(
            &url,
            &[
                "--ca-file",
                ca,
                "--token",
                "trainer-secret",
                "-o",
                "json",
                "history",
                "churn",
            ],
        )
        .await,
    );
    let actors: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["ci", "ci", "release.example.com"]);
    let no_token = modelreg(&url, &["--ca-file", ca, "models"]).await;
    failed(&no_token, 6, "UNAUTHENTICATED");
    let not_allowed = modelreg(
        &url,
        &[
            "--ca-file",
            ca,
            "--token",
            "trainer-secret",
            "promote",
            "churn",
            "1",
            "--reason",
            "x",
        ],
    )
    .await;
    failed(&not_allowed, 7, "PERMISSION_DENIED");
    // Plaintext against the TLS port: the error says to use https://.
    let plaintext = format!("http://127.0.0.1:{}", server.addr.port());
    let hinted = modelreg(
        &plaintext,
        &["--timeout", "5", "--token", "trainer-secret", "models"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&hinted.stderr);
    assert!(
        stderr.contains(&format!(
            "use --url https://127.0.0.1:{}",
            server.addr.port()
        )),
        "{stderr}"
    );
}

/// A generated token is URL-safe base64, so one in 64 starts with a dash;
/// `--token "$(cat reader.token)"` must still take it as the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_starts_with_a_dash_is_taken_as_the_token() {
    use std::sync::Arc;

    use model_registry_e2e::Backend;
    use model_registry_server::auth::Authenticator;
    use model_registry_server::domain::access::Role;
    use model_registry_server::server::ServeOptions;

    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    let token = "-mZ3vQ0xY8Jc1kq4Rr2Tt6Uu9Ww5Ee7Aa0Bb1Cc2Dd3F";
    std::fs::write(
        &tokens,
        model_registry_server::auth::hash_token_entry(token, "reader", Role::Reader),
    )
    .unwrap();
    let options = ServeOptions {
        authenticator: Arc::new(Authenticator::from_file(&tokens).unwrap()),
        ..ServeOptions::default()
    };
    let server = TestServer::builder(Backend::Sqlite)
        .options(options)
        .start()
        .await
        .unwrap();
    let listed = modelreg(&server.url, &["--token", token, "models"]).await;
    assert_eq!(
        listed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
}

/// The README's two-person promotion: an admin protects production, one
/// deployer asks, the same deployer cannot approve, another one can.
async fn a_two_person_promotion_with_modelreg(backend: model_registry_e2e::Backend) {
    use std::sync::Arc;

    use model_registry_server::auth::{Authenticator, hash_token_entry};
    use model_registry_server::domain::access::Role;
    use model_registry_server::server::ServeOptions;

    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    let mut text = String::new();
    for (name, role) in [
        ("ops", Role::Admin),
        ("alice", Role::Deployer),
        ("bob", Role::Deployer),
        ("ci", Role::Trainer),
    ] {
        text.push_str(&hash_token_entry(
            &format!("{name}-secret-token"),
            name,
            role,
        ));
    }
    model_registry_e2e::write_tokens_file(&tokens, &text);
    let options = ServeOptions {
        authenticator: Arc::new(Authenticator::from_file(&tokens).unwrap()),
        ..ServeOptions::default()
    };
    let Some(server) = TestServer::builder(backend).options(options).start().await else {
        return;
    };
    let url = server.url.clone();
    let as_ = |name: &str, args: &[&str]| {
        let token = format!("{name}-secret-token");
        let mut all = vec!["--token".to_owned(), token];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let url = url.clone();
        async move {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            modelreg(&url, &args).await
        }
    };
    for auc in ["0.81", "0.86"] {
        stdout(
            &as_(
                "ci",
                &[
                    "register",
                    "churn",
                    "--algorithm",
                    "XGBoost",
                    "--artifact-uri",
                    "s3://models/churn/m.pkl",
                    "--metric",
                    &format!("auc={auc}"),
                ],
            )
            .await,
        );
    }
    stdout(&as_("ops", &["promote", "churn", "1", "--reason", "first"]).await);
    let policy = stdout(
        &as_(
            "ops",
            &[
                "policy",
                "set",
                "churn",
                "production",
                "--protected",
                "--approvals",
                "1",
                "--gate-metric",
                "auc",
                "--reason",
                "release process",
            ],
        )
        .await,
    );
    assert!(
        policy.contains("revision 1") && policy.contains("protected"),
        "{policy}"
    );

    let direct = as_(
        "alice",
        &["promote", "churn", "2", "--reason", "skip review"],
    )
    .await;
    let refused = failed(&direct, 4, "FAILED_PRECONDITION");
    assert!(refused.contains("protected"), "{refused}");

    let made = json(
        &as_(
            "alice",
            &[
                "-o",
                "json",
                "request",
                "churn",
                "production",
                "2",
                "--reason",
                "better auc",
            ],
        )
        .await,
    );
    assert_eq!(made["state"], "CHANGE_REQUEST_STATE_PENDING");
    let id = made["id"].as_str().unwrap().to_owned();
    let own = as_("alice", &["approve", &id]).await;
    let why = failed(&own, 7, "PERMISSION_DENIED");
    assert!(why.contains("two-person"), "{why}");

    let pending = stdout(&as_("bob", &["requests", "--state", "pending"]).await);
    assert!(
        pending.contains("churn@production") && pending.contains("alice"),
        "{pending}"
    );
    let applied = stdout(&as_("bob", &["approve", &id, "--comment", "checked the holdout"]).await);
    assert!(applied.contains("APPLIED"), "{applied}");
    let production = json(&as_("bob", &["-o", "json", "production", "churn"]).await);
    assert_eq!(production["version"], "2");

    // Break-glass needs an admin, and says so in the trail.
    let glass = as_(
        "alice",
        &["rollback", "churn", "--reason", "incident", "--emergency"],
    )
    .await;
    failed(&glass, 7, "PERMISSION_DENIED");
    stdout(
        &as_(
            "ops",
            &[
                "promote",
                "churn",
                "1",
                "--reason",
                "incident 7",
                "--emergency",
            ],
        )
        .await,
    );
    // A freeze stops even break-glass until it ends.
    stdout(
        &as_(
            "ops",
            &["freeze", "churn@production", "--reason", "incident 8"],
        )
        .await,
    );
    let frozen = as_(
        "ops",
        &["promote", "churn", "2", "--reason", "hotfix", "--emergency"],
    )
    .await;
    let why = failed(&frozen, 4, "FAILED_PRECONDITION");
    assert!(why.contains("incident 8"), "{why}");
    stdout(&as_("ops", &["unfreeze", "churn@production", "--reason", "over"]).await);
    stdout(&as_("ops", &["freeze", "churn", "1", "--reason", "audit"]).await);
    let status = as_("ops", &["deprecate", "churn", "2", "--reason", "old"]).await;
    stdout(&status);
    let held = as_(
        "ops",
        &["update", "churn", "1", "--tag", "k=v", "--reason", "x"],
    )
    .await;
    failed(&held, 4, "FAILED_PRECONDITION");
    let history = json(&as_("ops", &["-o", "json", "history", "churn"]).await);
    let last = history
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["type"] == "EVENT_TYPE_ALIAS_SET")
        .unwrap()
        .clone();
    assert_eq!(
        (last["emergency"].clone(), last["actor"].clone()),
        (Value::Bool(true), "ops".into())
    );
}

/// Runs `modelreg --url URL ARGS…` off the async runtime.
async fn modelreg(url: &str, args: &[&str]) -> Output {
    let mut command = assert_cmd::Command::cargo_bin("modelreg").unwrap();
    command
        .env_remove("MODEL_REGISTRY_TOKEN")
        .arg("--url")
        .arg(url)
        .args(args);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "modelreg failed with {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn json(output: &Output) -> Value {
    serde_json::from_str(&stdout(output)).expect("--output json prints one JSON document")
}

/// Asserts a failure with `exit_code` and a one-line `error: …` naming `code`.
fn failed(output: &Output, exit_code: i32, code: &str) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(output.status.code(), Some(exit_code), "stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.trim_end().ends_with(&format!("({code})")),
        "{stderr}"
    );
    stderr
}

async fn every_subcommand_works_in_both_formats_and_errors_exit_non_zero(server: TestServer) {
    let url = server.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("xgb.pkl");
    std::fs::write(&artifact, b"weights").unwrap();
    let artifact = artifact.to_str().unwrap();

    let out = modelreg(
        url,
        &[
            "register",
            "churn",
            "--algorithm",
            "XGBoost",
            "--artifact",
            artifact,
            "--metric",
            "auc=0.91",
            "--tag",
            "team=growth",
        ],
    )
    .await;
    assert!(stdout(&out).starts_with("registered churn version 1"));

    // The old training script's metadata file is enough to register.
    let legacy = dir.path().join("metadata.json");
    std::fs::write(
        &legacy,
        format!(
            r#"{{"MODEL_NAME": "CatBoost", "model_file_path": "{artifact}", "auc_score": 0.95, "accuracy": 0.9,
                "training_samples": 8000, "features": ["tenure", "charges"], "training_date": "2026-01-18 18:44:59",
                "hyperparameters": {{"depth": 6}}}}"#
        ),
    )
    .unwrap();
    let v2 = json(
        &modelreg(
            url,
            &[
                "register",
                "churn",
                "--from-json",
                legacy.to_str().unwrap(),
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(v2["version"], "2", "int64 as a string, as the mapping says");
    assert_eq!(v2["algorithm"], "CatBoost");
    assert_eq!(v2["metrics"]["auc"], 0.95);
    assert_eq!(v2["params"]["depth"], "6");
    assert_eq!(v2["training"]["featureCount"], "2");
    assert_eq!(v2["training"]["finishedAt"], "2026-01-18T18:44:59Z");
    assert_eq!(v2["artifact"]["sha256"].as_str().unwrap().len(), 64);
    // Local files are recorded as absolute file:// URIs, and integers in
    // the metadata come back as integers (not 8000.0).
    assert_eq!(v2["artifact"]["uri"], format!("file://{artifact}"));
    assert_eq!(
        v2["artifact"]["metadataUri"],
        format!("file://{}", legacy.display())
    );
    assert_eq!(v2["metadata"]["training_samples"].to_string(), "8000");
    assert_eq!(v2["metadata"]["hyperparameters"]["depth"].to_string(), "6");

    assert!(stdout(&modelreg(url, &["models"]).await).contains("churn"));
    let models = json(&modelreg(url, &["models", "-o", "json"]).await);
    assert_eq!(models[0]["name"], "churn");
    assert_eq!(models[0]["versionCount"], "2");

    let table = stdout(&modelreg(url, &["versions", "churn"]).await);
    assert!(table.starts_with("MODEL"), "{table}");
    assert_eq!(table.lines().count(), 3);
    let by_auc = json(
        &modelreg(
            url,
            &["versions", "churn", "--order-by", "auc", "-o", "json"],
        )
        .await,
    );
    assert_eq!(by_auc[0]["version"], "2", "metrics list the best first");
    let limited = json(
        &modelreg(
            url,
            &[
                "versions",
                "churn",
                "--algorithm",
                "XGBoost",
                "--status",
                "active",
                "--limit",
                "1",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(limited.as_array().unwrap().len(), 1);

    assert!(stdout(&modelreg(url, &["show", "churn", "1"]).await).contains("XGBoost"));
    let id = v2["id"].as_str().unwrap();
    assert_eq!(
        json(&modelreg(url, &["show", "--id", id, "-o", "json"]).await)["version"],
        "2"
    );
    let best = json(&modelreg(url, &["best", "churn", "--metric", "auc", "-o", "json"]).await);
    assert_eq!(
        (
            best["modelVersion"]["version"].as_str(),
            best["value"].as_f64()
        ),
        (Some("2"), Some(0.95))
    );
    assert!(
        stdout(&modelreg(url, &["best", "churn", "--metric", "auc", "--lowest"]).await)
            .contains("auc = 0.91")
    );

    assert!(
        stdout(&modelreg(url, &["promote", "churn", "1", "--reason", "first"]).await)
            .contains("now production")
    );
    let promoted = json(
        &modelreg(
            url,
            &[
                "promote",
                "churn",
                "2",
                "--reason",
                "better",
                "--expect-current",
                "1",
                "--gate-metric",
                "auc",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(promoted["previousVersion"], "1");
    let production = json(&modelreg(url, &["production", "churn", "-o", "json"]).await);
    assert_eq!(
        (
            production["version"].as_str(),
            production["isProduction"].as_bool()
        ),
        (Some("2"), Some(true))
    );
    assert!(
        stdout(&modelreg(url, &["production", "churn", "--as-of", "2999-01-01"]).await)
            .contains("version:       2")
    );
    let rolled = json(
        &modelreg(
            url,
            &["rollback", "churn", "--reason", "regression", "-o", "json"],
        )
        .await,
    );
    assert_eq!(
        (
            rolled["modelVersion"]["version"].as_str(),
            rolled["rolledBackVersion"].as_str()
        ),
        (Some("1"), Some("2"))
    );

    assert!(
        stdout(&modelreg(url, &["deprecate", "churn", "2", "--reason", "old"]).await)
            .ends_with("is now DEPRECATED\n")
    );
    assert_eq!(
        json(
            &modelreg(
                url,
                &["reinstate", "churn", "2", "--reason", "back", "-o", "json"]
            )
            .await
        )["status"],
        "MODEL_STATUS_ACTIVE"
    );
    assert!(
        stdout(&modelreg(url, &["archive", "churn", "2", "--reason", "retired"]).await)
            .contains("ARCHIVED")
    );

    let history = json(&modelreg(url, &["history", "churn", "-o", "json"]).await);
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "EVENT_TYPE_MODEL_CREATED",
            "EVENT_TYPE_VERSION_REGISTERED",
            "EVENT_TYPE_VERSION_REGISTERED",
            "EVENT_TYPE_ALIAS_SET",
            "EVENT_TYPE_ALIAS_SET",
            "EVENT_TYPE_ALIAS_ROLLED_BACK",
            "EVENT_TYPE_STATUS_CHANGED",
            "EVENT_TYPE_STATUS_CHANGED",
            "EVENT_TYPE_STATUS_CHANGED"
        ]
    );
    let version_history = stdout(
        &modelreg(
            url,
            &[
                "history",
                "churn",
                "--version",
                "2",
                "--since",
                "2000-01-01",
            ],
        )
        .await,
    );
    assert!(
        version_history.contains("DEPRECATED -> ACTIVE"),
        "{version_history}"
    );
    assert!(stdout(&modelreg(url, &["history"]).await).starts_with("ID"));

    // Errors: one line naming the cause, and an exit code per kind.
    let missing = failed(
        &modelreg(url, &["show", "churn", "9"]).await,
        3,
        "NOT_FOUND",
    );
    assert!(
        missing.starts_with("error: model \"churn\" has no version 9"),
        "{missing}"
    );
    failed(
        &modelreg(url, &["production", "churn", "--as-of", "2000-01-01"]).await,
        3,
        "NOT_FOUND",
    );
    failed(
        &modelreg(url, &["promote", "churn", "2", "--reason", "archived"]).await,
        4,
        "FAILED_PRECONDITION",
    );
    failed(
        &modelreg(
            url,
            &[
                "promote",
                "churn",
                "1",
                "--reason",
                "cas",
                "--expect-current",
                "0",
            ],
        )
        .await,
        4,
        "ABORTED",
    );
    failed(
        &modelreg(
            url,
            &[
                "register",
                "churn",
                "--algorithm",
                "X",
                "--artifact-uri",
                "s3://x",
                "--metric",
                "auc=2",
            ],
        )
        .await,
        2,
        "INVALID_ARGUMENT",
    );
    failed(
        &modelreg("http://127.0.0.1:1", &["models"]).await,
        5,
        "UNAVAILABLE",
    );
    let usage = modelreg(url, &["register", "churn", "--metric", "auc"]).await;
    assert_eq!(usage.status.code(), Some(2), "clap refuses malformed flags");

    let completions = stdout(&modelreg(url, &["completions", "bash"]).await);
    assert!(completions.contains("modelreg"));
    for subcommand in [
        "models",
        "versions",
        "show",
        "best",
        "production",
        "promote",
        "rollback",
        "deprecate",
        "archive",
        "reinstate",
        "history",
        "register",
        "completions",
    ] {
        let help = stdout(&modelreg(url, &[subcommand, "--help"]).await);
        assert!(
            help.contains("Example"),
            "{subcommand} --help shows an example"
        );
    }
}

async fn register_simple(url: &str, model: &str, auc: &str) {
    let out = modelreg(
        url,
        &[
            "register",
            model,
            "--algorithm",
            "XGBoost",
            "--artifact-uri",
            &format!("s3://models/{model}/{auc}.pkl"),
            "--metric",
            &format!("auc={auc}"),
        ],
    )
    .await;
    stdout(&out);
}

async fn alias_commands_move_roll_back_and_name_versions_by_alias(server: TestServer) {
    let url = server.url.as_str();
    for auc in ["0.80", "0.85", "0.90"] {
        register_simple(url, "churn", auc).await;
    }
    let set = modelreg(
        url,
        &[
            "alias",
            "set",
            "churn",
            "canary",
            "2",
            "--reason",
            "5% of traffic",
        ],
    )
    .await;
    assert_eq!(stdout(&set).trim(), "churn@canary points at version 2");
    let staged = modelreg(
        url,
        &[
            "alias",
            "set",
            "churn",
            "staging",
            "3",
            "--reason",
            "check",
            "--expect-current",
            "0",
        ],
    )
    .await;
    stdout(&staged);
    // @ALIAS names the version another alias points at.
    let promoted = modelreg(
        url,
        &[
            "-o",
            "json",
            "alias",
            "set",
            "churn",
            "production",
            "@staging",
            "--reason",
            "ship",
        ],
    )
    .await;
    let promoted = json(&promoted);
    assert_eq!(
        (
            promoted["modelVersion"]["version"].as_str(),
            promoted["modelVersion"]["aliases"][0].as_str()
        ),
        (Some("3"), Some("production"))
    );

    // NAME@ALIAS wherever a version is named.
    let shown = json(&modelreg(url, &["-o", "json", "show", "churn@canary"]).await);
    assert_eq!(shown["version"], "2");
    assert_eq!(shown["aliases"], serde_json::json!(["canary"]));
    let latest = json(&modelreg(url, &["-o", "json", "show", "churn@latest"]).await);
    assert_eq!(latest["version"], "3");
    failed(
        &modelreg(url, &["deprecate", "churn@canary", "--reason", "x"]).await,
        4,
        "FAILED_PRECONDITION",
    );
    failed(
        &modelreg(url, &["show", "churn@shadow"]).await,
        3,
        "NOT_FOUND",
    );
    let both = modelreg(url, &["show", "churn@canary", "2"]).await;
    assert_eq!(both.status.code(), Some(2));

    let moved = modelreg(
        url,
        &[
            "alias",
            "set",
            "churn",
            "canary",
            "1",
            "--reason",
            "worse",
            "--gate-metric",
            "auc",
        ],
    )
    .await;
    failed(&moved, 4, "FAILED_PRECONDITION");
    let stale = modelreg(
        url,
        &[
            "alias",
            "set",
            "churn",
            "canary",
            "3",
            "--reason",
            "x",
            "--expect-current",
            "1",
        ],
    )
    .await;
    failed(&stale, 4, "ABORTED");
    stdout(
        &modelreg(
            url,
            &[
                "alias", "set", "churn", "canary", "3", "--reason", "retrain",
            ],
        )
        .await,
    );

    let listed = stdout(&modelreg(url, &["alias", "list", "churn"]).await);
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["ALIAS", "VERSION"],
            vec!["canary", "3"],
            vec!["production", "3"],
            vec!["staging", "3"]
        ]
    );
    let back = modelreg(
        url,
        &[
            "alias",
            "rollback",
            "churn",
            "canary",
            "--reason",
            "errors up",
        ],
    )
    .await;
    assert_eq!(
        stdout(&back).trim(),
        "churn@canary points at version 2 again (rolled back from version 3)"
    );
    let stale_rollback = modelreg(
        url,
        &[
            "rollback",
            "churn",
            "--reason",
            "x",
            "--expect-current",
            "1",
        ],
    )
    .await;
    failed(&stale_rollback, 4, "ABORTED");
    let deleted = modelreg(
        url,
        &["alias", "delete", "churn", "staging", "--reason", "done"],
    )
    .await;
    assert_eq!(
        stdout(&deleted).trim(),
        "churn@staging deleted (it pointed at version 3)"
    );
    failed(
        &modelreg(
            url,
            &["alias", "set", "churn", "latest", "1", "--reason", "x"],
        )
        .await,
        2,
        "INVALID_ARGUMENT",
    );

    let history = json(&modelreg(url, &["-o", "json", "history", "churn"]).await);
    let aliases: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["alias"].as_str())
        .collect();
    assert_eq!(
        aliases,
        [
            "canary",
            "staging",
            "production",
            "canary",
            "canary",
            "staging"
        ]
    );
}

const LEGACY_HEADER: &str = "MODEL_ID,MODEL_NAME,MODEL_VERSION,MODEL_FILE_PATH,METADATA_FILE_PATH,AUC_SCORE,ACCURACY_SCORE,PRECISION_SCORE,RECALL_SCORE,F1_SCORE,TRAINING_DATE,TRAINING_DURATION_SECONDS,TRAINING_SAMPLES,TEST_SAMPLES,FEATURE_COUNT,STATUS,IS_PRODUCTION";

async fn import_legacy_registers_every_row_once_and_refuses_bad_files(server: TestServer) {
    let url = server.url.as_str();
    let dir = tempfile::tempdir().unwrap();
    // Rows out of training order; two models finished in the same second
    // (the old MODEL_ID collision); one deprecated, one production.
    let rows = [
        "20260118_184459,CatBoost,v2,/models/cat.pkl,/models/cat.json,0.93,0.88,0.81,0.74,0.77,2026-01-18 18:44:59,301.5,8000,2000,19,ACTIVE,1",
        "20260110_090000,XGBoost,v1,/models/xgb1.pkl,,0.89,0.86,,,0.7,2026-01-10 09:00:00,250,8000,2000,19,DEPRECATED,0",
        "20260118_184459,XGBoost,v2,/models/xgb2.pkl,,0.91,0.87,0.8,0.73,0.76,18-JAN-26 06.44.59.000000 PM,290,8000,2000,19,ACTIVE,0",
    ];
    let good = dir.path().join("good.csv");
    std::fs::write(&good, format!("{LEGACY_HEADER}\n{}\n", rows.join("\n"))).unwrap();
    let good = good.to_str().unwrap();

    // A dry run checks everything and writes nothing.
    let dry = json(
        &modelreg(
            url,
            &[
                "-o",
                "json",
                "import-legacy",
                good,
                "--model",
                "churn",
                "--dry-run",
            ],
        )
        .await,
    );
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["imported"].as_array().unwrap().len(), 3);
    assert!(
        dry["production"].as_str().unwrap().contains("would move"),
        "{dry}"
    );
    let nothing = modelreg(url, &["show", "churn@production"]).await;
    assert_eq!(nothing.status.code(), Some(3), "no model was created");

    let first = json(
        &modelreg(
            url,
            &["-o", "json", "import-legacy", good, "--model", "churn"],
        )
        .await,
    );
    let imported: Vec<(i64, i64)> = first["imported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["line"].as_i64().unwrap(),
                row["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        imported,
        [(3, 1), (2, 2), (4, 3)],
        "in training-date order; ties by line"
    );
    assert_eq!(first["productionVersion"], 2);

    let v1 = json(&modelreg(url, &["-o", "json", "show", "churn", "1"]).await);
    assert_eq!(v1["status"], "MODEL_STATUS_DEPRECATED");
    assert_eq!(v1["algorithm"], "XGBoost");
    assert_eq!(v1["tags"]["legacy.model_id"], "20260110_090000");
    assert_eq!(v1["training"]["finishedAt"], "2026-01-10T09:00:00Z");
    assert_eq!(v1["metrics"]["auc"], 0.89);
    assert_eq!(v1["metadata"]["legacy_row"]["MODEL_VERSION"], "v1");
    let v2 = json(&modelreg(url, &["-o", "json", "show", "churn@production"]).await);
    assert_eq!(
        (v2["version"].as_str(), v2["algorithm"].as_str()),
        (Some("2"), Some("CatBoost"))
    );
    assert_eq!(v2["artifact"]["metadataUri"], "/models/cat.json");
    assert_eq!(v2["training"]["trainSamples"], "8000");

    // Running it again creates nothing (no version, no event) and says so.
    let events_before = json(&modelreg(url, &["-o", "json", "history", "churn"]).await);
    let again = json(
        &modelreg(
            url,
            &["-o", "json", "import-legacy", good, "--model", "churn"],
        )
        .await,
    );
    assert_eq!(again["imported"], Value::Array(vec![]));
    assert_eq!(again["alreadyImported"], first["imported"]);
    let events_after = json(&modelreg(url, &["-o", "json", "history", "churn"]).await);
    assert_eq!(events_after, events_before);
    let said = stdout(&modelreg(url, &["import-legacy", good, "--model", "churn"]).await);
    assert!(
        said.contains("churn: imported 0 new rows, 3 already imported; production is version 2 (line 2) already"),
        "{said}"
    );

    // Into a model whose production moved on since: the import never moves
    // it back unless told to.
    register_simple(url, "churn", "0.95").await;
    stdout(&modelreg(url, &["promote", "churn", "4", "--reason", "retrained"]).await);
    let extra = dir.path().join("extra.csv");
    std::fs::write(
        &extra,
        format!(
            "{LEGACY_HEADER}\n\
             20260120_100000,XGBoost,v3,/models/x3.pkl,,0.9,,,,,2026-01-20 10:00:00,,,,,ACTIVE,1\n"
        ),
    )
    .unwrap();
    let extra = extra.to_str().unwrap();
    let kept = json(
        &modelreg(
            url,
            &["-o", "json", "import-legacy", extra, "--model", "churn"],
        )
        .await,
    );
    assert_eq!(kept["productionVersion"], 4, "{kept}");
    assert!(
        kept["production"]
            .as_str()
            .unwrap()
            .contains("--set-production"),
        "{kept}"
    );
    let production = json(&modelreg(url, &["-o", "json", "show", "churn@production"]).await);
    assert_eq!(production["version"], "4");
    let moved = json(
        &modelreg(
            url,
            &[
                "-o",
                "json",
                "import-legacy",
                extra,
                "--model",
                "churn",
                "--set-production",
            ],
        )
        .await,
    );
    assert_eq!(moved["productionVersion"], 5, "{moved}");

    // A bad row (an AUC the server refuses, an unreadable date) stops the
    // whole import, naming the lines; --skip-bad-rows imports the rest.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "{LEGACY_HEADER}\n\
             20260201_100000,XGBoost,v3,/models/x3.pkl,,0.92,,,,,2026-02-01 10:00:00,,,,,ACTIVE,0\n\
             20260202_100000,XGBoost,v4,/models/x4.pkl,,1.7,,,,,2026-02-02 10:00:00,,,,,ACTIVE,0\n\
             20260203_100000,XGBoost,v5,/models/x5.pkl,,0.9,,,,,last tuesday,,,,,ACTIVE,0\n\
             20260204_100000,XGBoost,v6,/models/x6.pkl,,1.2,,,,,someday,,,,,ACTIVE,0\n"
        ),
    )
    .unwrap();
    let bad = bad.to_str().unwrap();
    let refused = modelreg(url, &["import-legacy", bad, "--model", "fraud"]).await;
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("line 3: invalid metrics[auc]"), "{stderr}");
    assert!(
        stderr.contains("line 4: TRAINING_DATE \"last tuesday\""),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    // A row with two problems (one found here, one by the server) names both.
    let line5 = stderr
        .lines()
        .find(|l| l.contains("line 5:"))
        .unwrap_or_default();
    assert!(
        line5.contains("\"someday\"") && line5.contains("metrics[auc]"),
        "{stderr}"
    );
    let models = json(&modelreg(url, &["-o", "json", "models"]).await);
    assert_eq!(
        models.as_array().unwrap().len(),
        1,
        "no fraud model was created"
    );

    let skipping = json(
        &modelreg(
            url,
            &[
                "-o",
                "json",
                "import-legacy",
                bad,
                "--model",
                "fraud",
                "--skip-bad-rows",
            ],
        )
        .await,
    );
    assert_eq!(skipping["imported"].as_array().unwrap().len(), 1);
    let skipped: Vec<i64> = skipping["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["line"].as_i64().unwrap())
        .collect();
    assert_eq!(skipped, [3, 4, 5]);

    // The sample export in examples/ imports as the README says.
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/legacy_model_registry.csv"
    );
    let sampled = json(
        &modelreg(
            url,
            &["-o", "json", "import-legacy", sample, "--model", "sample"],
        )
        .await,
    );
    assert_eq!(
        sampled["imported"].as_array().unwrap().len(),
        3,
        "{sampled}"
    );
    assert_eq!(
        sampled["productionVersion"], 3,
        "the CatBoost row, newest by date then line"
    );
}

async fn watch_prints_the_state_then_each_change_one_json_object_per_line(server: TestServer) {
    let url = server.url.as_str();
    for auc in ["0.80", "0.90"] {
        register_simple(url, "churn", auc).await;
    }
    stdout(&modelreg(url, &["promote", "churn", "1", "--reason", "first"]).await);
    let (mut child, mut lines) = watching(url, "churn");
    let first = next_json_line(&mut lines).await;
    assert_eq!(
        (
            first["modelVersion"]["version"].as_str(),
            first["initial"].as_bool()
        ),
        (Some("1"), Some(true))
    );
    stdout(&modelreg(url, &["promote", "churn", "2", "--reason", "better"]).await);
    let second = next_json_line(&mut lines).await;
    assert_eq!(second["modelVersion"]["version"], "2");
    assert_eq!(second["event"]["reason"], "better");
    assert_eq!(second["event"]["alias"], "production");
    child.kill().unwrap();
    let _ = child.wait();

    // NAME@ALIAS names the alias to follow, as `show churn@canary` does.
    stdout(
        &modelreg(
            url,
            &["alias", "set", "churn", "canary", "1", "--reason", "5%"],
        )
        .await,
    );
    let (mut canary, mut lines) = watching(url, "churn@canary");
    assert_eq!(
        next_json_line(&mut lines).await["modelVersion"]["version"],
        "1"
    );
    stdout(
        &modelreg(
            url,
            &["alias", "set", "churn", "canary", "2", "--reason", "10%"],
        )
        .await,
    );
    let moved = next_json_line(&mut lines).await;
    assert_eq!(
        (&moved["event"]["alias"], &moved["modelVersion"]["version"]),
        (&Value::from("canary"), &Value::from("2"))
    );
    canary.kill().unwrap();
    let _ = canary.wait();
    let both = modelreg(url, &["watch", "churn@canary", "--alias", "staging"]).await;
    assert_eq!(both.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&both.stderr).contains("not both"));
}

/// `modelreg -o json watch TARGET` running, and its output lines, which a
/// thread turns from the child's blocking stdout into lines the test can
/// await with a deadline.
fn watching(
    url: &str,
    target: &str,
) -> (
    std::process::Child,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use std::io::{BufRead, BufReader};

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_modelreg"))
        .args(["--url", url, "-o", "json", "watch", target])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, lines) = tokio::sync::mpsc::unbounded_channel();
    let output = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    (child, lines)
}

async fn next_json_line(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Value {
    let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.recv())
        .await
        .expect("a line within the deadline")
        .expect("modelreg watch is still running");
    serde_json::from_str(&line).unwrap()
}

async fn show_omits_unknown_training_facts_and_names_an_unreachable_url(server: TestServer) {
    let url = server.url.as_str();
    register_simple(url, "churn", "0.9").await;
    let shown = stdout(&modelreg(url, &["show", "churn", "1"]).await);
    let labels: Vec<&str> = shown
        .lines()
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    // The registration said nothing about training, tags or a description:
    // no zeros, no "..", no empty lines for them.
    for unreported in [
        "trained",
        "samples",
        "features",
        "tags",
        "description",
        "aliases",
    ] {
        assert!(
            !labels.contains(&unreported),
            "{unreported} shown in:\n{shown}"
        );
    }
    assert!(
        labels.contains(&"metrics") && labels.contains(&"artifact"),
        "{shown}"
    );
    assert!(
        shown.lines().all(|l| !l.trim_end().ends_with(':')),
        "no label without a value:\n{shown}"
    );

    let unreachable = modelreg("http://127.0.0.1:1", &["--timeout", "5", "models"]).await;
    let message = failed(&unreachable, 5, "UNAVAILABLE");
    assert!(
        message.contains("http://127.0.0.1:1"),
        "the error names the URL it tried: {message}"
    );
}

async fn yaml_and_quiet_print_the_same_data_for_scripts(server: TestServer) {
    let url = server.url.as_str();
    for auc in ["0.81", "0.92", "0.87"] {
        register_simple(url, "churn", auc).await;
    }
    register_simple(url, "fraud", "0.7").await;
    // -o yaml is the JSON document, field for field.
    let as_json = json(&modelreg(url, &["-o", "json", "versions", "churn"]).await);
    let as_yaml: Value = yaml_serde::from_str(&stdout(
        &modelreg(url, &["-o", "yaml", "versions", "churn"]).await,
    ))
    .unwrap();
    assert_eq!(as_yaml, as_json);
    // -q prints identifiers only, one per line.
    let quiet = |args: &'static [&'static str]| async move {
        stdout(&modelreg(url, args).await)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(quiet(&["-q", "versions", "churn"]).await, ["1", "2", "3"]);
    assert_eq!(
        quiet(&["-q", "versions", "churn", "--order-by", "auc"]).await,
        ["2", "3", "1"]
    );
    assert_eq!(quiet(&["-q", "models"]).await, ["churn", "fraud"]);
    assert_eq!(quiet(&["-q", "show", "churn", "2"]).await, ["2"]);
    let events = quiet(&["-q", "history", "churn"]).await;
    assert_eq!(
        events.len(),
        4,
        "model created and three registrations: {events:?}"
    );
    assert!(
        events.iter().all(|id| id.parse::<i64>().is_ok()),
        "{events:?}"
    );
    // --jq filters the JSON document; strings print raw, as `gh --jq`.
    assert_eq!(
        quiet(&[
            "--jq",
            ".[] | select(.metrics.auc > 0.85) | .version",
            "versions",
            "churn"
        ])
        .await,
        ["2", "3"]
    );
    assert_eq!(
        quiet(&["--jq", ".metrics.auc", "show", "churn", "2"]).await,
        ["0.92"],
        "numbers print as JSON"
    );
    for (filter, why) in [
        (
            ".[] | select(",
            "--jq: expected closing parenthesis at the end",
        ),
        (".version", "--jq: cannot index"),
    ] {
        let refused = modelreg(url, &["--jq", filter, "versions", "churn"]).await;
        let stderr = String::from_utf8(refused.stderr).unwrap();
        assert_eq!(refused.status.code(), Some(2), "{stderr}");
        assert!(stderr.starts_with(&format!("error: {why}")), "{stderr}");
        assert!(refused.stdout.is_empty());
    }
    // The format can come from the environment.
    let mut command = assert_cmd::Command::cargo_bin("modelreg").unwrap();
    command
        .env("MODEL_REGISTRY_OUTPUT", "yaml")
        .args(["--url", url, "show", "churn", "1"]);
    let shown = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let document: Value = yaml_serde::from_str(&stdout(&shown)).unwrap();
    assert_eq!(document["version"], "1");
}

async fn model_update_and_version_filters(server: TestServer) {
    let url = server.url.as_str();
    for auc in ["0.81", "0.92", "0.87"] {
        register_simple(url, "churn", auc).await;
    }
    let quiet = |args: Vec<&'static str>| async move {
        stdout(&modelreg(url, &args).await)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // Tags on a version, then the model's own description and tags.
    let updated = json(
        &modelreg(
            url,
            &[
                "-o",
                "json",
                "update",
                "churn",
                "2",
                "--tag",
                "reviewed=yes",
                "--reason",
                "review",
            ],
        )
        .await,
    );
    assert_eq!(updated["tags"]["reviewed"], "yes");
    let model = json(
        &modelreg(
            url,
            &[
                "-o",
                "json",
                "update",
                "churn",
                "--description",
                "Churn propensity",
                "--tag",
                "team=growth",
            ],
        )
        .await,
    );
    assert_eq!(model["description"], "Churn propensity");
    assert_eq!(model["tags"]["team"], "growth");
    stdout(
        &modelreg(
            url,
            &["alias", "set", "churn", "canary", "3", "--reason", "5%"],
        )
        .await,
    );
    let shown = stdout(&modelreg(url, &["model", "churn"]).await);
    assert!(
        shown.contains("Churn propensity") && shown.contains("team=growth"),
        "{shown}"
    );
    assert!(shown.contains("canary"), "the aliases are listed: {shown}");
    // Filters on versions.
    assert_eq!(
        quiet(vec!["-q", "versions", "churn", "--min", "auc=0.85"]).await,
        ["2", "3"]
    );
    assert_eq!(
        quiet(vec!["-q", "versions", "churn", "--tag", "reviewed=yes"]).await,
        ["2"]
    );
    assert_eq!(
        quiet(vec!["-q", "versions", "churn", "--alias", "canary"]).await,
        ["3"]
    );
    let history = json(&modelreg(url, &["-o", "json", "history", "churn"]).await);
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "EVENT_TYPE_MODEL_UPDATED"),
        "the model update is in the trail"
    );
}

async fn register_records_training_facts_from_flags(server: TestServer) {
    let url = server.url.as_str();
    let registered = json(
        &modelreg(
            url,
            &[
                "-o",
                "json",
                "register",
                "churn",
                "--algorithm",
                "XGBoost",
                "--artifact-uri",
                "s3://m/1",
                "--started-at",
                "2026-11-20T10:00:00Z",
                "--finished-at",
                "2026-11-20T10:05:30Z",
                "--train-samples",
                "8000",
                "--test-samples",
                "2000",
                "--features",
                "tenure,charges,plan",
                "--dataset-uri",
                "s3://data/churn.parquet",
                "--code-version",
                "9f3c2a1",
            ],
        )
        .await,
    );
    let training = &registered["training"];
    assert_eq!(training["startedAt"], "2026-11-20T10:00:00Z");
    assert_eq!(training["finishedAt"], "2026-11-20T10:05:30Z");
    assert_eq!(training["durationSeconds"], 330.0, "derived by the server");
    assert_eq!(training["trainSamples"], "8000");
    assert_eq!(training["testSamples"], "2000");
    assert_eq!(training["featureCount"], "3");
    assert_eq!(training["featureNames"][2], "plan");
    assert_eq!(training["datasetUri"], "s3://data/churn.parquet");
    assert_eq!(training["codeVersion"], "9f3c2a1");
    let shown = stdout(&modelreg(url, &["show", "churn", "1"]).await);
    assert!(
        shown.contains("train 8000 / test 2000") && shown.contains("3 (tenure, charges, plan)"),
        "{shown}"
    );
}

async fn a_profile_supplies_the_url_and_token_unless_a_flag_overrides_it(server: TestServer) {
    let url = server.url.as_str();
    register_simple(url, "churn", "0.9").await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("prod.token");
    std::fs::write(&token, "not-needed-without-auth\n").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[profiles.prod]\nurl = \"{url}\"\ntoken_file = \"{}\"\n\n[profiles.down]\nurl = \"http://127.0.0.1:1\"\n",
            token.display()
        ),
    )
    .unwrap();
    let run = |args: &'static [&'static str]| {
        let mut command = assert_cmd::Command::cargo_bin("modelreg").unwrap();
        command
            .env_remove("MODEL_REGISTRY_URL")
            .env_remove("MODEL_REGISTRY_TOKEN")
            .env("MODEL_REGISTRY_CONFIG", &config)
            .args(args);
        async move {
            tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap()
        }
    };
    let models = stdout(&run(&["--profile", "prod", "-q", "models"]).await);
    assert_eq!(models.trim(), "churn", "the profile's URL was used");
    // A flag given explicitly wins over the profile.
    let overridden = run(&[
        "--profile",
        "down",
        "--url",
        "http://127.0.0.1:1",
        "--timeout",
        "3",
        "models",
    ])
    .await;
    failed(&overridden, 5, "UNAVAILABLE");
    let missing = run(&["--profile", "staging", "models"]).await;
    assert_eq!(missing.status.code(), Some(2));
    let message = String::from_utf8(missing.stderr).unwrap();
    assert!(
        message.contains("no profile \"staging\"") && message.contains("down, prod"),
        "names the profiles there are: {message}"
    );
}

async fn tables_fit_a_narrow_terminal_and_stay_one_line_per_row_in_a_pipe(server: TestServer) {
    let url = server.url.as_str();
    for auc in ["0.81", "0.92"] {
        register_simple(url, "churn", auc).await;
    }
    let piped = stdout(&modelreg(url, &["versions", "churn"]).await);
    assert_eq!(
        piped.lines().count(),
        3,
        "a header and one line per version: {piped}"
    );
    // `script` (util-linux) gives modelreg a terminal 60 columns wide.
    let modelreg_bin = assert_cmd::cargo::cargo_bin("modelreg");
    let shell = format!(
        "stty rows 40 cols 60; {} --url {url} versions churn",
        modelreg_bin.display()
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("script")
            .args(["-q", "-c", &shell, "/dev/null"])
            .output()
            .expect("script (util-linux) runs a command on a terminal")
    })
    .await
    .unwrap();
    let shown = String::from_utf8(output.stdout).unwrap();
    assert!(shown.contains("churn"), "{shown}");
    for line in shown.lines() {
        let line = line.trim_end_matches('\r');
        assert!(
            line.chars().count() <= 60,
            "wider than the terminal: {line:?}"
        );
    }
}

/// `modelreg webhook …` against a subscription whose receiver is down: the
/// failed attempts show in `deliveries`, and every change prints the
/// subscription (the secret only when it is made or rotated).
async fn webhook_subcommands_manage_a_subscription_and_show_its_deliveries(
    backend: model_registry_e2e::Backend,
) {
    use model_registry_server::domain::webhook::DestinationRules;
    use model_registry_server::server::ServeOptions;
    use model_registry_server::webhooks::DeliveryOptions;

    let options = ServeOptions {
        webhooks: DeliveryOptions {
            rules: DestinationRules {
                allow_http: true,
                allow_private: true,
            },
            ..DeliveryOptions::default()
        },
        ..ServeOptions::default()
    };
    let Some(server) = TestServer::builder(backend).options(options).start().await else {
        return;
    };
    let url = server.url.as_str();
    // A port nothing listens on: every attempt is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let receiver = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);

    let created = json(
        &modelreg(
            url,
            &[
                "-o",
                "json",
                "webhook",
                "create",
                &receiver,
                "--model-prefix",
                "churn",
                "--event-type",
                "version_registered",
                "--description",
                "deploys",
            ],
        )
        .await,
    );
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["state"], "WEBHOOK_STATE_ACTIVE");
    assert_eq!(created["eventTypes"][0], "EVENT_TYPE_VERSION_REGISTERED");
    let id = created["id"].as_str().unwrap().to_owned();

    register_simple(url, "churn", "0.8").await;
    let mut attempts = Value::Null;
    for _ in 0..200 {
        attempts = json(&modelreg(url, &["-o", "json", "webhook", "deliveries", &id]).await);
        if !attempts.as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let first = &attempts[0];
    assert_eq!(first["delivered"], Value::Null, "not delivered: {first}");
    assert!(
        first["error"].as_str().unwrap().contains("connect"),
        "{first}"
    );
    let table = stdout(&modelreg(url, &["webhook", "deliveries", &id]).await);
    assert!(
        table.contains("ATTEMPTED") && table.contains("connect"),
        "{table}"
    );

    let listed = stdout(&modelreg(url, &["webhook", "list"]).await);
    assert!(
        listed.contains(&receiver) && listed.contains("churn*"),
        "{listed}"
    );
    assert!(
        !listed.contains("whsec_"),
        "no secret in a listing: {listed}"
    );
    let shown = stdout(&modelreg(url, &["webhook", "show", &id]).await);
    assert!(shown.contains("waiting on event"), "{shown}");
    assert!(shown.contains("order: in order"), "{shown}");
    let unordered = json(
        &modelreg(
            url,
            &["-o", "json", "webhook", "create", &receiver, "--unordered"],
        )
        .await,
    );
    // The JSON mapping leaves out a false field.
    assert_eq!(unordered["ordered"], Value::Null, "{unordered}");
    assert_eq!(created["ordered"], Value::Bool(true), "{created}");
    let unordered_id = unordered["id"].as_str().unwrap();
    let shown = stdout(&modelreg(url, &["webhook", "show", unordered_id]).await);
    assert!(shown.contains("order: unordered"), "{shown}");

    let rotated = json(
        &modelreg(
            url,
            &[
                "-o",
                "json",
                "webhook",
                "rotate-secret",
                &id,
                "--overlap",
                "1h",
            ],
        )
        .await,
    );
    assert_ne!(rotated["secret"], created["secret"]);
    assert!(rotated["previousSecretExpiresAt"].is_string(), "{rotated}");
    let replayed = modelreg(url, &["webhook", "replay", &id, "--from-event", "1"]).await;
    stdout(&replayed);
    let active = modelreg(url, &["webhook", "resume", &id]).await;
    failed(&active, 4, "FAILED_PRECONDITION");
    let private = modelreg(url, &["webhook", "create", "ftp://example.com/x"]).await;
    let why = failed(&private, 2, "INVALID_ARGUMENT");
    assert!(why.contains("url"), "{why}");
    let bad_type = modelreg(
        url,
        &["webhook", "create", &receiver, "--event-type", "nope"],
    )
    .await;
    assert!(!bad_type.status.success());
    stdout(&modelreg(url, &["webhook", "delete", &id]).await);
    let gone = modelreg(url, &["webhook", "show", &id]).await;
    failed(&gone, 3, "NOT_FOUND");
}
