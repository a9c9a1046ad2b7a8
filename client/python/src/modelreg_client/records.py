"""Plain, typed records the client returns instead of protobuf messages: times
are timezone-aware `datetime`s (UTC), maps are `dict`s, statuses are enums."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from ._generated.modelregistry.v1 import registry_pb2 as pb


class Status(str, enum.Enum):
    """Lifecycle status of a version."""

    ACTIVE = "ACTIVE"
    DEPRECATED = "DEPRECATED"
    ARCHIVED = "ARCHIVED"

    def to_proto(self) -> pb.ModelStatus.ValueType:
        """The wire value."""
        return pb.ModelStatus.Value(f"MODEL_STATUS_{self.value}")

    @classmethod
    def from_proto(cls, value: int) -> Status | int | None:
        """The status of a wire value; None for UNSPECIFIED, and the plain
        number for a status this client does not know (a newer server's)."""
        if value == 0:
            return None
        return _known(cls, pb.ModelStatus, value, "MODEL_STATUS_")


_Known = TypeVar("_Known", bound=enum.Enum)


def _known(cls: type[_Known], wire: Any, value: int, prefix: str) -> _Known | int:
    """The member of `cls` named like wire enum value `value`, or `value`
    itself when this client's stubs or enum do not know it."""
    try:
        name: str = wire.Name(value).removeprefix(prefix)
        return cls[name]
    except (ValueError, KeyError):
        return int(value)


class EventType(str, enum.Enum):
    """What an audit event records."""

    MODEL_CREATED = "MODEL_CREATED"
    MODEL_UPDATED = "MODEL_UPDATED"
    VERSION_REGISTERED = "VERSION_REGISTERED"
    VERSION_UPDATED = "VERSION_UPDATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    ALIAS_SET = "ALIAS_SET"
    ALIAS_DELETED = "ALIAS_DELETED"
    ALIAS_ROLLED_BACK = "ALIAS_ROLLED_BACK"
    ALIAS_POLICY_SET = "ALIAS_POLICY_SET"
    ALIAS_POLICY_DELETED = "ALIAS_POLICY_DELETED"
    CHANGE_REQUESTED = "CHANGE_REQUESTED"
    CHANGE_APPROVED = "CHANGE_APPROVED"
    CHANGE_REJECTED = "CHANGE_REJECTED"
    CHANGE_CANCELLED = "CHANGE_CANCELLED"
    CHANGE_FAILED = "CHANGE_FAILED"
    ALIAS_FROZEN = "ALIAS_FROZEN"
    ALIAS_UNFROZEN = "ALIAS_UNFROZEN"
    VERSION_FROZEN = "VERSION_FROZEN"
    VERSION_UNFROZEN = "VERSION_UNFROZEN"
    WEBHOOK_CREATED = "WEBHOOK_CREATED"
    WEBHOOK_DELETED = "WEBHOOK_DELETED"
    WEBHOOK_RESUMED = "WEBHOOK_RESUMED"
    WEBHOOK_UPDATED = "WEBHOOK_UPDATED"
    WEBHOOK_SECRET_ROTATED = "WEBHOOK_SECRET_ROTATED"
    WEBHOOK_REPLAYED = "WEBHOOK_REPLAYED"
    SIGNATURE_ATTACHED = "SIGNATURE_ATTACHED"

    def to_proto(self) -> pb.EventType.ValueType:
        """The wire value."""
        return pb.EventType.Value(f"EVENT_TYPE_{self.value}")


@dataclass(frozen=True)
class Artifact:
    """Where a version's artifact lives, and how to verify it."""

    uri: str
    metadata_uri: str = ""
    sha256: str = ""
    size_bytes: int = 0


@dataclass(frozen=True)
class Training:
    """Facts about the training run that produced a version."""

    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float = 0.0
    train_samples: int = 0
    test_samples: int = 0
    feature_count: int = 0
    feature_names: list[str] = field(default_factory=list)
    dataset_uri: str = ""
    code_version: str = ""

    def to_proto(self) -> pb.TrainingInfo:
        """The wire message."""
        message = pb.TrainingInfo(
            duration_seconds=float(plain(self.duration_seconds)),
            train_samples=int(plain(self.train_samples)),
            test_samples=int(plain(self.test_samples)),
            feature_count=int(plain(self.feature_count)),
            feature_names=self.feature_names,
            dataset_uri=self.dataset_uri,
            code_version=self.code_version,
        )
        if self.started_at is not None:
            message.started_at.CopyFrom(to_timestamp(self.started_at))
        if self.finished_at is not None:
            message.finished_at.CopyFrom(to_timestamp(self.finished_at))
        return message


@dataclass(frozen=True)
class Signature:
    """A version's verified model signature, in brief
    (`get_version_signature` gives its files and bundle)."""

    method: str
    """`key` or `certificate`."""
    signer: str
    """The trusted key's name, or the certificate's e-mail, URI or CN."""
    trusted_by: str
    """The server's `[[signer]]` entry that vouched for it."""
    verified_at: datetime
    file_count: int
    manifest_sha256: str
    signed_name: str
    status: str = "VERIFIED"

    @classmethod
    def from_proto(cls, message: pb.VersionSignature) -> Signature:
        """Reads a wire message."""
        method = pb.SignatureMethod.Name(message.method).removeprefix("SIGNATURE_METHOD_").lower()
        return cls(
            method=method,
            signer=message.signer,
            trusted_by=message.trusted_by,
            verified_at=from_timestamp(message.verified_at),
            file_count=message.file_count,
            manifest_sha256=message.manifest_sha256,
            signed_name=message.signed_name,
            status=pb.SignatureStatus.Name(message.status).removeprefix("SIGNATURE_STATUS_"),
        )


@dataclass(frozen=True)
class VersionSignature:
    """A version's signature whole: the version, every file it covers with
    its SHA-256, and the bundle as attached (for `model_signing verify`)."""

    version: ModelVersion
    files: dict[str, str]
    """File name -> SHA-256 (lowercase hex)."""
    bundle: str
    trusted_now: bool = True
    """Whether the bundle verifies against the server's trust file as it is
    now (a signer removed since no longer vouches)."""
    untrusted_reason: str = ""
    """Why not, when `trusted_now` is false."""

    @classmethod
    def from_proto(cls, message: pb.GetVersionSignatureResponse) -> VersionSignature:
        """Reads a wire message."""
        return cls(
            version=ModelVersion.from_proto(message.model_version),
            files={file.name: file.sha256 for file in message.files},
            bundle=message.bundle,
            trusted_now=message.trusted_now,
            untrusted_reason=message.untrusted_reason,
        )


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    id: str
    model_name: str
    version: int
    algorithm: str
    status: Status | int
    is_production: bool
    artifact: Artifact
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    training: Training
    metadata: dict[str, Any]
    description: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    aliases: list[str] = field(default_factory=list)
    signature: Signature | None = None
    """Its verified model signature, if one is attached."""

    # The message this record was read from (None for records built here).
    proto: pb.ModelVersion | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The canonical protobuf JSON mapping of the server's message (the
        shape grpcurl prints: camelCase names, int64 as strings, enum names,
        RFC 3339 times, defaults left out)."""
        return _canonical(self.proto)

    @classmethod
    def from_proto(cls, message: pb.ModelVersion) -> ModelVersion:
        """Reads a wire message."""
        training = message.training
        return cls(
            proto=message,
            id=message.id,
            model_name=message.model_name,
            version=message.version,
            algorithm=message.algorithm,
            status=Status.from_proto(message.status) or Status.ACTIVE,
            is_production=message.is_production,
            artifact=Artifact(
                uri=message.artifact.uri,
                metadata_uri=message.artifact.metadata_uri,
                sha256=message.artifact.sha256,
                size_bytes=message.artifact.size_bytes,
            ),
            metrics=dict(message.metrics),
            params=dict(message.params),
            tags=dict(message.tags),
            training=Training(
                started_at=from_timestamp(training.started_at) if training.HasField("started_at") else None,
                finished_at=from_timestamp(training.finished_at) if training.HasField("finished_at") else None,
                duration_seconds=training.duration_seconds,
                train_samples=training.train_samples,
                test_samples=training.test_samples,
                feature_count=training.feature_count,
                feature_names=list(training.feature_names),
                dataset_uri=training.dataset_uri,
                code_version=training.code_version,
            ),
            metadata=struct_to_dict(message.metadata),
            description=message.description,
            created_by=message.created_by,
            created_at=from_timestamp(message.created_at),
            updated_at=from_timestamp(message.updated_at),
            aliases=list(message.aliases),
            signature=Signature.from_proto(message.signature) if message.HasField("signature") else None,
        )


@dataclass(frozen=True)
class Model:
    """A registered model (a task such as `churn`) with its aliases.

    `aliases` maps each alias (`production`, `staging` ...) to the version it
    points at; `latest_version` is the highest ACTIVE version (the read-only
    alias `latest`).
    """

    name: str
    version_count: int
    production_version: int | None
    created_at: datetime
    updated_at: datetime
    aliases: dict[str, int] = field(default_factory=dict)
    latest_version: int | None = None
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    # The message this record was read from (None for records built here).
    proto: pb.Model | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The canonical protobuf JSON mapping of the server's message (the
        shape grpcurl prints: camelCase names, int64 as strings, enum names,
        RFC 3339 times, defaults left out)."""
        return _canonical(self.proto)

    @classmethod
    def from_proto(cls, message: pb.Model) -> Model:
        """Reads a wire message."""
        return cls(
            proto=message,
            name=message.name,
            version_count=message.version_count,
            production_version=message.production_version if message.HasField("production_version") else None,
            created_at=from_timestamp(message.created_at),
            updated_at=from_timestamp(message.updated_at),
            aliases=dict(message.aliases),
            latest_version=message.latest_version if message.HasField("latest_version") else None,
            description=message.description,
            tags=dict(message.tags),
        )


