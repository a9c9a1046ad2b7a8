"""The web console against the real server binary on both backends: every
page rendered from real data and parsed as HTML, empty states, a model with
1,000 versions paged server-side, hostile text escaped, live updates over
Server-Sent Events, and the token login."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import (
    RunningServer,
    free_port,
    hashed_token_entry,
    readme_block,
    server_binary,
    start_server,
    stop_server,
    wait_until_listening,
    write_tokens_file,
)

from modelreg_client import RegistryClient, Status, Training

HOSTILE = "<script>alert(1)</script>"


class Console:
    """A running server with its web console."""

    def __init__(self, server: RunningServer, web: str) -> None:
        self.server = server
        self.web = web

    def get(self, path: str, cookie: str | None = None) -> tuple[int, BeautifulSoup, http.client.HTTPResponse]:
        request = urllib.request.Request(f"http://{self.web}{path}")
        if cookie:
            request.add_header("Cookie", cookie)
        try:
            response = urllib.request.urlopen(request, timeout=10)  # noqa: S310 - loopback test server
        except urllib.error.HTTPError as error:
            return error.code, BeautifulSoup(error.read(), "html.parser"), error  # type: ignore[return-value]
        return response.status, BeautifulSoup(response.read(), "html.parser"), response

    def page(self, path: str, cookie: str | None = None) -> BeautifulSoup:
        status, soup, _ = self.get(path, cookie)
        assert status == 200, f"{path}: {status} {soup.get_text()[:300]}"
        return soup


def start_console(tmp_path: Path, *args: str) -> Console:
    web = f"127.0.0.1:{free_port()}"
    server = start_server(tmp_path, "--web-listen", web, *args)
    return Console(server, web)


@pytest.fixture(params=["sqlite", "postgres"])
def console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Console]:
    args: list[str] = []
    if request.param == "postgres":
        args = ["--database-url", request.getfixturevalue("postgres_url")]
    running = start_console(tmp_path, *args)
    try:
        yield running
    finally:
        stop_server(running.server)


def rows(table: BeautifulSoup) -> list[list[str]]:
    return [[cell.get_text(" ", strip=True) for cell in row.find_all(["td", "th"])] for row in table.tbody.find_all("tr")]


def test_every_page_renders_real_data(console: Console) -> None:
    with RegistryClient(console.server.address) as registry:
        for algorithm, auc in [("XGBoost", 0.81), ("CatBoost", 0.93), ("LightGBM", 0.88)]:
            registry.register_model(
                "churn",
                algorithm=algorithm,
                artifact_uri=f"s3://models/churn/{algorithm}.pkl",
                metrics={"auc": auc, "f1": 0.5},
                tags={"team": "growth"},
                training=Training(train_samples=8000, feature_names=["tenure", "plan"]),
                metadata={"threshold": 0.5},
            )
        registry.register_model("fraud", algorithm="IsolationForest", artifact_uri="s3://f")
        registry.set_production_model("churn", 1, reason="first release")
        registry.set_alias("churn", "canary", 2, reason=HOSTILE)
        registry.set_production_model("churn", 2, reason="better auc")

    models = console.page("/")
    listed = rows(models.find("table"))
    assert [row[0] for row in listed] == ["churn", "fraud"]
    assert "canary → 2" in listed[0][2] and "production → 2" in listed[0][2]
    assert listed[0][3] == "3"

    page = console.page("/models/churn")
    aliases = {row[0]: row for row in rows(page.select_one("#aliases table"))}
    assert aliases["production"][1:3] == ["2", "anonymous"]
    assert aliases["production"][4] == "better auc"
    assert aliases["canary"][4] == HOSTILE, "a hostile reason is shown as text"
    assert page.select("main script") == [], "and never becomes markup"
    assert page.find("main")["data-live"] == "/models/churn/live"

    timeline = page.select_one("#timeline svg.timeline")
    assert len(timeline.select("path.series")) == 2, "one step line per alias"
    assert len(timeline.select(".move")) == 3, "one marker per move"
    shapes = {m.name for m in timeline.select(".move")} | {m.name for m in timeline.select("g.legend .key")}
    assert len(shapes) == 2, "each alias its own marker shape, the legend showing it"
    assert {t.get_text() for t in timeline.select("g.legend text")} == {"canary", "production"}
    assert any(HOSTILE in title.get_text() for title in timeline.select("title"))
    chart = page.select_one("#metric svg.metric")
    assert chart is not None and chart.find("polyline") is not None
    assert len(chart.select("circle.production")) == 2, "versions 1 and 2 held production"
    assert len(chart.select("circle.point")) == 1
    assert {"version", "auc"} <= {t.get_text() for t in chart.select("text.label")}

    versions = rows(page.select_one("#versions table"))
    assert [row[0] for row in versions] == ["1", "2", "3"]
    headers = [th.get_text(strip=True) for th in page.select("#versions thead th")]
    assert headers[:3] == ["Version", "Status", "Algorithm"] and "auc" in headers
    assert "Artifact" in headers
    artifact_column = headers.index("Artifact")
    assert versions[0][artifact_column] == "s3://models/churn/XGBoost.pkl", "each version's artifact"
    auc_column = headers.index("auc")
    assert [row[auc_column] for row in versions] == ["0.8100", "0.9300", "0.8800"], "fixed precision, aligned points"
    created = page.select_one("#versions tbody time").get_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created), f"ISO 8601 to the second: {created}"
    # Deprecated versions are marked in the metric chart.
    with RegistryClient(console.server.address) as registry:
        registry.update_model_version_status("churn", 3, Status.DEPRECATED, reason="worse than 2")
    retired = console.page("/models/churn").select("#metric svg.metric rect.retired")
    assert len(retired) == 1 and "DEPRECATED" in retired[0].get_text()
    by_auc = console.page("/models/churn?sort=auc")
    assert [row[0] for row in rows(by_auc.select_one("#versions table"))] == ["2", "3", "1"]
    trail = rows(page.select_one("#trail table"))
    assert [row[2] for row in trail] == ["ALIAS_SET"] * 3 + ["VERSION_REGISTERED"] * 3 + ["MODEL_CREATED"], "newest first"

    version = console.page("/models/churn/versions/2")
    fields = {dt.get_text(strip=True): dt.find_next_sibling("dd").get_text(" ", strip=True) for dt in version.select("dl.fields dt")}
    assert fields["Status"] == "ACTIVE"
    assert fields["Aliases"] == "canary, production"
    assert fields["Artifact"] == "s3://models/churn/CatBoost.pkl"
    assert fields["Train samples"] == "8000"
    assert '"threshold": 0.5' in version.select_one("pre.metadata").get_text()
    assert [row[2] for row in rows(version.select_one("table.events"))] == ["VERSION_REGISTERED", "ALIAS_SET", "ALIAS_SET"]

    alias_sets = console.page("/events?type=ALIAS_SET&model=churn")
    assert {row[2] for row in rows(alias_sets.select_one("table.events"))} == {"ALIAS_SET"}
    canary = console.page("/events?alias=canary")
    assert len(rows(canary.select_one("table.events"))) == 1
    assert console.page("/events?actor=nobody").select_one("p.empty") is not None
    status, bad, _ = console.get("/events?since=yesterday")
    assert status == 400 and "since" in bad.get_text()
    status, missing, _ = console.get("/models/nope")
    assert status == 404 and "nope" in missing.get_text()


def test_empty_states(console: Console) -> None:
    assert "No model is registered yet." in console.page("/").get_text()
    with RegistryClient(console.server.address) as registry:
        registry.register_model("churn", algorithm="X", artifact_uri="s3://m")
    page = console.page("/models/churn")
    assert "No aliases yet" in page.select_one("#aliases").get_text()
    assert "No alias has moved yet." in page.select_one("#timeline").get_text()
    assert "No version has a metric yet." in page.select_one("#metric").get_text()
    assert "No model matches." in console.page("/?prefix=zzz").get_text()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_thousand_versions_are_paged_on_the_server(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    args = ["--database-url", request.getfixturevalue("postgres_url")] if backend == "postgres" else []
    subprocess.run(
        [server_binary(), *args, "seed", "--model", "churn", "--versions", "1000"],
        cwd=tmp_path, check=True, capture_output=True, timeout=120,
    )
    running = start_console(tmp_path, *args)
    try:
        seen: list[str] = []
        path: str | None = "/models/churn"
        pages = 0
        while path and pages < 30:
            page = running.page(path)
            table_rows = rows(page.select_one("#versions table"))
            assert len(table_rows) <= 50
            seen.extend(row[0] for row in table_rows)
            next_link = page.select_one("#versions nav.pages a[rel=next]")
            path = next_link["href"] if next_link else None
            pages += 1
        assert pages == 20
        assert seen == [str(n) for n in range(1, 1001)], "every version once, in order"
        chart = running.page("/models/churn").select_one("#metric svg.metric")
        assert chart is not None and len(chart.select("circle")) >= 400, "the newest 500 versions are charted"
        # The audit trail pages back through every event, newest first.
        ids: list[int] = []
        path = "/models/churn"
        while path and len(ids) < 5000:
            page = running.page(path)
            ids.extend(int(row[0]) for row in rows(page.select_one("#trail table")))
            next_link = page.select_one("#trail nav.pages a[rel=next]")
            path = next_link["href"] if next_link else None
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
        assert len(ids) >= 1000, "one event per registered version at least"
    finally:
        stop_server(running.server)


def test_hostile_text_anywhere_is_shown_as_text(console: Console) -> None:
    with RegistryClient(console.server.address) as registry:
        registry.register_model(
            "churn", algorithm=HOSTILE, artifact_uri="s3://m?<b>", description=HOSTILE,
            tags={"note": HOSTILE}, params={"x": HOSTILE}, metadata={"html": HOSTILE},
        )
        registry.update_model("churn", description=HOSTILE, tags={"owner": HOSTILE}, reason=HOSTILE)
    for path in ["/", "/models/churn", "/models/churn/versions/1", "/events"]:
        page = console.page(path)
        assert page.select("main script, main b") == [], f"{path}: markup was injected"
        assert HOSTILE in page.select_one("main").get_text(), f"{path}: the text is shown"


def test_the_model_page_hears_of_a_change_at_once(console: Console) -> None:
    with RegistryClient(console.server.address) as registry:
        registry.register_model("churn", algorithm="X", artifact_uri="s3://m", metrics={"auc": 0.8})
        registry.register_model("fraud", algorithm="X", artifact_uri="s3://m")
        host, port = console.web.split(":")
        stream = http.client.HTTPConnection(host, int(port), timeout=10)
        stream.request("GET", "/models/churn/live")
        response = stream.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        try:
            # Another model's change says nothing; this model's change says "changed".
            registry.set_alias("fraud", "canary", 1, reason="elsewhere")
            started = time.monotonic()
            registry.set_alias("churn", "canary", 1, reason="5%")
            # One SSE message: its lines up to a blank one (keep-alive
            # comments, starting with ':', may come first).
            message: list[str] = []
            while not (message and message[-1] == ""):
                line = response.readline().decode()
                assert line, "the stream stays open"
                if line.startswith(":") and not message:
                    continue
                message.append(line.strip())
            assert time.monotonic() - started < 2.0
            assert message[0] == "event: changed", message
            data = next(line for line in message if line.startswith("data:"))
            events = registry.list_events("churn")
            assert int(data.split(":", 1)[1]) == list(events)[-1].id
        finally:
            stream.close()
    status, _, _ = console.get("/models/nope/live")
    assert status == 404


def test_a_change_through_another_replica_reaches_the_page(postgres_url: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    watched = start_console(tmp_path / "a", "--database-url", postgres_url)
    other = start_server(tmp_path / "b", "--database-url", postgres_url)
    try:
        with RegistryClient(other.address) as registry:
            registry.register_model("churn", algorithm="X", artifact_uri="s3://m")
            host, port = watched.web.split(":")
            stream = http.client.HTTPConnection(host, int(port), timeout=10)
            stream.request("GET", "/models/churn/live")
            response = stream.getresponse()
            try:
                started = time.monotonic()
                registry.set_alias("churn", "canary", 1, reason="through the other replica")
                line = response.readline().decode()
                while line.startswith(":") or not line.strip():
                    line = response.readline().decode()
                assert line.strip() == "event: changed"
                assert time.monotonic() - started < 2.0
            finally:
                stream.close()
        assert rows(watched.page("/models/churn").select_one("#aliases table"))[0][:2] == ["canary", "1"]
    finally:
        stop_server(other)
        stop_server(watched.server)


def test_the_console_is_loopback_only_without_auth(tmp_path: Path) -> None:
    result = subprocess.run(
        [server_binary(), "--listen", f"127.0.0.1:{free_port()}", "--web-listen", f"0.0.0.0:{free_port()}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "refusing to serve the web console" in result.stderr


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        return None


def fetch_status(opener: urllib.request.OpenerDirector, url: str, cookie: str | None = None) -> tuple[int, str | None]:
    request = urllib.request.Request(url)
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        response = opener.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location")
    return response.status, response.headers.get("Location")


def test_the_readme_command_serves_the_console(tmp_path: Path) -> None:
    command = [line for line in readme_block("web-console").splitlines() if line and not line.startswith("#")]
    assert command == ["model-registry-server --web-listen 127.0.0.1:8080"]
    web = f"127.0.0.1:{free_port()}"
    grpc = f"127.0.0.1:{free_port()}"
    args = command[0].replace("127.0.0.1:8080", web).split()[1:]
    process = subprocess.Popen([server_binary(), "--listen", grpc, *args], cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        wait_until_listening(web, process)
        wait_until_listening(grpc, process)
        with RegistryClient(grpc) as registry:
            registry.register_model("churn", algorithm="XGBoost", artifact_uri="s3://m")
        page = Console(RunningServer(process, grpc, tmp_path), web).page("/")
        assert [row[0] for row in rows(page.find("table"))] == ["churn"]
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_without_auth_only_requests_to_a_loopback_name_are_answered(tmp_path: Path) -> None:
    """A page on another site whose name resolves to 127.0.0.1 (DNS
    rebinding) sends its own name as Host: refused. Every answer carries the
    security headers."""
    running = start_console(tmp_path)
    try:
        host, port = running.web.rsplit(":", 1)
        answers: dict[str, tuple[int, dict[str, str]]] = {}
        for name in ["evil.example", f"evil.example:{port}", f"127.0.0.1:{port}", f"localhost:{port}"]:
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.putrequest("GET", "/", skip_host=True)
            connection.putheader("Host", name)
            connection.endheaders()
            response = connection.getresponse()
            answers[name] = (response.status, dict(response.getheaders()))
            response.read()
            connection.close()
        assert answers["evil.example"][0] == 421
        assert answers[f"evil.example:{port}"][0] == 421
        for name in [f"127.0.0.1:{port}", f"localhost:{port}"]:
            status, headers = answers[name]
            assert status == 200, name
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert headers["x-frame-options"] == "DENY"
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["cache-control"] == "no-store"
    finally:
        stop_server(running.server)


def test_a_console_or_metrics_beyond_loopback_is_warned_about(tmp_path: Path) -> None:
    write_tokens_file(tmp_path, ("viewer", "reader", "reader-secret"))
    web, metrics = free_port(), free_port()
    running = start_server(
        tmp_path,
        "--auth-tokens", "tokens.toml",
        "--web-listen", f"0.0.0.0:{web}",
        "--metrics-listen", f"0.0.0.0:{metrics}",
        log="warned.log",
    )
    try:
        log = (tmp_path / "warned.log").read_text()
        assert f"the web console on 0.0.0.0:{web} is plain HTTP" in log, log
        assert f"metrics on 0.0.0.0:{metrics} answer anyone" in log, log
    finally:
        stop_server(running)
