"""Identity providers' tokens (issue 23): a local OIDC provider (HTTPS on
loopback, keys made per run) mints tokens for three issuers the way GitHub
Actions, Kubernetes and a company provider do; the server verifies them
against discovered keys and maps their claims to principals by the rules
of its tokens file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, server_binary, start_server, stop_server
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from oidc_provider import AUDITOR, IdentityProvider, Issuer, github, identity_config, provider  # noqa: F401 - a fixture

from modelreg_client import PermissionDenied, RegistryClient, Unauthenticated


def client(server_address: str, token: str) -> RegistryClient:
    return RegistryClient(f"http://{server_address}", token=token, retries=0, timeout=10)


def test_tokens_of_three_issuers_act_as_their_rules_say_and_the_trail_names_them(
    tmp_path: Path, provider: IdentityProvider
) -> None:
    server = start_server(tmp_path, "--auth-tokens", str(identity_config(tmp_path, provider)))
    try:
        with client(server.address, github(provider)) as ci:
            assert ci.register_model("churn", algorithm="xgb", artifact_uri="s3://m/churn/1").version == 1
            with pytest.raises(PermissionDenied):  # model_prefixes = ["churn"]
                ci.register_model("fraud", algorithm="xgb", artifact_uri="s3://m/fraud/1")
            with pytest.raises(PermissionDenied):  # a trainer moves no alias
                ci.set_alias("churn", "canary", 1, "try")
        deployer = provider.issuers["kubernetes"].mint(sub="system:serviceaccount:serving:canary-deployer")
        with client(server.address, deployer) as k8s:
            k8s.set_alias("churn", "canary", 1, "canary first")
            with pytest.raises(PermissionDenied):  # aliases = ["canary"]
                k8s.set_alias("churn", "production", 1, "not mine")
        person = provider.issuers["corp"].mint(
            sub="00u1", email="alice@example.com", groups=["everyone", "ml-admins"]
        )
        with client(server.address, person) as admin:
            admin.set_alias("churn", "production", 1, "reviewed")
        with client(server.address, AUDITOR) as auditor:
            events = list(auditor.list_events("churn"))
        url = {name: issuer.url for name, issuer in provider.issuers.items()}
        assert [(event.actor, event.actor_source) for event in events] == [
            ("gha:acme/churn-training@refs/heads/main", f"{url['github']} repo:acme/churn-training:ref:refs/heads/main"),
            ("gha:acme/churn-training@refs/heads/main", f"{url['github']} repo:acme/churn-training:ref:refs/heads/main"),
            (
                "k8s:system:serviceaccount:serving:canary-deployer",
                f"{url['kubernetes']} system:serviceaccount:serving:canary-deployer",
            ),
            ("alice@example.com", f"{url['corp']} 00u1"),
        ], events
        # The source is in the canonical JSON (webhook bodies, modelreg -o
        # json) and in the console's trail.
        assert events[-1].to_dict()["actorSource"] == f"{url['corp']} 00u1"
    finally:
        stop_server(server)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict[str, object], payload: dict[str, object], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}.{b64(signature)}"


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def refusal(server_address: str, token: str) -> str:
    """The message a refused token gets; fails unless it is UNAUTHENTICATED."""
    with client(server_address, token) as caller, pytest.raises(Unauthenticated) as refused:
        caller.get_model("churn")
    return str(refused.value)


def test_bad_tokens_are_refused_alike_and_the_log_says_why(tmp_path: Path, provider: IdentityProvider) -> None:
    metrics = f"127.0.0.1:{free_port()}"
    server = start_server(
        tmp_path, "--auth-tokens", str(identity_config(tmp_path, provider)), "--metrics-listen", metrics,
        "--log-format", "json",
    )
    gha: Issuer = provider.issuers["github"]
    now = int(time.time())
    valid = github(provider)
    # The classic confusion attack: HMAC keyed with the provider's public key.
    rsa_public_pem = gha.keys[gha.current].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    hs256_header = {"alg": "HS256", "typ": "JWT", "kid": gha.current}
    hs256_payload = claims_of(valid)
    signing_input = f"{b64(json.dumps(hs256_header).encode())}.{b64(json.dumps(hs256_payload).encode())}"
    hs256 = f"{signing_input}.{b64(hmac.new(rsa_public_pem, signing_input.encode(), hashlib.sha256).digest())}"
    header, _, signature = valid.split(".")
    tampered_claims = {**claims_of(valid), "repository": "acme/churn-training", "ref": "refs/heads/release"}
    tampered = f"{header}.{b64(json.dumps(tampered_claims).encode())}.{signature}"
    cases = {
        "expired": github(provider, exp=now - 600, iat=now - 1200, nbf=now - 1200),
        "not_yet_valid": github(provider, nbf=now + 600),
        "wrong_audience": gha.mint(audience="someone-else", repository="acme/churn-training", ref="refs/heads/main"),
        "unknown_issuer": forged({"alg": "RS256", "kid": gha.current}, {**claims_of(valid), "iss": "https://evil.example"}),
        "algorithm": forged({"alg": "none", "typ": "JWT"}, claims_of(valid)),
        "bad_signature": tampered,
        "unknown_key": forged({"alg": "RS256", "kid": "never-published"}, claims_of(valid), b"x" * 256),
        "no_rule": github(provider, repository="acme/other", ref="refs/heads/main"),
        "lifetime": provider.issuers["kubernetes"].mint(sub="system:serviceaccount:serving:canary-x", lifetime=7200),
        "missing_claim": gha.mint(repository="acme/churn-training"),
    }
    try:
        messages = {reason: refusal(server.address, token) for reason, token in cases.items()}
        messages["hs256_with_public_key"] = refusal(server.address, hs256)
        # One answer for all, the one a wrong static token gets: nothing
        # tells the caller which check failed.
        messages["static"] = refusal(server.address, "no-such-static-token-at-all")
        assert len(set(messages.values())) == 1, messages
        # A valid token still gets in.
        with client(server.address, valid) as ci:
            ci.register_model("churn", algorithm="xgb", artifact_uri="s3://m/churn/1")
        scrape = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10).read().decode()
    finally:
        stop_server(server)
    logged = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines() if line.startswith("{")]
    refused = [entry for entry in logged if entry.get("message") == "identity provider token refused"]
    outcomes = [entry["outcome"] for entry in refused]
    assert sorted(outcomes) == sorted([*cases, "algorithm"]), outcomes
    no_rule = next(entry for entry in refused if entry["outcome"] == "no_rule")
    assert "acme/other" in no_rule["rules"], no_rule
    for reason in cases:
        issuer = "unknown" if reason == "unknown_issuer" else "kubernetes" if reason == "lifetime" else "github"
        count = 2 if reason == "algorithm" else 1  # `none`, and HS256
        assert f'model_registry_oidc_tokens_total{{issuer="{issuer}",outcome="{reason}"}} {count}' in scrape, reason
    assert 'model_registry_oidc_tokens_total{issuer="github",outcome="accepted"} 1' in scrape


def accepted(server_address: str, token: str) -> bool:
    with client(server_address, token) as caller:
        try:
            list(caller.list_models())
            return True
        except Unauthenticated:
            return False


def test_keys_rotate_and_an_outage_of_the_provider_keeps_cached_keys(tmp_path: Path, provider: IdentityProvider) -> None:
    metrics = f"127.0.0.1:{free_port()}"
    server = start_server(
        tmp_path, "--auth-tokens", str(identity_config(tmp_path, provider)), "--metrics-listen", metrics
    )
    gha = provider.issuers["github"]
    try:
        assert accepted(server.address, github(provider))
        # The provider rotates: the new key id is fetched once and accepted.
        gha.rotate()
        assert accepted(server.address, github(provider))
        # Made-up key ids cannot make the server hammer the provider: at
        # most one fetch per key_refresh_seconds (1 s here).
        fetches = provider.jwks_fetches["github"]
        started = time.monotonic()
        for _ in range(20):
            assert not accepted(server.address, forged({"alg": "RS256", "kid": "made-up"}, claims_of(github(provider))))
        elapsed = time.monotonic() - started
        assert provider.jwks_fetches["github"] - fetches <= elapsed + 1, (provider.jwks_fetches, elapsed)
        # Down: cached keys keep working, a key published meanwhile is refused.
        provider.down = True
        assert accepted(server.address, github(provider))
        new_kid = gha.rotate()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:  # past the 1 s refresh limit: it tried, and failed
            assert not accepted(server.address, github(provider, kid=new_kid))
        # Back: the new key is fetched at the next unknown-key token.
        provider.down = False
        deadline = time.monotonic() + 10
        while not accepted(server.address, github(provider, kid=new_kid)):
            assert time.monotonic() < deadline, "the new key was never fetched after the provider came back"
        scrape = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10).read().decode()
        assert re.search(r'model_registry_jwks_refreshes_total\{[^}]*outcome="failed"[^}]*\} [1-9]', scrape)
    finally:
        stop_server(server)


def test_check_token_explains_which_rule_matched_and_why_others_did_not(
    tmp_path: Path, provider: IdentityProvider
) -> None:
    config = identity_config(tmp_path, provider)

    def check(token: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [server_binary(), "check-token", "--auth-tokens", str(config)],
            input=token, capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )

    good = check(github(provider))
    assert good.returncode == 0, good.stderr
    assert "principal: gha:acme/churn-training@refs/heads/main" in good.stdout
    assert "role: trainer" in good.stdout and "model prefixes: churn" in good.stdout
    assert "rule 1: matches" in good.stdout
    branch = check(github(provider, ref="refs/heads/dev"))
    assert branch.returncode == 1
    assert 'rule 1: no match: claim "ref" is ["refs/heads/dev"], not "refs/heads/main"' in branch.stdout, branch.stdout
    assert "refused: no rule matches its claims" in branch.stdout
    static = check(AUDITOR)
    assert static.returncode == 0 and 'a static token of [[principal]] "auditor"' in static.stdout


def test_a_reload_changes_the_rules_for_the_next_call(tmp_path: Path, provider: IdentityProvider) -> None:
    config = identity_config(tmp_path, provider)
    server = start_server(tmp_path, "--auth-tokens", str(config))
    token = github(provider, ref="refs/heads/release")
    try:
        assert not accepted(server.address, token)
        config.write_text(config.read_text().replace('ref = "refs/heads/main"', 'ref = "refs/heads/*"'))
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while not accepted(server.address, token):
            assert time.monotonic() < deadline, "the reloaded rule never applied"
        # The keys fetched before the reload were kept: no second discovery needed.
        assert provider.jwks_fetches["github"] == 1, provider.jwks_fetches
    finally:
        stop_server(server)


def test_a_watch_ends_when_its_token_expires_and_resumes_with_a_fresh_one(
    tmp_path: Path,
    provider: IdentityProvider,  # noqa: F811
) -> None:
    server = start_server(tmp_path, "--auth-tokens", str(identity_config(tmp_path, provider, github_leeway=0)))
    try:
        with client(server.address, github(provider)) as ci:
            ci.register_model("churn", algorithm="xgb", artifact_uri="s3://m/churn/1")
            ci.register_model("churn", algorithm="xgb", artifact_uri="s3://m/churn/2")
        # A fixed token: the stream ends when it expires, and the client's
        # reconnection is refused.
        with client(server.address, github(provider, lifetime=3)) as fixed:
            watch = fixed.watch_alias("churn", "latest")
            assert next(watch).model_version.version == 2
            ended: list[BaseException] = []

            def follow() -> None:
                try:
                    next(watch)
                except Exception as error:  # noqa: BLE001 - recorded for the assertion
                    ended.append(error)

            follower = threading.Thread(target=follow, daemon=True)
            follower.start()
            follower.join(timeout=20)
            assert not follower.is_alive(), "the stream outlived its token"
            assert isinstance(ended[0], Unauthenticated), ended
        # A provider with fresh tokens: the stream is renewed on the way and
        # sees a change made after the first token expired.
        with RegistryClient(
            f"http://{server.address}", token_provider=lambda: github(provider, lifetime=3), timeout=10
        ) as renewed, client(server.address, github(provider)) as ci:
            watch = renewed.watch_alias("churn", "latest")
            assert next(watch).model_version.version == 2
            expired_at = time.time() + 4
            while time.time() < expired_at:
                time.sleep(0.2)
            ci.register_model("churn", algorithm="xgb", artifact_uri="s3://m/churn/3")
            assert next(watch).model_version.version == 3
    finally:
        stop_server(server)
