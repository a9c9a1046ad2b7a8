"""What each call sends and how its answer reads, once for both clients.

`RegistryClient` (blocking) and `AsyncRegistryClient` (`grpc.aio`) differ
only in how they wait; every request they send is built here and every
answer turned into records here."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from ._generated.modelregistry.v1 import registry_pb2 as pb
from .records import (
    CreatedWebhook,
    Webhook,
    WebhookDelivery,
    AliasChange,
    AliasPolicy,
    ChangeRequest,
    ChangeRequestState,
    Event,
    EventType,
    Model,
    ModelVersion,
    Status,
    Training,
    VersionSignature,
    dict_to_struct,
    plain,
    to_timestamp,
)

T = TypeVar("T")

_ORDERS = {
    "version": pb.VERSION_ORDER_VERSION,
    "trained": pb.VERSION_ORDER_TRAINED_AT,
    "created": pb.VERSION_ORDER_CREATED_AT,
}

# The server's largest page.
MAX_PAGE = 500


@dataclass(frozen=True)
class Unary(Generic[T]):
    """One unary call: the stub method to call, its request, and how to read
    the answer. Every call is safe to retry while the server is UNAVAILABLE:
    reads by nature, changes because each carries a request id its retries
    reuse."""

    method: str
    request: Any
    parse: Callable[[Any], T]


@dataclass(frozen=True)
class Listing(Generic[T]):
    """A paged listing: `request.page_token` is advanced page by page; `items`
    reads one page; at most `limit` items in all (None: every one)."""

    method: str
    request: Any
    items: Callable[[Any], Iterable[T]]
    limit: int | None


def file_digest(path: str | os.PathLike[str]) -> tuple[str, int]:
    """The SHA-256 (hex) and size in bytes of a file, read in chunks."""
    import hashlib

    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as artifact:
        for chunk in iter(lambda: artifact.read(1 << 16), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def new_request_id() -> str:
    """A fresh idempotency key for one change; its retries reuse it, so the
    server applies the change at most once."""
    return str(uuid.uuid4())


def _numbers(values: Mapping[str, Any] | None) -> dict[str, float]:
    return {name: float(plain(value)) for name, value in (values or {}).items()}


def _version(response: Any) -> ModelVersion:
    return ModelVersion.from_proto(response.model_version)


def register_model(
    model_name: str,
    *,
    algorithm: str,
    artifact_path: str | os.PathLike[str] | None,
    artifact_uri: str | None,
    metadata_uri: str,
    metrics: Mapping[str, Any] | None,
    params: Mapping[str, Any] | None,
    tags: Mapping[str, str] | None,
    training: Training | None,
    metadata: Mapping[str, Any] | None,
    description: str,
    request_id: str | None,
    signature_bundle: str | bytes | os.PathLike[str] | None = None,
) -> Unary[ModelVersion]:
    if (artifact_path is None) == (artifact_uri is None):
        raise ValueError("give exactly one of artifact_path and artifact_uri")
    if artifact_path is not None:
        sha256, size_bytes = file_digest(artifact_path)
        artifact = pb.Artifact(
            uri=Path(os.path.abspath(artifact_path)).as_uri(), metadata_uri=metadata_uri, sha256=sha256, size_bytes=size_bytes
        )
    else:
        artifact = pb.Artifact(uri=str(artifact_uri), metadata_uri=metadata_uri)
    request = pb.RegisterModelRequest(
        model_name=model_name,
        algorithm=algorithm,
        artifact=artifact,
        metrics=_numbers(metrics),
        params={key: str(plain(value)) for key, value in (params or {}).items()},
        tags=dict(tags or {}),
        description=description,
        request_id=request_id or new_request_id(),
        signature_bundle=bundle_text(signature_bundle) if signature_bundle is not None else "",
    )
    if training is not None:
        request.training.CopyFrom(training.to_proto())
    if metadata:
        request.metadata.CopyFrom(dict_to_struct(dict(metadata)))
    return Unary("RegisterModel", request, _version)


def get_model_version(model_name: str, version: int) -> Unary[ModelVersion]:
    return Unary("GetModelVersion", pb.GetModelVersionRequest(model_name=model_name, version=version), _version)


def get_model_version_by_id(version_id: str) -> Unary[ModelVersion]:
    return Unary("GetModelVersion", pb.GetModelVersionRequest(id=version_id), _version)


def get_production_model(model_name: str, as_of: datetime | None) -> Unary[ModelVersion]:
    request = pb.GetProductionModelRequest(model_name=model_name)
    if as_of is not None:
        request.as_of.CopyFrom(to_timestamp(as_of))
    return Unary("GetProductionModel", request, _version)


def get_version_by_alias(model_name: str, alias: str, as_of: datetime | None) -> Unary[ModelVersion]:
    request = pb.GetModelVersionByAliasRequest(model_name=model_name, alias=alias)
    if as_of is not None:
        request.as_of.CopyFrom(to_timestamp(as_of))
    return Unary("GetModelVersionByAlias", request, _version)


def list_model_versions(
    model_name: str,
    *,
    statuses: Iterable[Status],
    algorithm: str,
    tags: Mapping[str, str] | None,
    min_metrics: Mapping[str, Any] | None,
    trained_after: datetime | None,
    trained_before: datetime | None,
    production_only: bool,
    aliases: Iterable[str],
    any_alias: bool,
    order_by: str,
    descending: bool,
    limit: int | None,
    page_size: int,
) -> Listing[ModelVersion]:
    request = pb.ListModelVersionsRequest(
        model_name=model_name,
        statuses=[status.to_proto() for status in statuses],
        algorithm=algorithm,
        tags=dict(tags or {}),
        min_metrics=_numbers(min_metrics),
        production_only=production_only,
        aliases=list(aliases),
        any_alias=any_alias,
        descending=descending,
        page_size=_page_size(page_size, limit),
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
    return Listing(
        "ListModelVersions", request, lambda page: map(ModelVersion.from_proto, page.model_versions), limit
    )


def get_best_model_version(
    model_name: str, metric: str, *, lowest: bool, statuses: Iterable[Status]
) -> Unary[tuple[ModelVersion, float]]:
    request = pb.GetBestModelVersionRequest(
        model_name=model_name, metric=metric, lowest=lowest, statuses=[s.to_proto() for s in statuses]
    )
    return Unary(
        "GetBestModelVersion", request, lambda response: (_version(response), float(response.value))
    )


def list_models(name_prefix: str, page_size: int) -> Listing[Model]:
    request = pb.ListModelsRequest(name_prefix=name_prefix, page_size=_page_size(page_size, None))
    return Listing("ListModels", request, lambda page: map(Model.from_proto, page.models), None)


def get_model(model_name: str) -> Unary[Model]:
    return Unary(
        "GetModel", pb.GetModelRequest(model_name=model_name), lambda response: Model.from_proto(response.model)
    )


def list_events(
    model_name: str,
    *,
    version: int | None,
    alias: str,
    types: Iterable[EventType],
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    page_size: int,
) -> Listing[Event]:
    request = pb.ListEventsRequest(
        model_name=model_name,
        alias=alias,
        types=[t.to_proto() for t in types],
        page_size=_page_size(page_size, limit),
    )
    if version is not None:
        request.version = version
    if since is not None:
        request.since.CopyFrom(to_timestamp(since))
    if until is not None:
        request.until.CopyFrom(to_timestamp(until))
    return Listing("ListEvents", request, lambda page: map(Event.from_proto, page.events), limit)


def watch_alias(model_name: str, alias: str, after_event_id: int) -> Any:
    """The request of a watch; its `after_event_id` advances as updates arrive."""
    return pb.WatchModelAliasRequest(model_name=model_name, alias=alias, after_event_id=after_event_id)


def set_alias(
    model_name: str,
    alias: str,
    version: int,
    reason: str,
    *,
    expected_current_version: int | None,
    gate_metric: str,
    gate_min_delta: float,
    gate_lower_is_better: bool,
    request_id: str | None,
    emergency: bool = False,
) -> Unary[AliasChange]:
    request = pb.SetModelAliasRequest(
        model_name=model_name,
        alias=alias,
        version=version,
        reason=reason,
        gate_metric=gate_metric,
        gate_min_delta=float(plain(gate_min_delta)),
        gate_lower_is_better=gate_lower_is_better,
        request_id=request_id or new_request_id(),
        emergency=emergency,
    )
    if expected_current_version is not None:
        request.expected_current_version = expected_current_version

    def parse(response: Any) -> AliasChange:
        return AliasChange(
            model_version=_version(response),
            previous_version=response.previous_version if response.HasField("previous_version") else None,
            unchanged=response.unchanged,
        )

    return Unary("SetModelAlias", request, parse)


def delete_alias(
    model_name: str,
    alias: str,
    reason: str,
    *,
    expected_current_version: int | None,
    request_id: str | None,
    emergency: bool = False,
) -> Unary[int]:
    request = pb.DeleteModelAliasRequest(
        model_name=model_name,
        alias=alias,
        reason=reason,
        request_id=request_id or new_request_id(),
        emergency=emergency,
    )
    if expected_current_version is not None:
        request.expected_current_version = expected_current_version
    return Unary("DeleteModelAlias", request, lambda response: int(response.previous_version))


def rollback_alias(
    model_name: str,
    alias: str,
    reason: str,
    *,
    expected_current_version: int | None,
    request_id: str | None,
    emergency: bool = False,
) -> Unary[AliasChange]:
    request = pb.RollbackModelAliasRequest(
        model_name=model_name,
        alias=alias,
        reason=reason,
        request_id=request_id or new_request_id(),
        emergency=emergency,
    )
    if expected_current_version is not None:
        request.expected_current_version = expected_current_version
    return Unary(
        "RollbackModelAlias",
        request,
        lambda response: AliasChange(
            model_version=_version(response), previous_version=response.rolled_back_version
        ),
    )


def update_model(
    model_name: str,
    *,
    description: str | None,
    tags: Mapping[str, str] | None,
    remove_tags: Iterable[str],
    reason: str,
    request_id: str | None,
) -> Unary[Model]:
    request = pb.UpdateModelRequest(
        model_name=model_name,
        tags=dict(tags or {}),
        remove_tags=list(remove_tags),
        reason=reason,
        request_id=request_id or new_request_id(),
    )
    if description is not None:
        request.description = description
    return Unary("UpdateModel", request, lambda response: Model.from_proto(response.model))


def update_model_version_status(
    model_name: str, version: int, status: Status, reason: str, request_id: str | None
) -> Unary[ModelVersion]:
    request = pb.UpdateModelVersionStatusRequest(
        model_name=model_name,
        version=version,
        status=status.to_proto(),
        reason=reason,
        request_id=request_id or new_request_id(),
    )
    return Unary("UpdateModelVersionStatus", request, _version)


def update_model_version(
    model_name: str,
    version: int,
    *,
    description: str | None,
    set_tags: Mapping[str, str] | None,
    remove_tags: Iterable[str],
    reason: str,
    request_id: str | None,
) -> Unary[ModelVersion]:
    request = pb.UpdateModelVersionRequest(
        model_name=model_name,
        version=version,
        set_tags=dict(set_tags or {}),
        remove_tags=list(remove_tags),
        reason=reason,
        request_id=request_id or new_request_id(),
    )
    if description is not None:
        request.description = description
    return Unary("UpdateModelVersion", request, _version)


def bundle_text(bundle: str | bytes | os.PathLike[str]) -> str:
    """A model-signing bundle given as its text, its bytes, or a path
    (`pathlib.Path`) to its file."""
    if isinstance(bundle, bytes):
        return bundle.decode()
    if isinstance(bundle, str):
        return bundle
    return Path(bundle).read_text()


def attach_signature(
    model_name: str, version: int, bundle: str, reason: str, request_id: str | None
) -> Unary[ModelVersion]:
    request = pb.AttachSignatureRequest(
        model_name=model_name,
        version=version,
        bundle=bundle,
        reason=reason,
        request_id=request_id or new_request_id(),
    )
    return Unary("AttachSignature", request, _version)


def get_version_signature(model_name: str, version: int) -> Unary[VersionSignature]:
    request = pb.GetVersionSignatureRequest(model_name=model_name, version=version)
    return Unary("GetVersionSignature", request, VersionSignature.from_proto)


def _page_size(page_size: int, limit: int | None) -> int:
    if not 1 <= page_size <= MAX_PAGE:
        raise ValueError(f"page_size must be 1 to {MAX_PAGE}, not {page_size}")
    return min(page_size, limit) if limit is not None and limit > 0 else page_size


# Governed promotion -----------------------------------------------------------


def set_alias_policy(
    model_name: str,
    alias: str,
    reason: str,
    *,
    protected: bool,
    required_approvals: int,
    approver_role: str,
    request_ttl_seconds: int,
    gate_metric: str,
    gate_min_delta: float,
    gate_lower_is_better: bool,
    soak_alias: str,
    min_soak_seconds: int,
    rollback_requires_approval: bool,
    request_id: str | None,
    model_prefix: str = "",
    require_signature: bool = False,
) -> Unary[AliasPolicy]:
    policy = pb.AliasPolicy(
        model_name=model_name,
        model_prefix=model_prefix,
        alias=alias,
        protected=protected,
        required_approvals=required_approvals,
        approver_role=approver_role,
        request_ttl_seconds=request_ttl_seconds,
        gate_metric=gate_metric,
        gate_min_delta=float(plain(gate_min_delta)),
        gate_lower_is_better=gate_lower_is_better,
        soak_alias=soak_alias,
        min_soak_seconds=min_soak_seconds,
        rollback_requires_approval=rollback_requires_approval,
        require_signature=require_signature,
    )
    request = pb.SetAliasPolicyRequest(policy=policy, reason=reason, request_id=request_id or new_request_id())
    return Unary("SetAliasPolicy", request, lambda response: _policy(response.policy))


def _policy(policy: Any) -> AliasPolicy:
    return AliasPolicy.from_proto(policy)


def get_alias_policy(model_name: str, alias: str, *, model_prefix: str = "") -> Unary[AliasPolicy]:
    request = pb.GetAliasPolicyRequest(model_name=model_name, model_prefix=model_prefix, alias=alias)
    return Unary("GetAliasPolicy", request, lambda response: _policy(response.policy))


def delete_alias_policy(
    model_name: str, alias: str, reason: str, *, request_id: str | None, model_prefix: str = ""
) -> Unary[int]:
    request = pb.DeleteAliasPolicyRequest(
        model_name=model_name,
        model_prefix=model_prefix,
        alias=alias,
        reason=reason,
        request_id=request_id or new_request_id(),
    )
    return Unary("DeleteAliasPolicy", request, lambda response: int(response.revision))


def request_alias_change(
    model_name: str,
    alias: str,
    version: int,
    reason: str,
    *,
    expected_current_version: int | None,
    request_id: str | None,
) -> Unary[ChangeRequest]:
    request = pb.CreateAliasChangeRequestRequest(
        model_name=model_name,
        alias=alias,
        version=version,
        reason=reason,
        request_id=request_id or new_request_id(),
    )
    if expected_current_version is not None:
        request.expected_current_version = expected_current_version
    return Unary(
        "CreateAliasChangeRequest", request, lambda response: ChangeRequest.from_proto(response.change_request)
    )


_DECISIONS = {
    "approve": ("ApproveAliasChangeRequest", pb.ApproveAliasChangeRequestRequest),
    "reject": ("RejectAliasChangeRequest", pb.RejectAliasChangeRequestRequest),
    "cancel": ("CancelAliasChangeRequest", pb.CancelAliasChangeRequestRequest),
}


def decide_change_request(
    decision: str, request_id_number: int, comment: str, *, request_id: str | None
) -> Unary[ChangeRequest]:
    method, message = _DECISIONS[decision]
    request = message(id=request_id_number, comment=comment, request_id=request_id or new_request_id())
    return Unary(method, request, lambda response: ChangeRequest.from_proto(response.change_request))


def get_change_request(request_id_number: int) -> Unary[ChangeRequest]:
    request = pb.GetAliasChangeRequestRequest(id=request_id_number)
    return Unary("GetAliasChangeRequest", request, lambda response: ChangeRequest.from_proto(response.change_request))


def list_change_requests(
    model_name: str,
    *,
    alias: str,
    state: ChangeRequestState | None,
    requester: str,
    limit: int | None,
    page_size: int,
) -> Listing[ChangeRequest]:
    request = pb.ListAliasChangeRequestsRequest(
        model_name=model_name,
        alias=alias,
        requester=requester,
        page_size=_page_size(page_size, limit),
    )
    if state is not None:
        request.state = state.to_proto()
    return Listing(
        "ListAliasChangeRequests", request, lambda page: map(ChangeRequest.from_proto, page.change_requests), limit
    )


def freeze(
    model_name: str,
    *,
    alias: str | None,
    version: int | None,
    reason: str,
    freeze: bool,
    duration_seconds: int,
    request_id: str | None,
) -> Unary[None]:
    key = request_id or new_request_id()
    request: Any
    if alias is not None and version is None:
        if freeze:
            request = pb.FreezeAliasRequest(
                model_name=model_name, alias=alias, reason=reason, duration_seconds=duration_seconds, request_id=key
            )
        else:
            request = pb.UnfreezeAliasRequest(model_name=model_name, alias=alias, reason=reason, request_id=key)
        method = "FreezeAlias" if freeze else "UnfreezeAlias"
    elif version is not None and alias is None:
        if freeze:
            request = pb.FreezeVersionRequest(model_name=model_name, version=version, reason=reason, request_id=key)
        else:
            request = pb.UnfreezeVersionRequest(model_name=model_name, version=version, reason=reason, request_id=key)
        method = "FreezeVersion" if freeze else "UnfreezeVersion"
    else:
        raise ValueError("freeze an alias or a version: give exactly one of alias= and version=")
    return Unary(method, request, lambda response: None)


def _webhook_settings(
    url: str,
    description: str,
    model_prefix: str,
    aliases: Iterable[str],
    event_types: Iterable[EventType | str],
    ordered: bool,
    request_id: str | None,
) -> dict[str, Any]:
    """The fields CreateWebhook and UpdateWebhook share."""
    return {
        "url": url,
        "description": description,
        "model_prefix": model_prefix,
        "aliases": list(aliases),
        "event_types": [EventType(t).to_proto() for t in event_types],
        "ordered": ordered,
        "request_id": request_id or new_request_id(),
    }


def create_webhook(
    url: str,
    *,
    description: str,
    model_prefix: str,
    aliases: Iterable[str],
    event_types: Iterable[EventType | str],
    ordered: bool,
    request_id: str | None,
) -> Unary[CreatedWebhook]:
    request = pb.CreateWebhookRequest(
        **_webhook_settings(url, description, model_prefix, aliases, event_types, ordered, request_id)
    )
    return Unary(
        "CreateWebhook",
        request,
        lambda response: CreatedWebhook(Webhook.from_proto(response.webhook), response.secret),
    )


def get_webhook(webhook_id: int) -> Unary[Webhook]:
    request = pb.GetWebhookRequest(id=webhook_id)
    return Unary("GetWebhook", request, lambda response: Webhook.from_proto(response.webhook))


def list_webhooks() -> Unary[list[Webhook]]:
    return Unary(
        "ListWebhooks",
        pb.ListWebhooksRequest(),
        lambda response: [Webhook.from_proto(w) for w in response.webhooks],
    )


def delete_webhook(webhook_id: int, *, request_id: str | None) -> Unary[None]:
    request = pb.DeleteWebhookRequest(id=webhook_id, request_id=request_id or new_request_id())
    return Unary("DeleteWebhook", request, lambda response: None)


def resume_webhook(webhook_id: int, *, skip_failed_event: bool, request_id: str | None) -> Unary[Webhook]:
    request = pb.ResumeWebhookRequest(
        id=webhook_id, skip_failed_event=skip_failed_event, request_id=request_id or new_request_id()
    )
    return Unary("ResumeWebhook", request, lambda response: Webhook.from_proto(response.webhook))


def webhook_deliveries(webhook_id: int, *, limit: int) -> Unary[list[WebhookDelivery]]:
    request = pb.ListWebhookDeliveriesRequest(id=webhook_id, limit=limit)
    return Unary(
        "ListWebhookDeliveries",
        request,
        lambda response: [WebhookDelivery.from_proto(d) for d in response.deliveries],
    )


def update_webhook(
    webhook_id: int,
    url: str,
    *,
    description: str,
    model_prefix: str,
    aliases: Iterable[str],
    event_types: Iterable[EventType | str],
    ordered: bool,
    request_id: str | None,
) -> Unary[Webhook]:
    request = pb.UpdateWebhookRequest(
        id=webhook_id,
        **_webhook_settings(url, description, model_prefix, aliases, event_types, ordered, request_id),
    )
    return Unary("UpdateWebhook", request, lambda response: Webhook.from_proto(response.webhook))


def rotate_webhook_secret(
    webhook_id: int, *, overlap_seconds: int | None, request_id: str | None
) -> Unary[CreatedWebhook]:
    request = pb.RotateWebhookSecretRequest(id=webhook_id, request_id=request_id or new_request_id())
    if overlap_seconds is not None:
        request.overlap_seconds = overlap_seconds
    return Unary(
        "RotateWebhookSecret",
        request,
        lambda response: CreatedWebhook(Webhook.from_proto(response.webhook), response.secret),
    )


def replay_webhook(
    webhook_id: int, *, from_event_id: int | None, since: datetime | None, request_id: str | None
) -> Unary[Webhook]:
    if (from_event_id is None) == (since is None):
        raise ValueError("replay from an event or a time: give exactly one of from_event_id= and since=")
    request = pb.ReplayWebhookRequest(id=webhook_id, request_id=request_id or new_request_id())
    if from_event_id is not None:
        request.from_event_id = from_event_id
    else:
        assert since is not None
        request.since.FromDatetime(since)
    return Unary("ReplayWebhook", request, lambda response: Webhook.from_proto(response.webhook))
