"""People sign in to the console with the company's identity provider
(issue 23): the authorization code flow with PKCE, `state` and `nonce`
against the local provider of `oidc_provider.py`, whose login page asks for
a user name. The ID token's claims go through the tokens file's rules; the
session is the console's usual cookie. One test drives a real browser
(Debian's chromium); the others drive the flow step by step over HTTP to
play the hostile parts: another browser's answer, a person no rule admits,
a token minted for another sign-in, group changes and reloads."""

from __future__ import annotations

import http.client
import json
import re
import signal
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import subprocess

import pytest
from conftest import REPO, free_port, hashed_token_entry, readme_block, server_binary, start_server, stop_server
from oidc_provider import IdentityProvider, identity_config, provider  # noqa: F401 - a fixture
from test_web_browser import Browser, chromedriver  # noqa: F401 - a fixture
from test_web_console import NoRedirect

from modelreg_client import RegistryClient

CLIENT_ID = "model-registry-console"
CLIENT_SECRET = "console-client-secret-0123456789"
READERS_RULE = """
[[rule]]
issuer = "corp"
claims = { groups = "ml-readers" }
principal = "{email}"
role = "reader"
"""
PEOPLE = {
    "ada": {"sub": "00u-ada", "email": "ada@example.com", "groups": ["everyone", "ml-admins"]},
    "bob": {"sub": "00u-bob", "email": "bob@example.com", "groups": ["everyone", "ml-readers"]},
    "eve": {"sub": "00u-eve", "email": "eve@example.com", "groups": ["everyone", "sales"]},
}
NO_REDIRECTS = urllib.request.build_opener(NoRedirect)


def console_config(
    tmp_path: Path, provider: IdentityProvider, web: str, rules: str = READERS_RULE, secret: str | None = CLIENT_SECRET
) -> Path:
    """The tokens file: the corp provider offers console sign-in to a
    client (confidential with `secret`, else public), admins and (by
    default) readers by group."""
    redirect = f"http://{web}/login/oidc/corp/callback"
    provider.issuers["corp"].client = (CLIENT_ID, secret, redirect)
    secret_line = ""
    if secret is not None:
        (tmp_path / "console-secret").write_text(secret + "\n")
        secret_line = 'client_secret_file = "console-secret"'
    console = f"""
[issuer.console]
client_id = "{CLIENT_ID}"
{secret_line}
redirect_url = "{redirect}"
label = "Corp SSO"
scopes = ["openid", "email", "groups"]
"""
    return identity_config(tmp_path, provider, corp_console=console, corp_rules=rules)


def start(tmp_path: Path, provider: IdentityProvider, *args: str, secret: str | None = CLIENT_SECRET) -> tuple[object, str]:
    web = f"127.0.0.1:{free_port()}"
    config = console_config(tmp_path, provider, web, secret=secret)
    provider.issuers["corp"].people = {name: dict(claims) for name, claims in PEOPLE.items()}
    server = start_server(tmp_path, "--web-listen", web, "--auth-tokens", str(config), "--log-format", "json", *args)
    return server, web


def get(url: str, cookie: str | None = None) -> tuple[int, http.client.HTTPMessage, str]:
    request = urllib.request.Request(url)
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        response = NO_REDIRECTS.open(request, timeout=15)
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()
    return response.status, response.headers, response.read().decode()


def cookies(headers: http.client.HTTPMessage) -> dict[str, str]:
    """The cookies a response sets, by name (an empty value deletes)."""
    found = {}
    for line in headers.get_all("Set-Cookie") or []:
        name, _, rest = line.partition("=")
        found[name] = rest.split(";", 1)[0]
    return found


