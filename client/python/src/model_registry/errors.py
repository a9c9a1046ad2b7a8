"""Exceptions raised by the client: one class per gRPC code a caller can act on,
each carrying the server's message (which says what was wrong and how to fix it)."""

from __future__ import annotations

import grpc


class ModelRegistryError(Exception):
    """Base class of every error the client raises.

    `code` is the gRPC status code, `message` the server's explanation.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{message} ({code.name})")
        self.code = code
        self.message = message


class InvalidArgument(ModelRegistryError):
    """The request was malformed; the message names the field."""


class NotFound(ModelRegistryError):
    """The model, version or event does not exist."""


class AlreadyExists(ModelRegistryError):
    """The thing to create exists already (for example a reused request_id)."""


class FailedPrecondition(ModelRegistryError):
    """The current state forbids the change (status machine, production rules, metric gate)."""


class Aborted(ModelRegistryError):
    """A compare-and-set lost: someone changed production first. Re-read and decide again."""


class Unauthenticated(ModelRegistryError):
    """The call carried no valid credentials."""


class PermissionDenied(ModelRegistryError):
    """The caller's role does not allow this call."""


class Unavailable(ModelRegistryError):
    """The server or its database is unreachable; retrying later may succeed."""


_BY_CODE: dict[grpc.StatusCode, type[ModelRegistryError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
}


def error_from_rpc(error: grpc.RpcError) -> ModelRegistryError:
    """The exception matching a failed call's status code."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = (error.details() if isinstance(error, grpc.Call) else None) or str(error)
    return _BY_CODE.get(code, ModelRegistryError)(code, message)
