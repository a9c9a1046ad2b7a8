"""The Python client against the real server: every method, every exception
class, retries, and the committed stubs and types."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import REPO, RunningServer, free_port, start_server, stop_server
from stand_in import serving

import modelreg_client
from modelreg_client import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    EventType,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    ModelRegistryError,
    NotFound,
    OutOfRange,
    PermissionDenied,
    RegistryClient,
    ResourceExhausted,
    Status,
    Training,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
    file_digest,
)
from modelreg_client._generated.modelregistry.v1 import registry_pb2, registry_pb2_grpc

PACKAGE = REPO / "client" / "python"


@pytest.fixture
def registry(server: RunningServer) -> Iterator[RegistryClient]:
    with RegistryClient(server.address, timeout=10) as client:
        yield client


def test_registration_stores_what_the_training_job_knows(registry: RegistryClient, tmp_path: Path) -> None:
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(b"weights" * 1000)
    started = datetime(2026, 1, 18, 18, 40, tzinfo=timezone.utc)
    def register(**changes: Any) -> ModelVersion:
        arguments: dict[str, Any] = dict(
            algorithm="XGBoost",
            artifact_path=artifact,
            metadata_uri="s3://models/churn/meta.json",
            metrics={"auc": 0.91, "f1": 0.77},
            params={"max_depth": 6, "eta": 0.1},
            tags={"team": "growth"},
            training=Training(
                started_at=started,
                finished_at=started + timedelta(minutes=5),
                train_samples=8000,
                test_samples=2000,
                feature_names=["tenure", "charges"],
            ),
            metadata={"threshold": 0.5, "classes": ["stay", "churn"]},
            description="weekly retrain",
            request_id="run-1",
        )
        arguments.update(changes)
        return registry.register_model("churn", **arguments)

    version = register()
    assert (version.model_name, version.version, version.status) == ("churn", 1, Status.ACTIVE)
    assert (version.artifact.sha256, version.artifact.size_bytes) == file_digest(artifact)
    assert version.artifact.uri == artifact.resolve().as_uri(), "a local file is recorded as its absolute file:// URI"
    assert version.params == {"max_depth": "6", "eta": "0.1"}
    assert version.training.duration_seconds == 300.0
    assert version.training.feature_count == 2
    assert version.training.finished_at == started + timedelta(minutes=5)
    assert version.metadata == {"threshold": 0.5, "classes": ["stay", "churn"]}
    assert version.created_at.tzinfo is not None
    again = register()
    assert again.id == version.id, "a retried request_id registers nothing new"
    with pytest.raises(AlreadyExists, match="differs in algorithm, metrics"):
        register(algorithm="CatBoost", metrics={"auc": 0.99, "f1": 0.77})
    assert registry.get_model_version("churn", 1) == version
    assert registry.get_model_version_by_id(version.id) == version
    with pytest.raises(ValueError):
        registry.register_model("churn", algorithm="X")


def test_every_read_and_change(registry: RegistryClient) -> None:
    for algorithm, auc in [("XGBoost", 0.90), ("CatBoost", 0.93), ("LogReg", 0.80)]:
        registry.register_model("churn", algorithm=algorithm, artifact_uri=f"s3://m/{algorithm}", metrics={"auc": auc})
    registry.register_model("fraud", algorithm="XGBoost", artifact_uri="s3://m/fraud")

    first = registry.set_production_model("churn", 1, reason="first", expected_current_version=0)
    assert (first.model_version.version, first.previous_version) == (1, None)
    second = registry.set_production_model(
        "churn", 2, reason="better", expected_current_version=1, gate_metric="auc", gate_min_delta=0.01
    )
    assert (second.previous_version, second.unchanged) == (1, False)
    assert registry.set_production_model("churn", 2, reason="again").unchanged
    assert registry.get_production_model("churn").version == 2
    assert registry.get_production_model("churn", as_of=datetime.now(timezone.utc) + timedelta(seconds=5)).version == 2

    assert [v.version for v in registry.list_model_versions("churn")] == [1, 2, 3]
    assert [v.version for v in registry.list_model_versions("churn", order_by="auc", descending=True)] == [2, 1, 3]
    assert [v.version for v in registry.list_model_versions("churn", min_metrics={"auc": 0.85})] == [1, 2]
    assert [v.version for v in registry.list_model_versions("churn", algorithm="LogReg")] == [3]
    assert [v.version for v in registry.list_model_versions(production_only=True)] == [2]
    assert len(list(registry.list_model_versions(limit=2))) == 2
    best, value = registry.get_best_model_version("churn", "auc")
    assert (best.version, value) == (2, 0.93)
    assert registry.get_best_model_version("churn", "auc", lowest=True)[0].version == 3
    assert [m.name for m in registry.list_models()] == ["churn", "fraud"]
    assert [m.name for m in registry.list_models("fr")] == ["fraud"]
    model = registry.get_model("churn")
    assert (model.version_count, model.production_version) == (3, 2)

    back = registry.rollback_production_model("churn", reason="regression")
    assert (back.model_version.version, back.previous_version) == (1, 2)
    assert registry.deprecate("churn", 3, reason="weak").status == Status.DEPRECATED
    assert registry.reinstate("churn", 3, reason="needed").status == Status.ACTIVE
    assert registry.archive("churn", 3, reason="retired").status == Status.ARCHIVED
    assert [v.version for v in registry.list_model_versions("churn", statuses=[Status.ARCHIVED])] == [3]
    updated = registry.update_model_version(
        "churn", 1, description="champion", set_tags={"stage": "prod"}, reason="review"
    )
    assert (updated.description, updated.tags) == ("champion", {"stage": "prod"})
    assert list(registry.list_model_versions("churn", tags={"stage": "prod"}))[0].version == 1

    events = list(registry.list_events("churn"))
    assert [e.type for e in events][:4] == [
        EventType.MODEL_CREATED,
        EventType.VERSION_REGISTERED,
        EventType.VERSION_REGISTERED,
        EventType.VERSION_REGISTERED,
    ]
    rollback = list(registry.list_events("churn", types=[EventType.ALIAS_ROLLED_BACK]))
    assert len(rollback) == 1
    assert (rollback[0].alias, rollback[0].previous_version, rollback[0].new_version) == ("production", 2, 1)
    assert rollback[0].reason == "regression"
    status_changes = list(registry.list_events("churn", version=3, types=[EventType.STATUS_CHANGED]))
    assert [(e.previous_status, e.new_status) for e in status_changes] == [
        (Status.ACTIVE, Status.DEPRECATED),
        (Status.DEPRECATED, Status.ACTIVE),
        (Status.ACTIVE, Status.ARCHIVED),
    ]
    assert list(registry.list_events(since=events[-1].occurred_at, limit=1))[0].occurred_at >= events[-1].occurred_at
    assert len(list(registry.list_events(until=events[0].occurred_at))) == 0


def test_aliases_move_roll_back_and_answer_as_of(registry: RegistryClient) -> None:
    for auc in [0.80, 0.85, 0.90]:
        registry.register_model("churn", algorithm="XGBoost", artifact_uri=f"s3://m/{auc}", metrics={"auc": auc})
    registry.set_production_model("churn", 1, reason="first")
    assert registry.set_alias("churn", "canary", 2, reason="5% traffic", expected_current_version=0).previous_version is None
    moved = registry.set_alias("churn", "canary", 3, reason="retrain", gate_metric="auc", gate_min_delta=0.01)
    assert (moved.model_version.version, moved.previous_version, moved.model_version.aliases) == (3, 2, ["canary"])
    assert registry.get_version_by_alias("churn", "canary").version == 3
    assert registry.get_version_by_alias("churn", "latest").version == 3
    with pytest.raises(FailedPrecondition, match="metric gate"):
        registry.set_alias("churn", "canary", 1, reason="worse", gate_metric="auc")
    with pytest.raises(Aborted):
        registry.set_alias("churn", "canary", 1, reason="stale", expected_current_version=2)
    with pytest.raises(InvalidArgument, match="invalid alias"):
        registry.set_alias("churn", "latest", 1, reason="read-only")

    moved_at = list(registry.list_events("churn", alias="canary"))[-1].occurred_at
    back = registry.rollback_alias("churn", "canary", reason="regression")
    assert (back.model_version.version, back.previous_version) == (2, 3)
    assert registry.get_version_by_alias("churn", "canary", as_of=moved_at).version == 3
    assert registry.get_production_model("churn").version == 1, "production is untouched"
    assert registry.delete_alias("churn", "canary", reason="done", expected_current_version=2) == 2
    with pytest.raises(NotFound, match="no alias"):
        registry.get_version_by_alias("churn", "canary")

    registry.set_alias("churn", "staging", 2, reason="check")
    assert [v.version for v in registry.list_model_versions("churn", any_alias=True)] == [1, 2]
    assert [v.version for v in registry.list_model_versions("churn", aliases=["staging"])] == [2]
    model = registry.update_model("churn", description="Customer churn", tags={"team": "growth"}, reason="owner")
    assert (model.description, model.tags) == ("Customer churn", {"team": "growth"})
    assert (model.aliases, model.latest_version, model.production_version) == ({"production": 1, "staging": 2}, 3, 1)
    assert [e.type for e in registry.list_events("churn", alias="canary")] == [
        EventType.ALIAS_SET,
        EventType.ALIAS_SET,
        EventType.ALIAS_ROLLED_BACK,
        EventType.ALIAS_DELETED,
    ]
    assert list(registry.list_events("churn"))[-1].type == EventType.MODEL_UPDATED


def test_a_retried_change_with_its_request_id_happens_once(registry: RegistryClient) -> None:
    for auc in [0.8, 0.85, 0.9]:
        registry.register_model("churn", algorithm="X", artifact_uri=f"s3://{auc}", metrics={"auc": auc})
    for version in [1, 2, 3]:
        registry.set_alias("churn", "canary", version, reason="step")
    first = registry.rollback_alias("churn", "canary", reason="bad", request_id="rollback-42")
    again = registry.rollback_alias("churn", "canary", reason="bad", request_id="rollback-42")
    assert (first.model_version.version, again.model_version.version) == (2, 2)
    assert registry.get_version_by_alias("churn", "canary").version == 2, "not rolled back twice"
    with pytest.raises(AlreadyExists, match="differs in"):
        registry.rollback_alias("churn", "staging", reason="bad", request_id="rollback-42")


def test_server_errors_raise_their_exception_class(registry: RegistryClient) -> None:
    registry.register_model("churn", algorithm="X", artifact_uri="s3://x", request_id="shared-id")
    with pytest.raises(NotFound, match="has no version 9"):
        registry.get_model_version("churn", 9)
    with pytest.raises(InvalidArgument, match="model_name") as invalid:
        registry.register_model("Churn Model", algorithm="", artifact_uri="s3://x", metrics={"auc": 2.0})
    assert [v.field for v in invalid.value.field_violations] == ["model_name", "algorithm", "metrics[auc]"]
    assert invalid.value.request_id, "the server's id for the request"
    with pytest.raises(AlreadyExists, match="shared-id"):
        registry.register_model("fraud", algorithm="X", artifact_uri="s3://x", request_id="shared-id")
    with pytest.raises(FailedPrecondition, match="nothing to roll back"):
        registry.rollback_production_model("churn", reason="none yet")
    with pytest.raises(Aborted) as aborted:
        registry.set_production_model("churn", 1, reason="cas", expected_current_version=5)
    assert aborted.value.code == grpc.StatusCode.ABORTED
    assert "(ABORTED)" in str(aborted.value)
    assert isinstance(aborted.value, ModelRegistryError)


class _Refusing(registry_pb2_grpc.RegistryServiceServicer):
    """A stand-in server that answers GetModel with the code named in the request."""

    def GetModel(self, request: registry_pb2.GetModelRequest, context: grpc.ServicerContext) -> registry_pb2.GetModelResponse:
        context.abort(grpc.StatusCode[request.model_name.upper()], f"refused with {request.model_name}")
        raise AssertionError("abort raises")


@pytest.mark.parametrize(
    ("code", "exception"),
    [
        ("unauthenticated", Unauthenticated),
        ("permission_denied", PermissionDenied),
        ("invalid_argument", InvalidArgument),
        ("not_found", NotFound),
        ("already_exists", AlreadyExists),
        ("failed_precondition", FailedPrecondition),
        ("aborted", Aborted),
        ("unavailable", Unavailable),
        ("internal", Internal),
        ("resource_exhausted", ResourceExhausted),
        ("cancelled", Cancelled),
        ("deadline_exceeded", DeadlineExceeded),
        ("out_of_range", OutOfRange),
        ("unimplemented", Unimplemented),
        ("data_loss", DataLoss),
        ("unknown", Unknown),
    ],
)
def test_every_code_maps_to_its_exception(code: str, exception: type[ModelRegistryError]) -> None:
    # Codes the registry does not produce yet (authentication comes later)
    # still reach callers as the right class.
    with serving(_Refusing()) as address, RegistryClient(address, retries=0) as client:
        with pytest.raises(exception) as raised:
            client.get_model(code)
    assert type(raised.value) is exception
    assert raised.value.message == f"refused with {code}"
    # Chained to the original error, which tracebacks then show.
    assert isinstance(raised.value.__cause__, grpc.RpcError)


class _Slow(registry_pb2_grpc.RegistryServiceServicer):
    """A stand-in server that answers GetModel after two seconds."""

    def GetModel(self, request: registry_pb2.GetModelRequest, context: grpc.ServicerContext) -> registry_pb2.GetModelResponse:
        threading.Event().wait(2)
        return registry_pb2.GetModelResponse()


def test_a_call_past_its_deadline_raises_deadline_exceeded() -> None:
    with serving(_Slow()) as address, RegistryClient(address, timeout=0.2) as client:
        with pytest.raises(DeadlineExceeded) as raised:
            client.get_model("churn")
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_reads_and_changes_are_retried_until_a_late_server_answers(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    with RegistryClient(address, retries=0, timeout=2) as impatient:
        with pytest.raises(Unavailable):
            list(impatient.list_models())
    started: list[RunningServer] = []
    timer = threading.Timer(0.5, lambda: started.append(start_server(tmp_path, address=address)))
    timer.start()
    try:
        with RegistryClient(address, retries=40, initial_backoff=0.05, max_backoff=0.2, timeout=5) as patient:
            assert list(patient.list_models()) == []
            # A change carries one request id through all its retries.
            patient.register_model("churn", algorithm="X", artifact_uri="s3://x")
            assert patient.get_model("churn").version_count == 1
    finally:
        timer.join()
        for running in started:
            stop_server(running)


def test_a_change_the_server_gave_up_on_is_retried_with_its_request_id(tmp_path: Path) -> None:
    """The server's own deadline (--request-timeout 1s) passes while another
    writer holds the database: it answers DEADLINE_EXCEEDED, with time left
    on the caller's deadline; the client retries with the same request_id
    and the move is made once."""
    server = start_server(tmp_path, "--request-timeout", "1s")
    try:
        with RegistryClient(server.address, timeout=30, initial_backoff=0.2, max_backoff=0.5) as client:
            client.register_model("churn", algorithm="X", artifact_uri="s3://x")
            database = tmp_path / "model-registry.db"
            assert database.exists()
            other_writer = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
            other_writer.execute("BEGIN IMMEDIATE")
            release = threading.Timer(2.5, other_writer.rollback)
            started = time.monotonic()
            release.start()
            try:
                moved = client.set_production_model("churn", 1, reason="first")
                took = time.monotonic() - started
            finally:
                release.join()
                other_writer.close()
            assert moved.model_version.version == 1 and not moved.unchanged
            assert took >= 2.5, "the move waited for the other writer"
            events = client.list_events("churn", alias="production")
            assert len(list(events)) == 1, "made once"
    finally:
        stop_server(server)


def test_the_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    sys.path.insert(0, str(PACKAGE))
    try:
        import generate_stubs
    finally:
        sys.path.remove(str(PACKAGE))
    fresh = generate_stubs.generate(tmp_path)
    committed_root = PACKAGE / "src" / "modelreg_client" / "_generated"
    for path in fresh:
        committed = committed_root / path.relative_to(tmp_path)
        assert committed.is_file(), f"{committed} is missing: run python client/python/generate_stubs.py"
        assert committed.read_text() == path.read_text(), (
            f"{committed.name} is stale: run python client/python/generate_stubs.py"
        )


def test_the_package_passes_mypy_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(PACKAGE / "src" / "modelreg_client")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_names_have_docstrings() -> None:
    for name in modelreg_client.__all__:
        item = getattr(modelreg_client, name)
        assert item.__doc__, f"{name} has no docstring"
    for name, member in vars(RegistryClient).items():
        if callable(member) and not name.startswith("_"):
            assert member.__doc__, f"RegistryClient.{name} has no docstring"


def test_a_gzip_client_registers_and_reads_large_versions(server: RunningServer) -> None:
    features = [f"feature_{i:05}" for i in range(2000)]
    with RegistryClient(server.address, gzip=True, timeout=10) as compressed:
        version = compressed.register_model(
            "churn",
            algorithm="XGBoost",
            artifact_uri="s3://m",
            training=Training(feature_names=features),
        )
        assert compressed.get_model_version("churn", version.version).training.feature_names == features


class _FromTheFuture(registry_pb2_grpc.RegistryServiceServicer):
    """A stand-in for a newer server: a status this client has never heard of."""

    def GetModelVersion(
        self, request: registry_pb2.GetModelVersionRequest, context: grpc.ServicerContext
    ) -> registry_pb2.GetModelVersionResponse:
        version = registry_pb2.ModelVersion(model_name=request.model_name, version=request.version, status=7)
        return registry_pb2.GetModelVersionResponse(model_version=version)


def test_an_enum_value_from_a_newer_server_is_kept_as_its_number() -> None:
    with serving(_FromTheFuture()) as address, RegistryClient(address, retries=0) as client:
        version = client.get_model_version("churn", 3)
    assert version.status == 7 and not isinstance(version.status, Status)
    assert (version.model_name, version.version) == ("churn", 3)


def test_numpy_numbers_and_arrays_are_accepted_wherever_numbers_are(registry: RegistryClient) -> None:
    np = pytest.importorskip("numpy", reason="numpy comes with scikit-learn in the test venvs")
    version = registry.register_model(
        "churn",
        algorithm="XGBoost",
        artifact_uri="s3://m",
        metrics={"auc": np.float32(0.75), "f1": np.float64(0.5), "rank": np.int64(3)},
        metadata={"n": np.int64(5), "weights": np.array([0.25, 0.5]), "ok": np.bool_(True), "shape": (2, 3)},
        training=Training(train_samples=np.int64(800), test_samples=np.int32(200), duration_seconds=np.float64(1.5)),
    )
    stored = registry.get_model_version("churn", version.version)
    assert stored.metrics == {"auc": 0.75, "f1": 0.5, "rank": 3.0}
    assert stored.metadata == {"n": 5, "weights": [0.25, 0.5], "ok": True, "shape": [2, 3]}
    # Integers come back as integers, not 5.0 (a Struct holds doubles).
    assert [type(stored.metadata["n"]), type(stored.metadata["shape"][0])] == [int, int]
    assert type(stored.metadata["weights"][0]) is float
    assert (stored.training.train_samples, stored.training.test_samples) == (800, 200)
    assert list(registry.list_model_versions("churn", min_metrics={"auc": np.float32(0.7)}))[0].version == version.version


class _Replicas(registry_pb2_grpc.RegistryServiceServicer):
    """A stand-in for replicas behind a load balancer: each move answers the
    next token of `tokens`; the alias reads record the token they were sent."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.sent: list[str] = []

    def SetModelAlias(
        self, request: registry_pb2.SetModelAliasRequest, context: grpc.ServicerContext
    ) -> registry_pb2.SetModelAliasResponse:
        version = registry_pb2.ModelVersion(model_name=request.model_name, version=request.version)
        return registry_pb2.SetModelAliasResponse(model_version=version, consistency_token=self.tokens.pop(0))

    def GetProductionModel(
        self, request: registry_pb2.GetProductionModelRequest, context: grpc.ServicerContext
    ) -> registry_pb2.GetProductionModelResponse:
        self.sent.append(request.consistency_token)
        return registry_pb2.GetProductionModelResponse(model_version=registry_pb2.ModelVersion(version=1))

    def GetModelVersionByAlias(
        self, request: registry_pb2.GetModelVersionByAliasRequest, context: grpc.ServicerContext
    ) -> registry_pb2.GetModelVersionByAliasResponse:
        self.sent.append(request.consistency_token)
        return registry_pb2.GetModelVersionByAliasResponse(model_version=registry_pb2.ModelVersion(version=1))


