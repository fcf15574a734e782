"""Helpers shared by every test tier."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

DEFAULT_TIMEOUT = 10.0


def wait_for(predicate: Callable[[], object], timeout: float = DEFAULT_TIMEOUT, *, interval: float = 0.01) -> object:
    """Polls ``predicate`` until it returns a truthy value, which is returned.

    The one way tests wait: bounded, and failing with ``AssertionError``
    (naming the predicate) instead of hanging when the condition never holds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition {getattr(predicate, '__name__', predicate)!r} not met within {timeout} s")
        time.sleep(interval)


def grpc_code(call: Callable[[], object]) -> grpc.StatusCode:
    """The status code ``call`` fails with; ``AssertionError`` when it succeeds."""
    try:
        call()
    except grpc.RpcError as error:
        return error.code()  # type: ignore[attr-defined, no-any-return]
    raise AssertionError("the call succeeded; an error status was expected")
