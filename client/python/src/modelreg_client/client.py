"""`RegistryClient`: snake_case methods for every RPC of the Model Registry,
returning plain records, raising one exception class per gRPC code, and
retrying while the server is UNAVAILABLE within each call's deadline.
`AsyncRegistryClient` (in `aio`) has the same surface for asyncio."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import grpc

from . import _pull
from . import _requests as requests
from ._channel import Attempts, Metadata, Reconnects, Settings
from ._consistency import NewestToken
from ._generated.modelregistry.v1 import registry_pb2_grpc as pb_grpc
from ._requests import MAX_PAGE, Listing, Unary, bundle_text
from .tokens import TokenProvider
from .records import (
    CreatedWebhook,
    Webhook,
    WebhookDelivery,
    AliasChange,
    AliasPolicy,
    AliasUpdate,
    ChangeRequest,
    ChangeRequestState,
    Event,
    EventType,
    Model,
    ModelVersion,
    Status,
    Training,
    VersionSignature,
)

T = TypeVar("T")


class Pager(Generic[T]):
    """The items of a listing, fetched a page at a time as iteration reaches
    them (`for version in client.list_model_versions("churn")`); `pages`
    yields whole pages instead. Each iteration starts from the first page."""

    def __init__(self, client: RegistryClient, listing: Listing[T], timeout: float | None, metadata: Metadata | None):
        self._client = client
        self._listing = listing
        self._timeout = timeout
        self._metadata = metadata

    def __iter__(self) -> Iterator[T]:
        for page in self.pages:
            yield from page

    @property
    def pages(self) -> Iterator[list[T]]:
        """The listing one page (one call) at a time."""
        request = type(self._listing.request)()
        request.CopyFrom(self._listing.request)
        left = self._listing.limit
        while True:
            page = self._client._invoke(
                Unary(self._listing.method, request, lambda response: response), self._timeout, self._metadata
            )
            items = list(self._listing.items(page))
            if left is not None:
                items = items[:left]
                left -= len(items)
            yield items
            if not page.next_page_token or left == 0:
                return
            request.page_token = page.next_page_token


class _Stream:
    """A server stream read on a thread of its own, handed over through a
    queue: the caller's thread only ever waits on the queue, so Ctrl-C lands
    there and never inside gRPC's own bookkeeping (where it can leave the
    channel unable to close)."""

    _END = object()

    def __init__(self, method: Any, request: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self.error: grpc.RpcError | None = None
        self._messages: queue.Queue[Any] = queue.Queue(maxsize=64)
        self._stopped = threading.Event()
        self._call: Any = None
        self._started = threading.Event()
        threading.Thread(target=self._read, args=(method, request, metadata), daemon=True).start()

    def _read(self, method: Any, request: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        try:
            self._call = method(request, metadata=metadata)
            self._started.set()
            if self._stopped.is_set():
                self._call.cancel()
            for message in self._call:
                if not self._put(message):
                    return
        except grpc.RpcError as error:
            self.error = error
        except ValueError:
            # The client was closed while this thread started the call: the
            # caller has stopped reading already.
            pass
        finally:
            self._started.set()
            self._put(self._END)

    def _put(self, item: Any) -> bool:
        while not self._stopped.is_set():
            try:
                self._messages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._messages.get()
            if item is self._END:
                return
            yield item

    def cancel(self) -> None:
        """Ends the stream (on the server too) and its reading thread."""
        self._stopped.set()
        if self._started.wait(timeout=5) and self._call is not None:
            self._call.cancel()


class RegistryClient:
    """A client of the Model Registry.

    Use it as a context manager (or call `close()`):

        with RegistryClient("http://127.0.0.1:50051") as registry:
            registry.get_production_model("churn")

    `target` is `http://host:port`, `https://host:port` or `host:port`
    (default: `$MODEL_REGISTRY_URL`, else 127.0.0.1:50051). `token` (default
    `$MODEL_REGISTRY_TOKEN`) is sent as a bearer token; or `token_file`
    (default `$MODEL_REGISTRY_TOKEN_FILE`), a file holding it that is read
    again whenever it changes (a Kubernetes projected service-account token,
    rotated in place, is used from the next call); or `token_provider`, any
    object with `current()` or a callable giving the token for each call:
    `modelreg_client.tokens` has `EnvToken`, `CommandToken` (default
    `$MODEL_REGISTRY_TOKEN_COMMAND`) and `GitHubActionsToken`, which fetch
    a JWT again shortly before it expires. TLS is used for
    `https://` URLs, or when `tls`, `root_certificates` or a client
    certificate is given; without `root_certificates` the system's roots are
    trusted. `certificate_chain` and `private_key` (PEM bytes) present a
    client certificate (mutual TLS).

    `timeout` is each call's deadline in seconds, retries included; every
    method also takes `timeout=` and `metadata=` (extra gRPC metadata) for
    that call alone. While the server answers UNAVAILABLE (or itself answers
    DEADLINE_EXCEEDED or CANCELLED before this caller's deadline) a call is
    retried up to `retries` times with exponential backoff and jitter: reads
    because they are safe, changes because each carries a fresh `request_id`
    that its retries reuse, so the server applies it at most once and a
    retry reports the first attempt's outcome if it was made. `gzip`
    compresses requests and accepts compressed responses (worth it for
    large registrations and listings over slow links; off by default, since
    it costs CPU on both sides).
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        token_provider: TokenProvider | Callable[[], str] | None = None,
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
        self._settings = Settings.of(
            target,
            token=token,
            token_file=token_file,
            token_provider=token_provider,
            tls=tls,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
            timeout=timeout,
            retries=retries,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            gzip=gzip,
        )
        self._channel: grpc.Channel = self._settings.open_channel(grpc)
        self._stub = pb_grpc.RegistryServiceStub(self._channel)
        self._tokens = NewestToken()

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

    @property
    def consistency_token(self) -> str:
        """The newest consistency token this client has seen ("": none yet): a
        change's, which `get_production_model` and `get_version_by_alias` send,
        so that they include every change this client made, whichever replica
        answers. Hand it to another client with `observe_consistency_token`."""
        return self._tokens.value

    def observe_consistency_token(self, token: str) -> None:
        """Makes this client's alias reads include the change `token` names (one
        another client or process made), as well as its own."""
        self._tokens.saw(token)

    # Registration -----------------------------------------------------------

    def register_model(
        self,
        model_name: str,
        *,
        algorithm: str,
        artifact_path: str | os.PathLike[str] | None = None,
        artifact_uri: str | None = None,
        metadata_uri: str = "",
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        training: Training | None = None,
        metadata: Mapping[str, Any] | None = None,
        description: str = "",
        request_id: str | None = None,
        signature_bundle: str | bytes | os.PathLike[str] | None = None,
        timeout: float | None = None,
        call_metadata: Metadata | None = None,
    ) -> ModelVersion:
        """Registers a new version of `model_name` and returns it.

        With `artifact_path` (a local file) its absolute `file://` URI, SHA-256
        and size are recorded; `artifact_uri` records a remote location as is. A
        `request_id` is generated unless given: a retried call returns the
        version the first call registered. Parameter values are stored as
        strings; numbers may be numpy scalars. (`metadata` is the version's
        JSON metadata here, so this call's gRPC metadata is `call_metadata`.)
        `signature_bundle` (the model-signing bundle's text, bytes or path) is
        verified and kept with the version, as `attach_signature` does.
        """
        call = requests.register_model(
            model_name,
            algorithm=algorithm,
            artifact_path=artifact_path,
            artifact_uri=artifact_uri,
            metadata_uri=metadata_uri,
            metrics=metrics,
            params=params,
            tags=tags,
            training=training,
            metadata=metadata,
            description=description,
            request_id=request_id,
            signature_bundle=signature_bundle,
        )
        return self._invoke(call, timeout, call_metadata)

    # Reads ---------------------------------------------------------------------

    def get_model_version(
        self, model_name: str, version: int, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ModelVersion:
        """Version `version` of `model_name`."""
        return self._invoke(requests.get_model_version(model_name, version), timeout, metadata)

    def get_model_version_by_id(
        self, version_id: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ModelVersion:
        """The version with this id."""
        return self._invoke(requests.get_model_version_by_id(version_id), timeout, metadata)

    def get_production_model(
        self,
        model_name: str,
        as_of: datetime | None = None,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ModelVersion:
        """The production version of `model_name` (at `as_of`, if given); raises
        `NotFound` when there is none."""
        return self._invoke(requests.get_production_model(model_name, as_of), timeout, metadata)

    def get_version_by_alias(
        self,
        model_name: str,
        alias: str,
        as_of: datetime | None = None,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ModelVersion:
        """The version `alias` of `model_name` points at (at `as_of`, if given).

        `latest` is the highest ACTIVE version. Raises `NotFound` when the
        alias points nowhere.
        """
        return self._invoke(requests.get_version_by_alias(model_name, alias, as_of), timeout, metadata)

    def list_model_versions(
        self,
        model_name: str = "",
        *,
        statuses: Iterable[Status] = (),
        algorithm: str = "",
        tags: Mapping[str, str] | None = None,
        min_metrics: Mapping[str, Any] | None = None,
        trained_after: datetime | None = None,
        trained_before: datetime | None = None,
        production_only: bool = False,
        aliases: Iterable[str] = (),
        any_alias: bool = False,
        order_by: str = "version",
        descending: bool = False,
        limit: int | None = None,
        page_size: int = MAX_PAGE,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Pager[ModelVersion]:
        """Versions matching every filter, up to `limit`, fetched a page at a
        time as the result is iterated (`list(...)` for all at once).

        `aliases` keeps versions holding at least one of these aliases;
        `any_alias` keeps versions holding any alias. `order_by` is `version`,
        `trained`, `created`, or a metric name (versions without that metric,
        or without a training time, are left out). `timeout` bounds each page.
        """
        listing = requests.list_model_versions(
            model_name,
            statuses=statuses,
            algorithm=algorithm,
            tags=tags,
            min_metrics=min_metrics,
            trained_after=trained_after,
            trained_before=trained_before,
            production_only=production_only,
            aliases=aliases,
            any_alias=any_alias,
            order_by=order_by,
            descending=descending,
            limit=limit,
            page_size=page_size,
        )
        return Pager(self, listing, timeout, metadata)

    def get_best_model_version(
        self,
        model_name: str,
        metric: str,
        *,
        lowest: bool = False,
        statuses: Iterable[Status] = (),
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> tuple[ModelVersion, float]:
        """The version with the highest (or lowest) `metric`, among ACTIVE versions
        unless `statuses` says otherwise, and its value."""
        call = requests.get_best_model_version(model_name, metric, lowest=lowest, statuses=statuses)
        return self._invoke(call, timeout, metadata)

    def list_models(
        self,
        name_prefix: str = "",
        *,
        page_size: int = MAX_PAGE,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Pager[Model]:
        """Every registered model (whose name starts with `name_prefix`), by
        name, fetched a page at a time as the result is iterated."""
        return Pager(self, requests.list_models(name_prefix, page_size), timeout, metadata)

    def get_model(self, model_name: str, *, timeout: float | None = None, metadata: Metadata | None = None) -> Model:
        """One model with its aliases and version count."""
        return self._invoke(requests.get_model(model_name), timeout, metadata)

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
        page_size: int = MAX_PAGE,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Pager[Event]:
        """The audit trail, oldest first, up to `limit`, fetched a page at a
        time as the result is iterated."""
        listing = requests.list_events(
            model_name,
            version=version,
            alias=alias,
            types=types,
            since=since,
            until=until,
            limit=limit,
            page_size=page_size,
        )
        return Pager(self, listing, timeout, metadata)

    # Following changes -------------------------------------------------------------

    def watch_alias(
        self,
        model_name: str,
        alias: str = "production",
        *,
        after_event_id: int = 0,
        metadata: Metadata | None = None,
    ) -> Iterator[AliasUpdate]:
        """Follows `alias` of `model_name`: yields the current state first,
        then one update per change, as it happens, forever.

        While the registry is unreachable (or a replica shuts down) the watch
        reconnects with backoff and resumes after the last event it yielded,
        so no change is missed. Errors reconnecting cannot fix (NotFound,
        PermissionDenied ...) are raised. Stop by breaking out of the loop
        (or Ctrl-C).
        """
        request = requests.watch_alias(model_name, alias, after_event_id)
        reconnects = Reconnects(self._settings.retry)
        while True:
            stream = _Stream(self._stub.WatchModelAlias, request, self._settings.call_metadata(metadata))
            try:
                for message in stream:
                    reconnects.heard()
                    request.after_event_id = max(request.after_event_id, message.event_id)
                    yield AliasUpdate.from_proto(message)
            finally:
                # A caller that stops iterating closes the stream on the server now, not at GC.
                stream.cancel()
            self._reconnect_pause(reconnects.after(stream.error), self._settings.call_metadata(metadata))

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
        emergency: bool = False,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> AliasChange:
        """Points `alias` of `model_name` at `version`, atomically.

        `expected_current_version` is a compare-and-set (0: only if the alias
        does not exist yet): on mismatch `Aborted` is raised. With
        `gate_metric`, the candidate must beat the alias's current version on
        that metric by `gate_min_delta` or `FailedPrecondition` is raised.
        `emergency` (admins) moves an alias whose policy protects it
        (break-glass, flagged in the trail).
        """
        call = requests.set_alias(
            model_name,
            alias,
            version,
            reason,
            expected_current_version=expected_current_version,
            gate_metric=gate_metric,
            gate_min_delta=gate_min_delta,
            gate_lower_is_better=gate_lower_is_better,
            request_id=request_id,
            emergency=emergency,
        )
        return self._invoke(call, timeout, metadata)

    def delete_alias(
        self,
        model_name: str,
        alias: str,
        reason: str,
        *,
        expected_current_version: int | None = None,
        request_id: str | None = None,
        emergency: bool = False,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> int:
        """Removes `alias` from `model_name`; returns the version it pointed at."""
        call = requests.delete_alias(
            model_name,
            alias,
            reason,
            expected_current_version=expected_current_version,
            request_id=request_id,
            emergency=emergency,
        )
        return self._invoke(call, timeout, metadata)

    def rollback_alias(
        self,
        model_name: str,
        alias: str,
        reason: str,
        *,
        expected_current_version: int | None = None,
        request_id: str | None = None,
        emergency: bool = False,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> AliasChange:
        """Returns `alias` to the version it pointed at before the current one;
        repeated rollbacks walk further back through that alias's history.
        Retries reuse one request id, so a retried rollback never rolls back
        twice."""
        call = requests.rollback_alias(
            model_name,
            alias,
            reason,
            expected_current_version=expected_current_version,
            request_id=request_id,
            emergency=emergency,
        )
        return self._invoke(call, timeout, metadata)

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
        request_id: str | None = None,
        emergency: bool = False,
        timeout: float | None = None,
        metadata: Metadata | None = None,
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
            request_id=request_id,
            emergency=emergency,
            timeout=timeout,
            metadata=metadata,
        )

    def rollback_production_model(
        self,
        model_name: str,
        reason: str,
        *,
        expected_current_version: int | None = None,
        request_id: str | None = None,
        emergency: bool = False,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> AliasChange:
        """Returns production to the version that held it before the current one."""
        return self.rollback_alias(
            model_name,
            "production",
            reason,
            expected_current_version=expected_current_version,
            request_id=request_id,
            emergency=emergency,
            timeout=timeout,
            metadata=metadata,
        )

    def update_model(
        self,
        model_name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        remove_tags: Iterable[str] = (),
        reason: str = "",
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Model:
        """Changes the model's description and tags (`tags` are added or
        overwritten, `remove_tags` removed)."""
        call = requests.update_model(
            model_name,
            description=description,
            tags=tags,
            remove_tags=remove_tags,
            reason=reason,
            request_id=request_id,
        )
        return self._invoke(call, timeout, metadata)

    def update_model_version_status(
        self,
        model_name: str,
        version: int,
        status: Status,
        reason: str,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ModelVersion:
        """Moves a version to `status` through the status machine."""
        call = requests.update_model_version_status(model_name, version, status, reason, request_id)
        return self._invoke(call, timeout, metadata)

    def deprecate(
        self, model_name: str, version: int, reason: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ModelVersion:
        """Marks a version DEPRECATED."""
        return self.update_model_version_status(
            model_name, version, Status.DEPRECATED, reason, timeout=timeout, metadata=metadata
        )

    def archive(
        self, model_name: str, version: int, reason: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ModelVersion:
        """Marks a version ARCHIVED (final)."""
        return self.update_model_version_status(
            model_name, version, Status.ARCHIVED, reason, timeout=timeout, metadata=metadata
        )

    def reinstate(
        self, model_name: str, version: int, reason: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ModelVersion:
        """Makes a DEPRECATED version ACTIVE again."""
        return self.update_model_version_status(
            model_name, version, Status.ACTIVE, reason, timeout=timeout, metadata=metadata
        )

    def update_model_version(
        self,
        model_name: str,
        version: int,
        *,
        description: str | None = None,
        set_tags: Mapping[str, str] | None = None,
        remove_tags: Iterable[str] = (),
        reason: str = "",
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ModelVersion:
        """Changes a version's description and tags (nothing else is mutable)."""
        call = requests.update_model_version(
            model_name,
            version,
            description=description,
            set_tags=set_tags,
            remove_tags=remove_tags,
            reason=reason,
            request_id=request_id,
        )
        return self._invoke(call, timeout, metadata)

    def attach_signature(
        self,
        model_name: str,
        version: int,
        bundle: str | bytes | os.PathLike[str],
        *,
        reason: str = "",
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ModelVersion:
        """Attaches an OpenSSF model-signing bundle (the file `model_signing
        sign` writes; `bundle` as its text, bytes or path) to a version, after
        the server verified it against its trust file; returns the version
        with its signature. A bundle that fails is refused
        (`InvalidArgument` on `bundle`, saying what failed)."""
        call = requests.attach_signature(model_name, version, bundle_text(bundle), reason, request_id)
        return self._invoke(call, timeout, metadata)

    def get_version_signature(
        self, model_name: str, version: int, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> VersionSignature:
        """A version's signature: the version, the files it covers with their
        SHA-256, and the bundle as attached (`NotFound` when unsigned)."""
        return self._invoke(requests.get_version_signature(model_name, version), timeout, metadata)

    def pull(
        self,
        model_name: str,
        to: str | os.PathLike[str],
        *,
        version: int | None = None,
        alias: str = "production",
        allow_unverified: bool = False,
        bundle_to: str | os.PathLike[str] | None = None,
        stall_timeout: float = 60.0,
        max_bytes: int | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> _pull.PulledModel:
        """Downloads a version's artifact (`version`, else the one `alias` points
        at) into the directory `to` (new or empty) and verifies it: every file
        against the version's signature, which the registry verifies again
        against its trust file, or a one-file artifact against its registered
        sha256. Raises `VerificationError` naming every file that differs, and
        keeps nothing then. A version with neither is refused unless
        `allow_unverified`. `bundle_to` also writes the signature bundle (for
        `model_signing verify`). Reads `file://`, `http(s)://` and, with boto3
        (`pip install modelreg-client[s3]`), `s3://`. A source that sends
        nothing for `stall_timeout` seconds fails it (`TimeoutError`, or
        botocore's read timeout), and one holding more than the artifact's
        registered `size_bytes`, or more than `max_bytes` (the caller's own
        cap, for an artifact registered without a size), is stopped there
        (`VerificationError`)."""
        model_version, signature = self._signed_version(model_name, version, alias, timeout, metadata)
        return _pull.pull(model_version, signature, to, allow_unverified, bundle_to, stall_timeout, max_bytes)

    def verify(
        self,
        path: str | os.PathLike[str],
        model_name: str,
        version: int,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> dict[str, str]:
        """Checks local files (a model directory, or one file) against version
        `version`'s signature or registered sha256, as `pull` does; returns
        each file's SHA-256, or raises `VerificationError` naming what differs."""
        model_version, signature = self._signed_version(model_name, version, "", timeout, metadata)
        kind, expected = _pull.expectation(model_version, signature, allow_unverified=False)
        label = f"{model_name} version {version} at {path}"
        return _pull.check(label, kind, expected, Path(path))

    def _signed_version(
        self, model_name: str, version: int | None, alias: str, timeout: float | None, metadata: Metadata | None
    ) -> tuple[ModelVersion, VersionSignature | None]:
        if version is not None:
            model_version = self.get_model_version(model_name, version, timeout=timeout, metadata=metadata)
        else:
            model_version = self.get_version_by_alias(model_name, alias, timeout=timeout, metadata=metadata)
        if model_version.signature is None:
            return model_version, None
        signature = self.get_version_signature(model_name, model_version.version, timeout=timeout, metadata=metadata)
        return model_version, signature

    # Governed promotion ------------------------------------------------------------

    def set_alias_policy(
        self,
        model_name: str,
        alias: str,
        reason: str,
        *,
        protected: bool = False,
        required_approvals: int = 0,
        approver_role: str = "",
        request_ttl_seconds: int = 0,
        gate_metric: str = "",
        gate_min_delta: float = 0.0,
        gate_lower_is_better: bool = False,
        soak_alias: str = "",
        min_soak_seconds: int = 0,
        rollback_requires_approval: bool = False,
        require_signature: bool = False,
        model_prefix: str = "",
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> AliasPolicy:
        """Sets the policy `alias` of `model_name` moves under (admin) and returns it
        with its `revision`. Zero values take the server's defaults. With
        `model_prefix` (and `model_name` empty) the policy is set on every
        model whose name starts with it, now and later, that has no policy of
        its own for the alias. `require_signature`: the alias points only at
        versions carrying a verified signature."""
        call = requests.set_alias_policy(
            model_name,
            alias,
            reason,
            protected=protected,
            required_approvals=required_approvals,
            approver_role=approver_role,
            request_ttl_seconds=request_ttl_seconds,
            gate_metric=gate_metric,
            gate_min_delta=gate_min_delta,
            gate_lower_is_better=gate_lower_is_better,
            soak_alias=soak_alias,
            min_soak_seconds=min_soak_seconds,
            rollback_requires_approval=rollback_requires_approval,
            require_signature=require_signature,
            model_prefix=model_prefix,
            request_id=request_id,
        )
        return self._invoke(call, timeout, metadata)

    def get_alias_policy(
        self, model_name: str, alias: str, *, model_prefix: str = "", timeout: float | None = None, metadata: Metadata | None = None
    ) -> AliasPolicy:
        """The policy in force for `alias` of `model_name` (its own, or the one it
        inherits: then `model_prefix` names the prefix), or with `model_prefix`
        the policy set on that prefix; `NotFound` when there is none."""
        call = requests.get_alias_policy(model_name, alias, model_prefix=model_prefix)
        return self._invoke(call, timeout, metadata)

    def delete_alias_policy(
        self,
        model_name: str,
        alias: str,
        reason: str,
        *,
        model_prefix: str = "",
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> int:
        """Removes an alias's policy, or with `model_prefix` the one set on that
        prefix (admin); returns the revision removed."""
        call = requests.delete_alias_policy(
            model_name, alias, reason, request_id=request_id, model_prefix=model_prefix
        )
        return self._invoke(call, timeout, metadata)

    def request_alias_change(
        self,
        model_name: str,
        alias: str,
        version: int,
        reason: str,
        *,
        expected_current_version: int | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ChangeRequest:
        """Asks for `alias` of `model_name` (which has a policy) to point at
        `version`; `FailedPrecondition` when the candidate lacks the evidence."""
        call = requests.request_alias_change(
            model_name,
            alias,
            version,
            reason,
            expected_current_version=expected_current_version,
            request_id=request_id,
        )
        return self._invoke(call, timeout, metadata)

    def approve_change_request(
        self,
        id: int,
        comment: str = "",
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ChangeRequest:
        """Approves change request `id` (never one's own: `PermissionDenied`). The
        approval that completes it moves the alias (state APPLIED) or records
        why it could not (state FAILED, `decision_note`)."""
        call = requests.decide_change_request("approve", id, comment, request_id=request_id)
        return self._invoke(call, timeout, metadata)

    def reject_change_request(
        self,
        id: int,
        comment: str,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ChangeRequest:
        """Rejects change request `id`, with a comment."""
        call = requests.decide_change_request("reject", id, comment, request_id=request_id)
        return self._invoke(call, timeout, metadata)

    def cancel_change_request(
        self,
        id: int,
        comment: str = "",
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ChangeRequest:
        """Withdraws change request `id` (its requester, or an admin)."""
        call = requests.decide_change_request("cancel", id, comment, request_id=request_id)
        return self._invoke(call, timeout, metadata)

    def get_change_request(
        self, id: int, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ChangeRequest:
        """Change request `id`."""
        return self._invoke(requests.get_change_request(id), timeout, metadata)

    def list_change_requests(
        self,
        model_name: str = "",
        *,
        alias: str = "",
        state: ChangeRequestState | None = None,
        requester: str = "",
        limit: int | None = None,
        page_size: int = 100,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Pager[ChangeRequest]:
        """Change requests, newest first, with filters, fetched page by page."""
        listing = requests.list_change_requests(
            model_name, alias=alias, state=state, requester=requester, limit=limit, page_size=page_size
        )
        return Pager(self, listing, timeout, metadata)

    def create_webhook(
        self,
        url: str,
        *,
        description: str = "",
        model_prefix: str = "",
        aliases: Iterable[str] = (),
        event_types: Iterable[EventType | str] = (),
        ordered: bool = True,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> CreatedWebhook:
        """Subscribes a receiver to the trail's events (admin). The answer's
        `secret` is shown this once: the receiver verifies signatures with it.
        `ordered=False`: a failing event is set aside and retried on its own
        while later events go on (by default it holds them up)."""
        call = requests.create_webhook(
            url,
            description=description,
            model_prefix=model_prefix,
            aliases=aliases,
            event_types=event_types,
            ordered=ordered,
            request_id=request_id,
        )
        return self._invoke(call, timeout, metadata)

    def get_webhook(self, webhook_id: int, *, timeout: float | None = None, metadata: Metadata | None = None) -> Webhook:
        """Reads a subscription (admin)."""
        return self._invoke(requests.get_webhook(webhook_id), timeout, metadata)

    def list_webhooks(self, *, timeout: float | None = None, metadata: Metadata | None = None) -> list[Webhook]:
        """Every subscription, oldest first (admin)."""
        return self._invoke(requests.list_webhooks(), timeout, metadata)

    def delete_webhook(
        self,
        webhook_id: int,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        """Ends a subscription (admin)."""
        self._invoke(requests.delete_webhook(webhook_id, request_id=request_id), timeout, metadata)

    def update_webhook(
        self,
        webhook_id: int,
        url: str,
        *,
        description: str = "",
        model_prefix: str = "",
        aliases: Iterable[str] = (),
        event_types: Iterable[EventType | str] = (),
        ordered: bool = True,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Webhook:
        """Replaces a subscription's destination, description, ordering and
        filters (admin): events not yet delivered go to the new destination."""
        call = requests.update_webhook(
            webhook_id,
            url,
            description=description,
            model_prefix=model_prefix,
            aliases=aliases,
            event_types=event_types,
            ordered=ordered,
            request_id=request_id,
        )
        return self._invoke(call, timeout, metadata)

    def rotate_webhook_secret(
        self,
        webhook_id: int,
        *,
        overlap_seconds: int | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> CreatedWebhook:
        """Gives a subscription a new signing secret (admin), shown this once; the
        previous one keeps signing for `overlap_seconds` (default one day; 0: not at all)."""
        call = requests.rotate_webhook_secret(webhook_id, overlap_seconds=overlap_seconds, request_id=request_id)
        return self._invoke(call, timeout, metadata)

    def replay_webhook(
        self,
        webhook_id: int,
        *,
        from_event_id: int | None = None,
        since: datetime | None = None,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Webhook:
        """Sends a subscription's events again from an event or a time on (admin),
        each with the webhook-id it had."""
        call = requests.replay_webhook(webhook_id, from_event_id=from_event_id, since=since, request_id=request_id)
        return self._invoke(call, timeout, metadata)

    def resume_webhook(
        self,
        webhook_id: int,
        *,
        skip_failed_event: bool = False,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> Webhook:
        """Resumes a FAILING subscription (admin), at the event it failed on or,
        with `skip_failed_event`, after it."""
        call = requests.resume_webhook(webhook_id, skip_failed_event=skip_failed_event, request_id=request_id)
        return self._invoke(call, timeout, metadata)

    def webhook_deliveries(
        self,
        webhook_id: int,
        *,
        limit: int = 50,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> list[WebhookDelivery]:
        """The latest delivery attempts of a subscription, newest first (admin)."""
        return self._invoke(requests.webhook_deliveries(webhook_id, limit=limit), timeout, metadata)

    def freeze_alias(
        self,
        model_name: str,
        alias: str,
        reason: str,
        *,
        duration_seconds: int = 0,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        """Freezes `alias` (admin): no move at all, break-glass included, until
        unfrozen or `duration_seconds` pass."""
        call = requests.freeze(
            model_name,
            alias=alias,
            version=None,
            reason=reason,
            freeze=True,
            duration_seconds=duration_seconds,
            request_id=request_id,
        )
        self._invoke(call, timeout, metadata)

    def unfreeze_alias(
        self,
        model_name: str,
        alias: str,
        reason: str,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        """Ends a freeze (admin)."""
        call = requests.freeze(
            model_name,
            alias=alias,
            version=None,
            reason=reason,
            freeze=False,
            duration_seconds=0,
            request_id=request_id,
        )
        self._invoke(call, timeout, metadata)

    def freeze_version(
        self,
        model_name: str,
        version: int,
        reason: str,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        """Freezes `version` (admin): no status or metadata change until unfrozen."""
        call = requests.freeze(
            model_name,
            alias=None,
            version=version,
            reason=reason,
            freeze=True,
            duration_seconds=0,
            request_id=request_id,
        )
        self._invoke(call, timeout, metadata)

    def unfreeze_version(
        self,
        model_name: str,
        version: int,
        reason: str,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        """Ends a freeze (admin)."""
        call = requests.freeze(
            model_name,
            alias=None,
            version=version,
            reason=reason,
            freeze=False,
            duration_seconds=0,
            request_id=request_id,
        )
        self._invoke(call, timeout, metadata)

    # Plumbing ----------------------------------------------------------------------

    def _invoke(self, call: Unary[T], timeout: float | None, metadata: Metadata | None) -> T:
        attempts = Attempts(self._settings.retry, timeout if timeout is not None else self._settings.timeout)
        method = getattr(self._stub, call.method)
        self._tokens.stamp(call.request)
        while True:
            try:
                response = method(
                    call.request,
                    timeout=attempts.remaining(),
                    metadata=self._settings.call_metadata(metadata),
                    wait_for_ready=attempts.wait_for_ready(),
                )
                self._tokens.note(response)
                return call.parse(response)
            except grpc.RpcError as error:
                time.sleep(attempts.after(error))

    def _reconnect_pause(self, seconds: float, metadata: tuple[tuple[str, str], ...]) -> None:
        """Waits `seconds` before a watch reconnects, asking the channel to
        connect meanwhile: grpcio before 1.80 never retries a failed connect
        on its own, and a stream cannot wait for the connection within a
        bounded time. A short call that waits for the channel does it (its
        answer does not matter); it runs as a future, so the pause itself is
        a plain sleep that Ctrl-C interrupts, and is cancelled after it."""
        probe = self._stub.GetModel.future(
            requests.get_model("").request, timeout=max(seconds, 0.001), metadata=metadata, wait_for_ready=True
        )
        try:
            time.sleep(seconds)
        finally:
            probe.cancel()


__all__ = ["Pager", "RegistryClient"]
