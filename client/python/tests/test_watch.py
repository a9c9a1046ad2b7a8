"""Following an alias from Python: the current state, each change as it
happens, and no change lost while the registry restarts."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, RunningServer, start_server, stop_server

from modelreg_client import AliasUpdate, NotFound, RegistryClient

# Generous: nothing here waits this long unless something is broken.
DEADLINE = 20.0


class Follower:
    """Runs `watch_alias` on a thread and hands its updates to the test."""

    def __init__(self, address: str, model: str, alias: str = "production") -> None:
        self.updates: queue.Queue[AliasUpdate | BaseException] = queue.Queue()
        self._client = RegistryClient(address, initial_backoff=0.05, max_backoff=0.3)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, args=(model, alias), daemon=True)
        self._thread.start()

    def _follow(self, model: str, alias: str) -> None:
        try:
            for update in self._client.watch_alias(model, alias):
                self.updates.put(update)
                if self._stop.is_set():
                    return
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            self.updates.put(error)

    def next(self) -> AliasUpdate:
        """The next update, failing the test when none comes."""
        item = self.updates.get(timeout=DEADLINE)
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        self._client.close()


@pytest.fixture
def registry(server: RunningServer) -> Iterator[RegistryClient]:
    with RegistryClient(server.address, timeout=10) as client:
        yield client


def _register(registry: RegistryClient, count: int) -> None:
    for n in range(count):
        registry.register_model("churn", algorithm="XGBoost", artifact_uri=f"s3://m/{n}", metrics={"auc": 0.8 + n / 100})


def test_a_watch_yields_the_state_then_every_change(registry: RegistryClient, server: RunningServer) -> None:
    _register(registry, 3)
    follower = Follower(server.address, "churn")
    try:
        first = follower.next()
        assert (first.initial, first.model_version, first.event) == (True, None, None)
        registry.set_production_model("churn", 1, reason="first")
        registry.set_production_model("churn", 3, reason="retrained")
        registry.rollback_production_model("churn", reason="regression")
        seen = [follower.next() for _ in range(3)]
        assert [u.model_version.version if u.model_version else None for u in seen] == [1, 3, 1]
        assert [u.event.reason if u.event else None for u in seen] == ["first", "retrained", "regression"]
        assert all(not u.initial for u in seen)
        assert [u.event_id for u in seen] == sorted(u.event_id for u in seen)
    finally:
        follower.close()


def test_a_watch_of_an_unknown_model_raises_not_found(registry: RegistryClient) -> None:
    with pytest.raises(NotFound, match="nope"):
        next(iter(registry.watch_alias("nope")))


def test_a_watch_resumes_after_a_restart_without_missing_a_change(tmp_path: Path) -> None:
    first = start_server(tmp_path)
    address = first.address
    with RegistryClient(address, timeout=10) as registry:
        _register(registry, 3)
        registry.set_production_model("churn", 1, reason="first")
    follower = Follower(address, "churn")
    try:
        assert follower.next().model_version.version == 1  # type: ignore[union-attr]
        stop_server(first)
        # While the watched address is down, another server on the same
        # database moves production twice.
        other = start_server(tmp_path, log="other.log")
        with RegistryClient(other.address, timeout=10) as registry:
            registry.set_production_model("churn", 2, reason="while away")
            registry.set_production_model("churn", 3, reason="again")
        stop_server(other)
        again = start_server(tmp_path, address=address, log="again.log")
        try:
            missed = [follower.next(), follower.next()]
            assert [u.model_version.version for u in missed if u.model_version] == [2, 3]
            assert [u.event.reason for u in missed if u.event] == ["while away", "again"]
        finally:
            stop_server(again)
    finally:
        follower.close()
        stop_server(first)


def test_the_deployer_example_serves_each_new_production_version(registry: RegistryClient, server: RunningServer) -> None:
    _register(registry, 2)
    registry.set_production_model("churn", 1, reason="first")
    deployer = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "deployer.py"), "churn", "--registry", server.address, "--max-updates", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert deployer.stdout is not None
        assert deployer.stdout.readline().strip() == "following churn@production"
        assert deployer.stdout.readline().startswith("now serving churn version 1 (XGBoost) from s3://m/0")
        registry.set_production_model("churn", 2, reason="better")
        out, err = deployer.communicate(timeout=DEADLINE)
        assert deployer.returncode == 0, err
        assert out.startswith("now serving churn version 2 (XGBoost) from s3://m/1"), out
    finally:
        deployer.kill()


# Runs a script as a terminal would: with Python's Ctrl-C handler even when
# the test runs as a background job, whose shell starts it with SIGINT
# ignored (bash does for `&` without job control), which Python then keeps.
AS_IN_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def test_the_deployer_example_stops_on_ctrl_c_while_the_registry_is_down() -> None:
    deployer = subprocess.Popen(
        [sys.executable, "-c", AS_IN_A_TERMINAL, str(REPO / "examples" / "deployer.py"), "churn", "--registry", "127.0.0.1:1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert deployer.stdout is not None
        # Printed just before the watch starts retrying the dead address.
        assert deployer.stdout.readline().strip() == "following churn@production"
        deployer.send_signal(signal.SIGINT)
        out, _ = deployer.communicate(timeout=DEADLINE)
        assert deployer.returncode == 0
        assert out.strip() == "stopping"
    finally:
        deployer.kill()
