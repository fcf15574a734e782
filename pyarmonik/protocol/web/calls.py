"""One gRPC-Web call: its method handler run, its answer framed.

The answer starts with the first message (each flushed as it comes: an
event stream is read as it goes) and ends with the trailer frame, which
carries the call's status: the code and message the error interceptor
aborted with, as native gRPC sends them. A call that ends before any
message (an error, mostly) is answered *trailers-only*: its status in the
HTTP headers and an empty body, as gRPC servers and Envoy do.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc import aio

from pyarmonik.protocol.web import frames
from pyarmonik.protocol.web.context import Metadata, WebContext

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Reply:
    """What goes back to the client, in order: headers, messages, trailers."""

    def __init__(self, send: Send, mode: frames.Mode, headers: Sequence[tuple[str, str]]) -> None:
        self._send, self._mode, self._headers = send, mode, list(headers)
        self.started = self.closed = False

    def _head(self, extra: Sequence[tuple[str, str]]) -> dict[str, Any]:
        lines = [("content-type", self._mode.value), *self._headers, *extra]
        return {"type": "http.response.start", "status": 200, "headers": [(k.encode(), v.encode()) for k, v in lines]}

    async def message(self, data: bytes, initial_metadata: Metadata | None) -> None:
        if not self.started:
            self.started = True
            await self._send(self._head(frames.metadata_headers(initial_metadata or ())))
        body = frames.encoded(frames.frame(data), self._mode)
        await self._send({"type": "http.response.body", "body": body, "more_body": True})

    async def close(
        self,
        code: grpc.StatusCode,
        details: str,
        *,
        trailing: Metadata = (),
        initial_metadata: Metadata | None = None,
    ) -> None:
        if self.closed:
            return
        self.closed = True
        status = [*frames.status_headers(code, details), *frames.metadata_headers(trailing)]
        if not self.started and code != grpc.StatusCode.OK:  # trailers-only
            self.started = True
            await self._send(self._head([*frames.metadata_headers(initial_metadata or ()), *status]))
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if not self.started:
            self.started = True
            await self._send(self._head(frames.metadata_headers(initial_metadata or ())))
        body = frames.encoded(frames.trailers(status), self._mode)
        await self._send({"type": "http.response.body", "body": body, "more_body": False})


class Call:
    """Runs ``handler`` on the request messages of one call, answering through ``reply``."""

    def __init__(
        self, handler: grpc.RpcMethodHandler, context: WebContext, reply: Reply, *, max_message_size: int
    ) -> None:
        self._handler, self.context, self._reply = handler, context, reply
        self._max_message_size = max_message_size
        context.writer = self._send

    async def _send(self, response: Any) -> None:
        data = self._handler.response_serializer(response) if self._handler.response_serializer else response
        if len(data) > self._max_message_size:
            raise _TooLargeToSend(len(data), self._max_message_size)
        await self._reply.message(data, self.context.initial_metadata)

    async def run(self, requests: Sequence[Any]) -> None:
        handler = self._handler
        try:
            if handler.unary_unary or handler.unary_stream:
                if len(requests) != 1:
                    raise _BadRequest(f"a unary request carries one message, this one {len(requests)}")
                await self._respond(handler.unary_unary or handler.unary_stream, requests[0])
            else:
                await self._respond(handler.stream_unary or handler.stream_stream, _iterate(requests))
        except aio.AbortError:
            pass  # the code and details are in the context
        except _BadRequest as exc:
            self.context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
            self.context.set_details(str(exc))
        except _TooLargeToSend as exc:
            self.context.set_code(grpc.StatusCode.RESOURCE_EXHAUSTED)
            self.context.set_details(str(exc))
        except Exception as exc:  # what grpc.aio does with an exception no interceptor mapped
            self.context.set_code(grpc.StatusCode.UNKNOWN)
            self.context.set_details(f"Unexpected {type(exc)}: {exc}")
        await self._reply.close(
            self.context.code() or grpc.StatusCode.OK,
            self.context.details() or "",
            trailing=self.context.trailing_metadata(),
            initial_metadata=self.context.initial_metadata,
        )
        self.context.finish(cancelled=False)

    async def _respond(self, behavior: Callable[[Any, WebContext], Any], request: Any) -> None:
        streaming = self._handler.response_streaming
        result = behavior(request, self.context)
        if inspect.isasyncgen(result):
            async with contextlib.aclosing(result):
                async for response in result:
                    await self._send(response)
            return
        response = await result if inspect.isawaitable(result) else result
        if not streaming:
            await self._send(response)


async def _iterate(requests: Sequence[Any]) -> AsyncIterator[Any]:
    for request in requests:
        yield request


class _BadRequest(Exception):
    pass


class _TooLargeToSend(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a response message of {size} bytes is larger than the limit of {limit} bytes")
