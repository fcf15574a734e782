"""A request body that is not valid protobuf is the caller's mistake.

gRPC parses each request before the handler runs; a body that does not
parse (bytes that are no message of the method's type, a string field
holding invalid UTF-8) made grpc.aio answer UNKNOWN, or INTERNAL when it
came in a stream. Here the parser never raises: it gives a ``Malformed``
marker instead, refused as INVALID_ARGUMENT naming the method, in place of
the request (a unary call) or when the handler reaches it (a stream, which
may have started on valid messages).

``BodyInterceptor`` is the innermost interceptor of both servers (the
client API's and the agent's Agent API): the outer ones (authentication,
limits) still see the call first, and the parser wrapped by the limits
interceptor's (message size) is this one.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import message
from grpc import aio

from pyarmonik.core import errors
from pyarmonik.protocol import handlers


class Malformed:
    """What the parser gives for a body that does not parse."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    """``deserialize``, giving a ``Malformed`` instead of raising."""

    def parse(raw: bytes) -> Any:
        if deserialize is None:
            return raw
        try:
            return deserialize(raw)
        except (message.DecodeError, UnicodeDecodeError) as exc:
            return Malformed(str(exc) or type(exc).__name__)

    return parse


def refusal(method: str, body: Malformed) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"{method}: the request is not a valid protobuf message: {body.reason}")


async def _checked(method: str, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Malformed):
            raise refusal(method, request)
        yield request


@contextlib.asynccontextmanager
async def _guard(method: str, streaming: bool, request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
    if streaming:
        yield _checked(method, request)
        return
    if isinstance(request, Malformed):
        raise refusal(method, request)
    yield request


class BodyInterceptor(handlers.WrappingInterceptor):
    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        guard = functools.partial(_guard, method, handler.request_streaming)
        return handlers.guarded(handler, guard, request_deserializer=tolerant(handler.request_deserializer))
