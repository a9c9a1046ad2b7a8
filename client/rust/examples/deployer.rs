//! A deployer that follows the production version of one model and prints
//! each change, the way a serving system would reload its model.
//!
//! ```sh
//! cargo run -p model-registry-client --example deployer -- churn
//! cargo run -p model-registry-client --example deployer -- churn http://registry:50051 2
//! ```
//!
//! Arguments: model name, registry URL (default `$MODEL_REGISTRY_URL` or
//! `http://127.0.0.1:50051`), poll interval in seconds (default 5). It polls
//! `GetProductionModel`, which is one indexed lookup on the server; stop it
//! with Ctrl-C.

use std::time::Duration;

use model_registry_client::{Error, RegistryClient};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .ok_or_else(|| Error::InvalidInput("usage: deployer MODEL [URL] [SECONDS]".to_owned()))?;
    let url = args
        .next()
        .or_else(|| std::env::var("MODEL_REGISTRY_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let interval = args
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(Duration::from_secs(5));

    let client = RegistryClient::connect(url.clone()).await?;
    println!("following the production version of {model:?} at {url}");
    // What was last reported: `None` before the first answer, then the id of
    // the production version, or `Some(None)` while there is none.
    let mut reported: Option<Option<String>> = None;
    loop {
        let current = match client.get_production_model(&model).await {
            Ok(version) => Some(version),
            Err(e) if e.is_not_found() => None,
            // The client already retried; keep serving what we have.
            Err(e) if e.is_unavailable() => {
                eprintln!("registry unavailable, keeping the current model: {e}");
                tokio::time::sleep(interval).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let current_id = current.as_ref().map(|v| v.id.clone());
        if reported.as_ref() != Some(&current_id) {
            match &current {
                Some(version) => {
                    let artifact = version.artifact.clone().unwrap_or_default();
                    println!(
                        "now serving {model} version {} ({}) from {} sha256={}",
                        version.version, version.algorithm, artifact.uri, artifact.sha256
                    );
                }
                None => println!("no production version of {model}"),
            }
            reported = Some(current_id);
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
