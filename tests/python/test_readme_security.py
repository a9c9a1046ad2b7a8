"""The README's security section, replayed as written: tokens file, roles and
limits with grpcurl, then TLS and mutual TLS with modelreg, grpcurl and
Python. Each refusal is checked for its gRPC code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import (
    REPO,
    RunningServer,
    free_port,
    hashed_token_entry,
    readme_block,
    readme_commands,
    start_server,
    stop_server,
)


def sh(command: str, cwd: Path, address: str) -> subprocess.CompletedProcess[str]:
    """Runs a README command in `cwd` against `address`, success or not."""
    return subprocess.run(
        ["bash", "-c", command.replace("127.0.0.1:50051", address)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def serve(command: str, workdir: Path) -> RunningServer:
    """Starts the README's server command (on a free port) in `workdir`."""
    args = command.split()
    assert args[0] == "model-registry-server", command
    return start_server(workdir, *args[1:])


def test_tokens_roles_limits_and_tls_run_as_written(tmp_path: Path) -> None:
    tokens = sh(readme_block("security-tokens"), tmp_path, "")
    assert tokens.returncode == 0, tokens.stderr
    stored = (tmp_path / "tokens.toml").read_text()
    for who in ["reader", "trainer", "deployer", "staging"]:
        token_file = tmp_path / f"{who}.token"
        assert token_file.stat().st_mode & 0o777 == 0o600
        assert token_file.read_text().strip() not in stored, "only hashes are stored"

    [serve_command] = readme_commands("security-serve")
    server = serve(serve_command, tmp_path)
    try:
        results = [sh(command, tmp_path, server.address) for command in readme_commands("security-calls")]
    finally:
        stop_server(server)
    assert len(results) == 8
    expected_failures = {0: "Unauthenticated", 3: "PermissionDenied", 5: "PermissionDenied"}
    for index, result in enumerate(results):
        if index in expected_failures:
            assert result.returncode != 0, f"command {index} must be refused"
            assert f"Code: {expected_failures[index]}" in result.stderr, result.stderr
        else:
            assert result.returncode == 0, f"command {index}: {result.stderr}"
    assert "needs the role deployer" in results[3].stderr
    assert '"production"' in results[5].stderr
    assert json.loads(results[1].stdout) == {"status": "SERVING"}
    assert json.loads(results[2].stdout)["modelVersion"]["createdBy"] == "ci"
    events = json.loads(results[7].stdout)["events"]
    assert [(e["alias"], e["actor"]) for e in events] == [("production", "release-bot")]

    # TLS: the certificate command, the tokens entry for the client
    # certificate, the TLS server, then the clients.
    tls = readme_commands("security-tls")
    for command in tls[:2]:
        done = sh(command, tmp_path, "")
        assert done.returncode == 0, done.stderr
    server = serve(tls[2], tmp_path)
    try:
        outputs = []
        for command in tls[3:]:
            done = sh(command, tmp_path, server.address)
            assert done.returncode == 0, f"{command}\n{done.stderr}"
            outputs.append(done.stdout)
        assert "churn@canary points at version 1" in outputs[1]
        assert json.loads(outputs[2])["model"]["aliases"] == {"staging": "1", "production": "1", "canary": "1"}

        code = readme_block("security-python", "python").replace("127.0.0.1:50051", server.address)
        python = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert python.returncode == 0, python.stderr
        assert "canary: version 1" in python.stdout

        events = sh(
            'modelreg --url https://127.0.0.1:50051 --ca-file certs/ca.pem --token "$(cat reader.token)" '
            "-o json history churn",
            tmp_path,
            server.address,
        )
        assert json.loads(events.stdout)[-1]["actor"] == "deployer.example.com"
    finally:
        stop_server(server)
    log = (tmp_path / "server.log").read_text()
    tokens_made = [(tmp_path / f"{who}.token").read_text().strip() for who in ["reader", "trainer", "deployer", "staging"]]
    for secret in [*tokens_made, "PRIVATE KEY"]:
        assert secret not in log, f"{secret} leaked into the log"


