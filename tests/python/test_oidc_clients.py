"""The Python client obtains identity-provider tokens the way platforms
hand them out (issue 23, item 4): the GitHub Actions OIDC request, a
command, an environment variable; and fetches them again before they
expire, so a long-running job never sends an expired token. The server
allows GitHub's tokens no clock skew here, so an expired one would be
refused."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import start_server, stop_server
from oidc_provider import IdentityProvider, github, identity_config, provider  # noqa: F401 - a fixture

from modelreg_client import RegistryClient, Unauthenticated
from modelreg_client.tokens import CommandToken, EnvToken, GitHubActionsToken

LIFETIME = 4  # seconds: each token expires during the test
REQUEST_TOKEN = "the-runner-request-token"


class ActionsTokenEndpoint:
    """GitHub's token endpoint as a job sees it: GET with the runner's
    bearer and `audience`, answering `{"value": <JWT>}`."""

    def __init__(self, provider: IdentityProvider) -> None:
        self.audiences: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.headers.get("authorization") != f"bearer {REQUEST_TOKEN}":
                    self.send_error(401)
                    return
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                assert query["api-version"] == ["2.0"]
                audience = query["audience"][0]
                endpoint.audiences.append(audience)
                token = provider.issuers["github"].mint(
                    audience=audience,
                    lifetime=LIFETIME,
                    sub="repo:acme/churn-training:ref:refs/heads/main",
                    repository="acme/churn-training",
                    ref="refs/heads/main",
                    job_workflow_ref="acme/churn-training/.github/workflows/train.yml@refs/heads/main",
                )
                body = json.dumps({"count": 1, "value": token}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/_apis/idtoken?api-version=2.0"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def actions(provider: IdentityProvider, monkeypatch: pytest.MonkeyPatch) -> Iterator[ActionsTokenEndpoint]:  # noqa: F811
    endpoint = ActionsTokenEndpoint(provider)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", endpoint.url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
    yield endpoint
    endpoint.close()


def keep_calling_past(registry: RegistryClient, deadline: float) -> int:
    """Calls until `deadline` (wall clock), each one of which must succeed; returns how many."""
    calls = 0
    while time.time() < deadline:
        assert registry.get_model("churn").version_count >= 1
        calls += 1
    return calls


def test_a_github_actions_job_registers_with_its_oidc_token_renewed_before_expiry(
    tmp_path: Path,
    provider: IdentityProvider,  # noqa: F811
    actions: ActionsTokenEndpoint,
) -> None:
    server = start_server(tmp_path, "--auth-tokens", str(identity_config(tmp_path, provider, github_leeway=0)))
    try:
        token = GitHubActionsToken(audience="model-registry", refresh_before=2)
        with RegistryClient(f"http://{server.address}", token_provider=token, retries=0, timeout=10) as job:
            assert job.register_model("churn", algorithm="xgb", artifact_uri="s3://m/churn/1").version == 1
            assert actions.audiences == ["model-registry"]
            # Past the first token's expiry every call still gets in: the
            # provider asked for a new token two seconds before.
            assert keep_calling_past(job, time.time() + LIFETIME + 1) > 0
            assert len(actions.audiences) >= 2, actions.audiences
            assert list(job.list_events("churn"))[0].actor == "gha:acme/churn-training@refs/heads/main"
    finally:
        stop_server(server)


def test_a_command_token_is_run_again_before_expiry_and_an_env_token_is_read_per_call(
    tmp_path: Path,
    provider: IdentityProvider,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start_server(tmp_path, "--auth-tokens", str(identity_config(tmp_path, provider, github_leeway=0)))
    # The command prints a fresh token from a file the "platform" rewrites,
    # and counts its runs.
    (tmp_path / "fresh.jwt").write_text(github(provider, lifetime=LIFETIME))
    runs = tmp_path / "runs"
    script = tmp_path / "print-token.py"
    script.write_text(
        "import pathlib, sys\n"
        f"pathlib.Path({str(runs)!r}).open('a').write('x')\n"
        f"sys.stdout.write(pathlib.Path({str(tmp_path / 'fresh.jwt')!r}).read_text())\n"
    )
    try:
        command = CommandToken([sys.executable, str(script)], refresh_before=2)
        with RegistryClient(f"http://{server.address}", token_provider=command, retries=0, timeout=10) as job:
            job.register_model("churn", algorithm="xgb", artifact_uri="s3://m/churn/1")
            (tmp_path / "fresh.jwt").write_text(github(provider, lifetime=60))
            assert keep_calling_past(job, time.time() + LIFETIME + 1) > 0
            assert len(runs.read_text()) >= 2
        # An environment variable, read at every call.
        monkeypatch.setenv("REGISTRY_JWT", github(provider))
        with RegistryClient(f"http://{server.address}", token_provider=EnvToken("REGISTRY_JWT"), retries=0) as job:
            assert job.get_model("churn").version_count == 1
            monkeypatch.setenv("REGISTRY_JWT", github(provider, exp=int(time.time()) - 60))
            with pytest.raises(Unauthenticated):
                job.get_model("churn")
        # A failing command is an error at once, naming the command.
        with pytest.raises(RuntimeError, match="exited with 3"):
            CommandToken([sys.executable, "-c", "import sys; sys.exit(3)"])
        with pytest.raises(ValueError, match="not both"):
            RegistryClient("127.0.0.1:9", token="x", token_provider=command)
    finally:
        stop_server(server)


def test_modelreg_takes_the_job_token_or_a_command_token(
    tmp_path: Path,
    provider: IdentityProvider,  # noqa: F811
    actions: ActionsTokenEndpoint,
) -> None:
    server = start_server(tmp_path, "--auth-tokens", str(identity_config(tmp_path, provider)))

    def modelreg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["modelreg", "--url", f"http://{server.address}", "-o", "json", *args],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )

    try:
        registered = modelreg(
            "--github-actions-audience", "model-registry",
            "register", "churn", "--algorithm", "xgb", "--artifact-uri", "s3://m/churn/1",
        )
        assert registered.returncode == 0, registered.stderr
        assert "gha:acme/churn-training@refs/heads/main" in registered.stdout, registered.stdout
        assert actions.audiences == ["model-registry"]
        (tmp_path / "k8s.jwt").write_text(
            provider.issuers["kubernetes"].mint(sub="system:serviceaccount:serving:canary-deployer")
        )
        moved = modelreg("--token-command", "cat k8s.jwt", "alias", "set", "churn", "canary", "1", "--reason", "try")
        assert moved.returncode == 0, moved.stderr
        failing = modelreg("--token-command", "echo nope >&2; exit 4", "show", "churn")
        assert failing.returncode != 0
        assert "exited with 4: nope" in failing.stderr, failing.stderr
    finally:
        stop_server(server)
