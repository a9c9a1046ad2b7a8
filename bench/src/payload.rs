//! The versions the benchmark registers. `realistic` is what a training job
//! of the churn example sends (about 1.6 KB on the wire): five metrics,
//! hyper-parameters, tags, training facts with twenty feature names, an
//! artifact with its SHA-256, a little metadata. Tiny payloads hide costs
//! that grow with the message (Nagle's algorithm once hid a 44 ms stall).

use std::collections::HashMap;

use clap::ValueEnum;
use model_registry_api::v1 as pb;
use prost_types::value::Kind;

/// How large each registered version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Payload {
    /// One metric, nothing else: the floor.
    Small,
    /// What a real training job sends (~1.6 KB).
    Realistic,
    /// A wide model: 50 metrics, 500 feature names, 8 KB of metadata (~30 KB).
    Large,
}

/// The `index`-th registration of `model`; metric values vary with the
/// index so orderings and filters have work to do.
pub fn registration(payload: Payload, model: &str, index: u64) -> pb::RegisterModelRequest {
    let spread = (index.wrapping_mul(7919) % 10_000) as f64 / 10_000.0;
    let mut request = pb::RegisterModelRequest {
        model_name: model.to_owned(),
        algorithm: "XGBoost".to_owned(),
        artifact: Some(pb::Artifact {
            uri: format!("s3://models/{model}/{index:08}/model.joblib"),
            ..Default::default()
        }),
        metrics: HashMap::from([("auc".to_owned(), 0.5 + spread / 2.0)]),
        request_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    if payload == Payload::Small {
        return request;
    }
    let artifact = request.artifact.get_or_insert_with(Default::default);
    artifact.metadata_uri = format!("s3://models/{model}/{index:08}/metadata.json");
    artifact.sha256 = format!("{:064x}", u128::from(index) * 0x9e37_79b9_7f4a_7c15);
    artifact.size_bytes = 48_213_776 + index as i64;
    for (name, value) in [
        ("f1", 0.4 + spread / 3.0),
        ("precision", 0.6 + spread / 4.0),
        ("recall", 0.55 + spread / 5.0),
        ("log_loss", 0.6 - spread / 4.0),
    ] {
        request.metrics.insert(name.to_owned(), value);
    }
    request.params = [
        ("max_depth", "6"),
        ("eta", "0.1"),
        ("subsample", "0.8"),
        ("colsample_bytree", "0.8"),
        ("n_estimators", "400"),
        ("min_child_weight", "1"),
        ("seed", "42"),
        ("objective", "binary:logistic"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    request.tags = [
        ("team", "growth"),
        ("dataset", "customers-2026-11"),
        ("trigger", "weekly-retrain"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let features = if payload == Payload::Large { 500 } else { 20 };
    request.training = Some(pb::TrainingInfo {
        started_at: Some(prost_types::Timestamp {
            seconds: 1_795_000_000 + index as i64 * 600,
            nanos: 0,
        }),
        finished_at: Some(prost_types::Timestamp {
            seconds: 1_795_000_000 + index as i64 * 600 + 312,
            nanos: 0,
        }),
        train_samples: 80_000,
        test_samples: 20_000,
        feature_names: (0..features)
            .map(|i| format!("customer_feature_{i:03}"))
            .collect(),
        dataset_uri: "s3://datasets/customers/2026-11-01.parquet".to_owned(),
        code_version: "9f3c2a1e7b5d".to_owned(),
        ..Default::default()
    });
    request.description = "Weekly retrain of the churn model on the latest customer snapshot; \
                           early stopping on validation AUC."
        .to_owned();
    let metadata_bytes = if payload == Payload::Large { 8192 } else { 160 };
    request.metadata = Some(prost_types::Struct {
        fields: [
            ("threshold", Kind::NumberValue(0.5)),
            ("classes", Kind::StringValue("stay,churn".to_owned())),
            ("notes", Kind::StringValue("x".repeat(metadata_bytes))),
        ]
        .into_iter()
        .map(|(k, kind)| (k.to_owned(), prost_types::Value { kind: Some(kind) }))
        .collect(),
    });
    if payload == Payload::Large {
        for i in 0..45 {
            request
                .metrics
                .insert(format!("segment_{i:02}_auc"), 0.5 + spread / 2.0);
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn payload_sizes_are_what_their_names_promise() {
        let size = |payload| registration(payload, "churn", 7).encoded_len();
        assert!(size(Payload::Small) < 300);
        assert!(
            (1_300..2_000).contains(&size(Payload::Realistic)),
            "{}",
            size(Payload::Realistic)
        );
        assert!(size(Payload::Large) > 20_000);
    }
}