def test_a_plaintext_client_against_a_tls_server_fails_cleanly(tmp_path: Path) -> None:
    subprocess.run([str(REPO / "scripts/dev-certs"), str(tmp_path / "certs")], check=True, capture_output=True)
    server = start_server(
        tmp_path, "--tls-cert", str(tmp_path / "certs/server.pem"), "--tls-key", str(tmp_path / "certs/server.key")
    )
    try:
        from modelreg_client import RegistryClient, Unavailable

        with RegistryClient(f"http://{server.address}", retries=0, timeout=5) as plaintext:
            try:
                list(plaintext.list_models())
                raise AssertionError("a plaintext client must not reach a TLS server")
            except Unavailable:
                pass
        result = subprocess.run(
            ["modelreg", "--url", f"http://{server.address}", "--timeout", "5", "models"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode != 0
        assert result.stderr.startswith("error: "), result.stderr
    finally:
        stop_server(server)


def test_sighup_reloads_the_tokens_file_and_keeps_connections(tmp_path: Path) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

    from modelreg_client._generated.modelregistry.v1 import registry_pb2 as pb
    from modelreg_client._generated.modelregistry.v1 import registry_pb2_grpc as pb_grpc

    def entry(token: str, name: str) -> str:
        return hashed_token_entry(name, "reader", token)

    tokens = tmp_path / "tokens.toml"
    tokens.write_text(entry("old-token", "old"))
    server = start_server(tmp_path, "--auth-tokens", str(tokens))
    channel = grpc.insecure_channel(server.address)
    try:
        stub = pb_grpc.RegistryServiceStub(channel)

        def code_with(token: str) -> grpc.StatusCode:
            try:
                stub.ListModels(pb.ListModelsRequest(), metadata=(("authorization", f"Bearer {token}"),), timeout=5)
                return grpc.StatusCode.OK
            except grpc.RpcError as error:
                return error.code()  # type: ignore[no-any-return]

        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=60)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        assert code_with("old-token") == grpc.StatusCode.OK
        assert code_with("new-token") == grpc.StatusCode.UNAUTHENTICATED

        tokens.write_text(entry("new-token", "new"))
        server.process.send_signal(__import__("signal").SIGHUP)
        wait_for(lambda: code_with("old-token") == grpc.StatusCode.UNAUTHENTICATED)
        assert code_with("new-token") == grpc.StatusCode.OK
        assert not watch.done(), "an open stream survives the reload"

        # A broken file keeps the tokens in force and says why.
        tokens.write_text("this is not toml = [")
        server.process.send_signal(__import__("signal").SIGHUP)
        wait_for(lambda: "NOT reloaded" in (tmp_path / "server.log").read_text())
        assert code_with("new-token") == grpc.StatusCode.OK
        watch.cancel()
    finally:
        channel.close()
        stop_server(server)
    log = (tmp_path / "server.log").read_text()
    assert "old-token" not in log and "new-token" not in log


def test_database_passwords_never_reach_the_log(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    binary = os.environ.get("MODEL_REGISTRY_SERVER_BIN", str(REPO / "target/debug/model-registry-server"))
    for url in [
        "postgres://postgres:hunter2@127.0.0.1:1/registry",
        "postgres://postgres@127.0.0.1:1/registry?password=hunter2",
        "postgress://postgres:hunter2@127.0.0.1:5432/registry",
    ]:
        result = subprocess.run(
            [binary, "--listen", address, "--database-url", url, "--db-timeout", "1s"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "RUST_LOG": "debug"},
        )
        assert result.returncode != 0
        assert "hunter2" not in result.stderr + result.stdout, result.stderr


def wait_for(condition: object, timeout: float = 10.0) -> None:
    """Polls `condition` until it holds (a reload takes effect asynchronously)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition did not hold in time")

