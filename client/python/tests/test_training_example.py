"""The example training job end to end: it trains, saves and registers real
models, and promotes the best one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from conftest import REPO, RunningServer

from modelreg_client import RegistryClient, file_digest


def test_the_churn_training_job_registers_its_models_and_promotes_the_best(
    server: RunningServer, tmp_path: Path
) -> None:
    out = tmp_path / "artifacts"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "train_churn_model.py"),
            "--registry",
            server.address,
            "--promote-best",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    with RegistryClient(server.address) as registry:
        versions = list(registry.list_model_versions("churn"))
        assert len(versions) >= 2
        assert {"LogisticRegression", "GradientBoosting"} <= {v.algorithm for v in versions}
        for version in versions:
            assert set(version.metrics) == {"auc", "accuracy", "precision", "recall", "f1"}
            assert all(0.0 <= value <= 1.0 for value in version.metrics.values())
            assert version.metrics["auc"] > 0.7, "a real model beats chance"
            assert version.training.train_samples == 4000
            assert version.training.test_samples == 1000
            assert version.training.feature_count == 12
            assert version.training.started_at is not None and version.training.finished_at is not None
            # Local files are recorded as absolute file:// URIs.
            artifact = Path(url2pathname(urlparse(version.artifact.uri).path))
            assert version.artifact.uri == artifact.as_uri()
            assert artifact.is_file() and artifact.parent == out.resolve()
            assert (version.artifact.sha256, version.artifact.size_bytes) == file_digest(artifact)
            metadata = json.loads(Path(url2pathname(urlparse(version.artifact.metadata_uri).path)).read_text())
            assert metadata["metrics"] == version.metrics
        production = registry.get_production_model("churn")
        assert production.metrics["auc"] == max(v.metrics["auc"] for v in versions)
        promotion = list(registry.list_events("churn"))[-1]
        assert promotion.new_version == production.version
        assert "highest AUC" in promotion.reason