@dataclass(frozen=True)
class Event:
    """One entry of the append-only audit trail."""

    id: int
    occurred_at: datetime
    type: EventType | int
    model_name: str
    version: int | None
    alias: str | None
    previous_version: int | None
    new_version: int | None
    previous_status: Status | int | None
    new_status: Status | int | None
    actor: str
    reason: str
    request_id: str
    # An admin moved a protected alias past its policy (break-glass).
    emergency: bool = False
    # The change request the event is about, or whose approval made the move.
    change_request_id: int | None = None
    # For a policy set on a model-name prefix: the prefix (model_name is empty).
    model_prefix: str = ""
    # For a webhook subscription's event: the subscription (model_name is empty).
    webhook_id: int | None = None
    # Where the actor came from when an identity provider's token named it:
    # "ISSUER SUBJECT" ("" for static tokens and client certificates).
    actor_source: str = ""

    # The message this record was read from (None for records built here).
    proto: pb.Event | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The canonical protobuf JSON mapping of the server's message (the
        shape grpcurl prints: camelCase names, int64 as strings, enum names,
        RFC 3339 times, defaults left out)."""
        return _canonical(self.proto)

    @classmethod
    def from_proto(cls, message: pb.Event) -> Event:
        """Reads a wire message."""

        def optional(name: str) -> int | None:
            return int(getattr(message, name)) if message.HasField(name) else None  # type: ignore[arg-type]

        return cls(
            proto=message,
            id=message.id,
            occurred_at=from_timestamp(message.occurred_at),
            type=_known(EventType, pb.EventType, message.type, "EVENT_TYPE_"),
            model_name=message.model_name,
            version=optional("version"),
            alias=message.alias or None,
            previous_version=optional("previous_version"),
            new_version=optional("new_version"),
            previous_status=Status.from_proto(message.previous_status),
            new_status=Status.from_proto(message.new_status),
            actor=message.actor,
            reason=message.reason,
            request_id=message.request_id,
            emergency=message.emergency,
            change_request_id=optional("change_request_id"),
            model_prefix=message.model_prefix,
            webhook_id=optional("webhook_id"),
            actor_source=message.actor_source,
        )


@dataclass(frozen=True)
class AliasPolicy:
    """The rules an alias of a model moves under (see `set_alias_policy`)."""

    model_name: str
    alias: str
    protected: bool
    required_approvals: int
    approver_role: str
    request_ttl_seconds: int
    gate_metric: str
    gate_min_delta: float
    gate_lower_is_better: bool
    soak_alias: str
    min_soak_seconds: int
    rollback_requires_approval: bool
    revision: int
    updated_by: str
    # Set on a model-name prefix (model_name is then empty): for a model's
    # policy read back, the prefix it inherits it from.
    model_prefix: str = ""
    # The alias points only at versions carrying a verified signature.
    require_signature: bool = False

    proto: pb.AliasPolicy | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The canonical protobuf JSON mapping of the server's message."""
        return _canonical(self.proto)

    @classmethod
    def from_proto(cls, message: pb.AliasPolicy) -> AliasPolicy:
        """Reads a wire message."""
        return cls(
            proto=message,
            model_name=message.model_name,
            alias=message.alias,
            protected=message.protected,
            required_approvals=message.required_approvals,
            approver_role=message.approver_role,
            request_ttl_seconds=message.request_ttl_seconds,
            gate_metric=message.gate_metric,
            gate_min_delta=message.gate_min_delta,
            gate_lower_is_better=message.gate_lower_is_better,
            soak_alias=message.soak_alias,
            min_soak_seconds=message.min_soak_seconds,
            rollback_requires_approval=message.rollback_requires_approval,
            revision=message.revision,
            updated_by=message.updated_by,
            model_prefix=message.model_prefix,
            require_signature=message.require_signature,
        )


