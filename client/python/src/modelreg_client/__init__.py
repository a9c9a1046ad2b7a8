"""Python client for the Model Registry: register trained models, ask which
version an alias (production, staging, canary ...) points at, move and roll
back aliases, and read the audit trail.

    from modelreg_client import RegistryClient

    with RegistryClient("http://127.0.0.1:50051") as registry:
        version = registry.register_model(
            "churn", algorithm="XGBoost", artifact_path="model.pkl", metrics={"auc": 0.91}
        )
        registry.set_production_model("churn", version.version, reason="best AUC so far")
"""

from ._pull import PulledModel, VerificationError
from ._requests import file_digest
from .aio import AsyncPager, AsyncRegistryClient
from .client import Pager, RegistryClient
from .errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    ModelRegistryError,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    Unknown,
)
from .records import (
    AliasChange,
    AliasPolicy,
    AliasUpdate,
    Artifact,
    ChangeRequest,
    ChangeRequestState,
    CreatedWebhook,
    Event,
    EventType,
    Model,
    ModelVersion,
    Signature,
    Status,
    Training,
    VersionSignature,
    Webhook,
    WebhookDelivery,
)

__all__ = [
    "PulledModel",
    "VerificationError",
    "CreatedWebhook",
    "Webhook",
    "WebhookDelivery",
    "Aborted",
    "AliasChange",
    "AliasPolicy",
    "AliasUpdate",
    "AlreadyExists",
    "Artifact",
    "AsyncPager",
    "AsyncRegistryClient",
    "Cancelled",
    "DataLoss",
    "DeadlineExceeded",
    "Event",
    "ChangeRequest",
    "ChangeRequestState",
    "EventType",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "Model",
    "ModelRegistryError",
    "ModelVersion",
    "NotFound",
    "OutOfRange",
    "Pager",
    "PermissionDenied",
    "RegistryClient",
    "ResourceExhausted",
    "Signature",
    "Status",
    "Training",
    "VersionSignature",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "Unknown",
    "file_digest",
]
