"""The README's watch section, run as written: each grpcurl watch is left
open while the registry changes, and must print every change as it happens."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from conftest import RunningServer, readme_commands, run_readme_command

from modelreg_client import RegistryClient

DEADLINE = 20.0


class Stream:
    """A running grpcurl whose stdout is read as a sequence of JSON messages."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pending = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def next_message(self, timeout: float = DEADLINE) -> dict[str, Any]:
        """The next complete JSON message grpcurl printed."""
        while True:
            line = self._lines.get(timeout=timeout)
            assert line is not None, f"grpcurl ended: {self.process.stderr.read() if self.process.stderr else ''}"
            self._pending += line
            try:
                message = dict(json.loads(self._pending))
            except json.JSONDecodeError:
                continue
            self._pending = ""
            return message


@contextmanager
def streaming(command: str, server: RunningServer) -> Iterator[Stream]:
    process = subprocess.Popen(
        ["bash", "-c", "exec " + command.replace("127.0.0.1:50051", server.address)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield Stream(process)
    finally:
        process.kill()
        process.wait(timeout=DEADLINE)


def _wait_until_following(registry: RegistryClient, promotions: Stream) -> None:
    """A watch "from now on" sees nothing before the server has subscribed it,
    and nothing tells when that happened: promote a probe model until the
    watch reports one."""
    for version in (1, 2):
        registry.register_model("probe", algorithm="X", artifact_uri=f"s3://probe/{version}")
    for attempt in range(100):
        registry.set_production_model("probe", 1 + attempt % 2, reason="probe")
        try:
            promotions.next_message(timeout=0.2)
            return
        except queue.Empty:
            continue
    raise AssertionError("the event watch never reported a probe promotion")


def _next_event_of(stream: Stream, model: str) -> dict[str, Any]:
    """The next event about `model` (a late probe promotion may come first)."""
    while True:
        event = dict(stream.next_message()["event"])
        if event["modelName"] == model:
            return event


def test_the_grpcurl_watches_run_as_written(server: RunningServer) -> None:
    follow, resume, trail = readme_commands("watch-grpcurl")
    with RegistryClient(server.address, timeout=10) as registry:
        for n in (1, 2, 3):
            registry.register_model("churn", algorithm="XGBoost", artifact_uri=f"s3://models/churn/v{n}.pkl")
        with streaming(follow, server) as production, streaming(trail, server) as promotions:
            _wait_until_following(registry, promotions)
            first = production.next_message()
            assert first["initial"] is True and "modelVersion" not in first
            registry.set_production_model("churn", 1, reason="first release")
            registry.set_alias("churn", "canary", 2, reason="not production")
            registry.set_production_model("churn", 3, reason="retrained")
            moves = [production.next_message() for _ in range(2)]
            assert [m["modelVersion"]["version"] for m in moves] == ["1", "3"]
            assert [m["event"]["reason"] for m in moves] == ["first release", "retrained"]
            # The trail watch sees both production moves, not the canary move.
            events = [_next_event_of(promotions, "churn") for _ in range(2)]
            assert [(e["alias"], e["newVersion"]) for e in events] == [("production", "1"), ("production", "3")]
        # Resuming after event 3 (a registration) replays both moves, and only them.
        with streaming(resume, server) as resumed:
            replayed = [resumed.next_message() for _ in range(2)]
            assert [m["modelVersion"]["version"] for m in replayed] == ["1", "3"]
            assert not any(m.get("initial") for m in replayed)
