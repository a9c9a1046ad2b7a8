"""A local OpenID Connect provider for tests: HTTPS on loopback (certificate
from scripts/dev-certs), one issuer per path, each with its own keys
generated per run, serving discovery and JWKS the way GitHub Actions,
Kubernetes and company providers do; tokens minted with pyjwt."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import ssl
import urllib.parse
import threading
import time
import uuid
from dataclasses import dataclass, field
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest import REPO, hashed_token_entry
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

AUDITOR = "an-auditor-static-token-for-reading"
WORKFLOW = "acme/churn-training/.github/workflows/train.yml@refs/heads/main"


def new_key(algorithm: str) -> Any:
    """A fresh private key for `algorithm` (RS256, ES256 or EdDSA)."""
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(algorithm)


def public_jwk(algorithm: str, key: Any, kid: str) -> dict[str, Any]:
    """The JWK of `key`'s public half, as a provider publishes it."""
    codec = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[algorithm]
    jwk = codec.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": algorithm}


@dataclass
class Issuer:
    """One issuer of the provider: its URL, algorithm and keys (the newest signs)."""

    url: str
    algorithm: str
    keys: dict[str, Any] = field(default_factory=dict)
    current: str = ""
    # Console sign-in: the people who may sign in (user name -> claims),
    # the registered client (id, secret or None, redirect URL), the codes
    # handed out, and a switch that makes ID tokens carry a wrong nonce.
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    client: tuple[str, str | None, str] | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    wrong_nonce: bool = False

    def rotate(self) -> str:
        """Publishes a new key that signs from now on (the old one stays published)."""
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = new_key(self.algorithm)
        self.current = kid
        return kid

    def mint(self, audience: str = "model-registry", lifetime: int = 600, kid: str | None = None, **claims: Any) -> str:
        """A token with `claims`, valid now for `lifetime` seconds, signed by key `kid` (default: the newest)."""
        now = int(time.time())
        payload = {"iss": self.url, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime, **claims}
        kid = kid or self.current
        return jwt.encode(payload, self.keys[kid], algorithm=self.algorithm, headers={"kid": kid})


