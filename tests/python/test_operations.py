"""The server as an SRE runs it: Prometheus metrics, logs that read well in
a file and in a collector, start-up order and fatal errors."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from conftest import (
    REPO,
    RunningServer,
    free_port,
    psql,
    server_binary,
    start_server,
    stop_server,
    write_tokens_file,
)
from prometheus_client.parser import text_string_to_metric_families

from modelreg_client import ModelRegistryError, RegistryClient
from modelreg_client._generated.modelregistry.v1 import registry_pb2, registry_pb2_grpc

T = TypeVar("T")

DEADLINE = 20.0


def eventually(probe: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Polls `probe` until it returns something (bounded in time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def scrape(address: str) -> dict[str, list[Any]]:
    """The samples of every metric family at http://ADDRESS/metrics."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def sample(families: dict[str, list[Any]], name: str, **labels: str) -> float | None:
    """The value of the sample `name` with at least `labels`, if any."""
    for family in families.values():
        for s in family:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


@pytest.fixture
def monitored(tmp_path: Path) -> Iterator[tuple[RunningServer, str]]:
    metrics = f"127.0.0.1:{free_port()}"
    running = start_server(tmp_path, "--metrics-listen", metrics)
    try:
        yield running, metrics
    finally:
        stop_server(running)


def test_metrics_count_calls_and_time_them(monitored: tuple[RunningServer, str]) -> None:
    server, metrics = monitored
    with RegistryClient(server.address, timeout=10, retries=0) as registry:
        registry.register_model("churn", algorithm="XGBoost", artifact_uri="s3://m/1")
        registry.set_production_model("churn", 1, reason="first")
        for _ in range(3):
            registry.get_production_model("churn")
        with pytest.raises(Exception, match="no version 9"):
            registry.get_model_version("churn", 9)
        watch = registry.watch_alias("churn")
        next(watch)
        families = scrape(metrics)
        assert sample(families, "model_registry_watch_streams", kind="alias") == 1.0
        watch.close()
    counted = sample(families, "model_registry_requests_total", method="GetProductionModel", code="OK")
    assert counted == 3.0
    assert sample(families, "model_registry_requests_total", method="GetModelVersion", code="NOT_FOUND") == 1.0
    assert sample(families, "model_registry_request_duration_seconds_count", method="GetProductionModel") == 3.0
    assert sample(families, "model_registry_request_duration_seconds_bucket", method="GetProductionModel", le="+Inf") == 3.0
    assert (sample(families, "model_registry_transactions_total", outcome="committed") or 0) >= 2
    assert sample(families, "model_registry_write_slot_wait_seconds_count") is not None
    assert sample(families, "model_registry_db_connections_max", pool="reader") == 16.0
    assert (sample(families, "process_resident_memory_bytes") or 0) > 1_000_000
    build = [s for s in families["model_registry_build_info"] if s.name == "model_registry_build_info"]
    assert build and re.fullmatch(r"[0-9a-f]{12}|unknown", build[0].labels["git_sha"])
    # The stream ended when the client closed it.
    eventually(
        lambda: True if sample(scrape(metrics), "model_registry_watch_streams", kind="alias") == 0.0 else None,
        "the watch gauge to drop",
    )


def test_families_with_known_labels_are_exported_at_zero_before_any_call(monitored: tuple[RunningServer, str]) -> None:
    _, metrics = monitored
    families = scrape(metrics)
    for kind in ("alias", "events"):
        assert sample(families, "model_registry_watch_streams", kind=kind) == 0.0, kind
    for outcome in ("committed", "rolled_back"):
        assert sample(families, "model_registry_transactions_total", outcome=outcome) is not None, outcome
    for source in ("postgres", "local"):
        assert sample(families, "model_registry_change_notifications_total", source=source) is not None, source


