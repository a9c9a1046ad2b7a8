"""Lazy listings, per-call deadlines and metadata, and the asyncio client,
against the real server (and stand-ins where a server must misbehave)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from conftest import RunningServer, readme_block
from stand_in import serving

from modelreg_client import (
    AsyncPager,
    AsyncRegistryClient,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    Pager,
    RegistryClient,
)
from modelreg_client._generated.modelregistry.v1 import registry_pb2, registry_pb2_grpc


@pytest.fixture
def registry(server: RunningServer) -> Iterator[RegistryClient]:
    with RegistryClient(server.address, timeout=10) as client:
        yield client


def register(registry: RegistryClient, model: str, count: int) -> None:
    for n in range(count):
        registry.register_model(model, algorithm="X", artifact_uri=f"s3://{model}/{n}", metrics={"auc": 0.5 + n / 100})


def test_a_listing_fetches_one_page_per_call_as_it_is_iterated(registry: RegistryClient) -> None:
    register(registry, "churn", 5)
    pager = registry.list_model_versions("churn", page_size=2)
    assert isinstance(pager, Pager)
    assert [[v.version for v in page] for page in pager.pages] == [[1, 2], [3, 4], [5]]
    # Iterating again starts over; a limit stops early, mid-page.
    assert [v.version for v in pager] == [1, 2, 3, 4, 5]
    limited = registry.list_model_versions("churn", page_size=2, limit=3)
    assert [len(page) for page in limited.pages] == [2, 1]
    # Pages are fetched when reached: a version registered after the first
    # page was read still shows up on a later page.
    pages = registry.list_model_versions("churn", page_size=3).pages
    assert [v.version for v in next(pages)] == [1, 2, 3]
    register(registry, "churn", 1)
    assert [v.version for v in next(pages)] == [4, 5, 6]
    with pytest.raises(ValueError, match="page_size"):
        registry.list_models(page_size=0)


def test_listings_of_models_and_events_are_lazy_too(registry: RegistryClient) -> None:
    for model in ("a-model", "b-model", "c-model"):
        register(registry, model, 1)
    assert [[m.name for m in page] for page in registry.list_models(page_size=2).pages] == [
        ["a-model", "b-model"],
        ["c-model"],
    ]
    assert len(list(registry.list_events(page_size=1, limit=4))) == 4


class _Stand_in(registry_pb2_grpc.RegistryServiceServicer):
    """GetModel answers with the caller's `x-team` metadata as the model's
    description; GetModelVersion takes two seconds."""

    def GetModel(self, request: registry_pb2.GetModelRequest, context: grpc.ServicerContext) -> registry_pb2.GetModelResponse:
        team = dict(context.invocation_metadata()).get("x-team", "")
        return registry_pb2.GetModelResponse(model=registry_pb2.Model(name=request.model_name, description=str(team)))

    def GetModelVersion(
        self, request: registry_pb2.GetModelVersionRequest, context: grpc.ServicerContext
    ) -> registry_pb2.GetModelVersionResponse:
        threading.Event().wait(2)
        return registry_pb2.GetModelVersionResponse()


@pytest.fixture
def stand_in() -> Iterator[str]:
    with serving(_Stand_in()) as address:
        yield address


def test_each_call_may_carry_its_own_deadline_and_metadata(stand_in: str) -> None:
    with RegistryClient(stand_in, timeout=30) as client:
        assert client.get_model("churn", metadata={"x-team": "growth"}).description == "growth"
        assert client.get_model("churn", metadata=[("x-team", "risk")]).description == "risk"
        assert client.get_model("churn").description == ""
        began = time.monotonic()
        with pytest.raises(DeadlineExceeded) as raised:
            client.get_model_version("churn", 1, timeout=0.3)
        assert time.monotonic() - began < 1.9, "the call's own deadline, not the client's 30 s"
        assert isinstance(raised.value.__cause__, grpc.RpcError)


def test_the_deadline_covers_every_retry(tmp_path: Path) -> None:
    # Nothing listens: UNAVAILABLE, retried with backoff until the deadline.
    with RegistryClient("127.0.0.1:9", retries=1000, initial_backoff=0.05, max_backoff=0.1) as client:
        began = time.monotonic()
        with pytest.raises(Exception) as raised:
            client.get_model("churn", timeout=1.0)
        assert time.monotonic() - began < 3, "a thousand retries still end at the deadline"
    assert type(raised.value).__name__ == "Unavailable", "the cause, not the deadline, is reported"


def test_the_async_client_has_the_same_surface_records_and_errors(server: RunningServer) -> None:
    async def scenario() -> None:
        async with AsyncRegistryClient(f"http://{server.address}", timeout=10) as registry:
            first = await registry.register_model("churn", algorithm="X", artifact_uri="s3://1", metrics={"auc": 0.8})
            second = await registry.register_model("churn", algorithm="X", artifact_uri="s3://2", metrics={"auc": 0.9})
            await registry.set_production_model("churn", first.version, reason="first")
            updates = registry.watch_alias("churn", "production")
            assert (await anext(updates)).model_version.version == 1  # type: ignore[union-attr]
            change = await registry.set_alias("churn", "production", second.version, reason="better", expected_current_version=1)
            assert change.previous_version == 1
            moved = await anext(updates)
            assert moved.model_version.version == 2 and moved.event is not None  # type: ignore[union-attr]
            await updates.aclose()

            pager = registry.list_model_versions("churn", order_by="auc", descending=True, page_size=1)
            assert isinstance(pager, AsyncPager)
            assert [v.version for v in await pager.collect()] == [2, 1]
            assert [len(page) async for page in pager.pages] == [1, 1]
            best, value = await registry.get_best_model_version("churn", "auc")
            assert (best.version, value) == (2, 0.9)
            assert (await registry.rollback_production_model("churn", reason="undo")).model_version.version == 1
            assert [m.name async for m in registry.list_models()] == ["churn"]
            with pytest.raises(NotFound, match="has no version 9"):
                await registry.get_model_version("churn", 9)
            with pytest.raises(InvalidArgument) as invalid:
                await registry.register_model("Bad Name", algorithm="X", artifact_uri="s3://x")
            assert invalid.value.field_violations[0].field == "model_name"
            assert invalid.value.request_id

    asyncio.run(scenario())


def test_the_async_client_retries_within_its_deadline(stand_in: str) -> None:
    async def scenario() -> None:
        async with AsyncRegistryClient(stand_in) as registry:
            assert (await registry.get_model("churn", metadata={"x-team": "ml"})).description == "ml"
            with pytest.raises(DeadlineExceeded):
                await registry.get_model_version("churn", 1, timeout=0.3)

    asyncio.run(scenario())


def test_the_readme_async_example_runs_as_written(server: RunningServer, tmp_path: Path) -> None:
    code = readme_block("python-async", "python").replace("127.0.0.1:50051", server.address)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "production is version 1",
        "production moved to version 2",
        "version 2: auc 0.91",
        "version 1: auc 0.88",
    ]