class ChangeRequestState(str, enum.Enum):
    """Where a change request stands."""

    PENDING = "PENDING"
    APPLIED = "APPLIED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    FAILED = "FAILED"

    def to_proto(self) -> pb.ChangeRequestState.ValueType:
        """The wire value."""
        return pb.ChangeRequestState.Value(f"CHANGE_REQUEST_STATE_{self.value}")


@dataclass(frozen=True)
class ChangeRequest:
    """A request to point an alias at a version, and its approvals."""

    id: int
    model_name: str
    alias: str
    version: int
    from_version: int | None
    reason: str
    requester: str
    state: ChangeRequestState | int
    required_approvals: int
    approvers: list[str]
    created_at: datetime
    expires_at: datetime
    decided_by: str
    decision_note: str

    proto: pb.AliasChangeRequest | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The canonical protobuf JSON mapping of the server's message."""
        return _canonical(self.proto)

    @classmethod
    def from_proto(cls, message: pb.AliasChangeRequest) -> ChangeRequest:
        """Reads a wire message."""
        return cls(
            proto=message,
            id=message.id,
            model_name=message.model_name,
            alias=message.alias,
            version=message.version,
            from_version=message.from_version if message.HasField("from_version") else None,
            reason=message.reason,
            requester=message.requester,
            state=_known(ChangeRequestState, pb.ChangeRequestState, message.state, "CHANGE_REQUEST_STATE_"),
            required_approvals=message.required_approvals,
            approvers=[approval.principal for approval in message.approvals],
            created_at=from_timestamp(message.created_at),
            expires_at=from_timestamp(message.expires_at),
            decided_by=message.decided_by,
            decision_note=message.decision_note,
        )


