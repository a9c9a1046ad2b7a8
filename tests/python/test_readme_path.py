"""The README read top to bottom, as a newcomer follows it: one server,
started where the README starts it, every section's commands in the order
the README gives them, in one working directory, the server restarted
where the README restarts it (the console, tokens, TLS) on the same
database. Each section's own test checks its results on a fresh server;
this one checks that the sections fit together: every command succeeds,
or is refused exactly where the README says it is."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import urllib.request
from pathlib import Path

from conftest import REPO, RunningServer, free_port, readme_block, readme_commands, start_server, stop_server

# Where the README has the walkthrough happen; the test's own directory instead.
WALKTHROUGH_DIR = "/tmp/registry-walkthrough"

# Blocks that are not commands to run.
# (replicas-token needs two replicas on PostgreSQL: test_replicas.py runs it.)
# The webhook receiver serves until stopped: test_webhooks.py runs it.
# identity-providers is a tokens file: test_oidc_console.py checks it;
# signature-trust a trust file: test_signatures.py serves with it; the
# signed-* blocks need keys, a CA and an S3 store: test_readme_signatures.py
# replays them.
SIGNED_MODELS = {"signed-sign", "signed-register", "signed-policy", "signed-pull", "signed-pull-python"}
NOT_COMMANDS = {"install", "promql", "replicas-token", "webhook-receiver", "identity-providers", "signature-trust", *SIGNED_MODELS}

# The refusals the security section shows on purpose (its text says so).
EXPECTED_REFUSALS = ("Code: Unauthenticated", "Code: PermissionDenied")


def sections() -> list[str]:
    """The README's marked blocks, in the order they appear."""
    return re.findall(r"<!-- ([a-z0-9-]+):start -->", (REPO / "README.md").read_text())


def stepwise(marker: str) -> bool:
    """Whether a block must run command by command: it starts a server,
    opens a watch (runs until Ctrl-C) or shows refusals on purpose. Other
    blocks run whole, as one script (loops and here-documents included)."""
    block = readme_block(marker)
    starts_server = re.search(r"(^|&& )model-registry-server( --|$)", block, re.M)
    return bool(starts_server) or "/Watch" in block or marker == "security-calls"


def language(marker: str) -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split(f"<!-- {marker}:start -->", 1)[1]
    found = re.match(r"\s*```([a-z]+)", section)
    assert found, f"{marker} starts with a fenced block"
    return found.group(1)


