"""Webhooks from the receiver's side: a local HTTP receiver verifies every
request with the Standard Webhooks library, as a third party would, and the
tests check what it sees across outages, a killed server and hostile
destinations, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook as Verifier

from conftest import RunningServer, free_port, psql, readme_block, start_server, stop_server
from modelreg_client import InvalidArgument, RegistryClient

# Deliveries retry fast here, so an outage's end is seen within a second.
FAST_RETRIES = ("--webhook-max-retry-interval", "1s", "--webhook-timeout", "2s")
LOOPBACK = ("--webhook-allow-http", "--webhook-allow-private-destinations", *FAST_RETRIES)


class Receiver:
    """A webhook receiver on loopback. `answer` decides each request's
    status (or, None, to hang past the server's timeout); every request is
    kept, and the signature of those answered 2xx is verified."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self.answer: Callable[[dict[str, Any]], int | None] = lambda request: 204
        self.verifier: Verifier | None = None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = {"headers": headers, "body": body, "id": headers.get("webhook-id")}
                with receiver.lock:
                    receiver.requests.append(request)
                status = receiver.answer(request)
                if status is None:
                    time.sleep(3)  # past the server's 2 s timeout
                    status = 204
                elif 200 <= status < 300:
                    assert receiver.verifier is not None
                    # Raises (and the test fails) unless the signature is right.
                    receiver.verifier.verify(body, headers)
                    with receiver.lock:
                        receiver.delivered.append({**request, "json": json.loads(body)})
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/registry"

    def trust(self, secret: str) -> None:
        self.verifier = Verifier(secret)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The delivered requests, once there are `count` distinct events."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                delivered = list(self.delivered)
            if len({d["id"] for d in delivered}) >= count:
                return delivered
            time.sleep(0.05)
        raise AssertionError(f"{len(self.delivered)} deliveries after {timeout}s; waited for {count}")


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> list[str]:
    """The server's database arguments: its default SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return []
    return ["--database-url", request.getfixturevalue("postgres_url")]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    try:
        yield running
    finally:
        running.close()


def registry_for(server: RunningServer) -> RegistryClient:
    return RegistryClient(f"http://{server.address}")


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def scraped(address: str, name: str, **labels: str) -> float | None:
    """The value of metric `name` (with `labels`) at http://ADDRESS/metrics."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def events_by_model(delivered: list[dict[str, Any]]) -> dict[str, list[int]]:
    by_model: dict[str, list[int]] = {}
    for d in delivered:
        data = d["json"]["data"]
        by_model.setdefault(data.get("modelName", ""), []).append(int(data["id"]))
    return by_model


def test_a_receiver_verifies_each_matching_event_once_in_order_with_the_documented_body(
    tmp_path: Path, database: list[str], receiver: Receiver
) -> None:
    server = start_server(tmp_path, *database, *LOOPBACK)
    try:
        with registry_for(server) as registry:
            registry.register_model("churn", algorithm="X", artifact_uri="s3://c/1")
            created = registry.create_webhook(receiver.url, description="deploy hook", model_prefix="fraud-")
            receiver.trust(created.secret)
            assert created.secret.startswith("whsec_")
            assert created.webhook.state == "ACTIVE" and created.webhook.model_prefix == "fraud-"
            for i in range(3):
                for model in ("fraud-cards", "fraud-wire", "churn"):
                    registry.register_model(model, algorithm="X", artifact_uri=f"s3://{model}/{i}")
            registry.set_alias("fraud-cards", "production", 2, reason="best recall")
            # 2 models x (1 created + 3 registered) + 1 alias set; nothing of churn.
            delivered = receiver.wait_for(9)
            time.sleep(0.5)
            delivered = receiver.delivered
            assert len(delivered) == 9, [d["json"]["type"] for d in delivered]
            assert len({d["id"] for d in delivered}) == 9
            by_model = events_by_model(delivered)
            assert set(by_model) == {"fraud-cards", "fraud-wire"}
            for ids in by_model.values():
                assert ids == sorted(ids)
            promotion = delivered[-1]
            body = promotion["json"]
            assert body["specversion"] == "1.0"
            assert body["type"] == "model_registry.alias.set"
            assert body["subject"] == "fraud-cards"
            assert body["source"] == "model-registry"
            assert body["id"] == promotion["headers"]["webhook-id"]
            assert body["data"]["type"] == "EVENT_TYPE_ALIAS_SET"
            assert body["data"]["alias"] == "production"
            assert body["data"]["newVersion"] == "2"
            assert body["data"]["reason"] == "best recall"
            assert promotion["headers"]["content-type"] == "application/cloudevents+json"

            # The delivery log, and the subscription's progress; no secret anywhere.
            # The receiver holds a request before the server logs its answer.
            wait_until(lambda: len(registry.webhook_deliveries(created.webhook.id)) >= 9)
            log = registry.webhook_deliveries(created.webhook.id)
            assert len(log) == 9 and all(d.delivered and d.http_status == 204 for d in log)
            assert {d.message_id for d in log} == {d["id"] for d in delivered}
            (listed,) = registry.list_webhooks()
            assert listed.delivered_through_event_id >= int(body["data"]["id"])
            assert listed.last_delivered_at is not None
            assert created.secret not in repr(listed)
            # The subscription's creation is in the trail, naming it (not its URL's path).
            (audit,) = [e for e in registry.list_events() if e.webhook_id == created.webhook.id]
            assert audit.type.value == "WEBHOOK_CREATED" and audit.model_name == ""
            registry.delete_webhook(created.webhook.id)
            assert registry.list_webhooks() == []
        log_text = (tmp_path / "server.log").read_text()
        assert created.secret not in log_text
    finally:
        stop_server(server)


# Each stage of the outage: connection refused, 503, hanging past the timeout.
OUTAGE_STAGE = 10.0


def commit_over(registry: RegistryClient, versions: range, seconds: float) -> None:
    """Registers one version of `churn` per number, spread evenly over `seconds`."""
    started = time.monotonic()
    for n, i in enumerate(versions, start=1):
        registry.register_model("churn", algorithm="X", artifact_uri=f"s3://c/{i}")
        time.sleep(max(0.0, started + seconds * n / len(versions) - time.monotonic()))


def test_an_outage_of_the_receiver_delays_deliveries_but_loses_none(
    tmp_path: Path, database: list[str]
) -> None:
    """The receiver is down for 30 s (connection refused, then 503, then
    hanging past the timeout) while 200 events are committed: afterwards
    every one arrives, in order, each with the webhook-id its failed
    attempts carried."""
    port = free_port()
    server = start_server(tmp_path, *database, *LOOPBACK)
    receiver: Receiver | None = None
    try:
        with registry_for(server) as registry:
            created = registry.create_webhook(
                f"http://127.0.0.1:{port}/hook", event_types=["VERSION_REGISTERED"]
            )
            commit_over(registry, range(70), OUTAGE_STAGE)  # nothing listens: connection refused
            failure = registry.get_webhook(created.webhook.id)
            assert failure.state == "ACTIVE" and failure.retrying_event_id is not None
            assert "connect" in failure.failure
            assert len(registry.webhook_deliveries(created.webhook.id)) >= 3, "retried meanwhile"

            receiver = Receiver(port)
            receiver.trust(created.secret)
            receiver.answer = lambda request: 503
            commit_over(registry, range(70, 140), OUTAGE_STAGE)
            assert len(receiver.requests) >= 3
            receiver.answer = lambda request: None  # hangs past the timeout
            commit_over(registry, range(140, 200), OUTAGE_STAGE)
            assert len(receiver.requests) >= 4
            failed = list(receiver.requests)
            receiver.answer = lambda request: 204

            delivered = receiver.wait_for(200, timeout=90)
            versions = [int(d["json"]["data"]["version"]) for d in delivered]
            assert versions == list(range(1, 201)), "each event once, in order"
            version_of_id = {d["id"]: d["json"]["data"]["version"] for d in delivered}
            for attempt in failed:
                body = json.loads(attempt["body"])
                assert version_of_id[attempt["id"]] == body["data"]["version"], (
                    "a retried event keeps its webhook-id"
                )
            log = registry.webhook_deliveries(created.webhook.id, limit=500)
            assert any(d.http_status == 503 for d in log)
            assert any("timed out" in d.error for d in log)
            assert any("connect" in d.error for d in log)
            assert registry.get_webhook(created.webhook.id).retrying_event_id is None
    finally:
        stop_server(server)
        if receiver is not None:
            receiver.close()


def test_an_unordered_subscription_sets_a_failing_event_aside_and_delivers_the_rest(
    tmp_path: Path, database: list[str], receiver: Receiver
) -> None:
    """ordered=False: version 1's event fails (503) while versions 2..10
    arrive in order; it is retried on its own, with the same webhook-id,
    and arrives once its receiver takes it. A set-aside event that is then
    refused pauses the subscription, and resuming past it drops it."""
    web = f"127.0.0.1:{free_port()}"
    server = start_server(tmp_path, *database, *LOOPBACK, "--web-listen", web)

    def console_fields(webhook_id: int) -> dict[str, str]:
        with urllib.request.urlopen(f"http://{web}/webhooks", timeout=10) as response:
            section = BeautifulSoup(response.read(), "html.parser").select_one(f"#webhook-{webhook_id}")
        assert section is not None
        return {dt.get_text(): dd.get_text(" ", strip=True) for dt, dd in zip(section.select("dt"), section.select("dd"), strict=True)}

    try:
        with registry_for(server) as registry:
            created = registry.create_webhook(receiver.url, event_types=["VERSION_REGISTERED"], ordered=False)
            assert created.webhook.ordered is False
            receiver.trust(created.secret)
            refuse: dict[str, int] = {"1": 503}

            def version_of(request: dict[str, Any]) -> str:
                return str(json.loads(request["body"])["data"]["version"])

            receiver.answer = lambda request: refuse.get(version_of(request), 204)
            for i in range(10):
                registry.register_model("churn", algorithm="X", artifact_uri=f"s3://c/{i}")
            delivered = receiver.wait_for(9)
            assert [version_of(d) for d in delivered] == [str(v) for v in range(2, 11)]
            wait_until(lambda: sum(version_of(r) == "1" for r in receiver.requests) >= 3)
            # The cursor moves once the server has the receiver's answer.
            last_id = int(delivered[-1]["json"]["data"]["id"])
            wait_until(lambda: registry.get_webhook(created.webhook.id).delivered_through_event_id >= last_id)
            webhook = registry.get_webhook(created.webhook.id)
            assert webhook.state == "ACTIVE" and not webhook.ordered
            fields = console_fields(created.webhook.id)
            assert fields["Order"].startswith("unordered")
            assert fields["Set aside"] == "1 failed event, retried on their own"

            del refuse["1"]
            delivered = receiver.wait_for(10)
            assert version_of(delivered[-1]) == "1"
            first_ids = {r["id"] for r in receiver.requests if version_of(r) == "1"}
            assert len(first_ids) == 1, "every attempt of the set-aside event carries one webhook-id"

            def attempts_of_first() -> list[Any]:
                return [d for d in registry.webhook_deliveries(created.webhook.id) if d.message_id in first_ids]

            # The receiver holds the request before the server logs its answer.
            wait_until(lambda: any(d.delivered for d in attempts_of_first()))
            attempts = attempts_of_first()
            assert attempts[0].delivered and all(not d.delivered for d in attempts[1:])

            # Set aside (503), then refused (410): the subscription pauses on it.
            refuse["11"] = 503
            registry.register_model("churn", algorithm="X", artifact_uri="s3://c/11")
            wait_until(lambda: any(version_of(r) == "11" for r in receiver.requests))
            refuse["11"] = 410
            registry.register_model("churn", algorithm="X", artifact_uri="s3://c/12")
            receiver.wait_for(11)
            wait_until(lambda: registry.get_webhook(created.webhook.id).state == "FAILING")
            paused = registry.get_webhook(created.webhook.id)
            assert "410" in paused.failure and paused.retrying_event_id is not None
            resumed = registry.resume_webhook(created.webhook.id, skip_failed_event=True)
            assert resumed.state == "ACTIVE"
            registry.register_model("churn", algorithm="X", artifact_uri="s3://c/13")
            delivered = receiver.wait_for(12)
            assert version_of(delivered[-1]) == "13"
            assert "Set aside" not in console_fields(created.webhook.id), "skipping dropped it from the set"
            assert all(version_of(d) != "11" for d in receiver.delivered)

            ordered = registry.update_webhook(created.webhook.id, receiver.url, event_types=["VERSION_REGISTERED"])
            assert ordered.ordered is True
    finally:
        stop_server(server)


def test_a_server_killed_during_delivery_resumes_where_it_was(
    tmp_path: Path, database: list[str], receiver: Receiver
) -> None:
    server = start_server(tmp_path, *database, *LOOPBACK)
    try:
        with registry_for(server) as registry:
            created = registry.create_webhook(receiver.url, event_types=["VERSION_REGISTERED"])
            receiver.trust(created.secret)

            def slowly(request: dict[str, Any]) -> int:
                time.sleep(0.02)
                return 204

            receiver.answer = slowly
            for i in range(120):
                registry.register_model("churn", algorithm="X", artifact_uri=f"s3://c/{i}")
        receiver.wait_for(30)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        seen_before = len({d["id"] for d in receiver.delivered})
        assert seen_before < 120, "the kill came during delivery"
        server = start_server(tmp_path, *database, *LOOPBACK, address=server.address, log="server2.log")
        delivered = receiver.wait_for(120, timeout=90)
        versions = sorted({int(d["json"]["data"]["version"]) for d in delivered})
        assert versions == list(range(1, 121)), "no event missing"
        by_id: dict[str, set[int]] = {}
        for d in delivered:
            by_id.setdefault(d["id"], set()).add(int(d["json"]["data"]["version"]))
        assert all(len(v) == 1 for v in by_id.values()), "a duplicate carries the same webhook-id"
        # Deliveries are recorded at least every 100 ms: what was delivered
        # in the last 100 ms before the kill (20 ms each here) and the one in
        # flight are all that may be sent again.
        assert len(delivered) - 120 <= 7, "only the unrecorded tail is sent again"
    finally:
        stop_server(server)


def test_destinations_inside_the_network_are_refused_when_created_and_when_connecting(
    tmp_path: Path, receiver: Receiver
) -> None:
    server = start_server(tmp_path, "--webhook-allow-http", *FAST_RETRIES)
    try:
        with registry_for(server) as registry:
            for url in (receiver.url, "http://169.254.169.254/latest/meta-data", "http://[::1]:9/x"):
                with pytest.raises(InvalidArgument) as refused:
                    registry.create_webhook(url)
                assert refused.value.field_violations[0].field == "url"
                assert "private" in str(refused.value)
            # A name is resolved when subscribed: one that points inside now is refused.
            port = receiver.server.server_address[1]
            with pytest.raises(InvalidArgument, match="names localhost, which points at"):
                registry.create_webhook(f"http://localhost:{port}/hook")
            assert receiver.requests == []
    finally:
        stop_server(server)
    strict = start_server(tmp_path, *FAST_RETRIES, log="strict.log")
    try:
        with registry_for(strict) as registry, pytest.raises(InvalidArgument, match="https://"):
            registry.create_webhook("http://hooks.example.com/x")
    finally:
        stop_server(strict)


def test_a_name_that_rebinds_to_loopback_after_subscribing_is_refused_at_each_connection(
    tmp_path: Path, receiver: Receiver
) -> None:
    """DNS rebinding: the destination's name resolves to a public address
    when subscribed, then to loopback. The server runs in a mount namespace
    of its own whose /etc/hosts the test rewrites, so only its resolver
    sees the change."""
    hosts = tmp_path / "hosts"
    public = "93.184.215.14"  # a public address; nothing answers it from here
    hosts.write_text(f"127.0.0.1 localhost\n{public} hooks.rebind.test\n")
    isolate = ("unshare", "--mount", "--map-root-user", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts))
    if subprocess.run([*isolate, "true"], capture_output=True).returncode != 0:
        pytest.skip("LOUD SKIP: unshare --mount cannot give the server a private /etc/hosts here")
    server = start_server(tmp_path, "--webhook-allow-http", *FAST_RETRIES, prefix=isolate)
    try:
        with registry_for(server) as registry:
            port = receiver.server.server_address[1]
            created = registry.create_webhook(f"http://hooks.rebind.test:{port}/hook")
            registry.register_model("churn", algorithm="X", artifact_uri="s3://c/1")
            wait_until(lambda: len(registry.webhook_deliveries(created.webhook.id)) >= 1)
            (first, *_) = registry.webhook_deliveries(created.webhook.id)
            assert "destination refused" not in first.error, "the public answer was tried"

            hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 hooks.rebind.test\n")
            wait_until(
                lambda: any("destination refused" in d.error for d in registry.webhook_deliveries(created.webhook.id)),
                timeout=30,
            )
            refused = next(d for d in registry.webhook_deliveries(created.webhook.id) if "destination refused" in d.error)
            assert "127.0.0.1" in refused.error and refused.http_status is None
            assert receiver.requests == [], "nothing reached the address behind the new answer"
            with pytest.raises(InvalidArgument, match="names hooks.rebind.test, which points at 127.0.0.1"):
                registry.create_webhook(f"http://hooks.rebind.test:{port}/again")
    finally:
        stop_server(server)


