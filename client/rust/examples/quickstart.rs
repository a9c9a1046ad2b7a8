//! Register two versions, canary the better one, promote it behind a
//! compare-and-set and a metric gate, then read what is served.

use model_registry_client::{ModelStatus, RegisterModel, RegistryClient};

#[tokio::main]
async fn main() -> Result<(), model_registry_client::Error> {
    let url = std::env::var("MODEL_REGISTRY_URL").unwrap_or("http://127.0.0.1:50051".into());
    let client = RegistryClient::connect(url).await?;
    for (algorithm, auc) in [("XGBoost", 0.91), ("CatBoost", 0.93)] {
        let version = client
            .register_model(
                RegisterModel::new("demand")
                    .algorithm(algorithm)
                    .artifact_uri(format!("s3://models/demand/{algorithm}.pkl"))
                    .metric("auc", auc)
                    .train_samples(8000),
            )
            .await?;
        println!(
            "registered version {} ({})",
            version.version(),
            version.status()
        );
    }
    client
        .set_production_model("demand", 1)
        .reason("first release")
        .await?;
    // The retrained model takes 5% of traffic first (expect_current(0): only
    // if nobody else has set the canary).
    client
        .set_alias("demand", "canary", 2)
        .expect_current(0)
        .reason("5% of traffic on the retrained model")
        .await?;
    // Then production, only if production is still version 1 and version 2
    // beats its AUC by at least 0.01.
    let promoted = client
        .set_alias("demand", "production", 2)
        .expect_current(1)
        .gate("auc", 0.01)
        .reason("canary looked good")
        .send()
        .await?;
    println!(
        "production: {:?} -> {}",
        promoted.previous_version,
        promoted.version.version()
    );
    let active = client
        .list_model_versions("demand")
        .status(ModelStatus::Active)
        .order_by_metric("auc")
        .await?;
    for version in &active {
        let auc = version.metric("auc").unwrap_or(f64::NAN);
        println!(
            "version {} auc {auc} aliases {:?}",
            version.version(),
            version.aliases()
        );
    }
    match client.get_production_model("demand").await {
        Ok(production) => println!(
            "serving version {} from {}",
            production.version(),
            production.artifact().uri
        ),
        Err(e) if e.is_not_found() => println!("nothing in production"),
        Err(e) => return Err(e),
    }
    Ok(())
}
