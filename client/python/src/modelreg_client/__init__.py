"""Python client for the Model Registry: register trained models, ask which
version an alias (production, staging, canary ...) points at, move and roll
back aliases, and read the audit trail.

    from model_registry import RegistryClient

    with RegistryClient("127.0.0.1:50051") as registry:
        version = registry.register_model(
            "churn", algorithm="XGBoost", artifact_path="model.pkl", metrics={"auc": 0.91}
        )
        registry.set_production_model("churn", version.version, reason="best AUC so far")
"""

from .client import RegistryClient, file_digest
from .errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    ModelRegistryError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from .records import AliasChange, AliasUpdate, Artifact, Event, EventType, Model, ModelVersion, Status, Training

__all__ = [
    "Aborted",
    "AliasChange",
    "AliasUpdate",
    "AlreadyExists",
    "Artifact",
    "Event",
    "EventType",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "Model",
    "ModelRegistryError",
    "ModelVersion",
    "NotFound",
    "PermissionDenied",
    "RegistryClient",
    "Status",
    "Training",
    "Unauthenticated",
    "Unavailable",
    "file_digest",
]
