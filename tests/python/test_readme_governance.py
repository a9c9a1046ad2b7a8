"""The README's governed promotion, replayed as written: tokens made with
`hash-token`, a server started with them, a two-person promotion with
grpcurl and with modelreg (refusals, a freeze and break-glass included)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from conftest import readme_block, readme_commands, start_server, stop_server


def test_a_two_person_promotion_runs_as_written(tmp_path: Path) -> None:
    tokens = readme_block("governance-tokens")
    made = subprocess.run(["bash", "-c", tokens], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    server = start_server(tmp_path, "--auth-tokens", "tokens.toml")
    try:
        outputs = []
        for command in readme_commands("governance-grpcurl"):
            result = subprocess.run(
                ["bash", "-c", command.replace("127.0.0.1:50051", server.address)],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, f"{command}\n{result.stderr}"
            outputs.append(result.stdout)
        request = json.loads(outputs[4])["changeRequest"]
        assert (request["id"], request["state"], request["requester"]) == ("1", "CHANGE_REQUEST_STATE_PENDING", "alice")
        approved = json.loads(outputs[5])["changeRequest"]
        assert (approved["state"], approved["decidedBy"]) == ("CHANGE_REQUEST_STATE_APPLIED", "bob")
        trail = [(e["type"], e["actor"]) for e in json.loads(outputs[6])["events"]]
        assert trail[-3:] == [
            ("EVENT_TYPE_CHANGE_REQUESTED", "alice"),
            ("EVENT_TYPE_CHANGE_APPROVED", "bob"),
            ("EVENT_TYPE_ALIAS_SET", "bob"),
        ]

        shell = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + readme_block("governance-shell")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "MODEL_REGISTRY_URL": f"http://{server.address}"},
        )
        assert shell.returncode == 0, f"{shell.stdout}\n{shell.stderr}"
        out = shell.stdout
        refusals = (
            "refused: production is protected",
            "refused: the requester cannot approve",
            "refused: frozen, even for break-glass",
            "refused: fraud-cards inherits the policy",
        )
        for refusal in refusals:
            assert refusal in out, out
        assert "APPLIED" in out
        assert "quotes@production is frozen" in out
        assert "CHANGE_APPROVED" in out and "ALIAS_FROZEN" in out
        # The family's policy, shown for the model that inherits it and listed.
        assert "fraud-*@production policy revision 1 (set by ops)" in out, out
        assert any(line.split()[:3] == ["fraud-*", "production", "1"] for line in out.splitlines()), out
    finally:
        stop_server(server)
