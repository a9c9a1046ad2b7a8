//! A deployer that follows the production version of one model and
//! "deploys" each new one (prints it), the way a serving system reloads its
//! model. It watches instead of polling: changes arrive as they happen,
//! and while the registry is down the watch reconnects by itself and
//! resumes where it left off. Ctrl-C stops it in every state.
//!
//! ```sh
//! cargo run -p model-registry-client --example deployer -- churn
//! cargo run -p model-registry-client --example deployer -- churn http://registry:50051
//! ```
//!
//! Arguments: model name, registry URL (default `$MODEL_REGISTRY_URL` or
//! `http://127.0.0.1:50051`).

use model_registry_client::{Error, RegistryClient};
use tokio_stream::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .ok_or_else(|| Error::InvalidInput("usage: deployer MODEL [URL]".to_owned()))?;
    let url = args
        .next()
        .or_else(|| std::env::var("MODEL_REGISTRY_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());

    let client = RegistryClient::connect(url.clone()).await?;
    println!("following the production version of {model:?} at {url}");
    let mut updates = client.watch_alias(&model, "production");
    loop {
        let update = tokio::select! {
            update = updates.next() => update,
            _ = tokio::signal::ctrl_c() => {
                println!("stopping");
                return Ok(());
            }
        };
        match update {
            Some(Ok(update)) => match update.model_version() {
                Some(version) => {
                    let artifact = version.artifact();
                    println!(
                        "now serving {model} version {} ({}) from {} sha256={}",
                        version.version(),
                        version.algorithm(),
                        artifact.uri,
                        artifact.sha256
                    );
                }
                None => println!("no production version of {model}"),
            },
            Some(Err(error)) => return Err(error),
            None => return Ok(()),
        }
    }
}