def test_a_refused_event_pauses_the_subscription_until_an_admin_resumes_it(
    tmp_path: Path, receiver: Receiver
) -> None:
    metrics = f"127.0.0.1:{free_port()}"
    server = start_server(tmp_path, *LOOPBACK, "--metrics-listen", metrics)
    try:
        with registry_for(server) as registry:
            created = registry.create_webhook(receiver.url, event_types=["VERSION_REGISTERED"])
            receiver.trust(created.secret)
            receiver.answer = lambda request: 410 if b'"version":"1"' in request["body"] else 204
            for i in range(3):
                registry.register_model("churn", algorithm="X", artifact_uri=f"s3://c/{i}")
            wait_until(lambda: registry.get_webhook(created.webhook.id).state == "FAILING")
            paused = registry.get_webhook(created.webhook.id)
            assert paused.failure.startswith("HTTP 410")
            assert receiver.delivered == [], "later events wait behind the refused one"
            wait_until(lambda: scraped(metrics, "model_registry_webhooks_failing") == 1.0)
            assert scraped(metrics, "model_registry_webhook_attempts_total", outcome="refused") == 1.0
            resumed = registry.resume_webhook(created.webhook.id, skip_failed_event=True)
            assert resumed.state == "ACTIVE"
            delivered = receiver.wait_for(2)
            assert [int(d["json"]["data"]["version"]) for d in delivered] == [2, 3]
            kinds = [e.type.value for e in registry.list_events() if e.webhook_id == created.webhook.id]
            assert kinds == ["WEBHOOK_CREATED", "WEBHOOK_RESUMED"]
    finally:
        stop_server(server)