@dataclass(frozen=True)
class AliasUpdate:
    """One message of an alias watch: where the alias points (`model_version`
    is None when it points nowhere) and the change that put it there
    (`event`, None on the first message, which is the current state).
    `skipped_changes` means the reader was too slow and this is the latest
    state; `event_id` is where to resume."""

    model_name: str
    alias: str
    model_version: ModelVersion | None
    event_id: int
    event: Event | None
    initial: bool
    skipped_changes: bool

    # The message this record was read from (None for records built here).
    proto: pb.AliasUpdate | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The canonical protobuf JSON mapping of the server's message (the
        shape grpcurl prints: camelCase names, int64 as strings, enum names,
        RFC 3339 times, defaults left out)."""
        return _canonical(self.proto)

    @classmethod
    def from_proto(cls, message: pb.AliasUpdate) -> AliasUpdate:
        """Reads a wire message."""
        return cls(
            proto=message,
            model_name=message.model_name,
            alias=message.alias,
            model_version=ModelVersion.from_proto(message.model_version) if message.HasField("model_version") else None,
            event_id=message.event_id,
            event=Event.from_proto(message.event) if message.HasField("event") else None,
            initial=message.initial,
            skipped_changes=message.skipped_changes,
        )


@dataclass(frozen=True)
class AliasChange:
    """The outcome of moving or rolling back an alias (production included):
    the version it points at now, and the one before."""

    model_version: ModelVersion
    previous_version: int | None
    unchanged: bool = False


def from_timestamp(timestamp: Timestamp) -> datetime:
    """A wire time as an aware UTC datetime."""
    return timestamp.ToDatetime(tzinfo=timezone.utc)


def to_timestamp(moment: datetime) -> Timestamp:
    """An aware datetime (naive ones are taken as UTC) as a wire time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    timestamp = Timestamp()
    timestamp.FromDatetime(moment)
    return timestamp


