"""The SQLite file as an operator handles it: an online backup taken under
write load restores every change acknowledged before it began, and a full
disk is answered with a clear error, reported by health, and loses nothing."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import grpc
import pytest
from conftest import server_binary, start_server, stop_server
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from modelreg_client import EventType, ModelRegistryError, RegistryClient

T = TypeVar("T")
DEADLINE = 30.0


def eventually(probe: Callable[[], T | None], what: str) -> T:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def integrity(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def test_a_backup_under_write_load_restores_every_acknowledged_change(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    server = start_server(live, "--database-url", "sqlite://registry.db")
    acknowledged: list[tuple[float, str, int]] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def train(worker: int) -> None:
        try:
            with RegistryClient(server.address, timeout=10) as registry:
                for n in range(2000):
                    if stop.is_set():
                        return
                    version = registry.register_model(
                        f"model-{worker}", algorithm="XGBoost", artifact_uri=f"s3://m/{n}", metrics={"auc": 0.5 + n / 10000}
                    )
                    if n % 3 == 0:
                        registry.set_production_model(version.model_name, version.version, reason="retrained")
                    acknowledged.append((time.monotonic(), version.model_name, version.version))
        except BaseException as error:  # noqa: BLE001 - reported by the test thread
            failures.append(error)

    workers = [threading.Thread(target=train, args=(w,)) for w in range(4)]
    try:
        for worker in workers:
            worker.start()
        eventually(lambda: True if len(acknowledged) >= 40 else None, "some registrations")
        began = time.monotonic()
        result = subprocess.run(
            [server_binary(), "backup", "--database-url", "sqlite://registry.db", "--to", str(tmp_path / "backup.db")],
            cwd=live,
            capture_output=True,
            text=True,
            timeout=60,
        )
        ended = time.monotonic()
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("backed up "), result.stdout
        # The load went on through the backup and after it.
        eventually(lambda: True if any(at > ended for at, _, _ in acknowledged) else None, "writes after the backup")
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=DEADLINE)
        stop_server(server)
    assert not failures, failures
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "live"], "no partial copy left behind"
    assert integrity(tmp_path / "backup.db") == "ok"

    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(tmp_path / "backup.db", restored / "model-registry.db")
    server = start_server(restored)
    try:
        with RegistryClient(server.address, timeout=10) as registry:
            before = [(model, version) for at, model, version in acknowledged if at < began]
            assert before
            for model, version in before:
                assert registry.get_model_version(model, version).version == version
            for model in {model for model, _ in before}:
                events = list(registry.list_events(model))
                registered = {e.version for e in events if e.type == EventType.VERSION_REGISTERED}
                assert {v for m, v in before if m == model} <= registered, "each version with its event"
                # The restored trail is whole: one registration event per version.
                assert len(registered) == registry.get_model(model).version_count
    finally:
        stop_server(server)


def test_a_backup_never_overwrites_and_postgres_is_pointed_to_pg_dump(tmp_path: Path) -> None:
    (tmp_path / "taken.db").write_text("keep me")
    overwrite = subprocess.run(
        [server_binary(), "backup", "--to", "taken.db"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert overwrite.returncode == 1 and "exists already" in overwrite.stderr
    assert (tmp_path / "taken.db").read_text() == "keep me"
    postgres = subprocess.run(
        [server_binary(), "backup", "--database-url", "postgres://postgres@127.0.0.1/x", "--to", "pg.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert postgres.returncode == 1 and "pg_dump" in postgres.stderr
    assert not (tmp_path / "pg.db").exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs mounted for the test (needs root, as on the CI machine)."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mountpoint)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        message = f"cannot mount a small tmpfs ({mounted.stderr.strip()}); the full-disk test needs root"
        if os.environ.get("MODEL_REGISTRY_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(f"SKIPPING FULL-DISK TEST: {message}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def health(address: str) -> str:
    with grpc.insecure_channel(address) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))


def fill(directory: Path) -> Path:
    """Writes a file until the file system is full."""
    filler = directory / "filler"
    # Unbuffered: a buffered file would fail again at close, flushing what
    # the full disk refused.
    with open(filler, "wb", buffering=0) as out:
        chunk = os.urandom(64 * 1024)
        while True:
            try:
                out.write(chunk)
                out.flush()
            except OSError as full:
                assert full.errno == errno.ENOSPC
                return filler


def test_a_full_disk_is_reported_and_loses_nothing(small_disk: Path, tmp_path: Path) -> None:
    server = start_server(small_disk, "--database-url", "sqlite://registry.db", "--health-interval", "200ms", log="../server.log")
    acknowledged: list[int] = []
    try:
        with RegistryClient(server.address, timeout=10, retries=0) as registry:
            for n in range(5):
                acknowledged.append(registry.register_model("churn", algorithm="X", artifact_uri=f"s3://m/{n}").version)
            registry.set_production_model("churn", 1, reason="first")
            filler = fill(small_disk)
            # Pages SQLite already owns may take a few writes; then it is full.
            refused = None
            for n in range(500):
                try:
                    acknowledged.append(
                        registry.register_model(
                            "churn", algorithm="X", artifact_uri=f"s3://full/{n}", metadata={"pad": os.urandom(24000).hex()}
                        ).version
                    )
                except ModelRegistryError as error:
                    refused = error
                    break
            assert refused is not None, "the disk never filled"
            assert refused.code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE), refused
            assert "disk is full" in refused.message
            eventually(lambda: True if health(server.address) == "NOT_SERVING" else None, "health to turn NOT_SERVING")
            assert registry.get_production_model("churn").version == 1, "reads still work"

            filler.unlink()
            eventually(lambda: True if health(server.address) == "SERVING" else None, "health to recover")
            acknowledged.append(registry.register_model("churn", algorithm="X", artifact_uri="s3://m/after").version)
    finally:
        stop_server(server)
    assert integrity(small_disk / "registry.db") == "ok"
    server = start_server(small_disk, "--database-url", "sqlite://registry.db", log="../again.log")
    try:
        with RegistryClient(server.address, timeout=10) as registry:
            versions = {v.version for v in registry.list_model_versions("churn")}
            assert set(acknowledged) <= versions, "every acknowledged registration survived"
            assert registry.get_model("churn").version_count == len(versions)
    finally:
        stop_server(server)

