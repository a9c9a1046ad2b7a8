//! `modelreg` end to end: every subcommand, both output formats, and the
//! exit codes of errors.

use std::process::Output;

use model_registry_e2e::{TestServer, on_both_backends};
use serde_json::Value;

on_both_backends!(every_subcommand_works_in_both_formats_and_errors_exit_non_zero);

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
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["algorithm"], "CatBoost");
    assert_eq!(v2["metrics"]["auc"], 0.95);
    assert_eq!(v2["params"]["depth"], "6");
    assert_eq!(v2["training"]["feature_count"], 2);
    assert_eq!(v2["training"]["finished_at"], "2026-01-18T18:44:59Z");
    assert_eq!(v2["artifact"]["sha256"].as_str().unwrap().len(), 64);

    assert!(stdout(&modelreg(url, &["models"]).await).contains("churn"));
    let models = json(&modelreg(url, &["models", "-o", "json"]).await);
    assert_eq!(models[0]["name"], "churn");
    assert_eq!(models[0]["version_count"], 2);

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
    assert_eq!(by_auc[0]["version"], 2, "metrics list the best first");
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
        2
    );
    let best = json(&modelreg(url, &["best", "churn", "--metric", "auc", "-o", "json"]).await);
    assert_eq!(
        (best["version"].as_i64(), best["best_value"].as_f64()),
        (Some(2), Some(0.95))
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
    assert_eq!(promoted["previous_version"], 1);
    let production = json(&modelreg(url, &["production", "churn", "-o", "json"]).await);
    assert_eq!(
        (
            production["version"].as_i64(),
            production["is_production"].as_bool()
        ),
        (Some(2), Some(true))
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
            rolled["version"].as_i64(),
            rolled["rolled_back_version"].as_i64()
        ),
        (Some(1), Some(2))
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
        "ACTIVE"
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
            "MODEL_CREATED",
            "VERSION_REGISTERED",
            "VERSION_REGISTERED",
            "PRODUCTION_SET",
            "PRODUCTION_SET",
            "PRODUCTION_ROLLED_BACK",
            "STATUS_CHANGED",
            "STATUS_CHANGED",
            "STATUS_CHANGED"
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