def test_invented_method_names_do_not_create_series(monitored: tuple[RunningServer, str]) -> None:
    server, metrics = monitored
    with grpc.insecure_channel(server.address) as channel:
        for n in range(5):
            call = channel.unary_unary(f"/modelregistry.v1.RegistryService/Invented{n}")
            with pytest.raises(grpc.RpcError) as refused:
                call(b"", timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    families = scrape(metrics)
    assert sample(families, "model_registry_requests_total", method="unknown", code="UNIMPLEMENTED") == 5.0
    methods = {s.labels["method"] for s in families["model_registry_requests"]}
    assert not any(m.startswith("Invented") for m in methods)


def test_the_readme_metrics_and_promql_name_metrics_that_exist(monitored: tuple[RunningServer, str]) -> None:
    server, metrics = monitored
    with RegistryClient(server.address, timeout=10) as registry:
        # A subscription, for the per-subscription webhook series (its
        # host does not resolve here: the attempts fail and are retried).
        registry.create_webhook("https://hooks.invalid/registry")
        registry.register_model("churn", algorithm="XGBoost", artifact_uri="s3://m/1")
        registry.get_model("churn")
        watch = registry.watch_alias("churn")
        next(watch)
        eventually(
            lambda: True if "model_registry_webhook_lag_seconds" in scrape(metrics) else None,
            "the subscription's lag",
        )
        samples = {s.name for family in scrape(metrics).values() for s in family}
        watch.close()
    # A histogram's samples are NAME_bucket, NAME_sum and NAME_count.
    names = samples | {re.sub(r"_(bucket|sum|count)$", "", n) for n in samples}
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"\b((?:model_registry|process)_[a-z_]+)", section))
    assert documented, "the metrics section names metrics"
    # Series of identity providers exist only with [[issuer]] entries;
    # test_oidc.py scrapes them from a server that has some.
    with_identity_providers = {"model_registry_oidc_tokens_total", "model_registry_jwks_refreshes_total"}
    missing = {name for name in documented if name not in names | with_identity_providers}
    assert not missing, f"the README names metrics the server does not export: {missing}"
    # Every exported metric is documented too.
    exported = {re.sub(r"_(bucket|sum|count)$", "", n) for n in samples}
    undocumented = {f for f in exported if f.startswith("model_registry") and f not in documented}
    assert not undocumented, f"exported but not in the README: {undocumented}"


def test_text_logs_in_a_file_have_no_escape_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_REGISTRY_TEST_LOG", "info")
    server = start_server(tmp_path)
    try:
        with RegistryClient(server.address, timeout=10) as registry:
            list(registry.list_models())
        log = tmp_path / "server.log"
        eventually(lambda: True if "rpc finished" in log.read_text() else None, "the call's log line")
        assert "\x1b[" not in log.read_text()
    finally:
        stop_server(server)


