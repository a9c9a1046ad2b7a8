"""Console sign-in is a real session: the token is exchanged for a short-lived
signed cookie that never holds it, sign-out ends the session in the database
(a copied cookie dies with it, on every replica), the session ends by itself,
and a reload of the tokens file that revokes the token ends it and closes its
live streams."""

from __future__ import annotations

import http.client
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import Message
from pathlib import Path

from conftest import free_port, hashed_token_entry, start_server, stop_server, write_tokens_file
from test_web_console import Console, NoRedirect, fetch_status, start_console

from modelreg_client import RegistryClient

NO_REDIRECTS = urllib.request.build_opener(NoRedirect)


def post(
    url: str, form: dict[str, str], headers: dict[str, str] | None = None, *, as_console_page: bool = True
) -> tuple[int, Message, str]:
    """POSTs `form`, by default with the `Origin` a page of the console at
    `url`'s host gives its forms."""
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST")
    if as_console_page:
        parts = urllib.parse.urlsplit(url)
        request.add_header("Origin", f"{parts.scheme}://{parts.netloc}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        response = NO_REDIRECTS.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()
    return response.status, response.headers, response.read().decode()


def sign_in(console: Console, token: str, headers: dict[str, str] | None = None) -> str:
    """The whole Set-Cookie header of a successful sign-in."""
    status, answer, body = post(f"http://{console.web}/login", {"token": token}, headers)
    assert status == 303, (status, body)
    return str(answer["Set-Cookie"])


def reads(console: Console, cookie: str) -> bool:
    """Whether the cookie (name=value) still opens the console."""
    status, location = fetch_status(NO_REDIRECTS, f"http://{console.web}/", cookie=cookie)
    assert status in (200, 303), status
    return status == 200 and location is None


def test_sign_in_exchanges_the_token_for_a_session_that_sign_out_ends(tmp_path: Path) -> None:
    write_tokens_file(tmp_path, ("admin", "admin", "admin-secret-token-1234567890"))
    running = start_console(tmp_path, "--auth-tokens", "tokens.toml")
    try:
        assert fetch_status(NO_REDIRECTS, f"http://{running.web}/models/churn") == (303, "/login")
        status, _, body = post(f"http://{running.web}/login", {"token": "wrong-token"})
        assert status == 401 and "not valid" in body

        set_cookie = sign_in(running, "admin-secret-token-1234567890")
        attributes = [part.strip() for part in set_cookie.split(";")]
        pair = attributes[0]
        assert pair.startswith("modelreg_session=")
        assert "admin-secret" not in set_cookie, "the cookie never carries the token"
        assert {"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"} <= set(attributes), attributes
        assert "Secure" not in attributes, "plain HTTP: a browser would drop a Secure cookie"

        page = running.page("/", cookie=pair)
        assert page.select_one("header form.signout[action='/logout'][method=post]") is not None
        # A second browser signed in as the same principal keeps its session.
        other = sign_in(running, "admin-secret-token-1234567890").split(";", 1)[0]
        assert other != pair

        # Anything but the cookie as issued opens nothing.
        name, value = pair.split("=", 1)
        secret, expires, tag = value.split(".")
        for forged in [
            f"{name}={secret}.{int(expires) + 86400}.{tag}",
            f"{name}={secret[:-2]}AA.{expires}.{tag}",
            f"{name}=admin-secret-token-1234567890",
            "modelreg_token=admin-secret-token-1234567890",
        ]:
            assert not reads(running, forged), forged

        # Another site's page can neither sign this browser out nor sign it in.
        for origin in ["http://evil.example", None]:
            headers = {"Cookie": pair} | ({"Origin": origin} if origin else {})
            assert post(f"http://{running.web}/logout", {}, headers, as_console_page=False)[0] == 403
            assert post(f"http://{running.web}/login", {"token": "admin-secret-token-1234567890"}, {} if origin is None else {"Origin": origin}, as_console_page=False)[0] == 403
        assert reads(running, pair)

        status, answer, _ = post(f"http://{running.web}/logout", {}, {"Cookie": pair})
        assert (status, answer["Location"]) == (303, "/login")
        assert "Max-Age=0" in answer["Set-Cookie"]
        assert not reads(running, pair), "a copy of the cookie kept after sign-out is dead"
        assert reads(running, other), "sign-out ends that session only"
    finally:
        stop_server(running.server)


def test_behind_https_the_cookie_is_host_prefixed_and_secure(tmp_path: Path) -> None:
    write_tokens_file(tmp_path, ("viewer", "reader", "viewer-secret-token-1234567890"))
    running = start_console(tmp_path, "--auth-tokens", "tokens.toml")
    try:
        set_cookie = sign_in(running, "viewer-secret-token-1234567890", {"X-Forwarded-Proto": "https"})
        attributes = [part.strip() for part in set_cookie.split(";")]
        assert attributes[0].startswith("__Host-modelreg_session=")
        assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= set(attributes), attributes
        assert not any(part.lower().startswith("domain=") for part in attributes)
        assert reads(running, attributes[0])
    finally:
        stop_server(running.server)


def test_a_session_ends_by_itself(tmp_path: Path) -> None:
    write_tokens_file(tmp_path, ("viewer", "reader", "viewer-secret-token-1234567890"))
    running = start_console(tmp_path, "--auth-tokens", "tokens.toml", "--web-session-lifetime", "2s")
    try:
        set_cookie = sign_in(running, "viewer-secret-token-1234567890")
        assert "Max-Age=2" in set_cookie
        pair = set_cookie.split(";", 1)[0]
        assert reads(running, pair)
        deadline = time.monotonic() + 10
        while reads(running, pair):
            assert time.monotonic() < deadline, "the session outlived its lifetime"
            time.sleep(0.2)
    finally:
        stop_server(running.server)


def test_signing_out_on_one_replica_ends_the_session_on_every_replica(postgres_url: str, tmp_path: Path) -> None:
    tokens = write_tokens_file(tmp_path, ("viewer", "reader", "viewer-secret-token-1234567890"))
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    common = ["--auth-tokens", str(tokens), "--database-url", postgres_url]
    first = start_console(first_dir, *common)
    second_web = f"127.0.0.1:{free_port()}"
    second = Console(start_server(second_dir, "--web-listen", second_web, *common), second_web)
    try:
        pair = sign_in(first, "viewer-secret-token-1234567890").split(";", 1)[0]
        assert reads(second, pair), "a session started on one replica is good on another"
        post(f"http://{second.web}/logout", {}, {"Cookie": pair})
        assert not reads(first, pair)
    finally:
        stop_server(first.server)
        stop_server(second.server)


def test_revoking_a_token_ends_its_sessions_and_closes_their_live_streams(tmp_path: Path) -> None:
    write_tokens_file(tmp_path, ("viewer", "reader", "viewer-secret-token-1234567890"), ("ci", "trainer", "ci-secret"))
    ci = hashed_token_entry("ci", "trainer", "ci-secret")
    running = start_console(tmp_path, "--auth-tokens", "tokens.toml")
    try:
        with RegistryClient(running.server.address, token="ci-secret") as client:
            client.register_model("churn", algorithm="X", artifact_uri="s3://x")
        pair = sign_in(running, "viewer-secret-token-1234567890").split(";", 1)[0]
        host, port = running.web.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/models/churn/live", headers={"Cookie": pair})
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("content-type", "").startswith("text/event-stream")

        (tmp_path / "tokens.toml").write_text(ci)
        running.server.process.send_signal(signal.SIGHUP)
        started = time.monotonic()
        response.read()  # returns once the server ends the stream
        assert time.monotonic() - started < 5
        connection.close()
        assert not reads(running, pair)
    finally:
        stop_server(running.server)
