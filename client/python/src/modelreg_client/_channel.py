"""How both clients reach the registry: the URL and credentials turned into
channel arguments, the metadata every call carries, and the retry policy
(an overall deadline per call, backoff with jitter while UNAVAILABLE)."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from .errors import ModelRegistryError, error_from_rpc
from .tokens import CommandToken, TokenFile, TokenProvider, provider_of

DEFAULT_TARGET = "127.0.0.1:50051"

# A watch that ends with one of these reconnects and resumes.
RECONNECT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)

# Answered by the server (the error carries its request id) with time left
# on the caller's deadline, these are retried like UNAVAILABLE; a caller's
# own deadline that passed is its decision and is not.
SERVER_GAVE_UP = frozenset({grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED})

Metadata = Mapping[str, str] | Iterable[tuple[str, str]]


def channel_target(url: str) -> tuple[str, bool]:
    """The gRPC target of a registry URL and whether it asks for TLS:
    `https://host:port` (TLS), `http://host:port` or `host:port` (plaintext)."""
    for scheme, secure in (("https://", True), ("http://", False)):
        if url.startswith(scheme):
            address = url[len(scheme) :].rstrip("/")
            if not address or "/" in address:
                raise ValueError(f"{url!r} is not a registry URL like {scheme}host:port")
            return address, secure
    if "://" in url:
        raise ValueError(f"{url!r}: use http://host:port, https://host:port or host:port")
    return url, False


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, and how far apart, a call is retried while the server
    answers UNAVAILABLE."""

    retries: int
    initial_backoff: float
    max_backoff: float

    def delay(self, attempt: int) -> float:
        """A jittered pause before retry number `attempt` (from 0)."""
        ceiling = min(self.max_backoff, self.initial_backoff * (2 ** min(attempt, 16)))
        return random.uniform(0, ceiling)


@dataclass(frozen=True)
class Settings:
    """Everything a client needs to open its channel and make calls."""

    address: str
    credentials: grpc.ChannelCredentials | None
    options: list[tuple[str, Any]]
    compression: grpc.Compression
    metadata: tuple[tuple[str, str], ...]
    timeout: float
    retry: RetryPolicy
    token_provider: TokenProvider | None = field(default=None)

    @classmethod
    def of(
        cls,
        target: str | None,
        *,
        token: str | None,
        token_file: str | os.PathLike[str] | None = None,
        token_provider: TokenProvider | Callable[[], str] | None = None,
        tls: bool,
        root_certificates: bytes | None,
        certificate_chain: bytes | None,
        private_key: bytes | None,
        timeout: float,
        retries: int,
        initial_backoff: float,
        max_backoff: float,
        gzip: bool,
    ) -> Settings:
        """Settings from a client's constructor arguments and the environment
        (`MODEL_REGISTRY_URL`, `MODEL_REGISTRY_TOKEN`, `MODEL_REGISTRY_TOKEN_FILE`,
        `MODEL_REGISTRY_TOKEN_COMMAND`)."""
        address, secure = channel_target(target or os.environ.get("MODEL_REGISTRY_URL") or DEFAULT_TARGET)
        if (certificate_chain is None) != (private_key is None):
            raise ValueError("give both certificate_chain and private_key for a client certificate")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, not {timeout}")
        secure = secure or tls or root_certificates is not None or certificate_chain is not None
        credentials = (
            grpc.ssl_channel_credentials(
                root_certificates=root_certificates, private_key=private_key, certificate_chain=certificate_chain
            )
            if secure
            else None
        )
        given = [name for name, value in [("token", token), ("token_file", token_file), ("token_provider", token_provider)] if value is not None]
        if len(given) > 1:
            raise ValueError(f"give one of token, token_file and token_provider, not both {' and '.join(given)}")
        provider: TokenProvider | None = None
        if token_provider is not None:
            provider = provider_of(token_provider)
        elif token_file is not None:
            provider = TokenFile(token_file)
        elif token is None:
            token = os.environ.get("MODEL_REGISTRY_TOKEN") or None
            if not token and os.environ.get("MODEL_REGISTRY_TOKEN_FILE"):
                provider = TokenFile(os.environ["MODEL_REGISTRY_TOKEN_FILE"])
            elif not token and os.environ.get("MODEL_REGISTRY_TOKEN_COMMAND"):
                provider = CommandToken(os.environ["MODEL_REGISTRY_TOKEN_COMMAND"])
        # The channel's own reconnection backoff (1 s growing to 120 s by
        # default) would fail every retry fast while it waits: it follows the
        # client's retry backoff instead. (Not grpc.min_reconnect_backoff_ms:
        # gRPC core also takes it as the connect timeout.)
        options: list[tuple[str, Any]] = [
            ("grpc.initial_reconnect_backoff_ms", max(1, int(initial_backoff * 1000))),
            ("grpc.max_reconnect_backoff_ms", max(1, int(max_backoff * 1000))),
        ]
        # grpcio offers every algorithm it knows to the server by default, which
        # would have responses compressed for a client that asked for nothing.
        if not gzip:
            options.append(("grpc.compression_enabled_algorithms_bitset", 1))
        return cls(
            address=address,
            credentials=credentials,
            options=options,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            metadata=(("authorization", f"Bearer {token}"),) if token else (),
            timeout=timeout,
            retry=RetryPolicy(retries, initial_backoff, max_backoff),
            token_provider=provider,
        )

    def open_channel(self, kind: Any) -> Any:
        """A channel to the registry: `kind` is `grpc` (blocking) or
        `grpc.aio` (asyncio), which build channels from the same arguments."""
        if self.credentials is not None:
            return kind.secure_channel(self.address, self.credentials, self.options, self.compression)
        return kind.insecure_channel(self.address, self.options, self.compression)

    def call_metadata(self, extra: Metadata | None) -> tuple[tuple[str, str], ...]:
        """The metadata of one call: the client's, then the call's own."""
        metadata = self.metadata
        if self.token_provider is not None:
            metadata = (("authorization", f"Bearer {self.token_provider.current()}"), *metadata)
        if not extra:
            return metadata
        pairs = extra.items() if isinstance(extra, Mapping) else extra
        return metadata + tuple((str(key).lower(), str(value)) for key, value in pairs)


