"""A token file is read again when it changes: a long-running client (a
Kubernetes deployer with a projected service-account token, rotated in
place) uses the new token from its next call, blocking and asyncio alike."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from conftest import start_server, stop_server, write_tokens_file

from modelreg_client import AsyncRegistryClient, PermissionDenied, RegistryClient

READER = "a-reader-token-from-the-platform"
# The same length as READER: a rotation within one timestamp tick keeps the
# file's size and may keep its mtime; the client must still see it.
TRAINER = "a-trainer-token-rotated-in-later"


def test_a_rotated_token_file_is_used_from_the_next_call(tmp_path: Path) -> None:
    tokens = write_tokens_file(tmp_path, ("dashboards", "reader", READER), ("ci", "trainer", TRAINER))
    server = start_server(tmp_path, "--auth-tokens", str(tokens))
    token_file = tmp_path / "token"
    try:
        token_file.write_text(READER + "\n")
        with RegistryClient(f"http://{server.address}", token_file=token_file) as registry:
            with pytest.raises(PermissionDenied):
                registry.register_model("churn", algorithm="X", artifact_uri="s3://c/1")
            token_file.write_text(TRAINER + "\n")  # rewritten in place, at once
            assert registry.register_model("churn", algorithm="X", artifact_uri="s3://c/1").version == 1
            token_file.unlink()  # mid-rotation: the last token read is used
            assert registry.get_model("churn").version_count == 1

        async def rotate_under_an_async_client() -> None:
            token_file.write_text(READER)
            async with AsyncRegistryClient(f"http://{server.address}", token_file=str(token_file)) as registry:
                with pytest.raises(PermissionDenied):
                    await registry.register_model("churn", algorithm="X", artifact_uri="s3://c/2")
                token_file.write_text(TRAINER)
                assert (await registry.register_model("churn", algorithm="X", artifact_uri="s3://c/2")).version == 2

        asyncio.run(rotate_under_an_async_client())
    finally:
        stop_server(server)


def test_a_token_file_is_checked_when_the_client_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        RegistryClient("127.0.0.1:9", token_file=empty)
    with pytest.raises(FileNotFoundError):
        RegistryClient("127.0.0.1:9", token_file=tmp_path / "missing")
    with pytest.raises(ValueError, match="not both"):
        RegistryClient("127.0.0.1:9", token="x", token_file=empty)
    # The environment names the file when no token is given.
    token_file = tmp_path / "token"
    token_file.write_text(READER)
    monkeypatch.delenv("MODEL_REGISTRY_TOKEN", raising=False)
    monkeypatch.setenv("MODEL_REGISTRY_TOKEN_FILE", os.fspath(token_file))
    with RegistryClient("127.0.0.1:9") as registry:
        assert registry._settings.call_metadata(None) == (("authorization", f"Bearer {READER}"),)
