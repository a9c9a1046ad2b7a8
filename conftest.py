"""Pytest fixtures shared by every Python test in the repository: the real
server binary on an ephemeral loopback port with a fresh SQLite database."""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent
# The README's install step exports REPO (the clone) for the commands that
# use its files; every command a test replays sees the same.
os.environ["REPO"] = str(REPO)


def server_binary() -> str:
    """The server binary built by cargo (scripts/test builds it first)."""
    binary = os.environ.get("MODEL_REGISTRY_SERVER_BIN", str(REPO / "target/debug/model-registry-server"))
    if not Path(binary).is_file():
        pytest.fail(f"server binary {binary} is missing: run `cargo build -p model-registry-server`")
    return binary


def free_port() -> int:
    """A port the kernel just handed out on loopback (released for the server to take)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    """A server process, its address and working directory."""

    process: subprocess.Popen[bytes]
    address: str
    workdir: Path


def wait_until_listening(address: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Polls until the port accepts connections, the process dies, or the timeout passes."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"server did not listen on {address} within {timeout}s")


def start_server(
    workdir: Path,
    *args: str,
    address: str | None = None,
    log: str = "server.log",
    wait: bool = True,
    open_files: int | None = None,
    env: dict[str, str] | None = None,
    prefix: tuple[str, ...] = (),
) -> RunningServer:
    """Starts the server binary in `workdir` with its default database there
    (with `open_files`, under that file-descriptor limit, soft and hard; with
    `env`, these variables added to the environment; with `prefix`, through
    that command, which must exec the server in its place)."""
    address = address or f"127.0.0.1:{free_port()}"

    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    process = subprocess.Popen(
        [*prefix, server_binary(), "--listen", address, *args],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / log, "wb"),  # noqa: SIM115 - closed with the process
        env={**os.environ, **(env or {}), "RUST_LOG": os.environ.get("MODEL_REGISTRY_TEST_LOG", "warn")},
        preexec_fn=limit if open_files is not None else None,  # noqa: PLW1509 - only sets a limit
    )
    if not wait:
        return RunningServer(process, address, workdir)
    wait_until_listening(address, process)
    return RunningServer(process, address, workdir)


def hashed_token_entry(principal: str, role: str, token: str) -> str:
    """The tokens-file entry `hash-token` prints for `token`, made here:
    tests use short readable tokens, which `hash-token` refuses as guessable
    (test_server_binary.py checks that both make the same entry)."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    return f'\n[[principal]]\nname = {json.dumps(principal)}\nrole = "{role}"\ntoken_sha256 = "{digest}"\n'


def write_tokens_file(workdir: Path, *entries: tuple[str, str, str]) -> Path:
    """`workdir`/tokens.toml with one entry per (principal, role, token),
    readable by its owner only (the server refuses a file others may write)."""
    path = workdir / "tokens.toml"
    path.write_text("".join(hashed_token_entry(*entry) for entry in entries))
    path.chmod(0o600)
    return path


def stop_server(running: RunningServer) -> None:
    """Stops a server with SIGTERM (SIGKILL after 15 s)."""
    if running.process.poll() is None:
        running.process.terminate()
        try:
            running.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            running.process.kill()


def readme_block(marker: str, language: str = "sh") -> str:
    """The fenced block between the README's `<!-- MARKER:start -->` and `<!-- MARKER:end -->`."""
    readme = (REPO / "README.md").read_text()
    section = readme.split(f"<!-- {marker}:start -->", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]
    block = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert block, f"the {marker} section has a ```{language} block"
    return block.group(1)


def readme_commands(marker: str) -> list[str]:
    """A README shell block, one command at a time (comments and blank lines dropped)."""
    commands: list[str] = []
    current = ""
    for line in readme_block(marker).splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line + "\n"
        # A command ends where quotes are balanced and no backslash continues it.
        if current.count("'") % 2 == 0 and not line.endswith("\\"):
            commands.append(current)
            current = ""
    assert not current, "the last command is complete"
    return commands


def run_readme_command(command: str, server: RunningServer) -> str:
    """Runs a README command against `server` (its port instead of the default)."""
    command = command.replace("127.0.0.1:50051", server.address)
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{command}\nfailed with {result.returncode}: {result.stderr}"
    return result.stdout


def run_readme_block(marker: str, server: RunningServer, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A README shell block run whole, as one script (stopping at the first
    failing command), in `cwd`, with `modelreg` pointed at `server`."""
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + readme_block(marker)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MODEL_REGISTRY_URL": f"http://{server.address}"},
    )


def postgres_base_url() -> str:
    """The PostgreSQL server the tests use, without a database name."""
    return os.environ.get("MODEL_REGISTRY_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


def psql(sql: str, database: str = "postgres") -> str:
    """Runs `sql` with psql against the test PostgreSQL server; its output."""
    result = subprocess.run(
        ["psql", f"{postgres_base_url()}/{database}", "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"psql failed: {result.stderr}")
    return result.stdout


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards. Skipped loudly when
    PostgreSQL is unreachable, unless MODEL_REGISTRY_REQUIRE_POSTGRES=1."""
    if os.environ.get("MODEL_REGISTRY_TEST_SQLITE_ONLY") == "1":
        if os.environ.get("MODEL_REGISTRY_REQUIRE_POSTGRES") == "1":
            pytest.fail("MODEL_REGISTRY_TEST_SQLITE_ONLY=1 and MODEL_REGISTRY_REQUIRE_POSTGRES=1 contradict each other")
        pytest.skip("SKIPPING POSTGRESQL TEST: SQLite only (./scripts/test --quick)")
    try:
        psql("SELECT 1")
    except (OSError, RuntimeError) as unreachable:
        message = f"PostgreSQL at {postgres_base_url()} is unreachable: {unreachable}"
        if os.environ.get("MODEL_REGISTRY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required (MODEL_REGISTRY_REQUIRE_POSTGRES=1): {message}")
        pytest.skip(f"SKIPPING POSTGRESQL TEST: {message}")
    name = f"model_registry_test_{os.getpid()}_{int(time.monotonic_ns())}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield f"{postgres_base_url()}/{name}"
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh server on the embedded default SQLite database in a temporary directory."""
    running = start_server(tmp_path)
    try:
        yield running
    finally:
        stop_server(running)
