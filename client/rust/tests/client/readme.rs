//! The README's Rust example is `examples/quickstart.rs`, word for word, and
//! that example runs as written against a fresh server.

use std::path::PathBuf;

use model_registry_e2e::{TestServer, on_both_backends};

on_both_backends!(the_quickstart_example_runs_as_written);

#[test]
fn the_readme_rust_example_is_the_quickstart_example() {
    let readme = include_str!("../../../../README.md");
    let start = "<!-- rust-quickstart:start -->\n```rust,no_run\n";
    let begin = readme
        .find(start)
        .expect("the README marks its Rust example")
        + start.len();
    let end = begin
        + readme[begin..]
            .find("```\n<!-- rust-quickstart:end -->")
            .expect("the example's end is marked");
    assert_eq!(
        &readme[begin..end],
        include_str!("../../examples/quickstart.rs"),
        "the README shows examples/quickstart.rs as it is"
    );
}

/// Where cargo put an example of this crate: `cargo test` builds examples
/// next to the test binaries' `deps` directory.
fn example_binary(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let binary = profile_dir.join("examples").join(name);
    assert!(
        binary.exists(),
        "{} is missing: cargo test builds the examples first",
        binary.display()
    );
    binary
}

async fn the_quickstart_example_runs_as_written(server: TestServer) {
    let mut command = std::process::Command::new(example_binary("quickstart"));
    command.env("MODEL_REGISTRY_URL", &server.url);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "registered version 1 (ACTIVE)",
            "registered version 2 (ACTIVE)",
            "production: Some(1) -> 2",
            "version 2 auc 0.93 aliases [\"canary\", \"production\"]",
            "version 1 auc 0.91 aliases []",
            "serving version 2 from s3://models/demand/CatBoost.pkl",
        ]
    );
}