class IdentityProvider:
    """Serves discovery and JWKS for issuers at https://127.0.0.1:PORT/NAME;
    `down` makes every request answer 503 (an outage)."""

    def __init__(self, certs: Path) -> None:
        self.issuers: dict[str, Issuer] = {}
        self.down = False
        self.jwks_fetches: dict[str, int] = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                provider.answer(self)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                provider.answer_post(self)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs / "server.pem", certs / "server.key")
        self.http.socket = context.wrap_socket(self.http.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.http.server_address[1]}"
        self.ca = certs / "ca.pem"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def issuer(self, name: str, algorithm: str) -> Issuer:
        """Adds issuer `name` with one key."""
        issuer = Issuer(f"{self.base}/{name}", algorithm)
        issuer.rotate()
        self.issuers[name] = issuer
        return issuer

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        if self.down:
            request.send_error(503)
            return
        name, _, rest = request.path.lstrip("/").partition("/")
        issuer = self.issuers.get(name)
        if issuer is None:
            request.send_error(404)
            return
        path, _, query = rest.partition("?")
        if path == ".well-known/openid-configuration":
            body: dict[str, Any] = {
                "issuer": issuer.url,
                "jwks_uri": f"{issuer.url}/jwks",
                "authorization_endpoint": f"{issuer.url}/authorize",
                "token_endpoint": f"{issuer.url}/token",
                "id_token_signing_alg_values_supported": [issuer.algorithm],
            }
        elif path == "authorize":
            self.login_page(request, issuer, dict(urllib.parse.parse_qsl(query)), None)
            return
        elif path == "jwks":
            self.jwks_fetches[name] = self.jwks_fetches.get(name, 0) + 1
            body = {"keys": [public_jwk(issuer.algorithm, key, kid) for kid, key in issuer.keys.items()]}
        else:
            request.send_error(404)
            return
        data = json.dumps(body).encode()
        request.send_response(200)
        request.send_header("content-type", "application/json")
        request.send_header("content-length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def login_page(self, request: BaseHTTPRequestHandler, issuer: Issuer, params: dict[str, str], problem: str | None) -> None:
        """The provider's sign-in page: a form asking for the user name."""
        client_id, _, redirect_url = issuer.client or ("", None, "")
        if params.get("client_id") != client_id or params.get("redirect_uri") != redirect_url or params.get("response_type") != "code":
            request.send_error(400, "unknown client or redirect_uri")
            return
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items())
        alert = f'<p class="problem">{html.escape(problem)}</p>' if problem else ""
        page = (
            f"<!doctype html><title>Sign in to {html.escape(issuer.url)}</title>{alert}"
            f'<form class="idp" method="post" action="{html.escape(issuer.url)}/authorize">{hidden}'
            '<label>User name <input name="username" autocomplete="username"></label>'
            '<button type="submit">Sign in</button></form>'
        )
        self.send(request, 200, "text/html; charset=utf-8", page.encode())

    def answer_post(self, request: BaseHTTPRequestHandler) -> None:
        name, _, rest = request.path.lstrip("/").partition("/")
        issuer = self.issuers.get(name)
        length = int(request.headers.get("content-length") or 0)
        form = dict(urllib.parse.parse_qsl(request.rfile.read(length).decode()))
        if self.down or issuer is None or issuer.client is None:
            request.send_error(503 if self.down else 404)
        elif rest == "authorize":
            claims = issuer.people.get(form.get("username", ""))
            if claims is None:
                self.login_page(request, issuer, {k: v for k, v in form.items() if k != "username"}, "unknown user")
                return
            code = secrets.token_urlsafe(24)
            issuer.codes[code] = {"form": form, "claims": claims}
            target = form["redirect_uri"] + "?" + urllib.parse.urlencode({"code": code, "state": form.get("state", "")})
            request.send_response(302)
            request.send_header("location", target)
            request.send_header("content-length", "0")
            request.end_headers()
        elif rest == "token":
            self.token(request, issuer, form)
        else:
            request.send_error(404)

    def token(self, request: BaseHTTPRequestHandler, issuer: Issuer, form: dict[str, str]) -> None:
        """The token endpoint: a code once, for the client that asked for it, with its PKCE verifier."""
        client_id, secret, redirect_url = issuer.client or ("", None, "")
        if secret is not None:
            sent = request.headers.get("authorization", "")
            expected = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
            if sent != expected:
                self.send(request, 401, "application/json", b'{"error": "invalid_client"}')
                return
        elif form.get("client_id") != client_id:
            self.send(request, 401, "application/json", b'{"error": "invalid_client"}')
            return
        grant = issuer.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != redirect_url
            or grant["form"].get("code_challenge_method") != "S256"
            or grant["form"].get("code_challenge") != challenge
        ):
            self.send(request, 400, "application/json", b'{"error": "invalid_grant"}')
            return
        nonce = "not-the-sign-ins-nonce" if issuer.wrong_nonce else grant["form"].get("nonce")
        id_token = issuer.mint(audience=client_id, lifetime=300, nonce=nonce, **grant["claims"])
        body = json.dumps({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "id_token": id_token})
        self.send(request, 200, "application/json", body.encode())

    @staticmethod
    def send(request: BaseHTTPRequestHandler, status: int, content_type: str, data: bytes) -> None:
        request.send_response(status)
        request.send_header("content-type", content_type)
        request.send_header("content-length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[IdentityProvider]:
    subprocess.run([str(REPO / "scripts/dev-certs"), str(tmp_path / "certs")], check=True, capture_output=True)
    running = IdentityProvider(tmp_path / "certs")
    running.issuer("github", "RS256")
    running.issuer("kubernetes", "ES256")
    running.issuer("corp", "EdDSA")
    yield running
    running.close()


def identity_config(
    tmp_path: Path, provider: IdentityProvider, github_leeway: int = 30, corp_console: str = "", corp_rules: str = ""
) -> Path:
    """A tokens file with a static reader, three issuers and one rule each
    (GitHub's tokens with `github_leeway` seconds of clock skew allowed);
    `corp_console` goes into the corp issuer's entry, `corp_rules` after
    its rule."""
    url = {name: issuer.url for name, issuer in provider.issuers.items()}
    path = tmp_path / "tokens.toml"
    path.write_text(
        hashed_token_entry("auditor", "reader", AUDITOR)
        + f"""
[[issuer]]
name = "github"
issuer = "{url["github"]}"
audience = "model-registry"
algorithms = ["RS256"]
ca_file = "certs/ca.pem"
key_refresh_seconds = 1
leeway_seconds = {github_leeway}
required_claims = ["repository", "ref"]

[[issuer]]
name = "kubernetes"
issuer = "{url["kubernetes"]}"
audience = "model-registry"
algorithms = ["ES256"]
ca_file = "certs/ca.pem"
max_lifetime_seconds = 3600

[[issuer]]
name = "corp"
issuer = "{url["corp"]}"
audience = "model-registry"
algorithms = ["EdDSA"]
ca_file = "certs/ca.pem"
{corp_console}

[[rule]]
issuer = "github"
claims = {{ repository = "acme/churn-training", ref = "refs/heads/main", job_workflow_ref = "acme/churn-training/.github/workflows/*" }}
principal = "gha:{{repository}}@{{ref}}"
role = "trainer"
model_prefixes = ["churn"]

[[rule]]
issuer = "kubernetes"
claims = {{ sub = "system:serviceaccount:serving:canary-*" }}
principal = "k8s:{{sub}}"
role = "deployer"
aliases = ["canary"]

[[rule]]
issuer = "corp"
claims = {{ groups = "ml-admins" }}
principal = "{{email}}"
role = "admin"
{corp_rules}"""
    )
    path.chmod(0o600)
    return path


def github(provider: IdentityProvider, **claims: object) -> str:
    defaults = {"repository": "acme/churn-training", "ref": "refs/heads/main", "job_workflow_ref": WORKFLOW}
    return provider.issuers["github"].mint(sub="repo:acme/churn-training:ref:refs/heads/main", **{**defaults, **claims})
