"""A stand-in registry for the client tests that need a server to misbehave
(refuse with a given code, answer late, speak a newer API)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc

from modelreg_client._generated.modelregistry.v1 import registry_pb2_grpc


@contextmanager
def serving(servicer: registry_pb2_grpc.RegistryServiceServicer) -> Iterator[str]:
    """Serves `servicer` on an ephemeral loopback port; yields its address."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
