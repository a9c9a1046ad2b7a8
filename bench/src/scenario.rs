//! The scenarios: what each call does, and the data it needs first.

use std::sync::Arc;

use clap::ValueEnum;
use model_registry_api::v1 as pb;

use crate::payload::{Payload, registration};
use crate::runner::{Call, Client, Limits, run, timed};

/// What the benchmark measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// `GetProductionModel`: the deployers' hot read.
    GetProduction,
    /// `GetModelVersion` of a random stored version.
    GetVersion,
    /// `ListModelVersions`: ACTIVE versions with auc ≥ 0.6, by auc, one page of 50.
    List,
    /// `GetBestModelVersion` by auc.
    Best,
    /// `RegisterModel` (over `--models` models).
    Register,
    /// `SetModelAlias` of `canary` to a random version.
    SetAlias,
    /// `RollbackModelAlias`, each after a `SetModelAlias` it undoes.
    Rollback,
    /// Time from an alias move to its arrival at `--watchers` watchers.
    WatchFanout,
    /// 90% get-production, 8% list, 2% register.
    Mixed,
    /// Time from a registration's commit to its webhook's arrival, at
    /// `--events-per-second` for `--duration`, then for a `--burst`.
    WebhookLag,
}

/// The data a run works on.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The model read and changed.
    pub model: String,
    /// Its versions are 1 to this.
    pub versions: i64,
    /// How large registrations are.
    pub payload: Payload,
    /// Registrations spread over this many models (`MODEL-0` …).
    pub models: u64,
}

/// Registers versions until `model` has `count` of them, from 16 callers;
/// then points production at the newest, and `canary` and each of
/// `callers` rollback aliases at the first.
pub async fn seed(
    clients: &[Client],
    dataset: &mut Dataset,
    count: i64,
    callers: usize,
) -> Result<(), tonic::Status> {
    let existing = match clients[0]
        .clone()
        .get_model(pb::GetModelRequest {
            model_name: dataset.model.clone(),
        })
        .await
    {
        Ok(response) => response.into_inner().model.map_or(0, |m| m.version_count),
        Err(status) if status.code() == tonic::Code::NotFound => 0,
        Err(status) => return Err(status),
    };
    let missing = u64::try_from(count - existing).unwrap_or(0);
    if missing > 0 {
        let model = dataset.model.clone();
        let payload = dataset.payload;
        let first = u64::try_from(existing).unwrap_or(0);
        let call: Call = Arc::new(move |mut client: Client, _, n| {
            let request = registration(payload, &model, first + n);
            Box::pin(async move { timed("seed", client.register_model(request)).await })
        });
        let limits = Limits {
            duration: std::time::Duration::from_secs(24 * 3600),
            requests: missing,
            pause: std::time::Duration::ZERO,
        };
        let stats = run(clients, 16, limits, call).await;
        if let Some(failed) = stats
            .operations
            .get("seed")
            .filter(|s| !s.errors.is_empty())
        {
            return Err(tonic::Status::internal(format!(
                "seeding failed: {:?}",
                failed.errors
            )));
        }
    }
    dataset.versions = count.max(existing);
    let mut client = clients[0].clone();
    let moves = [
        ("production".to_owned(), dataset.versions),
        ("canary".to_owned(), 1),
    ]
    .into_iter()
    .chain((0..callers).map(|caller| (rollback_alias(caller), 1)));
    for (alias, version) in moves {
        client
            .set_model_alias(pb::SetModelAliasRequest {
                model_name: dataset.model.clone(),
                alias,
                version,
                reason: "benchmark set-up".to_owned(),
                ..Default::default()
            })
            .await?;
    }
    Ok(())
}

/// The alias caller `caller` of the rollback scenario moves and rolls back.
fn rollback_alias(caller: usize) -> String {
    format!("rollback-{caller}")
}

fn random_version(dataset: &Dataset) -> i64 {
    fastrand::i64(1..=dataset.versions.max(1))
}

/// The request of each read scenario.
pub fn get_production(dataset: &Dataset) -> pb::GetProductionModelRequest {
    pb::GetProductionModelRequest {
        model_name: dataset.model.clone(),
        ..Default::default()
    }
}

