"""`AsyncRegistryClient`: the `RegistryClient` surface for asyncio (on
`grpc.aio`), with the same records, errors, retries and deadlines; requests
and answers are built and read by the same code as the blocking client's.

    async with AsyncRegistryClient("http://127.0.0.1:50051") as registry:
        version = await registry.get_production_model("churn")
        async for update in registry.watch_alias("churn", "production"):
            ...
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import grpc
import grpc.aio

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


class AsyncPager(Generic[T]):
    """The items of a listing, fetched a page at a time as `async for`
    reaches them; `pages` yields whole pages instead."""

    def __init__(
        self, client: AsyncRegistryClient, listing: Listing[T], timeout: float | None, metadata: Metadata | None
    ):
        self._client = client
        self._listing = listing
        self._timeout = timeout
        self._metadata = metadata

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages:
            for item in page:
                yield item

    @property
    async def pages(self) -> AsyncIterator[list[T]]:
        """The listing one page (one call) at a time."""
        request = type(self._listing.request)()
        request.CopyFrom(self._listing.request)
        left = self._listing.limit
        while True:
            page = await self._client._invoke(
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

    async def collect(self) -> list[T]:
        """Every item, all pages fetched."""
        return [item async for item in self]


class AsyncRegistryClient:
    """A client of the Model Registry for asyncio; arguments, methods,
    records and exceptions are those of `RegistryClient`, each method a
    coroutine (listings return an `AsyncPager`, `watch_alias` an async
    iterator). Use it as an async context manager (or await `close()`)."""

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
        self._channel: grpc.aio.Channel = self._settings.open_channel(grpc.aio)
        self._stub = pb_grpc.RegistryServiceStub(self._channel)
        self._tokens = NewestToken()

    async def __aenter__(self) -> AsyncRegistryClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the connection."""
        await self._channel.close()

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

    async def register_model(
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
        """See `RegistryClient.register_model`."""
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
        return await self._invoke(call, timeout, call_metadata)

    async def get_model_version(
        self, model_name: str, version: int, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ModelVersion:
        """See `RegistryClient.get_model_version`."""
        return await self._invoke(requests.get_model_version(model_name, version), timeout, metadata)

    async def get_model_version_by_id(
        self, version_id: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ModelVersion:
        """See `RegistryClient.get_model_version_by_id`."""
        return await self._invoke(requests.get_model_version_by_id(version_id), timeout, metadata)

    async def get_production_model(
        self,
        model_name: str,
        as_of: datetime | None = None,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ModelVersion:
        """See `RegistryClient.get_production_model`."""
        return await self._invoke(requests.get_production_model(model_name, as_of), timeout, metadata)

    async def get_version_by_alias(
        self,
        model_name: str,
        alias: str,
        as_of: datetime | None = None,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ModelVersion:
        """See `RegistryClient.get_version_by_alias`."""
        return await self._invoke(requests.get_version_by_alias(model_name, alias, as_of), timeout, metadata)

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
    ) -> AsyncPager[ModelVersion]:
        """See `RegistryClient.list_model_versions`."""
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
        return AsyncPager(self, listing, timeout, metadata)

    async def get_best_model_version(
        self,
        model_name: str,
        metric: str,
        *,
        lowest: bool = False,
        statuses: Iterable[Status] = (),
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> tuple[ModelVersion, float]:
        """See `RegistryClient.get_best_model_version`."""
        call = requests.get_best_model_version(model_name, metric, lowest=lowest, statuses=statuses)
        return await self._invoke(call, timeout, metadata)

    def list_models(
        self,
        name_prefix: str = "",
        *,
        page_size: int = MAX_PAGE,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> AsyncPager[Model]:
        """See `RegistryClient.list_models`."""
        return AsyncPager(self, requests.list_models(name_prefix, page_size), timeout, metadata)

    async def get_model(
        self, model_name: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> Model:
        """See `RegistryClient.get_model`."""
        return await self._invoke(requests.get_model(model_name), timeout, metadata)

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
    ) -> AsyncPager[Event]:
        """See `RegistryClient.list_events`."""
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
        return AsyncPager(self, listing, timeout, metadata)

    async def watch_alias(
        self,
        model_name: str,
        alias: str = "production",
        *,
        after_event_id: int = 0,
        metadata: Metadata | None = None,
    ) -> AsyncIterator[AliasUpdate]:
        """See `RegistryClient.watch_alias`; stop by leaving the `async for`
        (or cancelling the task)."""
        request = requests.watch_alias(model_name, alias, after_event_id)
        reconnects = Reconnects(self._settings.retry)
        while True:
            # On a grpc.aio channel the stub's stream is a grpc.aio call
            # (its type stubs describe the blocking one).
            call: Any = self._stub.WatchModelAlias(
                request,
                metadata=self._settings.call_metadata(metadata),
                wait_for_ready=True if reconnects.failures else None,
            )
            ended: grpc.RpcError | None = None
            try:
                async for message in call:
                    reconnects.heard()
                    request.after_event_id = max(request.after_event_id, message.event_id)
                    yield AliasUpdate.from_proto(message)
            except grpc.RpcError as error:
                ended = error
            finally:
                call.cancel()
            await asyncio.sleep(reconnects.after(ended))

    async def set_alias(
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
        """See `RegistryClient.set_alias`."""
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
        return await self._invoke(call, timeout, metadata)

    async def delete_alias(
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
        """See `RegistryClient.delete_alias`."""
        call = requests.delete_alias(
            model_name,
            alias,
            reason,
            expected_current_version=expected_current_version,
            request_id=request_id,
            emergency=emergency,
        )
        return await self._invoke(call, timeout, metadata)

    async def rollback_alias(
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
        """See `RegistryClient.rollback_alias`."""
        call = requests.rollback_alias(
            model_name,
            alias,
            reason,
            expected_current_version=expected_current_version,
            request_id=request_id,
            emergency=emergency,
        )
        return await self._invoke(call, timeout, metadata)

    async def set_production_model(
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
        """See `RegistryClient.set_production_model`."""
        return await self.set_alias(
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

    async def rollback_production_model(
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
        """See `RegistryClient.rollback_production_model`."""
        return await self.rollback_alias(
            model_name,
            "production",
            reason,
            expected_current_version=expected_current_version,
            request_id=request_id,
            emergency=emergency,
            timeout=timeout,
            metadata=metadata,
        )

    async def update_model(
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
        """See `RegistryClient.update_model`."""
        call = requests.update_model(
            model_name,
            description=description,
            tags=tags,
            remove_tags=remove_tags,
            reason=reason,
            request_id=request_id,
        )
        return await self._invoke(call, timeout, metadata)

    async def update_model_version_status(
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
        """See `RegistryClient.update_model_version_status`."""
        call = requests.update_model_version_status(model_name, version, status, reason, request_id)
        return await self._invoke(call, timeout, metadata)

    async def deprecate(
        self, model_name: str, version: int, reason: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ModelVersion:
        """See `RegistryClient.deprecate`."""
        return await self.update_model_version_status(
            model_name, version, Status.DEPRECATED, reason, timeout=timeout, metadata=metadata
        )

    async def archive(
        self, model_name: str, version: int, reason: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ModelVersion:
        """See `RegistryClient.archive`."""
        return await self.update_model_version_status(
            model_name, version, Status.ARCHIVED, reason, timeout=timeout, metadata=metadata
        )

    async def reinstate(
        self, model_name: str, version: int, reason: str, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ModelVersion:
        """See `RegistryClient.reinstate`."""
        return await self.update_model_version_status(
            model_name, version, Status.ACTIVE, reason, timeout=timeout, metadata=metadata
        )

    async def update_model_version(
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
        """See `RegistryClient.update_model_version`."""
        call = requests.update_model_version(
            model_name,
            version,
            description=description,
            set_tags=set_tags,
            remove_tags=remove_tags,
            reason=reason,
            request_id=request_id,
        )
        return await self._invoke(call, timeout, metadata)

    async def attach_signature(
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
        """See `RegistryClient.attach_signature`."""
        call = requests.attach_signature(model_name, version, bundle_text(bundle), reason, request_id)
        return await self._invoke(call, timeout, metadata)

    async def get_version_signature(
        self, model_name: str, version: int, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> VersionSignature:
        """See `RegistryClient.get_version_signature`."""
        return await self._invoke(requests.get_version_signature(model_name, version), timeout, metadata)

    async def pull(
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
        """See `RegistryClient.pull` (the download runs in a worker thread)."""
        model_version, signature = await self._signed_version(model_name, version, alias, timeout, metadata)
        return await asyncio.to_thread(
            _pull.pull, model_version, signature, to, allow_unverified, bundle_to, stall_timeout, max_bytes
        )

    async def verify(
        self,
        path: str | os.PathLike[str],
        model_name: str,
        version: int,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> dict[str, str]:
        """See `RegistryClient.verify`."""
        model_version, signature = await self._signed_version(model_name, version, "", timeout, metadata)
        kind, expected = _pull.expectation(model_version, signature, allow_unverified=False)
        label = f"{model_name} version {version} at {path}"
        return await asyncio.to_thread(_pull.check, label, kind, expected, Path(path))

    async def _signed_version(
        self, model_name: str, version: int | None, alias: str, timeout: float | None, metadata: Metadata | None
    ) -> tuple[ModelVersion, VersionSignature | None]:
        if version is not None:
            model_version = await self.get_model_version(model_name, version, timeout=timeout, metadata=metadata)
        else:
            model_version = await self.get_version_by_alias(model_name, alias, timeout=timeout, metadata=metadata)
        if model_version.signature is None:
            return model_version, None
        signature = await self.get_version_signature(model_name, model_version.version, timeout=timeout, metadata=metadata)
        return model_version, signature

    # Governed promotion ------------------------------------------------------------

    async def set_alias_policy(
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
        """See `RegistryClient.set_alias_policy`."""
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
        return await self._invoke(call, timeout, metadata)

    async def get_alias_policy(
        self, model_name: str, alias: str, *, model_prefix: str = "", timeout: float | None = None, metadata: Metadata | None = None
    ) -> AliasPolicy:
        """See `RegistryClient.get_alias_policy`."""
        call = requests.get_alias_policy(model_name, alias, model_prefix=model_prefix)
        return await self._invoke(call, timeout, metadata)

    async def delete_alias_policy(
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
        """See `RegistryClient.delete_alias_policy`."""
        call = requests.delete_alias_policy(
            model_name, alias, reason, request_id=request_id, model_prefix=model_prefix
        )
        return await self._invoke(call, timeout, metadata)

    async def request_alias_change(
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
        """See `RegistryClient.request_alias_change`."""
        call = requests.request_alias_change(
            model_name,
            alias,
            version,
            reason,
            expected_current_version=expected_current_version,
            request_id=request_id,
        )
        return await self._invoke(call, timeout, metadata)

    async def approve_change_request(
        self,
        id: int,
        comment: str = "",
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ChangeRequest:
        """See `RegistryClient.approve_change_request`."""
        call = requests.decide_change_request("approve", id, comment, request_id=request_id)
        return await self._invoke(call, timeout, metadata)

    async def reject_change_request(
        self,
        id: int,
        comment: str,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ChangeRequest:
        """See `RegistryClient.reject_change_request`."""
        call = requests.decide_change_request("reject", id, comment, request_id=request_id)
        return await self._invoke(call, timeout, metadata)

    async def cancel_change_request(
        self,
        id: int,
        comment: str = "",
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> ChangeRequest:
        """See `RegistryClient.cancel_change_request`."""
        call = requests.decide_change_request("cancel", id, comment, request_id=request_id)
        return await self._invoke(call, timeout, metadata)

    async def get_change_request(
        self, id: int, *, timeout: float | None = None, metadata: Metadata | None = None
    ) -> ChangeRequest:
        """See `RegistryClient.get_change_request`."""
        return await self._invoke(requests.get_change_request(id), timeout, metadata)

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
    ) -> AsyncPager[ChangeRequest]:
        """See `RegistryClient.list_change_requests`."""
        listing = requests.list_change_requests(
            model_name, alias=alias, state=state, requester=requester, limit=limit, page_size=page_size
        )
        return AsyncPager(self, listing, timeout, metadata)

    async def create_webhook(
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
        return await self._invoke(call, timeout, metadata)

    async def get_webhook(self, webhook_id: int, *, timeout: float | None = None, metadata: Metadata | None = None) -> Webhook:
        """Reads a subscription (admin)."""
        return await self._invoke(requests.get_webhook(webhook_id), timeout, metadata)

    async def list_webhooks(self, *, timeout: float | None = None, metadata: Metadata | None = None) -> list[Webhook]:
        """Every subscription, oldest first (admin)."""
        return await self._invoke(requests.list_webhooks(), timeout, metadata)

    async def delete_webhook(
        self,
        webhook_id: int,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        """Ends a subscription (admin)."""
        await self._invoke(requests.delete_webhook(webhook_id, request_id=request_id), timeout, metadata)

    async def update_webhook(
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
        return await self._invoke(call, timeout, metadata)

    async def rotate_webhook_secret(
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
        return await self._invoke(call, timeout, metadata)

    async def replay_webhook(
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
        return await self._invoke(call, timeout, metadata)

    async def resume_webhook(
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
        return await self._invoke(call, timeout, metadata)

    async def webhook_deliveries(
        self,
        webhook_id: int,
        *,
        limit: int = 50,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> list[WebhookDelivery]:
        """The latest delivery attempts of a subscription, newest first (admin)."""
        return await self._invoke(requests.webhook_deliveries(webhook_id, limit=limit), timeout, metadata)

    async def freeze_alias(
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
        """See `RegistryClient.freeze_alias`."""
        call = requests.freeze(
            model_name,
            alias=alias,
            version=None,
            reason=reason,
            freeze=True,
            duration_seconds=duration_seconds,
            request_id=request_id,
        )
        await self._invoke(call, timeout, metadata)

    async def unfreeze_alias(
        self,
        model_name: str,
        alias: str,
        reason: str,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        """See `RegistryClient.unfreeze_alias`."""
        call = requests.freeze(
            model_name,
            alias=alias,
            version=None,
            reason=reason,
            freeze=False,
            duration_seconds=0,
            request_id=request_id,
        )
        await self._invoke(call, timeout, metadata)

    async def freeze_version(
        self,
        model_name: str,
        version: int,
        reason: str,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        """See `RegistryClient.freeze_version`."""
        call = requests.freeze(
            model_name,
            alias=None,
            version=version,
            reason=reason,
            freeze=True,
            duration_seconds=0,
            request_id=request_id,
        )
        await self._invoke(call, timeout, metadata)

    async def unfreeze_version(
        self,
        model_name: str,
        version: int,
        reason: str,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> None:
        """See `RegistryClient.unfreeze_alias`."""
        call = requests.freeze(
            model_name,
            alias=None,
            version=version,
            reason=reason,
            freeze=False,
            duration_seconds=0,
            request_id=request_id,
        )
        await self._invoke(call, timeout, metadata)

    async def _invoke(self, call: Unary[T], timeout: float | None, metadata: Metadata | None) -> T:
        attempts = Attempts(self._settings.retry, timeout if timeout is not None else self._settings.timeout)
        method = getattr(self._stub, call.method)
        self._tokens.stamp(call.request)
        while True:
            try:
                response = await method(
                    call.request,
                    timeout=attempts.remaining(),
                    metadata=self._settings.call_metadata(metadata),
                    wait_for_ready=attempts.wait_for_ready(),
                )
                self._tokens.note(response)
                return call.parse(response)
            except grpc.RpcError as error:
                await asyncio.sleep(attempts.after(error))


__all__ = ["AsyncPager", "AsyncRegistryClient"]