class Person:
    """A browser signing in, played step by step: its sign-in cookie, the
    provider's answer, its session."""

    def __init__(self, web: str, provider: IdentityProvider) -> None:
        self.web = web
        self.tls = ssl.create_default_context(cafile=str(provider.ca))

    def begin(self) -> tuple[str, str]:
        """Clicks "Sign in with Corp SSO": the sign-in cookie and the provider's page."""
        status, headers, _ = get(f"http://{self.web}/login/oidc/corp")
        assert status == 303, status
        sign_in = cookies(headers)["modelreg_sign_in"]
        return f"modelreg_sign_in={sign_in}", headers["Location"]

    def log_in_at_provider(self, authorize: str, username: str) -> str:
        """Signs in at the provider's page: the callback URL it sends the browser to."""
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(authorize).query))
        assert params["code_challenge_method"] == "S256" and params["state"] and params["nonce"], params
        assert set(params["scope"].split()) == {"openid", "email", "groups"}
        data = urllib.parse.urlencode({**params, "username": username}).encode()
        request = urllib.request.Request(authorize.split("?")[0], data=data, method="POST")
        opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=self.tls))
        try:
            opener.open(request, timeout=15)
        except urllib.error.HTTPError as error:
            assert error.code == 302, error.code
            return str(error.headers["Location"])
        raise AssertionError("the provider did not send the browser back")

    def sign_in(self, username: str) -> tuple[int, str | None, str]:
        """The whole flow: status, session cookie (name=value) if any, page."""
        flow, authorize = self.begin()
        callback = self.log_in_at_provider(authorize, username)
        return self.come_back(callback, flow)

    def come_back(self, callback: str, flow: str | None) -> tuple[int, str | None, str]:
        status, headers, body = get(callback, cookie=flow)
        set_now = cookies(headers)
        assert set_now.get("modelreg_sign_in") == "", "the sign-in cookie is used once"
        session = set_now.get("modelreg_session")
        return status, f"modelreg_session={session}" if session else None, body


def page(web: str, path: str, session: str) -> tuple[int, str]:
    status, headers, body = get(f"http://{web}{path}", cookie=session)
    if status == 303:
        return status, str(headers["Location"])
    return status, body


def signed_in_as(body: str) -> str | None:
    found = re.search(r'<strong class="principal">([^<]*)</strong>', body)
    return found.group(1) if found else None


def wait_for_log(tmp_path: Path, message: str, **fields: str) -> dict[str, object]:
    """The server's first JSON log line with `message` and `fields`."""
    deadline = time.monotonic() + 10
    while True:
        lines = (tmp_path / "server.log").read_text().splitlines()
        for entry in (json.loads(line) for line in lines if line.startswith("{")):
            if entry.get("message") == message and all(entry.get(k) == v for k, v in fields.items()):
                return entry
        assert time.monotonic() < deadline, f"no log line {message!r} with {fields}"
        time.sleep(0.05)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_people_sign_in_with_the_provider_and_the_rules_decide_who_they_are(
    tmp_path: Path, provider: IdentityProvider, backend: str, request: pytest.FixtureRequest
) -> None:
    args = ["--database-url", request.getfixturevalue("postgres_url")] if backend == "postgres" else []
    server, web = start(tmp_path, provider, *args)
    try:
        status, _, login = get(f"http://{web}/login")
        assert status == 200 and 'href="/login/oidc/corp"' in login and "Sign in with Corp SSO" in login

        # Bob, a reader by his groups, signs in; the page sends him on to the models.
        bob = Person(web, provider)
        status, bob_session, landing = bob.sign_in("bob")
        assert status == 200 and bob_session, (status, landing)
        assert 'http-equiv="refresh" content="0;url=/"' in landing
        status, models = page(web, "/", bob_session)
        assert status == 200 and signed_in_as(models) == "bob@example.com"
        status, webhooks = page(web, "/webhooks", bob_session)
        assert status == 403 and "admins only" in webhooks, "a reader by the rules"

        # Another browser's answer: Mallory's own code and state, opened in
        # Bob's browser (with or without a sign-in of his own), signs no one in.
        mallory = Person(web, provider)
        _, mallory_authorize = mallory.begin()
        forged = mallory.log_in_at_provider(mallory_authorize, "ada")
        bobs_flow, _ = bob.begin()
        for flow in (bobs_flow, None):
            status, session, body = bob.come_back(forged, flow)
            assert status == 400 and session is None and "another browser" in body, (status, body)
        wait_for_log(tmp_path, "console sign-in answer without this browser's sign-in state", issuer="corp")

        # Eve signs in at the provider, but no rule admits her.
        status, session, body = Person(web, provider).sign_in("eve")
        assert status == 403 and session is None and "admits no such identity" in body
        refused = wait_for_log(tmp_path, "identity provider token refused", outcome="no_rule", issuer="corp")
        assert "ml-admins" in str(refused["rules"]), refused

        # An ID token minted for another sign-in (its nonce is not this one's).
        provider.issuers["corp"].wrong_nonce = True
        status, session, body = Person(web, provider).sign_in("ada")
        assert status == 401 and session is None and "The sign-in failed" in body
        wait_for_log(tmp_path, "identity provider token refused", outcome="nonce", issuer="corp")
        provider.issuers["corp"].wrong_nonce = False

        # Bob joins ml-admins at the provider: his session stays a reader's;
        # his next sign-in makes him an admin.
        provider.issuers["corp"].people["bob"]["groups"] = ["everyone", "ml-admins"]
        assert page(web, "/webhooks", bob_session)[0] == 403
        status, bob_admin, _ = Person(web, provider).sign_in("bob")
        assert status == 200 and bob_admin
        assert page(web, "/webhooks", bob_admin)[0] == 200

        # The readers' rule goes: the session it admitted ends at its next
        # request, the one an admin rule admits goes on.
        console_config(tmp_path, provider, web, rules="")
        server.process.send_signal(signal.SIGHUP)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 10
        while page(web, "/", bob_session) != (303, "/login"):
            assert time.monotonic() < deadline, "the reader's session outlived its rule"
            time.sleep(0.05)
        assert page(web, "/", bob_admin)[0] == 200

        # Sign-out ends the session.
        signed_out = urllib.request.Request(
            f"http://{web}/logout", data=b"", method="POST", headers={"Cookie": bob_admin, "Origin": f"http://{web}"}
        )
        try:
            NO_REDIRECTS.open(signed_out, timeout=10)
        except urllib.error.HTTPError as error:
            assert error.code == 303
        assert page(web, "/", bob_admin) == (303, "/login")
    finally:
        stop_server(server)  # type: ignore[arg-type]