class Newcomer:
    """One working directory, one server at a time, commands as typed."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.server: RunningServer | None = None
        self.web_address: str | None = None
        self.ran: list[str] = []

    @property
    def address(self) -> str:
        assert self.server is not None, "a command ran before the README started a server"
        return self.server.address

    def localize(self, text: str) -> str:
        text = text.replace(WALKTHROUGH_DIR, str(self.workdir))
        if self.server is not None:
            text = text.replace("127.0.0.1:50051", self.address)
        return text

    def start(self, command: str) -> None:
        """(Re)starts the server as the README's command says, on free ports."""
        args = command.split()
        assert args[0] == "model-registry-server", command
        if self.server is not None:
            stop_server(self.server)
            assert self.server.process.returncode == 0, "SIGTERM ends the server with 0"
        args = args[1:]
        if "--web-listen" in args:
            self.web_address = f"127.0.0.1:{free_port()}"
            args[args.index("--web-listen") + 1] = self.web_address
        self.server = start_server(self.workdir, *args, log=f"server-{len(self.ran)}.log")

    def run(self, marker: str, command: str) -> None:
        self.ran.append(f"[{marker}] {command.strip()}")
        prefix = f"mkdir -p {WALKTHROUGH_DIR} && cd {WALKTHROUGH_DIR} && "
        if command.startswith(prefix):
            command = command[len(prefix) :]
        first = command.split(maxsplit=2)
        is_server = first[0] == "model-registry-server" and (len(first) == 1 or first[1].startswith("--")) and "\n" not in command.strip()
        if is_server:
            self.start(command.strip())
        elif command.startswith("grpcurl") and "/Watch" in command:
            self.watch(marker, command)
        else:
            self.shell(marker, command)

    def shell(self, marker: str, command: str) -> None:
        result = subprocess.run(
            ["bash", "-c", self.localize(command)],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "MODEL_REGISTRY_URL": f"http://{self.address}"},
        )
        if result.returncode != 0:
            refused = marker == "security-calls" and any(code in result.stderr for code in EXPECTED_REFUSALS)
            assert refused, f"[{marker}] {command}\nfailed with {result.returncode}:\n{result.stderr}\n{result.stdout}"

    def watch(self, marker: str, command: str) -> None:
        """A watch runs until Ctrl-C: give it a moment, then stop it; it must
        not have failed, and whatever it printed is JSON."""
        process = subprocess.Popen(
            ["bash", "-c", "exec " + self.localize(command)],
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 2.0)
            printed = process.stdout.readline() if ready else ""
            assert process.poll() is None, f"[{marker}] {command} ended: {process.stderr.read() if process.stderr else ''}"
            assert printed == "" or printed.strip().startswith("{"), printed
        finally:
            process.terminate()
            process.wait(timeout=10)

    def python(self, marker: str) -> None:
        self.ran.append(f"[{marker}] (python block)")
        code = self.localize(readme_block(marker, "python"))
        result = subprocess.run([sys.executable, "-c", code], cwd=self.workdir, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"[{marker}]\n{result.stderr}"

    def rust(self, marker: str) -> None:
        """The Rust block is examples/quickstart.rs (a test checks so); cargo
        built it beside the test binaries."""
        self.ran.append(f"[{marker}] (rust example)")
        example = REPO / "target" / "debug" / "examples" / "quickstart"
        assert example.is_file(), f"{example} is built by cargo build --all-targets"
        result = subprocess.run(
            [str(example)], capture_output=True, text=True, timeout=120, env={**os.environ, "MODEL_REGISTRY_URL": f"http://{self.address}"}
        )
        assert result.returncode == 0, f"[{marker}]\n{result.stderr}"


def test_the_readme_runs_top_to_bottom_on_one_server(tmp_path: Path) -> None:
    newcomer = Newcomer(tmp_path / "registry-walkthrough")
    newcomer.workdir.mkdir()
    order = [marker for marker in sections() if marker not in NOT_COMMANDS]
    assert order[0] == "walkthrough-server", "the README starts a server before using one"
    # The install step names the binaries the sections use: they exist.
    install = readme_block("install")
    assert "cargo build -p model-registry-server -p model-registry-cli" in install
    assert 'REPO="$PWD"' in install
    for binary in ("model-registry-server", "modelreg"):
        assert (REPO / "target" / "debug" / binary).is_file()
    try:
        for marker in order:
            kind = language(marker)
            if kind == "sh" and stepwise(marker):
                for command in readme_commands(marker):
                    newcomer.run(marker, command)
            elif kind == "sh":
                newcomer.run(marker, "set -euo pipefail\n" + readme_block(marker))
            elif kind == "python":
                newcomer.python(marker)
            elif kind == "rust":
                newcomer.rust(marker)
            else:
                raise AssertionError(f"{marker}: no way to run a {kind} block")
            if marker == "web-console":
                assert newcomer.web_address is not None
                with urllib.request.urlopen(f"http://{newcomer.web_address}/", timeout=10) as page:
                    assert "churn" in page.read().decode(), "the console shows the walkthrough's models"
        # The state the sections built on: every model each section used.
        result = subprocess.run(
            ["modelreg", "--url", f"https://{newcomer.address}", "--ca-file", "certs/ca.pem", "--token", (newcomer.workdir / "reader.token").read_text().strip(), "-o", "json", "models"],
            cwd=newcomer.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        models = {model["name"] for model in json.loads(result.stdout)}
        assert models >= {"churn", "upsell", "retention", "ltv", "credit", "legacy-churn", "fraud", "demand"}, models
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n\nafter:\n" + "\n".join(newcomer.ran[-5:])) from None
    finally:
        if newcomer.server is not None:
            stop_server(newcomer.server)
