"""Replicas and lifecycle, with real server processes: three replicas started
at once on an empty PostgreSQL database all come up having migrated it once;
SIGTERM ends streams with UNAVAILABLE and exits within the grace period even
with idle sockets and open streams; a watcher that reads nothing while
10,000 changes happen does not grow the server's memory; a replica frozen
mid-write stops the others' writes only until PostgreSQL ends its session."""

from __future__ import annotations

import base64
import os
import re

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from conftest import free_port, psql, readme_block, start_server, stop_server, wait_until_listening
from modelreg_client import RegistryClient
from modelreg_client._generated.modelregistry.v1 import registry_pb2 as pb
from modelreg_client._generated.modelregistry.v1 import registry_pb2_grpc as pb_grpc


def wait_serving(address: str, timeout: float = 30.0) -> None:
    """Polls health until SERVING."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"{address} never reported SERVING")


def rss_kib(pid: int) -> int:
    """The resident set size of process `pid`, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_three_replicas_started_at_once_migrate_the_database_once(tmp_path: Path, postgres_url: str) -> None:
    replicas = [
        start_server(tmp_path, "--database-url", postgres_url, log=f"replica-{i}.log", wait=False) for i in range(3)
    ]
    try:
        for replica in replicas:
            wait_until_listening(replica.address, replica.process)
            wait_serving(replica.address)
        database = postgres_url.rsplit("/", 1)[1]
        versions = psql("SELECT version FROM __diesel_schema_migrations ORDER BY version", database).split()
        assert len(versions) == len(set(versions)) >= 4
        logs = [(tmp_path / f"replica-{i}.log").read_text() for i in range(3)]
        assert not any("ERROR" in log for log in logs), logs
        # Every replica serves the same data.
        with RegistryClient(replicas[0].address) as first:
            first.register_model("churn", algorithm="X", artifact_uri="s3://x")
        for replica in replicas:
            with RegistryClient(replica.address) as client:
                assert client.get_model("churn").version_count == 1
    finally:
        for replica in replicas:
            stop_server(replica)


def _blocking_requests(stop: threading.Event) -> Iterator[bytes]:
    """A request stream that sends nothing until `stop` is set."""
    stop.wait()
    return
    yield b""  # pragma: no cover - makes this a generator


def test_sigterm_ends_streams_and_exits_within_the_grace_period(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--shutdown-grace", "2s")
    with RegistryClient(server.address) as client:
        client.register_model("churn", algorithm="X", artifact_uri="s3://x")
        client.set_production_model("churn", 1, reason="first")
    channel = grpc.insecure_channel(server.address)
    stop_reflection = threading.Event()
    host, port = server.address.rsplit(":", 1)
    idle = socket.create_connection((host, int(port)))
    try:
        watch = pb_grpc.RegistryServiceStub(channel).WatchProductionModel(
            pb.WatchProductionModelRequest(model_name="churn"), timeout=60
        )
        assert next(watch).model_version.version == 1
        health = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=60)
        assert next(health).status == health_pb2.HealthCheckResponse.SERVING
        reflection = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda message: message,
            response_deserializer=lambda data: data,
        )(_blocking_requests(stop_reflection), timeout=60)
        time.sleep(0.2)

        stopping = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        try:
            next(watch)
            raise AssertionError("the watch must end")
        except grpc.RpcError as ended:
            assert ended.code() == grpc.StatusCode.UNAVAILABLE, ended
            assert "shutting down" in (ended.details() or "")
        assert server.process.wait(timeout=15) == 0
        assert time.monotonic() - stopping < 8, "bounded by the grace period"
        del reflection
    finally:
        stop_reflection.set()
        idle.close()
        channel.close()
        stop_server(server)


def test_a_watcher_that_reads_nothing_does_not_grow_server_memory(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        with RegistryClient(server.address) as client:
            for _ in range(2):
                # Incompressible, so gzip (which grpcio accepts by default)
                # does not pack 20 times more updates into the same buffers.
                pad = base64.b64encode(os.urandom(1500)).decode()
                client.register_model("churn", algorithm="X", artifact_uri="s3://x", metadata={"pad": pad})
            client.set_alias("churn", "canary", 1, reason="start")
        channel = grpc.insecure_channel(server.address)
        stalled = pb_grpc.RegistryServiceStub(channel).WatchModelAlias(
            pb.WatchModelAliasRequest(model_name="churn", alias="canary"), timeout=300
        )
        assert next(stalled).model_version.version == 1
        before = rss_kib(server.process.pid)

        def moves(worker: int) -> None:
            with RegistryClient(server.address) as mover:
                for i in range(1250):
                    mover.set_alias("churn", "canary", 1 + (worker + i) % 2, reason="flap")

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(moves, range(8)))
        after = rss_kib(server.process.pid)
        assert after - before < 64 * 1024, f"server RSS grew {(after - before) // 1024} MiB"

        # Reading now: a bounded amount arrives, then the latest state,
        # marked as having skipped changes.
        with RegistryClient(server.address) as client:
            final = client.get_version_by_alias("churn", "canary").version
        received = 0
        skipped = False
        for update in stalled:
            received += 1
            skipped = skipped or update.skipped_changes
            if update.skipped_changes:
                assert update.model_version.version == final
                break
            # What the transport buffers (HTTP/2 windows, socket buffers)
            # arrives first; most of the 10,000 changes must be skipped.
            assert received < 5000, f"no unbounded backlog ({received} updates before the skip)"
        assert skipped
        channel.close()
    finally:
        stop_server(server)