/// See [`Scenario::List`].
pub fn list(dataset: &Dataset) -> pb::ListModelVersionsRequest {
    pb::ListModelVersionsRequest {
        model_name: dataset.model.clone(),
        statuses: vec![pb::ModelStatus::Active as i32],
        min_metrics: [("auc".to_owned(), 0.6)].into(),
        order_by: pb::VersionOrder::Metric as i32,
        order_metric: "auc".to_owned(),
        descending: true,
        page_size: 50,
        ..Default::default()
    }
}

/// See [`Scenario::Best`].
pub fn best(dataset: &Dataset) -> pb::GetBestModelVersionRequest {
    pb::GetBestModelVersionRequest {
        model_name: dataset.model.clone(),
        metric: "auc".to_owned(),
        ..Default::default()
    }
}

fn move_alias(dataset: &Dataset, alias: String, version: i64) -> pb::SetModelAliasRequest {
    pb::SetModelAliasRequest {
        model_name: dataset.model.clone(),
        alias,
        version,
        reason: "benchmark".to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    }
}

/// The call `scenario` makes (every scenario but watch-fanout).
pub fn call(scenario: Scenario, dataset: Arc<Dataset>) -> Call {
    Arc::new(move |mut client: Client, worker, n| {
        let dataset = Arc::clone(&dataset);
        Box::pin(async move {
            match scenario {
                Scenario::GetProduction => {
                    timed(
                        "GetProductionModel",
                        client.get_production_model(get_production(&dataset)),
                    )
                    .await
                }
                Scenario::GetVersion => {
                    let request = pb::GetModelVersionRequest {
                        model_name: dataset.model.clone(),
                        version: random_version(&dataset),
                        ..Default::default()
                    };
                    timed("GetModelVersion", client.get_model_version(request)).await
                }
                Scenario::List => {
                    timed(
                        "ListModelVersions",
                        client.list_model_versions(list(&dataset)),
                    )
                    .await
                }
                Scenario::Best => {
                    timed(
                        "GetBestModelVersion",
                        client.get_best_model_version(best(&dataset)),
                    )
                    .await
                }
                Scenario::Register => {
                    let model = if dataset.models > 1 {
                        format!("{}-{}", dataset.model, n % dataset.models)
                    } else {
                        dataset.model.clone()
                    };
                    let request = registration(dataset.payload, &model, n);
                    timed("RegisterModel", client.register_model(request)).await
                }
                Scenario::SetAlias => {
                    let request =
                        move_alias(&dataset, "canary".to_owned(), random_version(&dataset));
                    timed("SetModelAlias", client.set_model_alias(request)).await
                }
                Scenario::Rollback => {
                    // Each caller moves its own alias away from version 1
                    // (where set-up put it), then undoes the move.
                    let alias = rollback_alias(worker);
                    let away = fastrand::i64(2..=dataset.versions.max(2));
                    let moved = client
                        .set_model_alias(move_alias(&dataset, alias.clone(), away))
                        .await;
                    if let Err(status) = moved {
                        return ("SetModelAlias", status.code(), std::time::Duration::ZERO);
                    }
                    let request = pb::RollbackModelAliasRequest {
                        model_name: dataset.model.clone(),
                        alias,
                        reason: "benchmark".to_owned(),
                        request_id: uuid::Uuid::new_v4().to_string(),
                        ..Default::default()
                    };
                    timed("RollbackModelAlias", client.rollback_model_alias(request)).await
                }
                Scenario::Mixed => {
                    let dice = fastrand::f64();
                    if dice < 0.90 {
                        timed(
                            "GetProductionModel",
                            client.get_production_model(get_production(&dataset)),
                        )
                        .await
                    } else if dice < 0.98 {
                        timed(
                            "ListModelVersions",
                            client.list_model_versions(list(&dataset)),
                        )
                        .await
                    } else {
                        let request = registration(dataset.payload, &dataset.model, n);
                        timed("RegisterModel", client.register_model(request)).await
                    }
                }
                Scenario::WatchFanout | Scenario::WebhookLag => (
                    "not a call scenario",
                    tonic::Code::Unimplemented,
                    std::time::Duration::ZERO,
                ),
            }
        })
    })
}
