"""One error hierarchy for the whole grid.

Each error carries the name of the gRPC status code a caller should see. The control
plane and the agent turn these into statuses in ONE interceptor each, so no
servicer ever calls ``context.abort`` and a caller's mistake never surfaces
as UNKNOWN or INTERNAL.
"""

from __future__ import annotations

from collections.abc import Iterable


class PyArmoniKError(Exception):
    """Base of every error the grid reports to a caller."""

    #: The name of the gRPC status code a caller sees (``grpc.StatusCode[code]``);
    #: a name, so that the domain does not depend on grpc.
    code: str = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(PyArmoniKError):
    code = "NOT_FOUND"


class InvalidArgument(PyArmoniKError):
    code = "INVALID_ARGUMENT"


class FailedPrecondition(PyArmoniKError):
    code = "FAILED_PRECONDITION"


class NotHeld(FailedPrecondition):
    """An agent wrote to a task it no longer holds (its lease was reaped and
    the task retried or released): the write is refused."""


class AlreadyExists(PyArmoniKError):
    code = "ALREADY_EXISTS"


class Unavailable(PyArmoniKError):
    code = "UNAVAILABLE"


class Unimplemented(PyArmoniKError):
    code = "UNIMPLEMENTED"


class Cancelled(PyArmoniKError):
    code = "CANCELLED"


class Unauthenticated(PyArmoniKError):
    """The caller could not be identified (no certificate, an unknown one)."""

    code = "UNAUTHENTICATED"


class PermissionDenied(PyArmoniKError):
    """The caller is known but none of its roles grants the permission."""

    code = "PERMISSION_DENIED"


class ResourceExhausted(PyArmoniKError):
    """A size or quota limit of the grid was reached (too large a message or
    result, too many concurrent streams)."""

    code = "RESOURCE_EXHAUSTED"


def missing(kind: str, ids: Iterable[str]) -> NotFound:
    """A NotFound naming every missing id, so one call reports them all."""
    listed = sorted(set(ids))
    shown = ", ".join(listed[:10]) + (f" (+{len(listed) - 10} more)" if len(listed) > 10 else "")
    return NotFound(f"{kind} not found: {shown}")


#: Exceptions of storage clients that mean "the server is unreachable right
#: now": a caller should retry, an agent should wait. Adapters register their
#: client's (``register_transient``) so that the services, which never import
#: a storage client, can still tell them from bugs.
TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)


def register_transient(*types: type[BaseException]) -> None:
    global TRANSIENT
    TRANSIENT = tuple(dict.fromkeys((*TRANSIENT, *types)))


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT)
