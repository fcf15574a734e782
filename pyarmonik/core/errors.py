"""One error hierarchy for the whole grid.

Each error carries the gRPC status code a caller should see. The control
plane and the agent turn these into statuses in ONE interceptor each, so no
servicer ever calls ``context.abort`` and a caller's mistake never surfaces
as UNKNOWN or INTERNAL.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc


class PyArmoniKError(Exception):
    """Base of every error the grid reports to a caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(PyArmoniKError):
    code = grpc.StatusCode.NOT_FOUND


class InvalidArgument(PyArmoniKError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class FailedPrecondition(PyArmoniKError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class NotHeld(FailedPrecondition):
    """An agent wrote to a task it no longer holds (its lease was reaped and
    the task retried or released): the write is refused."""


class AlreadyExists(PyArmoniKError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Unavailable(PyArmoniKError):
    code = grpc.StatusCode.UNAVAILABLE


class Unimplemented(PyArmoniKError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Cancelled(PyArmoniKError):
    code = grpc.StatusCode.CANCELLED


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
