"""Start-up as an orchestrator sees it: a stop signal at any moment of
start-up is a clean exit (status 0), and probes tell "alive" from "ready"
from the first moment, through a database outage, with or without TLS."""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from conftest import free_port, postgres_base_url, psql, server_binary, wait_until_listening
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

SERVING = health_pb2.HealthCheckResponse.SERVING


def health_status(address: str, service: str, timeout: float = 2.0) -> int | None:
    """The health status of `service` at `address`, or None without an answer.
    A fresh connection each time: a probe is a new caller."""
    options = [("grpc.use_local_subchannel_pool", 1)]
    with grpc.insecure_channel(address, options=options) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError:
            return None
        return int(answer.status)


def wait_for(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def spawn(workdir: Path, *args: str) -> tuple[subprocess.Popen[bytes], str, str]:
    """A server with a gRPC port and a probe port, not yet waited for."""
    address, probes = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [server_binary(), "--listen", address, "--health-listen", probes, *args],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "server.log", "ab"),  # noqa: SIM115 - closed with the process
        env={**os.environ, "RUST_LOG": "warn"},
    )
    return process, address, probes


def spawn_listening(workdir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """`spawn`, waited for until it listens; again on other ports when one
    picked was taken meanwhile (by another process's outgoing connection,
    say): a free port found is only free until someone binds it."""
    for _ in range(3):
        process, address, probes = spawn(workdir)
        try:
            wait_until_listening(address, process)
            return process, address, probes
        except RuntimeError:
            if "Address already in use" not in (workdir / "server.log").read_text():
                raise
    raise AssertionError("three attempts found their ports taken")


# Each stage is a moment of start-up an orchestrator can stop a pod in.
STAGES = ("port-open", "port-open-then-jitter", "waiting-for-database", "serving")


def test_sigterm_at_every_stage_of_start_up_exits_zero(tmp_path: Path) -> None:
    rounds = int(os.environ.get("MODEL_REGISTRY_STARTUP_SIGNAL_ROUNDS", "200"))
    unreachable = f"postgres://postgres@127.0.0.1:{free_port()}/none"
    random.seed(17)
    outcomes: dict[str, list[int]] = {stage: [] for stage in STAGES}
    for round_ in range(rounds):
        stage = STAGES[round_ % len(STAGES)]
        workdir = tmp_path / str(round_)
        workdir.mkdir()
        if stage == "waiting-for-database":
            process, address, probes = spawn(workdir, "--database-url", unreachable, "--database-wait", "1m")
            wait_for(lambda: health_status(probes, "liveness") == SERVING, "liveness while the database is away")
            assert health_status(probes, "") != SERVING, "not ready without a database"
        else:
            process, address, probes = spawn_listening(workdir)
            if stage == "port-open-then-jitter":
                time.sleep(random.uniform(0, 0.03))
            elif stage == "serving":
                wait_for(lambda: health_status(probes, "") == SERVING, "readiness")
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        outcomes[stage].append(code)
        assert code == 0, f"round {round_} ({stage}): exited {code}\n{(workdir / 'server.log').read_text()[-2000:]}"
    assert all(outcomes.values()), f"every stage was exercised: { {s: len(c) for s, c in outcomes.items()} }"


class Outage:
    """A TCP relay to the test PostgreSQL that the test can take down: while
    down, every connection through it is cut and new ones are refused, which
    is what a server sees when its database goes away."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.stopped = False

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self.lock:
            if self.listener is not None:
                self.listener.close()
                self.listener = None
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.fixture
def outage(postgres_url: str) -> Iterator[tuple[Outage, str]]:
    host, port = postgres_base_url().rsplit("@", 1)[1].rsplit(":", 1)
    relay = Outage((host, int(port)))
    name = postgres_url.rsplit("/", 1)[1]
    try:
        yield relay, f"postgres://postgres@127.0.0.1:{relay.port}/{name}"
    finally:
        relay.down()


def test_liveness_holds_through_a_database_outage_and_readiness_recovers_without_a_restart(
    tmp_path: Path, outage: tuple[Outage, str]
) -> None:
    relay, url = outage
    seconds = float(os.environ.get("MODEL_REGISTRY_OUTAGE_SECONDS", "6"))
    relay.up()
    process, _, probes = spawn(tmp_path, "--database-url", url, "--health-interval", "200ms", "--db-timeout", "1s")
    try:
        wait_for(lambda: health_status(probes, "") == SERVING, "readiness before the outage")
        relay.down()
        wait_for(lambda: health_status(probes, "") not in (SERVING, None), "NOT_SERVING during the outage")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert health_status(probes, "liveness") == SERVING, "alive throughout the outage"
            assert health_status(probes, "") != SERVING
            time.sleep(0.25)
        relay.up()
        wait_for(lambda: health_status(probes, "") == SERVING, "readiness after the database returned")
        assert process.poll() is None, "the same process recovered"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_a_server_started_during_an_outage_waits_alive_and_becomes_ready(
    tmp_path: Path, outage: tuple[Outage, str]
) -> None:
    relay, url = outage
    subprocess.run([server_binary(), "migrate", "--database-url", url.replace(f":{relay.port}/", ":5432/")], check=True, capture_output=True, timeout=60)
    # As the manifests start a replica: no migration of its own, a wait for the database.
    process, _, probes = spawn(tmp_path, "--database-url", url, "--no-migrate", "--database-wait", "5m")
    try:
        wait_for(lambda: health_status(probes, "liveness") == SERVING, "liveness while the database is away")
        assert health_status(probes, "") != SERVING
        probe = [server_binary(), "probe", "--address", probes]
        assert subprocess.run([*probe, "--service", "liveness"], capture_output=True, timeout=30).returncode == 0
        not_ready = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        assert not_ready.returncode == 1 and "NOT_SERVING" in not_ready.stderr, not_ready.stderr
        relay.up()
        wait_for(lambda: health_status(probes, "") == SERVING, "readiness once the database answers", timeout=60)
        assert subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def start_migrate(workdir: Path, url: str) -> subprocess.Popen[str]:
    """`migrate` as a migration Job runs it, waiting up to 5 min for the
    database; its warnings on a pipe."""
    return subprocess.Popen(
        [server_binary(), "migrate", "--database-url", url, "--database-wait", "5m"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": "warn"},
    )


def test_a_migration_started_during_an_outage_waits_and_completes(tmp_path: Path, outage: tuple[Outage, str]) -> None:
    relay, url = outage
    migrate = start_migrate(tmp_path, url)
    try:
        # It retries (and says so) while the database is away.
        assert migrate.stderr is not None
        first = migrate.stderr.readline()
        assert "database unreachable; retrying" in first, first
        assert migrate.poll() is None
        relay.up()
        assert migrate.wait(timeout=60) == 0
    finally:
        if migrate.poll() is None:
            migrate.kill()
    name = url.rsplit("/", 1)[1]
    assert "models" in psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", name).split()


def test_a_migration_waits_while_another_process_holds_the_sqlite_write_lock(tmp_path: Path) -> None:
    # A backup or a sqlite3 shell holds the write lock as the server starts.
    blocker = sqlite3.connect(tmp_path / "registry.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    migrate = start_migrate(tmp_path, "sqlite://registry.db")
    try:
        assert migrate.stderr is not None
        first = migrate.stderr.readline()
        assert "database locked by another process; retrying" in first, first
        assert migrate.poll() is None
        blocker.rollback()
        assert migrate.wait(timeout=60) == 0
    finally:
        blocker.close()
        if migrate.poll() is None:
            migrate.kill()
    with sqlite3.connect(tmp_path / "registry.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"models", "model_versions", "events"} <= tables, tables


def test_a_tokens_file_that_names_no_principal_is_refused(tmp_path: Path) -> None:
    (tmp_path / "tokens.toml").write_text("# Append one entry per token (hash-token prints them).\n")
    (tmp_path / "tokens.toml").chmod(0o600)
    result = subprocess.run(
        [server_binary(), "--listen", f"127.0.0.1:{free_port()}", "--auth-tokens", "tokens.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "names no principal" in result.stderr and "hash-token" in result.stderr
    assert not (tmp_path / "model-registry.db").exists(), "refused before touching the database"
