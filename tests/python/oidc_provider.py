"""A local OpenID Connect provider for tests: HTTPS on loopback (certificate
from scripts/dev-certs), one issuer per path, each with its own keys
generated per run, serving discovery and JWKS the way GitHub Actions,
Kubernetes and company providers do; tokens minted with pyjwt."""

from __future__ import annotations

import json
import ssl
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

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certs / "server.pem", certs / "server.key")
        self.http.socket = context.wrap_socket(self.http.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.http.server_address[1]}"
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
        if rest == ".well-known/openid-configuration":
            body: dict[str, Any] = {
                "issuer": issuer.url,
                "jwks_uri": f"{issuer.url}/jwks",
                "id_token_signing_alg_values_supported": [issuer.algorithm],
            }
        elif rest == "jwks":
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


def identity_config(tmp_path: Path, provider: IdentityProvider, github_leeway: int = 30) -> Path:
    """A tokens file with a static reader, three issuers and one rule each
    (GitHub's tokens with `github_leeway` seconds of clock skew allowed)."""
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
"""
    )
    path.chmod(0o600)
    return path


def github(provider: IdentityProvider, **claims: object) -> str:
    defaults = {"repository": "acme/churn-training", "ref": "refs/heads/main", "job_workflow_ref": WORKFLOW}
    return provider.issuers["github"].mint(sub="repo:acme/churn-training:ref:refs/heads/main", **{**defaults, **claims})
