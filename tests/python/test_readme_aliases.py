"""The README's aliases section, replayed as written against a fresh server:
the canary release with grpcurl, with modelreg and from Python."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import RunningServer, readme_block, readme_commands, run_readme_block, run_readme_command


def test_the_grpcurl_canary_release_runs_as_written(server: RunningServer) -> None:
    outputs = [run_readme_command(command, server) for command in readme_commands("aliases-grpcurl")]
    assert len(outputs) == 8
    canary = json.loads(outputs[4])["modelVersion"]
    assert (canary["version"], canary["aliases"]) == ("2", ["canary"])
    events = json.loads(outputs[5])["events"]
    assert [(e["type"], e["alias"], e["newVersion"], e["reason"]) for e in events] == [
        ("EVENT_TYPE_ALIAS_SET", "canary", "2", "5% traffic")
    ]
    promoted = json.loads(outputs[6])
    assert (promoted["modelVersion"]["version"], promoted["previousVersion"]) == ("2", "1")
    model = json.loads(outputs[7])["model"]
    assert model["aliases"] == {"production": "2", "canary": "2"}
    assert (model["productionVersion"], model["latestVersion"]) == ("2", "2")


def test_the_modelreg_canary_release_runs_as_written(server: RunningServer, tmp_path: Path) -> None:
    result = run_readme_block("aliases-shell", server, tmp_path)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    out = result.stdout
    assert "retention@canary points at version 3 (was version 2)" in out
    assert "retention@canary points at version 2 again (rolled back from version 3)" in out
    assert "retention version 2 is now production (was version 1)" in out
    assert "retention@canary deleted (it pointed at version 2)" in out
    assert "ALIAS_DELETED" in out


def test_the_python_canary_release_runs_as_written(server: RunningServer, tmp_path: Path) -> None:
    code = readme_block("aliases-python", "python").replace("127.0.0.1:50051", server.address)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "canary: version 2 at s3://models/ltv/0.92.pkl" in result.stdout
    assert "aliases: {'production': 2}" in result.stdout
