"""Running code around every RPC of a server, whatever its shape.

An interceptor that checks or counts calls (authentication, limits) wraps
each method handler with a *guard*: an async context manager entered with
the request (an async iterator of requests for client streams) before the
servicer runs, and left when its response, or its last streamed response,
is done. The guard yields the request the servicer gets, so it may wrap a
request stream too. A guard refuses a call by raising a
``errors.PyArmoniKError``; the error interceptor, outside, turns it into
the call's status.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc
from grpc import aio

#: Server streams that end only when their client stops listening (or the
#: server stops): each holds a subscription for as long as its client wants.
EVENT_STREAMS = frozenset(
    {"/armonik.api.grpc.v1.events.Events/GetEvents", "/armonik.api.grpc.v1.results.Results/WatchResults"}
)

Behavior = Callable[[Any, aio.ServicerContext], Any]
Guard = Callable[[Any, aio.ServicerContext], AbstractAsyncContextManager[Any]]


def _unary_response(behavior: Behavior, guard: Guard) -> Behavior:
    async def wrapper(request: Any, context: aio.ServicerContext) -> Any:
        async with guard(request, context) as guarded:
            response = behavior(guarded, context)
            return await response if inspect.isawaitable(response) else response

    return wrapper


def _stream_response(behavior: Behavior, guard: Guard) -> Behavior:
    if not inspect.isasyncgenfunction(behavior):  # writes with context.write, or a stub's default
        return _unary_response(behavior, guard)

    async def wrapper(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        async with guard(request, context) as guarded:
            async for response in behavior(guarded, context):
                yield response

    return wrapper


class WrappingInterceptor(aio.ServerInterceptor):
    """An interceptor whose wrapping depends on the method alone: each
    method's handler is wrapped once and kept, not rebuilt for every call
    (four interceptors building a handler per call were a measurable part
    of a small RPC such as DownloadResultData). Subclasses say how in ``wrap``."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:  # an unknown method: nothing to keep
            return handler
        method = handler_call_details.method
        kept = self._wrapped.get(method)
        if kept is None or kept[0] is not handler:
            kept = self._wrapped[method] = (handler, self.wrap(handler, method))
        return kept[1]

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """``handler`` with this interceptor's work around its calls."""
        raise NotImplementedError


def guarded(
    handler: grpc.RpcMethodHandler,
    guard: Guard,
    *,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> grpc.RpcMethodHandler:
    """``handler`` with ``guard`` around each call (and another request
    deserializer, when given)."""
    codec = {
        "request_deserializer": request_deserializer or handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(_unary_response(handler.unary_unary, guard), **codec)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(_unary_response(handler.stream_unary, guard), **codec)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(_stream_response(handler.unary_stream, guard), **codec)
    return grpc.stream_stream_rpc_method_handler(_stream_response(handler.stream_stream, guard), **codec)
