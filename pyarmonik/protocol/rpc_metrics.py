"""RPC latencies, measured around every handler of both gRPC servers.

A sibling of ``interceptor.ErrorInterceptor`` and placed before it (outer),
so that it sees the status the error interceptor chose: a call that ends by
``context.abort`` is counted under the code it aborted with, one that
returns under OK, one whose client went away under CANCELLED, except an
event stream (``handlers.EVENT_STREAMS``), which ends only that way: its
client stopping to listen (``wait_for_result_availability`` once its
results are there) is its normal end, counted OK. Only methods
a server registers are counted (an unknown method never reaches a handler),
so the ``method`` label takes the names of the API, not what clients send.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
from grpc import aio

from pyarmonik.metrics import Metrics
from pyarmonik.protocol import handlers


def split_method(full_method: str) -> tuple[str, str]:
    """``/armonik.api.grpc.v1.tasks.Tasks/SubmitTasks`` -> (service, method)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def _code(context: aio.ServicerContext, error: BaseException | None) -> str:
    # A stream's client gone: its handler is cancelled while it awaits, or
    # closed (GeneratorExit) while it waits at a ``yield``.
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.CANCELLED.name
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):  # some grpcio versions keep the wire number
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), "UNKNOWN")
    return grpc.StatusCode.OK.name if error is None else grpc.StatusCode.UNKNOWN.name


class MetricsInterceptor(handlers.WrappingInterceptor):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        endless = method in handlers.EVENT_STREAMS
        return handlers.guarded(handler, functools.partial(self._timed, *split_method(method), endless))

    @contextlib.asynccontextmanager
    async def _timed(
        self, service: str, method: str, endless: bool, request: Any, context: aio.ServicerContext
    ) -> AsyncIterator[Any]:
        started, error = time.perf_counter(), None
        try:
            yield request
        except BaseException as exc:
            error = exc
            raise
        finally:
            code = _code(context, error)
            if endless and code == grpc.StatusCode.CANCELLED.name:
                code = grpc.StatusCode.OK.name
            self.metrics.rpc_served(service, method, code, time.perf_counter() - started)
