"""The web console in a real browser: headless Chromium from Debian's
packages, driven over the W3C WebDriver protocol by Debian's chromedriver
(scripts/test installs both; nothing is downloaded by a test tool). The
model page shows the alias table and both SVG charts, and when `canary`
moves through gRPC the page updates itself, without a reload, within two
seconds. The screenshot it takes is the one the README shows
(docs/console.png, refreshed with MODEL_REGISTRY_SCREENSHOT=docs/console.png)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, free_port, start_server, stop_server, wait_until_listening, write_tokens_file

from modelreg_client import RegistryClient

CHROMIUM = "/usr/bin/chromium"


class Browser:
    """One WebDriver session of headless Chromium."""

    def __init__(self, driver: str, *args: str) -> None:
        """A new browser; `args` are Chromium's extra command-line flags."""
        self.driver = driver
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1700", *args],
            },
        }
        session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.session = f"/session/{session['sessionId']}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.driver}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - local chromedriver
            return json.loads(response.read())["value"]

    def open(self, url: str) -> None:
        self.call("POST", f"{self.session}/url", {"url": url})

    def run(self, script: str) -> Any:
        return self.call("POST", f"{self.session}/execute/sync", {"script": script, "args": []})

    def until(self, script: str, what: str, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.run(script)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def element(self, css: str) -> str:
        found = self.call("POST", f"{self.session}/element", {"using": "css selector", "value": css})
        return str(next(iter(found.values())))

    def type(self, css: str, text: str) -> None:
        """Types `text` into the field `css` names, key by key."""
        self.call("POST", f"{self.session}/element/{self.element(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self.call("POST", f"{self.session}/element/{self.element(css)}/click", {})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("GET", f"{self.session}/screenshot"))

    def close(self) -> None:
        self.call("DELETE", self.session)


@pytest.fixture
def chromedriver(tmp_path: Path) -> Iterator[str]:
    """The address of a running chromedriver."""
    driver_binary = shutil.which("chromedriver")
    if driver_binary is None or not Path(CHROMIUM).exists():
        pytest.fail("chromium and chromium-driver are missing: scripts/test installs them with apt-get")
    port = free_port()
    driver = subprocess.Popen(
        [driver_binary, f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "chromedriver.log", "wb"),  # noqa: SIM115
        # A viewer away from UTC, so local times are visibly local.
        env={**os.environ, "TZ": "Asia/Kolkata"},
    )
    try:
        wait_until_listening(f"127.0.0.1:{port}", driver)
        yield f"http://127.0.0.1:{port}"
    finally:
        driver.terminate()
        driver.wait(timeout=15)


@pytest.fixture
def browser(chromedriver: str) -> Iterator[Browser]:
    session = Browser(chromedriver)
    try:
        yield session
    finally:
        session.close()


ALIAS_ROWS = "return [...document.querySelectorAll('#aliases tbody tr')].map(r => [...r.cells].map(c => c.textContent.trim()))"


def test_the_model_page_shows_aliases_and_charts_and_updates_live(tmp_path: Path, browser: Browser) -> None:
    web = f"127.0.0.1:{free_port()}"
    server = start_server(tmp_path, "--web-listen", web)
    try:
        with RegistryClient(server.address) as registry:
            for auc in [0.81, 0.86, 0.84, 0.90, 0.88, 0.93]:
                registry.register_model("churn", algorithm="XGBoost", artifact_uri="s3://models/churn.pkl", metrics={"auc": auc, "f1": round(auc - 0.1, 2)})
            registry.set_production_model("churn", 1, reason="first release")
            registry.set_alias("churn", "staging", 2, reason="release candidate")
            registry.set_production_model("churn", 2, reason="better AUC on the holdout set")
            registry.set_alias("churn", "staging", 4, reason="retrained on November data")
            registry.set_alias("churn", "canary", 4, reason="5% of traffic")

            browser.open(f"http://{web}/models/churn")
            browser.until("return document.documentElement.dataset.live === 'connected'", "the live connection", 10)
            aliases = {row[0]: row for row in browser.run(ALIAS_ROWS)}
            assert aliases["production"][1] == "2" and aliases["canary"][1] == "4"
            charts = browser.run(
                "return [...document.querySelectorAll('svg.chart')].map(s => "
                "({kind: s.classList[1], width: s.getBoundingClientRect().width, "
                "series: s.querySelectorAll('.series').length, points: s.querySelectorAll('circle').length}))"
            )
            assert [c["kind"] for c in charts] == ["timeline", "metric"]
            assert all(c["width"] > 300 for c in charts), "both charts are drawn at a readable size"
            assert charts[0]["series"] == 3, "one step line per alias"
            assert charts[1]["points"] >= 6, "one point per version (and the legend's)"
            # Local times replaced the UTC text: ISO 8601 to the second, at the viewer's offset.
            shown = browser.run("return document.querySelector('#aliases time').textContent")
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30", shown), shown

            # A mark that a reload would erase.
            browser.run("window.notReloaded = true")
            started = time.monotonic()
            registry.set_alias("churn", "canary", 6, reason="the newest candidate")
            browser.until(
                ALIAS_ROWS.replace("return ", "return (") + ").some(r => r[0] === 'canary' && r[1] === '6')",
                "the canary row to show version 6",
                2.0,
            )
            elapsed = time.monotonic() - started
            assert browser.run("return window.notReloaded === true"), "updated in place, not reloaded"
            assert elapsed < 2.0

        shot = browser.screenshot()
        assert shot.startswith(b"\x89PNG")
        (tmp_path / "console.png").write_bytes(shot)
        target = os.environ.get("MODEL_REGISTRY_SCREENSHOT")
        if target:
            (REPO / target).write_bytes(shot)
    finally:
        stop_server(server)


def test_the_page_catches_up_after_a_server_restart(tmp_path: Path, browser: Browser) -> None:
    web = f"127.0.0.1:{free_port()}"
    grpc_address = f"127.0.0.1:{free_port()}"
    server = start_server(tmp_path, "--web-listen", web, address=grpc_address)
    try:
        with RegistryClient(grpc_address) as registry:
            for auc in [0.81, 0.86]:
                registry.register_model("churn", algorithm="XGBoost", artifact_uri="s3://m", metrics={"auc": auc})
            registry.set_alias("churn", "canary", 1, reason="first")
        browser.open(f"http://{web}/models/churn")
        browser.until("return document.documentElement.dataset.live === 'connected'", "the live connection", 10)
        browser.run("window.notReloaded = true")

        # The server goes away; a change lands while the page is not listening.
        stop_server(server)
        server = start_server(tmp_path, "--web-listen", web, address=grpc_address)
        with RegistryClient(grpc_address) as registry:
            registry.set_alias("churn", "canary", 2, reason="while the page was reconnecting")
        browser.until(
            ALIAS_ROWS.replace("return ", "return (") + ").some(r => r[0] === 'canary' && r[1] === '2')",
            "the page to catch up after reconnecting",
            15.0,
        )
        assert browser.run("return window.notReloaded === true"), "caught up in place"
    finally:
        stop_server(server)


PRODUCTION_IS = ALIAS_ROWS.replace("return ", "return (") + ").some(r => r[0] === 'production' && r[1] === '{}')"


def test_a_change_request_goes_from_one_person_to_another_and_moves_production(tmp_path: Path, chromedriver: str) -> None:
    """Alice asks for production to move to version 2 on the model page;
    Bob, in his own browser, sees the candidate next to production on the
    requests page and approves; Alice's model page shows production move
    without a reload. Hostile text in the reason and comment stays text."""
    tokens = {"alice": "alice-secret-token-1234567890", "bob": "bob-secret-token-1234567890", "ops": "ops-secret-token-1234567890"}
    write_tokens_file(tmp_path, ("alice", "deployer", tokens["alice"]), ("bob", "deployer", tokens["bob"]), ("ops", "admin", tokens["ops"]))
    web = f"127.0.0.1:{free_port()}"
    server = start_server(tmp_path, "--web-listen", web, "--auth-tokens", "tokens.toml")
    alice = bob = None
    try:
        with RegistryClient(server.address, token=tokens["ops"]) as ops:
            for auc in [0.81, 0.93]:
                ops.register_model("churn", algorithm="XGBoost", artifact_uri="s3://models/churn.pkl", metrics={"auc": auc})
            ops.set_production_model("churn", 1, reason="first release")
            ops.set_alias_policy("churn", "production", "two people decide", protected=True, gate_metric="auc")

        def sign_in(name: str) -> Browser:
            session = Browser(chromedriver)
            session.open(f"http://{web}/login")
            session.type("input[name=token]", tokens[name])
            session.click("form.login button[type=submit]")
            session.until("return location.pathname === '/'", f"{name}'s sign-in", 10)
            return session

        alice = sign_in("alice")
        alice.open(f"http://{web}/models/churn")
        alice.type("form.request input[name=version]", "2")
        alice.type("form.request textarea[name=reason]", "<script>window.pwned = 1</script> better AUC")
        alice.click("form.request input[name=confirm]")
        alice.click("form.request button[type=submit]")
        request_id = alice.until("return /^#request-\\d+$/.test(location.hash) && location.hash.slice(9)", "the request page", 10)
        card = f"#request-{request_id}"
        assert alice.run(f"return document.querySelector('{card} blockquote.reason').textContent") == (
            "<script>window.pwned = 1</script> better AUC"
        )
        assert alice.run(f"return document.querySelector('{card} form.approve') === null"), "no approving one's own request"

        # Alice watches production on the model page.
        alice.open(f"http://{web}/models/churn")
        alice.until("return document.documentElement.dataset.live === 'connected'", "the live connection", 10)
        assert alice.run(PRODUCTION_IS.format(1))
        alice.run("window.notReloaded = true")

        bob = sign_in("bob")
        bob.open(f"http://{web}/requests")
        compared = bob.run(f"return [...document.querySelectorAll('{card} tr.metric[data-metric=auc] td')].map(c => c.textContent.trim())")
        assert compared == ["0.8100", "0.9300", "+0.1200"], compared
        bob.type(f"{card} form.approve textarea[name=comment]", '<img src=x onerror="window.pwned = 2"> checked the holdout')
        bob.click(f"{card} form.approve button[type=submit]")
        bob.until(f"return document.querySelector('#decided {card}') !== null", "the request among the decided", 10)
        assert "APPLIED" in bob.run(f"return document.querySelector('#decided {card}').textContent")

        alice.until(PRODUCTION_IS.format(2), "production to show version 2 on Alice's page", 5)
        assert alice.run("return window.notReloaded === true"), "moved in place, not reloaded"
        for session in (alice, bob):
            assert session.run("return window.pwned === undefined"), "hostile text never ran"
        with RegistryClient(server.address, token=tokens["ops"]) as ops:
            assert ops.get_production_model("churn").version == 2
    finally:
        for session in (alice, bob):
            if session is not None:
                session.close()
        stop_server(server)