def test_the_readme_receiver_verifies_and_prints_a_promotion(tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "receiver.py"
    script.write_text(readme_block("webhook-receiver", "python"))
    server = start_server(tmp_path, *LOOPBACK)
    receiver = None
    try:
        with registry_for(server) as registry:
            created = registry.create_webhook(f"http://127.0.0.1:{port}/", model_prefix="fraud-")
            receiver = subprocess.Popen(
                [sys.executable, str(script)],
                env={**os.environ, "WEBHOOK_SECRET": created.secret, "PORT": str(port)},
                stdout=subprocess.PIPE,
                text=True,
            )
            registry.register_model("fraud-cards", algorithm="X", artifact_uri="s3://f/1")
            registry.set_alias("fraud-cards", "production", 1, reason="first")
            output = receiver.stdout
            assert output is not None
            lines: list[str] = []
            reader = threading.Thread(target=lambda: lines.append(output.readline()), daemon=True)
            reader.start()
            reader.join(timeout=30)
            assert lines == ["fraud-cards: production -> version 1\n"]
    finally:
        stop_server(server)
        if receiver is not None:
            receiver.kill()
            receiver.wait()


def test_a_rotated_secret_overlaps_an_update_moves_deliveries_and_a_replay_resends_with_the_same_ids(
    tmp_path: Path, database: list[str], receiver: Receiver
) -> None:
    server = start_server(tmp_path, *database, *LOOPBACK)
    second = Receiver()
    try:
        with registry_for(server) as registry:
            created = registry.create_webhook(receiver.url, event_types=["VERSION_REGISTERED"])
            old_secret = created.secret
            rotated = registry.rotate_webhook_secret(created.webhook.id, overlap_seconds=3600)
            assert rotated.secret != old_secret and rotated.webhook.previous_secret_expires_at is not None
            # A receiver that still holds the old secret verifies, and so
            # does one that switched: each request carries both signatures.
            receiver.trust(old_secret)
            registry.register_model("churn", algorithm="X", artifact_uri="s3://c/1")
            (first,) = receiver.wait_for(1)
            assert len(first["headers"]["webhook-signature"].split(" ")) == 2
            Verifier(rotated.secret).verify(first["body"], first["headers"])

            # A rotation without overlap: the old secret no longer signs.
            final = registry.rotate_webhook_secret(created.webhook.id, overlap_seconds=0)
            assert final.webhook.previous_secret_expires_at is None
            receiver.trust(final.secret)
            registry.register_model("churn", algorithm="X", artifact_uri="s3://c/2")
            delivered = receiver.wait_for(2)
            assert len(delivered[-1]["headers"]["webhook-signature"].split(" ")) == 1

            # Moved to another receiver: what follows goes there.
            second.trust(final.secret)
            updated = registry.update_webhook(created.webhook.id, second.url, event_types=["VERSION_REGISTERED"])
            assert updated.url == second.url
            registry.register_model("churn", algorithm="X", artifact_uri="s3://c/3")
            (moved,) = second.wait_for(1)
            assert moved["json"]["data"]["version"] == "3"

            # The receiver lost its data: the range comes again, same ids.
            registry.replay_webhook(created.webhook.id, from_event_id=int(first["json"]["data"]["id"]))
            wait_until(lambda: len(second.delivered) >= 4)
            replayed = second.delivered
            versions = [int(d["json"]["data"]["version"]) for d in replayed]
            assert versions == [3, 1, 2, 3]
            assert replayed[1]["id"] == first["id"]
            with pytest.raises(InvalidArgument) as bad:
                registry.rotate_webhook_secret(created.webhook.id, overlap_seconds=-1)
            assert bad.value.field_violations[0].field == "overlap_seconds"
            kinds = [e.type.value for e in registry.list_events() if e.webhook_id == created.webhook.id]
            assert kinds == [
                "WEBHOOK_CREATED",
                "WEBHOOK_SECRET_ROTATED",
                "WEBHOOK_SECRET_ROTATED",
                "WEBHOOK_UPDATED",
                "WEBHOOK_REPLAYED",
            ]
    finally:
        stop_server(server)
        second.close()


def test_three_replicas_deliver_each_event_once_and_a_dead_holders_lease_moves(
    tmp_path: Path, postgres_url: str, receiver: Receiver
) -> None:
    replicas = [
        start_server(tmp_path, "--database-url", postgres_url, *LOOPBACK, log=f"replica{i}.log")
        for i in range(3)
    ]
    database = postgres_url.rsplit("/", 1)[1]
    try:
        clients = [registry_for(replica) for replica in replicas]
        created = clients[0].create_webhook(receiver.url, event_types=["VERSION_REGISTERED"])
        receiver.trust(created.secret)
        for i in range(500):
            clients[i % 3].register_model("churn", algorithm="X", artifact_uri=f"s3://c/{i}")
        delivered = receiver.wait_for(500, timeout=120)
        time.sleep(1)
        assert len(receiver.delivered) == 500, "no event twice while every replica runs"
        assert [int(d["json"]["data"]["version"]) for d in delivered] == list(range(1, 501))

        holder = psql(f"SELECT lease_holder FROM webhooks WHERE id = {created.webhook.id}", database)
        pid = int(holder.split(":", 1)[0])
        (dead,) = [r for r in replicas if r.process.pid == pid]
        dead.process.send_signal(signal.SIGKILL)
        dead.process.wait(timeout=10)
        killed_at = time.monotonic()
        alive = [c for r, c in zip(replicas, clients, strict=True) if r is not dead]
        for i in range(500, 1000):
            alive[i % 2].register_model("churn", algorithm="X", artifact_uri=f"s3://c/{i}")
        receiver.wait_for(501, timeout=60)
        takeover = time.monotonic() - killed_at
        assert takeover < 25, f"delivery moved after {takeover:.1f}s"
        delivered = receiver.wait_for(1000, timeout=120)
        versions = sorted({int(d["json"]["data"]["version"]) for d in delivered})
        assert versions == list(range(1, 1001))
        assert len(delivered) - 1000 <= 1, "only the request in flight at the kill may come twice"
        new_holder = psql(f"SELECT lease_holder FROM webhooks WHERE id = {created.webhook.id}", database)
        assert new_holder != holder
        for client in clients:
            client.close()
    finally:
        for replica in replicas:
            stop_server(replica)


def test_the_console_shows_each_subscription_its_lag_and_latest_attempts(tmp_path: Path) -> None:
    web = f"127.0.0.1:{free_port()}"
    port = free_port()  # nothing listens: every attempt fails
    server = start_server(tmp_path, *LOOPBACK, "--web-listen", web)
    try:
        with registry_for(server) as registry:
            created = registry.create_webhook(f"http://127.0.0.1:{port}/hook", description="deploys", model_prefix="churn")
            registry.register_model("churn", algorithm="X", artifact_uri="s3://c/1")
            wait_until(lambda: len(registry.webhook_deliveries(created.webhook.id)) >= 1)
        with urllib.request.urlopen(f"http://{web}/webhooks", timeout=10) as response:
            page = BeautifulSoup(response.read(), "html.parser")
        section = page.select_one(f"#webhook-{created.webhook.id}")
        assert section is not None
        assert "ACTIVE" in section.h2.get_text()
        fields = {dt.get_text(): dd.get_text(" ", strip=True) for dt, dd in zip(section.select("dt"), section.select("dd"), strict=True)}
        assert fields["URL"] == f"http://127.0.0.1:{port}/hook"
        assert fields["For"] == "deploys"
        assert fields["Events"] == "models churn…"
        assert re.fullmatch(r"2 events, the oldest \d+ s old", fields["Lag"]), fields["Lag"]
        assert "connect" in fields["Waiting on"]
        attempts = section.select("table.deliveries tbody tr")
        assert attempts and "connect" in attempts[0].get_text()
        assert created.secret not in page.get_text()
    finally:
        stop_server(server)
