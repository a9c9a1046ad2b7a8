"""`RegistryClient`: snake_case methods for every RPC of the Model Registry,
returning plain records, raising one exception class per gRPC code, and
retrying safe calls while the server is UNAVAILABLE."""

from __future__ import annotations

import hashlib
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, TypeVar

import grpc

from ._generated.modelregistry.v1 import registry_pb2 as pb
from ._generated.modelregistry.v1 import registry_pb2_grpc as pb_grpc
from .errors import ModelRegistryError, error_from_rpc
from .records import (
    AliasChange,
    AliasUpdate,
    Event,
    EventType,
    Model,
    ModelVersion,
    Status,
    Training,
    dict_to_struct,
    to_timestamp,
)

Request = TypeVar("Request")
Response = TypeVar("Response")
Item = TypeVar("Item")


class _Paged(Protocol):
    """A list request: it carries the token of the page it asks for."""

    page_token: str


class _Page(Protocol):
    """A list response: it carries the token of the next page."""

    @property
    def next_page_token(self) -> str: ...


PageRequest = TypeVar("PageRequest", bound=_Paged)
PageResponse = TypeVar("PageResponse", bound=_Page)

_ORDERS = {
    "version": pb.VERSION_ORDER_VERSION,
    "trained": pb.VERSION_ORDER_TRAINED_AT,
    "created": pb.VERSION_ORDER_CREATED_AT,
}


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The SHA-256 (hex) and size in bytes of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as artifact:
        for chunk in iter(lambda: artifact.read(1 << 16), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


DEFAULT_TARGET = "127.0.0.1:50051"


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


# A watch that ends with one of these reconnects and resumes.
_RECONNECT_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)


def _channel_options(gzip: bool) -> list[tuple[str, Any]]:
    # grpcio offers every algorithm it knows to the server by default, which
    # would have responses compressed for a client that asked for nothing.
    return [] if gzip else [("grpc.compression_enabled_algorithms_bitset", 1)]


def _compression(gzip: bool) -> grpc.Compression:
    return grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression


def _new_request_id() -> str:
    """A fresh idempotency key for one change; its retries reuse it, so the
    server applies the change at most once."""
    return str(uuid.uuid4())


