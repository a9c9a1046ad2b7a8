"""Exceptions raised by the client: one class per gRPC code a caller can act on,
each carrying the server's message (which says what was wrong and how to fix it),
the id the server gave the request, and every invalid field of a refused one."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import grpc.aio
# googleapis-common-protos ships no type stubs; only its message classes are used.
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a refused request (`google.rpc.BadRequest`)."""

    field: str
    description: str


class ModelRegistryError(Exception):
    """Base class of every error the client raises.

    `code` is the gRPC status code, `message` the server's explanation,
    `request_id` the id the server gave the request (quote it to an
    operator), `field_violations` every invalid field of a refused request.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        request_id: str | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
    ) -> None:
        super().__init__(f"{message} ({code.name})")
        self.code = code
        self.message = message
        self.request_id = request_id
        self.field_violations = field_violations


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


class DeadlineExceeded(ModelRegistryError):
    """The call's deadline passed before the server answered (the change may
    still have been applied: retry with the same request_id to find out)."""


class Cancelled(ModelRegistryError):
    """The call was cancelled, by the caller or on the way."""


class ResourceExhausted(ModelRegistryError):
    """A limit was hit: a message or page too large, too many calls, or the
    server's disk is full."""


class OutOfRange(ModelRegistryError):
    """A value (a page token, an event id) lies outside what exists."""


class Unimplemented(ModelRegistryError):
    """The server does not offer this call (an older server version)."""


class Internal(ModelRegistryError):
    """The server failed unexpectedly; quote the request id to an operator."""


class DataLoss(ModelRegistryError):
    """Unrecoverable data loss or corruption was detected."""


class Unknown(ModelRegistryError):
    """An error without a known status (often from a proxy in between)."""


_BY_CODE: dict[grpc.StatusCode, type[ModelRegistryError]] = {
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNKNOWN: Unknown,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.DATA_LOSS: DataLoss,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
}


# Failed calls of the blocking API are grpc.Call; those of grpc.aio are AioRpcError.
_WITH_STATUS = (grpc.Call, grpc.aio.AioRpcError)


def _details(error: grpc.RpcError) -> tuple[str | None, tuple[FieldViolation, ...]]:
    """The request id and field violations of a failed call's rich status."""
    request_id: str | None = None
    violations: list[FieldViolation] = []
    metadata: tuple[tuple[str, str | bytes], ...] = (
        tuple(error.trailing_metadata() or ()) if isinstance(error, _WITH_STATUS) else ()
    )
    for key, value in metadata:
        if key == "x-request-id" and isinstance(value, str):
            request_id = request_id or value
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.RequestInfo.DESCRIPTOR):
                info = error_details_pb2.RequestInfo()
                detail.Unpack(info)
                request_id = info.request_id
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return request_id, tuple(violations)


def error_from_rpc(error: grpc.RpcError) -> ModelRegistryError:
    """The exception matching a failed call's status code, with its details."""
    code = error.code() if isinstance(error, _WITH_STATUS) else grpc.StatusCode.UNKNOWN
    message = (error.details() if isinstance(error, _WITH_STATUS) else None) or str(error)
    request_id, violations = _details(error)
    return _BY_CODE.get(code, ModelRegistryError)(code, message, request_id, violations)
