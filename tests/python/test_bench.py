"""A smoke run of every benchmark scenario (a second or so each): the
scenarios work and report what they promise. Their speed is measured by
hand and recorded in BENCHMARKS.md, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, RunningServer, start_server, stop_server

SCENARIOS = ["get-production", "get-version", "list", "best", "register", "set-alias", "rollback", "watch-fanout", "mixed"]


def bench(server: RunningServer, *args: str) -> dict[str, Any]:
    binary = os.environ.get("MODEL_REGISTRY_BENCH_BIN", str(REPO / "target/debug/model-registry-bench"))
    result = subprocess.run(
        [binary, "--url", f"http://{server.address}", "--duration", "1s", "--requests", "300",
         "--seed-versions", "20", "-o", "json", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_runs_without_errors(server: RunningServer, scenario: str) -> None:
    extra = ["--watchers", "5", "--requests", "10"] if scenario == "watch-fanout" else []
    report = bench(server, "--scenario", scenario, "--concurrency", "4", *extra)
    assert report["scenario"] == scenario
    results = {row["operation"]: row for row in report["results"]}
    assert results, "something was measured"
    for operation, row in results.items():
        assert row["errors"] == {}, f"{operation}: {row['errors']}"
        assert row["calls"] > 0
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
    if scenario == "watch-fanout":
        assert results["delivery"]["calls"] == 5 * 10, "every watcher heard every move"


def test_the_baseline_gives_a_ratio_and_the_server_pid_its_memory(server: RunningServer) -> None:
    report = bench(server, "--scenario", "get-production", "--baseline", "--server-pid", str(server.process.pid))
    assert report["baseline"][0]["operation"] == "GetProductionModel"
    assert 0 < report["ratio_to_baseline"]
    assert report["server_rss_bytes"]["after"] > 1_000_000
    assert report["server_rss_bytes"]["peak"] > 1_000_000
    sequential = bench(server, "--scenario", "get-production", "--sequential", "--requests", "20")
    assert sequential["concurrency"] == 1 and sequential["results"][0]["calls"] == 20
    # Nagle's algorithm on either socket shows as ~40 ms per call (the delayed
    # ACK); a debug build answers a realistically sized version in a few ms.
    assert sequential["results"][0]["p50_ms"] < 20, sequential["results"][0]


def test_scenarios_run_on_postgres_and_over_many_models(tmp_path: Path, postgres_url: str) -> None:
    server = start_server(tmp_path, "--database-url", postgres_url)
    try:
        for scenario in ["get-production", "list", "rollback"]:
            report = bench(server, "--scenario", scenario)
            assert all(row["errors"] == {} for row in report["results"]), report
        spread = bench(server, "--scenario", "register", "--models", "4", "--payload", "large")
        assert spread["results"][0]["calls"] > 0 and spread["payload"] == "large"
    finally:
        stop_server(server)


def test_webhook_lag_times_every_event_from_commit_to_its_receiver(tmp_path: Path) -> None:
    server = start_server(tmp_path, "--webhook-allow-http", "--webhook-allow-private-destinations")
    try:
        report = bench(
            server, "--scenario", "webhook-lag", "--events-per-second", "50", "--burst", "100"
        )
        for phase, written in (("steady", None), ("burst_phase", 100)):
            writes = report[phase]["writes"][0]
            deliveries = report[phase]["deliveries"][0]
            assert writes["errors"] == {} and deliveries["errors"] == {}, report[phase]
            assert deliveries["calls"] == writes["calls"] == (written or writes["calls"]) > 0
            assert 0 <= deliveries["p50_ms"] <= deliveries["p99_ms"] <= deliveries["max_ms"]
            assert report[phase]["drain_seconds"] >= report[phase]["write_seconds"]
    finally:
        stop_server(server)
