"""One JSON shape: what a Python record's to_dict() gives is exactly what
grpcurl prints for the same message (the canonical protobuf JSON mapping)."""

from __future__ import annotations

import json
import shutil
import subprocess

from conftest import RunningServer

from modelreg_client import RegistryClient, Training


def grpcurl(server: RunningServer, method: str, request: dict[str, object]) -> dict[str, object]:
    binary = shutil.which("grpcurl")
    assert binary, "grpcurl comes with tests/python/requirements.txt"
    result = subprocess.run(
        [binary, "-plaintext", "-d", json.dumps(request), server.address, f"modelregistry.v1.RegistryService/{method}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_records_to_dict_is_what_grpcurl_prints(server: RunningServer) -> None:
    with RegistryClient(server.address) as registry:
        registry.register_model(
            "churn",
            algorithm="XGBoost",
            artifact_uri="s3://models/churn/1.pkl",
            metrics={"auc": 0.91, "f1": 0.5},
            params={"max_depth": 6},
            tags={"team": "growth"},
            training=Training(train_samples=8000, test_samples=2000, feature_names=["tenure", "plan"]),
            metadata={"threshold": 0.5, "classes": ["stay", "churn"]},
        )
        registry.set_production_model("churn", 1, reason="first")
        version = registry.get_model_version("churn", 1)
        model = registry.get_model("churn")
        events = list(registry.list_events("churn"))

    shown = grpcurl(server, "GetModelVersion", {"model_name": "churn", "version": 1})
    assert version.to_dict() == shown["modelVersion"]
    assert version.to_dict()["version"] == "1", "int64 as a string, as the mapping says"
    assert version.to_dict()["status"] == "MODEL_STATUS_ACTIVE"
    assert model.to_dict() == grpcurl(server, "GetModel", {"model_name": "churn"})["model"]
    assert [e.to_dict() for e in events] == grpcurl(server, "ListEvents", {"model_name": "churn"})["events"]


def modelreg_json(server: RunningServer, *args: str) -> object:
    result = subprocess.run(
        ["modelreg", "--url", f"http://{server.address}", "-o", "json", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_modelreg_json_is_what_grpcurl_prints(server: RunningServer) -> None:
    with RegistryClient(server.address) as registry:
        registry.register_model(
            "churn",
            algorithm="XGBoost",
            artifact_uri="s3://models/churn/1.pkl",
            metrics={"auc": 0.91, "f1": 0.5},
            params={"max_depth": 6},
            tags={"team": "growth"},
            training=Training(train_samples=8000, test_samples=2000, feature_names=["tenure", "plan"]),
            metadata={"threshold": 0.5, "classes": ["stay", "churn"], "nested": {"ok": True, "none": None}},
        )
        registry.set_alias("churn", "canary", 1, reason="first")

    shown = grpcurl(server, "GetModelVersion", {"model_name": "churn", "version": 1})["modelVersion"]
    assert modelreg_json(server, "show", "churn", "1") == shown
    assert modelreg_json(server, "show", "churn@canary") == shown
    assert modelreg_json(server, "model", "churn") == grpcurl(server, "GetModel", {"model_name": "churn"})["model"]
    assert modelreg_json(server, "history", "churn") == grpcurl(server, "ListEvents", {"model_name": "churn"})["events"]
    listed = grpcurl(server, "ListModelVersions", {"model_name": "churn"})["modelVersions"]
    assert modelreg_json(server, "versions", "churn") == listed


def test_grpcurl_decodes_the_field_violations_of_an_error(server: RunningServer) -> None:
    """Reflection serves google/rpc/error_details.proto, so grpcurl prints
    each invalid field (not "google.rpc.BadRequest is not recognized")."""
    binary = shutil.which("grpcurl")
    assert binary, "grpcurl comes with tests/python/requirements.txt"
    result = subprocess.run(
        [
            binary,
            "-plaintext",
            "-d",
            json.dumps({"model_name": "Bad Name!"}),
            server.address,
            "modelregistry.v1.RegistryService/RegisterModel",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "is not recognized" not in result.stdout + result.stderr, result.stdout + result.stderr
    output = result.stdout + result.stderr
    details = [line.split("\t", 1)[1] for line in output.splitlines() if "\t" in line]
    violations = next(json.loads(d) for d in details if "google.rpc.BadRequest" in d)["fieldViolations"]
    assert {v["field"] for v in violations} == {"model_name", "algorithm", "artifact"}
    request_info = next(json.loads(d) for d in details if "google.rpc.RequestInfo" in d)
    assert request_info["requestId"]
