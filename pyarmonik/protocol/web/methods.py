"""A server's methods, found for each call as grpc.aio finds them.

``Methods`` is filled by the generated ``add_*Servicer_to_server``
functions, as a ``grpc.aio.Server`` is, and looks each call's handler up
through the same interceptor instances in the same order (the first one
outermost): a call that reaches a servicer through another transport is
authenticated, limited, counted and mapped to its status by the very
objects that do it for native gRPC.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import grpc
from grpc import aio

from pyarmonik.protocol.web.context import Metadata


class _CallDetails(grpc.HandlerCallDetails):
    def __init__(self, method: str, invocation_metadata: Metadata) -> None:
        self.method = method
        self.invocation_metadata = invocation_metadata


class Methods:
    """Stands in for the server in ``add_*Servicer_to_server(servicer, methods)``."""

    def __init__(self, interceptors: Sequence[aio.ServerInterceptor] = ()) -> None:
        self._interceptors = list(interceptors)
        self._generic: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict[str, Any]) -> None:
        """Newer generated code registers each method here too; the generic handlers have them already."""

    def _query(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        for generic in self._generic:
            handler = generic.service(details)
            if handler is not None:
                return handler
        return None

    async def find(self, method: str, metadata: Metadata) -> grpc.RpcMethodHandler | None:
        """The handler of ``method`` as the interceptors return it; ``None`` for an unknown method."""
        details = _CallDetails(method, metadata)
        return await _intercepted(iter(self._interceptors), self._query, details)


async def _intercepted(
    interceptors: Iterator[aio.ServerInterceptor],
    query: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
    details: grpc.HandlerCallDetails,
) -> grpc.RpcMethodHandler | None:
    interceptor = next(interceptors, None)
    if interceptor is None:
        return query(details)

    def continuation(call: grpc.HandlerCallDetails) -> Awaitable[grpc.RpcMethodHandler]:
        return _intercepted(interceptors, query, call)  # type: ignore[return-value]

    return await interceptor.intercept_service(continuation, details)