class RegistryClient:
    """A client of the Model Registry.

    Use it as a context manager (or call `close()`):

        with RegistryClient("http://127.0.0.1:50051") as registry:
            registry.get_production_model("churn")

    `target` is `http://host:port`, `https://host:port` or `host:port`
    (default: `$MODEL_REGISTRY_URL`, else 127.0.0.1:50051). `token` (default
    `$MODEL_REGISTRY_TOKEN`) is sent as a bearer token. TLS is used for
    `https://` URLs, or when `tls`, `root_certificates` or a client
    certificate is given; without `root_certificates` the system's roots are
    trusted. `certificate_chain` and `private_key` (PEM bytes) present a
    client certificate (mutual TLS). `timeout` bounds each call in seconds.
    Every call is retried up to `retries` times with exponential backoff and
    jitter while the server answers UNAVAILABLE: reads because they are
    safe, changes because each carries a fresh `request_id` that its retries
    reuse, so the server applies it at most once. `gzip` compresses
    requests and accepts compressed responses (worth it for large
    registrations and listings over slow links; off by default, since it
    costs CPU on both sides).
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        initial_backoff: float = 0.1,
        max_backoff: float = 2.0,
        gzip: bool = False,
    ) -> None:
        address, secure = channel_target(target or os.environ.get("MODEL_REGISTRY_URL") or DEFAULT_TARGET)
        if (certificate_chain is None) != (private_key is None):
            raise ValueError("give both certificate_chain and private_key for a client certificate")
        secure = secure or tls or root_certificates is not None or certificate_chain is not None
        if secure:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=root_certificates, private_key=private_key, certificate_chain=certificate_chain
            )
            self._channel = grpc.secure_channel(address, credentials, _channel_options(gzip), _compression(gzip))
        else:
            self._channel = grpc.insecure_channel(address, _channel_options(gzip), _compression(gzip))
        self._stub = pb_grpc.RegistryServiceStub(self._channel)
        token = token if token is not None else os.environ.get("MODEL_REGISTRY_TOKEN")
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        self._timeout = timeout
        self._retries = retries
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes the connection."""
        self._channel.close()

    # Registration -----------------------------------------------------------

    def register_model(
        self,
        model_name: str,
        *,
        algorithm: str,
        artifact_path: str | os.PathLike[str] | None = None,
        artifact_uri: str | None = None,
        metadata_uri: str = "",
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        training: Training | None = None,
        metadata: Mapping[str, Any] | None = None,
        description: str = "",
        request_id: str | None = None,
    ) -> ModelVersion:
        """Registers a new version of `model_name` and returns it.

        With `artifact_path` (a local file) its absolute path, SHA-256 and size
        are recorded; `artifact_uri` records a remote location as is. A
        `request_id` is generated unless given: a retried call returns the
        version the first call registered. Parameter values are stored as
        strings.
        """
        if (artifact_path is None) == (artifact_uri is None):
            raise ValueError("give exactly one of artifact_path and artifact_uri")
        if artifact_path is not None:
            sha256, size_bytes = file_digest(artifact_path)
            artifact = pb.Artifact(
                uri=os.path.abspath(artifact_path), metadata_uri=metadata_uri, sha256=sha256, size_bytes=size_bytes
            )
        else:
            artifact = pb.Artifact(uri=str(artifact_uri), metadata_uri=metadata_uri)
        request = pb.RegisterModelRequest(
            model_name=model_name,
            algorithm=algorithm,
            artifact=artifact,
            metrics=dict(metrics or {}),
            params={key: str(value) for key, value in (params or {}).items()},
            tags=dict(tags or {}),
            description=description,
            request_id=request_id or _new_request_id(),
        )
        if training is not None:
            request.training.CopyFrom(training.to_proto())
        if metadata:
            request.metadata.CopyFrom(dict_to_struct(dict(metadata)))
        response = self._call(self._stub.RegisterModel, request, retry=True)
        return ModelVersion.from_proto(response.model_version)

    # Reads ---------------------------------------------------------------------

    def get_model_version(self, model_name: str, version: int) -> ModelVersion:
        """Version `version` of `model_name`."""
        request = pb.GetModelVersionRequest(model_name=model_name, version=version)
        return ModelVersion.from_proto(self._call(self._stub.GetModelVersion, request, retry=True).model_version)

    def get_model_version_by_id(self, version_id: str) -> ModelVersion:
        """The version with this id."""
        request = pb.GetModelVersionRequest(id=version_id)
        return ModelVersion.from_proto(self._call(self._stub.GetModelVersion, request, retry=True).model_version)

    def get_production_model(self, model_name: str, as_of: datetime | None = None) -> ModelVersion:
        """The production version of `model_name` (at `as_of`, if given); raises
        `NotFound` when there is none."""
        request = pb.GetProductionModelRequest(model_name=model_name)
        if as_of is not None:
            request.as_of.CopyFrom(to_timestamp(as_of))
        return ModelVersion.from_proto(self._call(self._stub.GetProductionModel, request, retry=True).model_version)

    def get_version_by_alias(self, model_name: str, alias: str, as_of: datetime | None = None) -> ModelVersion:
        """The version `alias` of `model_name` points at (at `as_of`, if given).

        `latest` is the highest ACTIVE version. Raises `NotFound` when the
        alias points nowhere.
        """
        request = pb.GetModelVersionByAliasRequest(model_name=model_name, alias=alias)
        if as_of is not None:
            request.as_of.CopyFrom(to_timestamp(as_of))
        response = self._call(self._stub.GetModelVersionByAlias, request, retry=True)
        return ModelVersion.from_proto(response.model_version)

    def list_model_versions(
        self,
        model_name: str = "",
        *,
        statuses: Iterable[Status] = (),
        algorithm: str = "",
        tags: Mapping[str, str] | None = None,
        min_metrics: Mapping[str, float] | None = None,
        trained_after: datetime | None = None,
        trained_before: datetime | None = None,
        production_only: bool = False,
        aliases: Iterable[str] = (),
        any_alias: bool = False,
        order_by: str = "version",
        descending: bool = False,
        limit: int | None = None,
    ) -> list[ModelVersion]:
        """Versions matching every filter, following pages up to `limit`.

        `aliases` keeps versions holding at least one of these aliases;
        `any_alias` keeps versions holding any alias. `order_by` is `version`,
        `trained`, `created`, or a metric name (versions without that metric,
        or without a training time, are left out).
        """
        request = pb.ListModelVersionsRequest(
            model_name=model_name,
            statuses=[status.to_proto() for status in statuses],
            algorithm=algorithm,
            tags=dict(tags or {}),
            min_metrics=dict(min_metrics or {}),
            production_only=production_only,
            aliases=list(aliases),
            any_alias=any_alias,
            descending=descending,
            page_size=min(limit or 500, 500),
        )
        if order_by in _ORDERS:
            request.order_by = _ORDERS[order_by]
        else:
            request.order_by = pb.VERSION_ORDER_METRIC
            request.order_metric = order_by
        if trained_after is not None:
            request.trained_after.CopyFrom(to_timestamp(trained_after))
        if trained_before is not None:
            request.trained_before.CopyFrom(to_timestamp(trained_before))
        return self._collect(
            self._stub.ListModelVersions, request, lambda page: map(ModelVersion.from_proto, page.model_versions), limit
        )

    def get_best_model_version(
        self, model_name: str, metric: str, *, lowest: bool = False, statuses: Iterable[Status] = ()
    ) -> tuple[ModelVersion, float]:
        """The version with the highest (or lowest) `metric`, among ACTIVE versions
        unless `statuses` says otherwise, and its value."""
        request = pb.GetBestModelVersionRequest(
            model_name=model_name, metric=metric, lowest=lowest, statuses=[s.to_proto() for s in statuses]
        )
        response = self._call(self._stub.GetBestModelVersion, request, retry=True)
        return ModelVersion.from_proto(response.model_version), response.value

    def list_models(self, name_prefix: str = "") -> list[Model]:
        """Every registered model (whose name starts with `name_prefix`), by name."""
        request = pb.ListModelsRequest(name_prefix=name_prefix, page_size=500)
        return self._collect(self._stub.ListModels, request, lambda page: map(Model.from_proto, page.models), None)

    def get_model(self, model_name: str) -> Model:
        """One model with its aliases and version count."""
        request = pb.GetModelRequest(model_name=model_name)
        return Model.from_proto(self._call(self._stub.GetModel, request, retry=True).model)

    def list_events(
        self,
        model_name: str = "",
        *,
        version: int | None = None,
        alias: str = "",
        types: Iterable[EventType] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The audit trail, oldest first, following pages up to `limit`."""
        request = pb.ListEventsRequest(
            model_name=model_name, alias=alias, types=[t.to_proto() for t in types], page_size=min(limit or 500, 500)
        )
        if version is not None:
            request.version = version
        if since is not None:
            request.since.CopyFrom(to_timestamp(since))
        if until is not None:
            request.until.CopyFrom(to_timestamp(until))
        return self._collect(self._stub.ListEvents, request, lambda page: map(Event.from_proto, page.events), limit)

    # Following changes -------------------------------------------------------------

    def watch_alias(self, model_name: str, alias: str = "production", *, after_event_id: int = 0) -> Iterator[AliasUpdate]:
        """Follows `alias` of `model_name`: yields the current state first,
        then one update per change, as it happens, forever.

        While the registry is unreachable (or a replica shuts down) the watch
        reconnects with backoff and resumes after the last event it yielded,
        so no change is missed. Errors retrying cannot fix (NotFound,
        PermissionDenied ...) are raised. Stop by breaking out of the loop
        (or Ctrl-C).
        """
        request = pb.WatchModelAliasRequest(model_name=model_name, alias=alias, after_event_id=after_event_id)
        failures = 0
        while True:
            call = self._stub.WatchModelAlias(request, metadata=self._metadata)
            try:
                for message in call:
                    failures = 0
                    request.after_event_id = max(request.after_event_id, message.event_id)
                    yield AliasUpdate.from_proto(message)
            except grpc.RpcError as error:
                failure = error_from_rpc(error)
                if failure.code not in _RECONNECT_CODES:
                    raise failure from error
            finally:
                # A caller that stops iterating closes the stream on the server now, not at GC.
                call.cancel()
            ceiling = min(self._max_backoff, self._initial_backoff * (2 ** min(failures, 16)))
            time.sleep(random.uniform(0, ceiling))
            failures += 1

    # Changes ---------------------------------------------------------------------

    def set_alias(
        self,
        model_name: str,
        alias: str,
        version: int,
        reason: str,
        *,
        expected_current_version: int | None = None,
        gate_metric: str = "",
        gate_min_delta: float = 0.0,
        gate_lower_is_better: bool = False,
        request_id: str | None = None,
    ) -> AliasChange:
        """Points `alias` of `model_name` at `version`, atomically.

        `expected_current_version` is a compare-and-set (0: only if the alias
        does not exist yet): on mismatch `Aborted` is raised. With
        `gate_metric`, the candidate must beat the alias's current version on
        that metric by `gate_min_delta` or `FailedPrecondition` is raised.
        """
        request = pb.SetModelAliasRequest(
            model_name=model_name,
            alias=alias,
            version=version,
            reason=reason,
            gate_metric=gate_metric,
            gate_min_delta=gate_min_delta,
            gate_lower_is_better=gate_lower_is_better,
            request_id=request_id or _new_request_id(),
        )
        if expected_current_version is not None:
            request.expected_current_version = expected_current_version
        response = self._call(self._stub.SetModelAlias, request, retry=True)
        return AliasChange(
            model_version=ModelVersion.from_proto(response.model_version),
            previous_version=response.previous_version if response.HasField("previous_version") else None,
            unchanged=response.unchanged,
        )

    def delete_alias(
        self,
        model_name: str,
        alias: str,
        reason: str,
        *,
        expected_current_version: int | None = None,
        request_id: str | None = None,
    ) -> int:
        """Removes `alias` from `model_name`; returns the version it pointed at."""
        request = pb.DeleteModelAliasRequest(
            model_name=model_name, alias=alias, reason=reason, request_id=request_id or _new_request_id()
        )
        if expected_current_version is not None:
            request.expected_current_version = expected_current_version
        return self._call(self._stub.DeleteModelAlias, request, retry=True).previous_version

    def rollback_alias(
        self,
        model_name: str,
        alias: str,
        reason: str,
        *,
        expected_current_version: int | None = None,
        request_id: str | None = None,
    ) -> AliasChange:
        """Returns `alias` to the version it pointed at before the current one;
        repeated rollbacks walk further back through that alias's history.
        Retries reuse one request id, so a retried rollback never rolls back
        twice."""
        request = pb.RollbackModelAliasRequest(
            model_name=model_name, alias=alias, reason=reason, request_id=request_id or _new_request_id()
        )
        if expected_current_version is not None:
            request.expected_current_version = expected_current_version
        response = self._call(self._stub.RollbackModelAlias, request, retry=True)
        return AliasChange(
            model_version=ModelVersion.from_proto(response.model_version),
            previous_version=response.rolled_back_version,
        )

    def set_production_model(
        self,
        model_name: str,
        version: int,
        reason: str,
        *,
        expected_current_version: int | None = None,
        gate_metric: str = "",
        gate_min_delta: float = 0.0,
        gate_lower_is_better: bool = False,
    ) -> AliasChange:
        """Makes `version` production: `set_alias` with the alias `production`."""
        return self.set_alias(
            model_name,
            "production",
            version,
            reason,
            expected_current_version=expected_current_version,
            gate_metric=gate_metric,
            gate_min_delta=gate_min_delta,
            gate_lower_is_better=gate_lower_is_better,
        )

    def rollback_production_model(
        self, model_name: str, reason: str, *, expected_current_version: int | None = None
    ) -> AliasChange:
        """Returns production to the version that held it before the current one."""
        return self.rollback_alias(
            model_name, "production", reason, expected_current_version=expected_current_version
        )

    def update_model(
        self,
        model_name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        remove_tags: Iterable[str] = (),
        reason: str = "",
    ) -> Model:
        """Changes the model's description and tags (`tags` are added or
        overwritten, `remove_tags` removed)."""
        request = pb.UpdateModelRequest(
            model_name=model_name,
            tags=dict(tags or {}),
            remove_tags=list(remove_tags),
            reason=reason,
            request_id=_new_request_id(),
        )
        if description is not None:
            request.description = description
        return Model.from_proto(self._call(self._stub.UpdateModel, request, retry=True).model)

    def update_model_version_status(self, model_name: str, version: int, status: Status, reason: str) -> ModelVersion:
        """Moves a version to `status` through the status machine."""
        request = pb.UpdateModelVersionStatusRequest(
            model_name=model_name,
            version=version,
            status=status.to_proto(),
            reason=reason,
            request_id=_new_request_id(),
        )
        return ModelVersion.from_proto(
            self._call(self._stub.UpdateModelVersionStatus, request, retry=True).model_version
        )

    def deprecate(self, model_name: str, version: int, reason: str) -> ModelVersion:
        """Marks a version DEPRECATED."""
        return self.update_model_version_status(model_name, version, Status.DEPRECATED, reason)

    def archive(self, model_name: str, version: int, reason: str) -> ModelVersion:
        """Marks a version ARCHIVED (final)."""
        return self.update_model_version_status(model_name, version, Status.ARCHIVED, reason)

    def reinstate(self, model_name: str, version: int, reason: str) -> ModelVersion:
        """Makes a DEPRECATED version ACTIVE again."""
        return self.update_model_version_status(model_name, version, Status.ACTIVE, reason)

    def update_model_version(
        self,
        model_name: str,
        version: int,
        *,
        description: str | None = None,
        set_tags: Mapping[str, str] | None = None,
        remove_tags: Iterable[str] = (),
        reason: str = "",
    ) -> ModelVersion:
        """Changes a version's description and tags (nothing else is mutable)."""
        request = pb.UpdateModelVersionRequest(
            model_name=model_name,
            version=version,
            set_tags=dict(set_tags or {}),
            remove_tags=list(remove_tags),
            reason=reason,
            request_id=_new_request_id(),
        )
        if description is not None:
            request.description = description
        return ModelVersion.from_proto(self._call(self._stub.UpdateModelVersion, request, retry=True).model_version)

    # Plumbing ----------------------------------------------------------------------

    def _collect(
        self,
        method: grpc.UnaryUnaryMultiCallable[PageRequest, PageResponse],
        request: PageRequest,
        items: Callable[[PageResponse], Iterable[Item]],
        limit: int | None,
    ) -> list[Item]:
        """Follows `next_page_token` until the last page or `limit` items."""
        collected: list[Item] = []
        while True:
            page = self._call(method, request, retry=True)
            collected.extend(items(page))
            if not page.next_page_token or (limit is not None and len(collected) >= limit):
                return collected[:limit] if limit is not None else collected
            request.page_token = page.next_page_token

    def _call(
        self, method: grpc.UnaryUnaryMultiCallable[Request, Response], request: Request, *, retry: bool
    ) -> Response:
        attempt = 0
        while True:
            try:
                return method(request, timeout=self._timeout, metadata=self._metadata)
            except grpc.RpcError as error:
                failure: ModelRegistryError = error_from_rpc(error)
                if retry and failure.code == grpc.StatusCode.UNAVAILABLE and attempt < self._retries:
                    ceiling = min(self._max_backoff, self._initial_backoff * (2**attempt))
                    time.sleep(random.uniform(0, ceiling))
                    attempt += 1
                    continue
                raise failure from None


__all__ = ["RegistryClient", "channel_target", "file_digest"]