def test_alias_reads_carry_the_newest_consistency_token_a_change_answered() -> None:
    replicas = _Replicas(["v1.900", "v1.800", ""])
    with serving(replicas) as address, RegistryClient(address, retries=0) as client:
        client.get_production_model("churn")
        client.set_production_model("churn", 1, "first")
        client.get_production_model("churn")
        # An older token answered later (a concurrent change), then none (an
        # unchanged move): the newest stays.
        client.set_alias("churn", "canary", 1, "older")
        client.set_alias("churn", "canary", 1, "unchanged")
        client.get_version_by_alias("churn", "canary")
        assert client.consistency_token == "v1.900"
        client.observe_consistency_token("v1.1200")
        client.get_production_model("churn")
    assert replicas.sent == ["", "v1.900", "v1.900", "v1.1200"]


def test_the_async_client_carries_consistency_tokens_too() -> None:
    import asyncio

    from modelreg_client import AsyncRegistryClient

    replicas = _Replicas(["v1.900"])

    async def calls(address: str) -> str:
        async with AsyncRegistryClient(address, retries=0) as client:
            await client.set_production_model("churn", 1, "first")
            await client.get_production_model("churn")
            return client.consistency_token

    with serving(replicas) as address:
        assert asyncio.run(calls(address)) == "v1.900"
    assert replicas.sent == ["v1.900"]
