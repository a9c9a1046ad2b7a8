"""Trains churn models and registers every one of them in the Model Registry.

The seed's `train_churn_model_local.py` done properly: a churn-like dataset
(scikit-learn's make_classification with a fixed seed and customer-style
feature names), two or three real models (logistic regression, gradient
boosting, and XGBoost when installed), AUC, accuracy, precision, recall and
F1 on a held-out split, each model saved with joblib beside a metadata JSON,
and each version registered with its metrics, hyperparameters, sample and
feature counts, training times and artifact paths.

    python examples/train_churn_model.py --registry 127.0.0.1:50051 --promote-best

Needs `pip install ./client/python scikit-learn`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelreg_client import ModelVersion, RegistryClient, Training

MODEL_NAME = "churn"
FEATURES = [
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "contract_length_months",
    "support_calls_90d",
    "num_products",
    "payment_delay_days",
    "data_usage_gb",
    "customer_age",
    "dependents",
    "paperless_billing",
    "satisfaction_score",
]


@dataclass
class Candidate:
    """A model to train: its algorithm name, estimator and hyperparameters to record."""

    algorithm: str
    estimator: Any
    params: dict[str, Any]


def candidates(seed: int) -> list[Candidate]:
    """The models trained on every run; XGBoost joins when it is installed."""
    found = [
        Candidate(
            "LogisticRegression",
            make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=seed)),
            {"C": 1.0, "max_iter": 1000, "scaler": "standard"},
        ),
        Candidate(
            "GradientBoosting",
            GradientBoostingClassifier(n_estimators=150, max_depth=3, learning_rate=0.1, random_state=seed),
            {"n_estimators": 150, "max_depth": 3, "learning_rate": 0.1},
        ),
    ]
    try:
        from xgboost import XGBClassifier  # type: ignore[import-not-found]
    except ImportError:
        return found
    params = {"n_estimators": 200, "max_depth": 4, "learning_rate": 0.1}
    found.append(Candidate("XGBoost", XGBClassifier(**params, random_state=seed, eval_metric="auc"), params))
    return found


def churn_dataset(samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A churn-like binary dataset: about a quarter of customers churn."""
    features, labels = make_classification(
        n_samples=samples,
        n_features=len(FEATURES),
        n_informative=7,
        n_redundant=3,
        weights=[0.73],
        flip_y=0.03,
        class_sep=0.9,
        random_state=seed,
    )
    return features, labels


def evaluate(estimator: Any, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """The five metrics the old registry table had, on the held-out split."""
    predicted = estimator.predict(x_test)
    scores = estimator.predict_proba(x_test)[:, 1]
    return {
        "auc": float(roc_auc_score(y_test, scores)),
        "accuracy": float(accuracy_score(y_test, predicted)),
        "precision": float(precision_score(y_test, predicted, zero_division=0)),
        "recall": float(recall_score(y_test, predicted, zero_division=0)),
        "f1": float(f1_score(y_test, predicted, zero_division=0)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registry", default="127.0.0.1:50051", help="registry address (host:port)")
    parser.add_argument("--promote-best", action="store_true", help="promote the highest-AUC version of this run")
    parser.add_argument("--out", type=Path, default=Path("artifacts"), help="directory for models and metadata")
    parser.add_argument("--samples", type=int, default=5000, help="dataset size")
    parser.add_argument("--seed", type=int, default=42, help="random seed of data and models")
    args = parser.parse_args(argv)

    run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    features, labels = churn_dataset(args.samples, args.seed)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=0.2, stratify=labels, random_state=args.seed
    )
    args.out.mkdir(parents=True, exist_ok=True)
    registered: list[ModelVersion] = []

    with RegistryClient(args.registry) as registry:
        for candidate in candidates(args.seed):
            started_at = datetime.now(timezone.utc)
            clock = time.perf_counter()
            candidate.estimator.fit(x_train, y_train)
            duration = time.perf_counter() - clock
            finished_at = datetime.now(timezone.utc)
            metrics = evaluate(candidate.estimator, x_test, y_test)

            stem = args.out / f"{MODEL_NAME}_{candidate.algorithm.lower()}_{run_id}"
            model_path = stem.with_suffix(".joblib")
            metadata_path = Path(f"{stem}_metadata.json")
            joblib.dump(candidate.estimator, model_path)
            metadata = {
                "model_name": candidate.algorithm,
                "run_id": run_id,
                "training_date": finished_at.isoformat(),
                "training_duration_seconds": duration,
                "training_samples": len(y_train),
                "test_samples": len(y_test),
                "features": FEATURES,
                "churn_rate": float(labels.mean()),
                "hyperparameters": candidate.params,
                "metrics": metrics,
                "model_file_path": str(model_path.resolve()),
            }
            metadata_path.write_text(json.dumps(metadata, indent=2))

            version = registry.register_model(
                MODEL_NAME,
                algorithm=candidate.algorithm,
                artifact_path=model_path,
                metadata_uri=metadata_path.resolve().as_uri(),
                metrics=metrics,
                params=candidate.params,
                tags={"run_id": run_id, "dataset": "synthetic-churn", "seed": str(args.seed)},
                training=Training(
                    started_at=started_at,
                    finished_at=finished_at,
                    duration_seconds=duration,
                    train_samples=len(y_train),
                    test_samples=len(y_test),
                    feature_names=FEATURES,
                    dataset_uri=f"sklearn:make_classification?samples={args.samples}&seed={args.seed}",
                ),
                metadata=metadata,
                description=f"{candidate.algorithm} trained in run {run_id}",
                request_id=f"{MODEL_NAME}-{candidate.algorithm}-{run_id}",
            )
            registered.append(version)
            print(
                f"registered {MODEL_NAME} version {version.version}: {candidate.algorithm} "
                f"auc={metrics['auc']:.4f} f1={metrics['f1']:.4f} ({duration:.1f}s) -> {model_path}"
            )

        if args.promote_best and registered:
            best = max(registered, key=lambda v: v.metrics["auc"])
            registry.set_production_model(
                MODEL_NAME,
                best.version,
                reason=f"highest AUC ({best.metrics['auc']:.4f}) of training run {run_id}",
            )
            print(f"promoted {MODEL_NAME} version {best.version} ({best.algorithm}) to production")
    return 0


if __name__ == "__main__":
    sys.exit(main())
