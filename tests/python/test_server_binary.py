"""The server binary as operators use it: README walkthrough, subcommands, signals."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

from conftest import (
    REPO,
    RunningServer,
    hashed_token_entry,
    readme_block,
    readme_commands,
    run_readme_block,
    run_readme_command,
    server_binary,
    start_server,
    stop_server,
    wait_until_listening,
)

from modelreg_client import RegistryClient


def test_the_readme_walkthrough_runs_as_written(server: RunningServer) -> None:
    commands = readme_commands("walkthrough")
    assert len(commands) >= 8
    outputs = [run_readme_command(command, server) for command in commands]
    assert "modelregistry.v1.RegistryService" in outputs[0]
    assert "grpc.health.v1.Health" in outputs[0]
    assert json.loads(outputs[1]) == {"status": "SERVING"}
    production = json.loads(outputs[7])["modelVersion"]
    assert (production["modelName"], production["version"], production["isProduction"]) == ("churn", "1", True)
    events = json.loads(outputs[-1])["events"]
    assert [e["type"] for e in events] == [
        "EVENT_TYPE_MODEL_CREATED",
        "EVENT_TYPE_VERSION_REGISTERED",
        "EVENT_TYPE_VERSION_REGISTERED",
        "EVENT_TYPE_ALIAS_SET",
        "EVENT_TYPE_STATUS_CHANGED",
    ]


def test_the_legacy_view_answers_old_queries(server: RunningServer) -> None:
    for command in readme_commands("walkthrough"):
        run_readme_command(command, server)
    import sqlite3

    with sqlite3.connect(server.workdir / "model-registry.db") as db:
        rows = db.execute(
            "SELECT model_name, model_version, algorithm, auc_score, status, is_production "
            "FROM model_registry ORDER BY model_version"
        ).fetchall()
        assert rows == [
            ("churn", 1, "XGBoost", 0.91, "ACTIVE", 1),
            ("churn", 2, "CatBoost", 0.89, "DEPRECATED", 0),
        ]
        aliases = db.execute("SELECT model_name, alias, version, moved_by, reason FROM model_aliases").fetchall()
        assert aliases == [("churn", "production", 1, "anonymous", "best AUC on the holdout set")]
        try:
            db.execute("DELETE FROM events")
            raise AssertionError("deleting events must be refused")
        except sqlite3.DatabaseError as refused:
            assert "append-only" in str(refused)


def test_sigterm_drains_and_exits_zero(server: RunningServer) -> None:
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0


def test_migrate_creates_and_migrates_the_database_then_exits(tmp_path: Path) -> None:
    result = subprocess.run(
        [server_binary(), "migrate", "--database-url", "sqlite://registry.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "registry.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert {"models", "model_versions", "events", "model_registry", "audit_trail"} <= tables


def test_listening_beyond_loopback_without_auth_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [server_binary(), "--listen", "0.0.0.0:0"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "--allow-unauthenticated-remote" in result.stderr


def test_the_readme_configuration_table_matches_help() -> None:
    result = subprocess.run([server_binary(), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "migrate" in result.stdout
    in_help = set(re.findall(r"^\s+(?:-\w, )?(--[a-z-]+)", result.stdout, re.M)) - {"--help", "--version"}
    variables = set(re.findall(r"\[env: (MODEL_REGISTRY_\w+)[=\]]", result.stdout))
    table = (REPO / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `--")]
    assert set(re.findall(r"`(--[a-z-]+)`", "\n".join(r.split("|")[1] for r in rows))) == in_help
    assert set(re.findall(r"`(MODEL_REGISTRY_\w+)`", "\n".join(r.split("|")[2] for r in rows))) == variables


def test_a_second_server_on_the_same_database_sees_the_data(tmp_path: Path) -> None:
    first = start_server(tmp_path)
    try:
        run_readme_command(readme_commands("walkthrough")[2], first)
    finally:
        first.process.terminate()
        assert first.process.wait(timeout=15) == 0
    second = start_server(tmp_path)
    try:
        out = run_readme_command(
            "grpcurl -plaintext -d '{\"model_name\": \"churn\"}' 127.0.0.1:50051 "
            "modelregistry.v1.RegistryService/GetModel",
            second,
        )
        assert json.loads(out)["model"]["versionCount"] == "1"
    finally:
        second.process.terminate()
        second.process.wait(timeout=15)


def test_the_readme_shell_section_runs_as_written(server: RunningServer, tmp_path: Path) -> None:
    result = run_readme_block("shell", server, tmp_path)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "registered credit version 2" in result.stdout
    assert "credit version 1 is production again (rolled back from version 2)" in result.stdout
    assert "ALIAS_ROLLED_BACK" in result.stdout


def test_the_readme_import_section_runs_as_written(server: RunningServer, tmp_path: Path) -> None:
    first = run_readme_block("import-legacy", server, tmp_path)
    assert first.returncode == 0, f"{first.stdout}\n{first.stderr}"
    assert "legacy-churn: would import 3 new rows, 0 already imported" in first.stdout
    assert "dry run: nothing was written" in first.stdout
    assert "legacy-churn: imported 3 new rows (versions 1 to 3), 0 already imported; production is version 3 (line 4)" in first.stdout
    again = run_readme_block("import-legacy", server, tmp_path)
    assert "imported 0 new rows, 3 already imported" in again.stdout, again.stdout


def test_the_readme_python_section_runs_as_written(server: RunningServer, tmp_path: Path) -> None:
    import sys

    code = readme_block("python", "python").replace("127.0.0.1:50051", server.address)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "registered churn version 1" in result.stdout
    assert f"production: version 1 at {(tmp_path / 'model.pkl').as_uri()}" in result.stdout


def test_no_migrate_refuses_an_unmigrated_database_until_migrate_runs(tmp_path: Path) -> None:
    refused = subprocess.run(
        [server_binary(), "--no-migrate", "--listen", "127.0.0.1:0"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert "run `model-registry-server migrate` first" in refused.stderr
    migrated = subprocess.run([server_binary(), "migrate"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert migrated.returncode == 0, migrated.stderr
    server = start_server(tmp_path, "--no-migrate")
    try:
        out = run_readme_command(
            "grpcurl -plaintext 127.0.0.1:50051 modelregistry.v1.RegistryService/ListModels", server
        )
        assert json.loads(out) == {}
    finally:
        server.process.terminate()
        assert server.process.wait(timeout=15) == 0


def test_servers_starting_together_on_a_new_sqlite_file_migrate_it_once(tmp_path: Path) -> None:
    for round_ in range(3):
        workdir = tmp_path / str(round_)
        workdir.mkdir()
        servers = [start_server(workdir, log=f"server-{n}.log", wait=False) for n in range(4)]
        try:
            for n, server in enumerate(servers):
                wait_until_listening(server.address, server.process)
                with RegistryClient(server.address, timeout=20) as client:
                    client.register_model(f"m{n}", algorithm="X", artifact_uri="s3://m")
                assert server.process.poll() is None, (workdir / f"server-{n}.log").read_text()
            with RegistryClient(servers[0].address, timeout=20) as client:
                assert sorted(m.name for m in client.list_models()) == ["m0", "m1", "m2", "m3"]
        finally:
            for server in servers:
                stop_server(server)


def test_two_servers_on_one_sqlite_file_never_serve_a_stale_production_version(tmp_path: Path) -> None:
    first = start_server(tmp_path)
    second = start_server(tmp_path, log="second.log")
    try:
        with RegistryClient(first.address, timeout=10) as writer, RegistryClient(second.address, timeout=10) as reader:
            for n in range(3):
                writer.register_model("churn", algorithm="X", artifact_uri=f"s3://m/{n}")
            for version in (1, 2, 3, 1):
                writer.set_production_model("churn", version, reason="move")
                # Asked twice: the second answer may come from memory, and
                # must still be what the other server just committed.
                assert reader.get_production_model("churn").version == version
                assert reader.get_production_model("churn").version == version
    finally:
        stop_server(second)
        stop_server(first)


def test_hash_token_refuses_guessable_tokens_and_generates_strong_ones(tmp_path: Path) -> None:
    def hash_token(*args: str, token: str = "") -> subprocess.CompletedProcess[str]:
        command = [server_binary(), "hash-token", "--principal", "ci", "--role", "trainer", *args]
        return subprocess.run(command, input=token, capture_output=True, text=True, timeout=30, cwd=tmp_path)

    for weak in ["reader-secret", "t0ken", "correct horse battery"]:
        refused = hash_token(token=weak)
        assert refused.returncode != 0 and not refused.stdout, weak
        assert "at least 128" in refused.stderr and "--generate-to" in refused.stderr
    strong = "9f2c4e8a1b7d3f6e0a5c9b2d4f8e1a3c7b6d0e9f2a4c8b1d5e7f3a6c0b9d2e4f"
    accepted = hash_token(token=strong + "\n")
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout == hashed_token_entry("ci", "trainer", strong)

    generated = hash_token("--generate-to", "ci.token")
    assert generated.returncode == 0, generated.stderr
    token_file = tmp_path / "ci.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    assert len(token) == 43 and token not in generated.stdout + generated.stderr
    assert generated.stdout == hashed_token_entry("ci", "trainer", token)
    again = hash_token("--generate-to", "ci.token")
    assert again.returncode != 0 and token_file.read_text().strip() == token, "an existing token file is kept"
