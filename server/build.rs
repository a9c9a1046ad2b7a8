//! Rebuilds the server when a migration is added (`embed_migrations!`
//! tracks the files it read, not new folders beside them), and records the
//! commit the binary is built from for `--version` and the build_info
//! metric: `$MODEL_REGISTRY_GIT_SHA` when set (an image built without
//! `.git`), else `git rev-parse`, else "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-env-changed=MODEL_REGISTRY_GIT_SHA");
    for path in ["../.git/HEAD", "../.git/refs/heads", "../.git/packed-refs"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let sha = std::env::var("MODEL_REGISTRY_GIT_SHA")
        .ok()
        .filter(|sha| !sha.trim().is_empty())
        .or_else(git_head)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=MODEL_REGISTRY_GIT_SHA={}", sha.trim());
}

fn git_head() -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}
