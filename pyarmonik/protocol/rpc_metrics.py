"""RPC latencies, measured around every handler of both gRPC servers.

A sibling of ``interceptor.ErrorInterceptor`` and placed before it (outer),
so that it sees the status the error interceptor chose: a call that ends by
``context.abort`` is counted under the code it aborted with, one that
returns under OK, one whose client went away under CANCELLED. Only methods
a server registers are counted (an unknown method never reaches a handler),
so the ``method`` label takes the names of the API, not what clients send.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from pyarmonik.metrics import Metrics

Behavior = Callable[[Any, aio.ServicerContext], Any]


def split_method(full_method: str) -> tuple[str, str]:
    """``/armonik.api.grpc.v1.tasks.Tasks/SubmitTasks`` -> (service, method)."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


def _code(context: aio.ServicerContext, error: BaseException | None) -> str:
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED.name
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):  # some grpcio versions keep the wire number
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), "UNKNOWN")
    return grpc.StatusCode.OK.name if error is None else grpc.StatusCode.UNKNOWN.name


class _Timer:
    def __init__(self, metrics: Metrics, full_method: str) -> None:
        self.metrics, (self.service, self.method) = metrics, split_method(full_method)

    def done(self, context: aio.ServicerContext, started: float, error: BaseException | None) -> None:
        self.metrics.rpc_served(self.service, self.method, _code(context, error), time.perf_counter() - started)

    def unary(self, behavior: Behavior) -> Behavior:
        async def timed(request: Any, context: aio.ServicerContext) -> Any:
            started, error = time.perf_counter(), None
            try:
                response = behavior(request, context)
                return await response if inspect.isawaitable(response) else response
            except BaseException as exc:
                error = exc
                raise
            finally:
                self.done(context, started, error)

        return timed

    def stream(self, behavior: Behavior) -> Behavior:
        if not inspect.isasyncgenfunction(behavior):
            return self.unary(behavior)

        async def timed(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            started, error = time.perf_counter(), None
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                error = exc
                raise
            finally:
                self.done(context, started, error)

        return timed


class MetricsInterceptor(aio.ServerInterceptor):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        timer = _Timer(self.metrics, handler_call_details.method)
        codec = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(timer.unary(handler.unary_unary), **codec)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(timer.unary(handler.stream_unary), **codec)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(timer.stream(handler.unary_stream), **codec)
        return grpc.stream_stream_rpc_method_handler(timer.stream(handler.stream_stream), **codec)