class Attempts:
    """The attempts of one call: what deadline each gets, whether it waits
    for the connection, and what to do after a failure."""

    def __init__(self, policy: RetryPolicy, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, not {timeout}")
        self._policy = policy
        self._deadline = time.monotonic() + timeout
        self._attempt = 0
        self._unavailable: ModelRegistryError | None = None

    def remaining(self) -> float:
        """Seconds left of the call's deadline (which covers every retry)."""
        return max(0.0, self._deadline - time.monotonic())

    def wait_for_ready(self) -> bool | None:
        """A retry waits for the channel to reconnect (within the deadline)
        instead of failing fast on a cached connection error: grpcio before
        1.80 does not reconnect on its own."""
        return True if self._unavailable is not None else None

    def after(self, error: grpc.RpcError) -> float:
        """The pause before retrying after `error`; raises the error a
        caller should see when retrying cannot help."""
        failure = error_from_rpc(error)
        if self._unavailable is not None and failure.code == grpc.StatusCode.DEADLINE_EXCEEDED:
            # Still unreachable when time ran out: that is the cause to report.
            raise self._unavailable from error
        if failure.code == grpc.StatusCode.UNAVAILABLE and self._attempt < self._policy.retries:
            self._unavailable = failure
            pause = min(self._policy.delay(self._attempt), self.remaining())
            self._attempt += 1
            return pause
        if (
            failure.code in SERVER_GAVE_UP
            and failure.request_id is not None
            and self.remaining() > 0
            and self._attempt < self._policy.retries
        ):
            # The server's own deadline (`--request-timeout`) passed, or it
            # gave the call up, before this caller's: the change was not
            # made, or was (a deadline passing during the commit); the same
            # request_id, retried within the caller's time, tells which.
            pause = min(self._policy.delay(self._attempt), self.remaining())
            self._attempt += 1
            return pause
        raise failure from error


class Reconnects:
    """The reconnections of one watch: which endings are retried, and the
    pause before each."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self.failures = 0

    def heard(self) -> None:
        """An update arrived: the connection works, so backoff starts over."""
        self.failures = 0

    def after(self, error: grpc.RpcError | None) -> float:
        """The pause before reconnecting after the stream ended (with `error`,
        or cleanly); raises errors reconnecting cannot fix."""
        if error is not None:
            failure = error_from_rpc(error)
            if failure.code not in RECONNECT_CODES:
                raise failure from error
        pause = self._policy.delay(self.failures)
        self.failures += 1
        return pause