def test_a_person_signs_in_through_the_providers_page_in_a_real_browser_and_out(
    tmp_path: Path, provider: IdentityProvider, chromedriver: str
) -> None:
    """Through the console's login page and the provider's, as a public
    client (PKCE alone, no client secret)."""
    server, web = start(tmp_path, provider, secret=None)
    # The local provider's certificate comes from scripts/dev-certs, which
    # the browser has no reason to trust.
    browser = Browser(chromedriver, "--ignore-certificate-errors")
    try:
        with RegistryClient(server.address, token=provider.issuers["corp"].mint(**PEOPLE["ada"])) as ada:  # type: ignore[attr-defined]
            ada.register_model("churn", algorithm="XGBoost", artifact_uri="s3://models/churn.pkl", metrics={"auc": 0.9})
        browser.open(f"http://{web}/")
        browser.until("return location.pathname === '/login'", "the login page", 10)
        browser.click("a.provider")
        browser.until("return document.querySelector('form.idp') !== null", "the provider's login page", 10)
        assert browser.run("return location.origin") == provider.base
        browser.type("form.idp input[name=username]", "ada")
        browser.click("form.idp button[type=submit]")
        browser.until(
            "return location.pathname === '/' && document.querySelector('header strong.principal') !== null",
            "the models page, signed in",
            10,
        )
        assert browser.run("return document.querySelector('header strong.principal').textContent") == "ada@example.com"
        assert browser.run("return [...document.querySelectorAll('main a')].some(a => a.textContent.trim() === 'churn')")
        assert browser.run("return document.cookie") == "", "the session cookie is HttpOnly"

        browser.click("form.signout button[type=submit]")
        browser.until("return location.pathname === '/login'", "the login page after sign-out", 10)
        browser.open(f"http://{web}/")
        browser.until("return location.pathname === '/login'", "the models page to ask for a sign-in again", 10)
    finally:
        browser.close()
        stop_server(server)  # type: ignore[arg-type]


def test_the_readme_identity_provider_file_is_valid_and_its_console_entry_checked(tmp_path: Path) -> None:
    """The README's tokens file, with the files it names, passes the
    server's checks; a console client sent back anywhere but its own
    callback is refused."""
    subprocess.run([str(REPO / "scripts/dev-certs"), str(tmp_path / "certs")], check=True, capture_output=True)
    (tmp_path / "cluster-ca.pem").write_bytes((tmp_path / "certs/ca.pem").read_bytes())
    (tmp_path / "console-client-secret").write_text("a-client-secret-from-the-provider\n")
    readme = readme_block("identity-providers", "toml")
    auditor = "an-auditor-token-for-the-readme-file"

    def check(text: str) -> subprocess.CompletedProcess[str]:
        config = tmp_path / "tokens.toml"
        config.write_text(hashed_token_entry("auditor", "reader", auditor) + text)
        config.chmod(0o600)
        return subprocess.run(
            [server_binary(), "check-token", "--auth-tokens", str(config)],
            input=auditor, capture_output=True, text=True, timeout=30, cwd=tmp_path,
        )

    valid = check(readme)
    assert valid.returncode == 0 and 'a static token of [[principal]] "auditor"' in valid.stdout, valid
    elsewhere = check(readme.replace("/login/oidc/corp/callback", "/callback"))
    assert elsewhere.returncode == 1 and "/login/oidc/corp/callback" in elsewhere.stderr, elsewhere