def _canonical(message: Any) -> dict[str, Any]:
    if message is None:
        raise ValueError("this record was not read from the server, so it has no wire form")
    return dict(_integral_numbers(json_format.MessageToDict(message)))


def struct_to_dict(struct: Struct) -> dict[str, Any]:
    """A `google.protobuf.Struct` as a plain dict; numbers that hold an
    integer come back as `int` (a Struct keeps every number as a double, so
    `{"samples": 2000}` would otherwise read back as `2000.0`)."""
    return dict(_integral_numbers(json_format.MessageToDict(struct)))


_EXACT_INTEGER = 2.0**53


def _integral_numbers(value: Any) -> Any:
    """`value` with every float that holds an integer (within 2^53, where a
    double is exact) turned into that int, recursively, as Go's protojson
    (grpcurl) and the Rust client print them."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_INTEGER:
        return int(value)
    if isinstance(value, list):
        return [_integral_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _integral_numbers(item) for key, item in value.items()}
    return value


def plain(value: Any) -> Any:
    """`value` with numpy scalars and arrays (anything with `tolist()`) and
    tuples turned into plain Python numbers and lists, recursively, so data
    straight from a training job can be sent as it is."""
    if value is None or isinstance(value, (str, bytes, bool, int, float)):
        return value
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return plain(tolist())
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def dict_to_struct(values: dict[str, Any]) -> Struct:
    """A JSON-like dict (numpy values welcome) as a `google.protobuf.Struct`."""
    struct = Struct()
    struct.update(plain(values))
    return struct


@dataclass(frozen=True)
class Webhook:
    """A webhook subscription: which events are POSTed where (never its secret)."""

    id: int
    url: str
    description: str
    model_prefix: str
    aliases: tuple[str, ...]
    event_types: tuple[EventType | int, ...]
    # ACTIVE (delivering or retrying) or FAILING (paused until resumed).
    state: str
    failure: str
    retrying_event_id: int | None
    created_at: datetime
    created_by: str
    delivered_through_event_id: int
    last_delivered_at: datetime | None
    # While a rotated-out secret still signs, until when.
    previous_secret_expires_at: datetime | None = None
    # Whether a failing event holds up the later ones (False: it is set
    # aside and retried on its own while they go on).
    ordered: bool = True

    @classmethod
    def from_proto(cls, message: pb.Webhook) -> Webhook:
        """Reads a wire message."""
        return cls(
            id=message.id,
            url=message.url,
            description=message.description,
            model_prefix=message.model_prefix,
            aliases=tuple(message.aliases),
            event_types=tuple(_known(EventType, pb.EventType, t, "EVENT_TYPE_") for t in message.event_types),
            state=pb.WebhookState.Name(message.state).removeprefix("WEBHOOK_STATE_"),
            failure=message.failure,
            retrying_event_id=message.retrying_event_id if message.HasField("retrying_event_id") else None,
            created_at=from_timestamp(message.created_at),
            created_by=message.created_by,
            delivered_through_event_id=message.delivered_through_event_id,
            last_delivered_at=from_timestamp(message.last_delivered_at) if message.HasField("last_delivered_at") else None,
            previous_secret_expires_at=(
                from_timestamp(message.previous_secret_expires_at)
                if message.HasField("previous_secret_expires_at")
                else None
            ),
            ordered=message.ordered,
        )


@dataclass(frozen=True)
class CreatedWebhook:
    """A new subscription and its signing secret, which no other call returns."""

    webhook: Webhook
    secret: str


@dataclass(frozen=True)
class WebhookDelivery:
    """One attempt to deliver one event to a subscription."""

    attempted_at: datetime
    event_id: int
    # The `webhook-id` header: the same on every attempt of one event.
    message_id: str
    attempt: int
    http_status: int | None
    latency_ms: int
    response_excerpt: str
    error: str
    delivered: bool

    @classmethod
    def from_proto(cls, message: pb.WebhookDelivery) -> WebhookDelivery:
        """Reads a wire message."""
        return cls(
            attempted_at=from_timestamp(message.attempted_at),
            event_id=message.event_id,
            message_id=message.message_id,
            attempt=message.attempt,
            http_status=message.http_status if message.HasField("http_status") else None,
            latency_ms=message.latency_ms,
            response_excerpt=message.response_excerpt,
            error=message.error,
            delivered=message.delivered,
        )
