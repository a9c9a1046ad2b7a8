"""Governed promotion from Python, blocking and asyncio: an admin protects
production, one deployer asks, the requester cannot approve, another
deployer's approval moves it; rejections, cancellations, listings and
freezes, against the real server with a tokens file."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RunningServer, start_server, stop_server, write_tokens_file

from modelreg_client import (
    AsyncRegistryClient,
    ChangeRequestState,
    EventType,
    FailedPrecondition,
    PermissionDenied,
    RegistryClient,
)


@pytest.fixture
def governed(tmp_path: Path) -> Iterator[RunningServer]:
    tokens = write_tokens_file(
        tmp_path,
        ("ops", "admin", "ops-token"),
        ("alice", "deployer", "alice-token"),
        ("bob", "deployer", "bob-token"),
        ("ci", "trainer", "ci-token"),
    )
    server = start_server(tmp_path, "--auth-tokens", str(tokens))
    try:
        yield server
    finally:
        stop_server(server)


def client(server: RunningServer, name: str) -> RegistryClient:
    return RegistryClient(server.address, token=f"{name}-token", timeout=10)


def test_a_two_person_promotion_from_python(governed: RunningServer) -> None:
    with (
        client(governed, "ops") as ops,
        client(governed, "alice") as alice,
        client(governed, "bob") as bob,
        client(governed, "ci") as ci,
    ):
        for auc in (0.81, 0.86, 0.87):
            ci.register_model("churn", algorithm="XGBoost", artifact_uri="s3://m/churn.pkl", metrics={"auc": auc})
        ops.set_production_model("churn", 1, "first")
        policy = ops.set_alias_policy("churn", "production", "release process", protected=True, gate_metric="auc")
        assert (policy.revision, policy.protected, policy.required_approvals) == (1, True, 1)
        assert ops.get_alias_policy("churn", "production") == policy

        with pytest.raises(FailedPrecondition, match="protected"):
            alice.set_production_model("churn", 2, "skip review")
        with pytest.raises(PermissionDenied, match="admin"):
            alice.set_production_model("churn", 2, "skip review", emergency=True)
        request = alice.request_alias_change("churn", "production", 2, "better auc")
        assert (request.state, request.from_version, request.requester) == (ChangeRequestState.PENDING, 1, "alice")
        with pytest.raises(PermissionDenied, match="two-person"):
            alice.approve_change_request(request.id, "mine")
        applied = bob.approve_change_request(request.id, "checked")
        assert (applied.state, applied.approvers, applied.decided_by) == (ChangeRequestState.APPLIED, ["bob"], "bob")
        assert bob.get_production_model("churn").version == 2

        newer = alice.request_alias_change("churn", "production", 3, "newer")
        rejected = bob.reject_change_request(newer.id, "not yet")
        assert (rejected.state, rejected.decision_note) == (ChangeRequestState.REJECTED, "not yet")
        cancelled = alice.cancel_change_request(alice.request_alias_change("churn", "production", 3, "again").id)
        assert cancelled.state == ChangeRequestState.CANCELLED
        states = [r.state for r in ops.list_change_requests("churn", requester="alice", page_size=1)]
        assert states == [ChangeRequestState.CANCELLED, ChangeRequestState.REJECTED, ChangeRequestState.APPLIED]
        assert ops.get_change_request(request.id).state == ChangeRequestState.APPLIED

        ops.set_production_model("churn", 3, "incident 8", emergency=True)
        ops.rollback_production_model("churn", "incident 8 over", emergency=True)
        assert [e.emergency for e in ops.list_events("churn", alias="production")][-2:] == [True, True]
        ops.freeze_alias("churn", "production", "incident 9")
        with pytest.raises(FailedPrecondition, match="incident 9"):
            ops.set_production_model("churn", 3, "hotfix")
        ops.unfreeze_alias("churn", "production", "over")
        ops.freeze_version("churn", 1, "audit")
        with pytest.raises(FailedPrecondition, match="audit"):
            ops.deprecate("churn", 1, "old")
        ops.unfreeze_version("churn", 1, "done")
        assert ops.delete_alias_policy("churn", "production", "done") == 1

        trail = list(ops.list_events("churn"))
        moved = [e for e in trail if e.type == EventType.ALIAS_SET and e.change_request_id == request.id]
        assert [(e.actor, e.new_version) for e in moved] == [("bob", 2)]


def test_the_async_client_decides_requests_too(governed: RunningServer) -> None:
    async def scenario() -> None:
        def connect(name: str) -> AsyncRegistryClient:
            return AsyncRegistryClient(f"http://{governed.address}", token=f"{name}-token", timeout=10)

        async with connect("ops") as ops, connect("alice") as alice, connect("bob") as bob, connect("ci") as ci:
            for auc in (0.81, 0.86):
                await ci.register_model("fraud", algorithm="XGBoost", artifact_uri="s3://m/f.pkl", metrics={"auc": auc})
            await ops.set_alias_policy("fraud", "production", "two approvals", protected=True, required_approvals=2)
            made = await alice.request_alias_change("fraud", "production", 2, "first release")
            first = await bob.approve_change_request(made.id, "ok")
            assert (first.state, first.required_approvals) == (ChangeRequestState.PENDING, 2)
            applied = await ops.approve_change_request(made.id, "ok too")
            assert applied.state == ChangeRequestState.APPLIED
            pending = [r async for r in ops.list_change_requests(state=ChangeRequestState.PENDING)]
            assert pending == []

    asyncio.run(scenario())


def test_a_policy_set_on_a_prefix_governs_the_family_from_python(governed: RunningServer) -> None:
    with client(governed, "ops") as ops, client(governed, "alice") as alice, client(governed, "ci") as ci:
        ci.register_model("fraud-cards", algorithm="XGBoost", artifact_uri="s3://m/c.pkl", metrics={"auc": 0.8})
        family = ops.set_alias_policy("", "production", "every fraud model", model_prefix="fraud-", protected=True)
        assert (family.model_name, family.model_prefix, family.revision) == ("", "fraud-", 1)
        # Registered after the policy: governed all the same.
        ci.register_model("fraud-wire", algorithm="XGBoost", artifact_uri="s3://m/w.pkl", metrics={"auc": 0.8})
        for model in ("fraud-cards", "fraud-wire"):
            with pytest.raises(FailedPrecondition, match='inherited from prefix "fraud-"'):
                alice.set_production_model(model, 1, "skip review")
            assert alice.get_alias_policy(model, "production").model_prefix == "fraud-"
        assert ops.get_alias_policy("", "production", model_prefix="fraud-") == family
        trail = [e for e in ops.list_events(types=[EventType.ALIAS_POLICY_SET]) if e.model_prefix]
        assert [(e.model_name, e.model_prefix, e.actor) for e in trail] == [("", "fraud-", "ops")]
        assert ops.delete_alias_policy("", "production", "family rules end", model_prefix="fraud-") == 1
        alice.set_production_model("fraud-wire", 1, "moves freely again")


def test_the_async_client_sets_prefix_policies_too(governed: RunningServer) -> None:
    async def scenario() -> None:
        async with AsyncRegistryClient(f"http://{governed.address}", token="ops-token", timeout=10) as ops:
            set_ = await ops.set_alias_policy("", "canary", "canaries reviewed", model_prefix="risk-", protected=True)
            read = await ops.get_alias_policy("", "canary", model_prefix="risk-")
            assert (read.model_prefix, read.revision) == ("risk-", set_.revision)
            assert await ops.delete_alias_policy("", "canary", "no longer", model_prefix="risk-") == 1

    asyncio.run(scenario())