def test_a_replica_frozen_mid_write_holds_the_others_writes_only_briefly(tmp_path: Path, postgres_url: str) -> None:
    """A replica stopped (SIGSTOP) while its write holds the event-order
    lock leaves its session idle in a transaction; PostgreSQL ends that
    session after the writers' idle_in_transaction_session_timeout (5 s), so
    the other replicas' writes resume, and the frozen write never commits."""
    database = postgres_url.rsplit("/", 1)[1]
    frozen = start_server(tmp_path, "--database-url", postgres_url, log="frozen.log")
    other = start_server(tmp_path, "--database-url", postgres_url, log="other.log")
    # A session of the test's own holds the canary alias row, so the frozen
    # replica's move stops on it after taking the event-order lock.
    holder = subprocess.Popen(
        ["psql", postgres_url, "-qAt", "-v", "ON_ERROR_STOP=1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin and holder.stdout
    try:
        with RegistryClient(frozen.address) as client:
            for _ in range(2):
                client.register_model("churn", algorithm="X", artifact_uri="s3://x")
            client.set_alias("churn", "canary", 1, "first")
        holder.stdin.write("BEGIN; SELECT version FROM aliases WHERE alias = 'canary' FOR UPDATE;\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "1"

        outcome: dict[str, object] = {}

        def move_on_frozen() -> None:
            # No client retry: the answer is the frozen replica's own.
            with RegistryClient(frozen.address, retries=0) as client:
                try:
                    outcome["answer"] = client.set_alias("churn", "canary", 2, "frozen mid-write", timeout=60)
                except Exception as error:  # noqa: BLE001 - whatever it answers
                    outcome["error"] = error

        mover = threading.Thread(target=move_on_frozen)
        mover.start()
        # This database's sessions only: a session of another test's
        # database waiting on a lock ended this wait before the frozen
        # replica's write reached the alias row (CI saw the other replica
        # then wait 0 s). And a row's lock, not the model's queue.
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'model-registry writer' "
            "AND datname = current_database() AND wait_event_type = 'Lock' "
            "AND wait_event IN ('transactionid', 'tuple')"
        )
        deadline = time.monotonic() + 20
        while psql(waiting, database).strip() != "1":
            assert time.monotonic() < deadline, "the frozen replica's write never waited on the alias row"
            time.sleep(0.05)
        frozen.process.send_signal(signal.SIGSTOP)
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.flush()

        started = time.monotonic()
        with RegistryClient(other.address) as client:
            client.set_alias("churn", "staging", 2, "another replica's write", timeout=30)
        waited = time.monotonic() - started

        # PostgreSQL ended the frozen session after 5 s idle in its
        # transaction; without that, the wait lasts the statement timeout.
        assert 4 < waited < 15, f"the other replica's write waited {waited:.1f} s"
        frozen.process.send_signal(signal.SIGCONT)
        mover.join(timeout=30)
        assert "error" in outcome, outcome
        with RegistryClient(other.address) as client:
            assert client.get_model("churn").aliases == {"canary": 1, "staging": 2}
    finally:
        frozen.process.send_signal(signal.SIGCONT)
        holder.kill()
        stop_server(frozen)
        stop_server(other)


def _cache_hits(metrics: str) -> float:
    """How many alias reads a replica answered from its change-fed cache."""
    import urllib.request

    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(r'^model_registry_alias_reads_total\{source="cache"\} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_the_readme_token_reads_a_promotion_through_another_replica(tmp_path: Path, postgres_url: str) -> None:
    metrics = f"127.0.0.1:{free_port()}"
    a = start_server(tmp_path, "--database-url", postgres_url, log="a.log")
    b = start_server(tmp_path, "--database-url", postgres_url, "--metrics-listen", metrics, log="b.log")
    holder = None
    try:
        with RegistryClient(a.address) as writer, RegistryClient(b.address) as reader:
            for _ in range(2):
                writer.register_model("churn", algorithm="X", artifact_uri="s3://x")
            writer.set_production_model("churn", 1, "first")
            # Until replica B answers production from its cache (filled
            # once its feed is live and has the move).
            deadline = time.monotonic() + 10
            while True:
                version = reader.get_production_model("churn").version
                if version == 1 and _cache_hits(metrics) > 0:
                    break
                assert time.monotonic() < deadline, "replica B never answered from its cache"
                time.sleep(0.05)
            # A change to another model begun and not ended holds every
            # replica's feed back: B's cache keeps version 1 until told.
            holder = subprocess.Popen(
                ["psql", postgres_url, "-Atq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            assert holder.stdin is not None and holder.stdout is not None
            holder.stdin.write(
                "BEGIN; SELECT pg_advisory_xact_lock(1836213607, hashtext('other'));\n"
                "SELECT 'held', pg_current_xact_id();\n"
            )
            holder.stdin.flush()
            while not holder.stdout.readline().startswith("held"):
                pass
            block = readme_block("replicas-token").replace("127.0.0.1:50051", a.address)
            block = block.replace("127.0.0.1:50052", b.address)
            result = subprocess.run(
                ["bash", "-c", "set -euo pipefail\n" + block],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                env={k: v for k, v in os.environ.items() if not k.startswith("MODEL_REGISTRY_")},
            )
            assert result.returncode == 0, result.stderr
            assert re.search(r"^version:\s+2$", result.stdout, re.M), result.stdout
            # Without the token, B still answers what its cache holds.
            assert reader.get_production_model("churn").version == 1
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
        stop_server(a)
        stop_server(b)