def test_a_fatal_error_is_one_line_with_its_cause(tmp_path: Path) -> None:
    result = subprocess.run(
        [server_binary(), "--listen", f"127.0.0.1:{free_port()}", "--database-url", f"postgres://postgres@127.0.0.1:{free_port()}/none"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "cannot connect to postgres://postgres@127.0.0.1:" in lines[0]
    assert "Connection refused (os error 111)" in lines[0]


def test_a_server_that_cannot_listen_creates_no_database(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = "127.0.0.1:%d" % taken.getsockname()[1]
        result = subprocess.run([server_binary(), "--listen", address], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on {address}" in result.stderr and "Address already in use" in result.stderr
    assert list(tmp_path.iterdir()) == [], "nothing was created"


def _log_line(log: Path, method: str, code: str) -> dict[str, Any] | None:
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        span = entry.get("span", {})
        if span.get("rpc.method", "").endswith(f"/{method}") and entry.get("rpc.code") == code:
            return dict(entry)
    return None


def test_cancelled_and_timed_out_calls_are_logged_with_their_principal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_REGISTRY_TEST_LOG", "info")
    write_tokens_file(tmp_path, ("ci", "trainer", "ci-token"))
    metrics = f"127.0.0.1:{free_port()}"
    server = start_server(
        tmp_path, "--auth-tokens", "tokens.toml", "--log-format", "json", "--metrics-listen", metrics,
        "--database-url", "sqlite://registry.db", "--request-timeout", "2s",
    )
    log = tmp_path / "server.log"
    # The port listens before the migrations end: lock the database only
    # once the server answers, so the lock meets registrations, not them.
    with RegistryClient(server.address, token="ci-token", timeout=30) as registry:
        assert list(registry.list_models()) == []
    # Another process holds SQLite's write lock: every registration waits.
    blocker = sqlite3.connect(tmp_path / "registry.db", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        request = registry_pb2.RegisterModelRequest(
            model_name="churn", algorithm="X", artifact=registry_pb2.Artifact(uri="s3://m")
        )
        metadata = (("authorization", "Bearer ci-token"),)
        with grpc.insecure_channel(server.address) as channel:
            stub = registry_pb2_grpc.RegistryServiceStub(channel)
            pending = stub.RegisterModel.future(request, metadata=metadata)
            eventually(
                lambda: True if sample(scrape(metrics), "model_registry_requests_in_flight", method="RegisterModel") == 1.0 else None,
                "the registration to reach the server",
            )
            pending.cancel()
            cancelled = eventually(lambda: _log_line(log, "RegisterModel", "Cancelled"), "the cancelled call's log line")
        assert cancelled["span"]["principal"] == "ci"
        assert cancelled["elapsed_ms"] > 0 and cancelled["span"]["request.id"]

        # The server's deadline (--request-timeout 2s) comes well before the
        # client's own (3 s), so the server, not the client's cancellation,
        # ends the call: equal deadlines would race.
        with RegistryClient(server.address, token="ci-token", timeout=3, retries=0) as registry:
            with pytest.raises(ModelRegistryError) as raised:
                registry.register_model("churn", algorithm="X", artifact_uri="s3://m")
            assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        timed_out = eventually(lambda: _log_line(log, "RegisterModel", "DeadlineExceeded"), "the timed-out call's log line")
        assert timed_out["span"]["principal"] == "ci"
        assert timed_out["level"] == "INFO" and timed_out["elapsed_ms"] >= 1900
    finally:
        blocker.rollback()
        blocker.close()
        stop_server(server)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_move_watched_by_a_hundred_streams_is_read_once(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Every watcher of a move is sent the version it moved to; the replica
    reads that version once for all of them, not once per watcher."""
    metrics = f"127.0.0.1:{free_port()}"
    database = ["--database-url", request.getfixturevalue("postgres_url")] if backend == "postgres" else []
    running = start_server(tmp_path, "--metrics-listen", metrics, *database)
    channels = [grpc.insecure_channel(running.address, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(2)]
    try:
        with RegistryClient(running.address) as client:
            for _ in range(2):
                client.register_model("churn", algorithm="X", artifact_uri="s3://x")
            client.set_production_model("churn", 1, reason="first")
            watches = [
                registry_pb2_grpc.RegistryServiceStub(channels[i % 2]).WatchProductionModel(
                    registry_pb2.WatchProductionModelRequest(model_name="churn"), timeout=60
                )
                for i in range(100)
            ]
            assert all(next(watch).model_version.version == 1 for watch in watches)
            before = sample(scrape(metrics), "model_registry_db_reads_total")
            assert before is not None
            client.set_production_model("churn", 2, reason="second")
            assert all(next(watch).model_version.version == 2 for watch in watches)
            reads = sample(scrape(metrics), "model_registry_db_reads_total") - before
        # The feed's read of the new event and one read of version 2 (a
        # slow feed may take a second look); not a hundred.
        assert reads <= 6, f"{reads:.0f} reads for one move watched 100 times"
        for watch in watches:
            watch.cancel()
    finally:
        for channel in channels:
            channel.close()
        stop_server(running)


def test_a_listener_connection_that_stops_answering_is_replaced(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The change feed's LISTEN connection hears nothing when it goes
    half-open, and silence proves nothing: a ping finds it. Here its
    PostgreSQL backend is frozen (SIGSTOP), which the client cannot tell
    from a dead peer; the listener gives up on it, reports it, connects
    anew, and changes reach watchers through the new connection."""
    postgres_url = request.getfixturevalue("postgres_url")
    database = postgres_url.rsplit("/", 1)[1]
    metrics = f"127.0.0.1:{free_port()}"
    running = start_server(tmp_path, "--metrics-listen", metrics, "--database-url", postgres_url)
    listener = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'model-registry listener' "
        "AND datname = current_database()"
    )
    try:
        frozen = int(eventually(lambda: psql(listener, database).strip() or None, "the listener's connection"))
        assert sample(scrape(metrics), "model_registry_change_feed_connected") == 1.0
        os.kill(frozen, signal.SIGSTOP)
        try:
            # Pinged every 5 s, given 5 s to answer.
            replaced = eventually(
                lambda: next((p for p in psql(listener, database).split() if int(p) != frozen), None),
                "a new listener connection",
                timeout=30,
            )
        finally:
            os.kill(frozen, signal.SIGCONT)
        assert "ping went unanswered" in (running.workdir / "server.log").read_text()
        assert int(replaced) != frozen
        eventually(
            lambda: True if sample(scrape(metrics), "model_registry_change_feed_connected") == 1.0 else None,
            "the feed connected again",
        )
        with RegistryClient(running.address) as client:
            client.register_model("churn", algorithm="X", artifact_uri="s3://x")
            stub = registry_pb2_grpc.RegistryServiceStub(grpc.insecure_channel(running.address))
            # After the first registration's event: the watch starts on the
            # server whenever it arrives, maybe after the next registration.
            seen = stub.ListEvents(registry_pb2.ListEventsRequest(model_name="churn"), timeout=10).events[-1].id
            watch = stub.WatchEvents(
                registry_pb2.WatchEventsRequest(model_name="churn", after_event_id=seen), timeout=30
            )
            client.register_model("churn", algorithm="X", artifact_uri="s3://y")
            assert next(watch).event.version == 2
            watch.cancel()
    finally:
        stop_server(running)
