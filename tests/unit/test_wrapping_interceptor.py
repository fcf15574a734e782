"""Interceptors wrap each method's handler once, not once per call."""

from __future__ import annotations

import collections

import grpc

from pyarmonik.protocol import handlers


class Counting(handlers.WrappingInterceptor):
    def __init__(self) -> None:
        super().__init__()
        self.wrapped: collections.Counter[str] = collections.Counter()

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        self.wrapped[method] += 1
        return grpc.unary_unary_rpc_method_handler(handler.unary_unary)


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method, self.invocation_metadata = method, ()


async def test_a_method_is_wrapped_once_for_many_calls_and_again_when_its_handler_changes() -> None:
    first = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    second = grpc.unary_unary_rpc_method_handler(lambda request, context: request)
    interceptor = Counting()

    async def serve(handler: grpc.RpcMethodHandler | None, method: str) -> grpc.RpcMethodHandler | None:
        async def continuation(_: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
            return handler

        return await interceptor.intercept_service(continuation, Details(method))  # type: ignore[arg-type]

    calls = [await serve(first, "/a.A/Get") for _ in range(3)]
    assert calls[0] is calls[1] is calls[2] and calls[0] is not first
    assert await serve(second, "/a.A/Get") is not calls[0]  # another server's handler: wrapped anew
    assert await serve(None, "/a.A/Unknown") is None
    assert interceptor.wrapped == {"/a.A/Get": 2}
