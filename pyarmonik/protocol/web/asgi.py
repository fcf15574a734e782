"""gRPC-Web as an ASGI application: what browsers call the API with.

``POST /<package>.<Service>/<Method>`` with a gRPC-Web content type is a
call: its handler is found through the server's interceptors
(``methods.Methods``), run on the request's messages in a
``context.WebContext``, and answered frame by frame (``calls``). The
client going away cancels the call, as does its ``grpc-timeout``; the
handler sees ``asyncio.CancelledError`` as under native gRPC. CORS
preflights are answered here; any other request goes to ``fallback``
(the GUI's files), else 404.

Errors of the transport itself are statuses too, never an HTTP error page
a gRPC-Web client could not read: a body above the message limit is
RESOURCE_EXHAUSTED naming the setting that raises it, an unknown method
UNIMPLEMENTED, a body that is not frames of the method's message
INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from pyarmonik.core import limits
from pyarmonik.protocol.web import calls, frames
from pyarmonik.protocol.web.context import Metadata, WebContext
from pyarmonik.protocol.web.cors import Cors
from pyarmonik.protocol.web.methods import Methods

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
App = Callable[[Scope, Receive, calls.Send], Awaitable[None]]

#: The verified client certificate of the connection a request came on, as
#: gRPC's ``auth_context`` holds it (``x509_pem_cert``, ``x509_common_name``);
#: set by the HTTP server for each TLS connection.
PEER_AUTH: contextvars.ContextVar[Mapping[str, Sequence[bytes]] | None] = contextvars.ContextVar(
    "pyarmonik_peer_auth", default=None
)

#: Headers of the HTTP transport, not metadata of the call.
_TRANSPORT_HEADERS = frozenset(
    {
        "content-type", "content-length", "host", "connection", "keep-alive", "te", "transfer-encoding",
        "upgrade", "http2-settings", "grpc-timeout", "accept-encoding",
    }
)  # fmt: skip
_TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


async def respond(send: calls.Send, status: int, headers: Sequence[tuple[str, str]], body: bytes) -> None:
    """A whole plain HTTP answer."""
    lines = [(key.encode(), value.encode()) for key, value in [*headers, ("content-length", str(len(body)))]]
    await send({"type": "http.response.start", "status": status, "headers": lines})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def request_headers(scope: Scope) -> dict[str, str]:
    """A request's headers by lowercase name (the last one of a repeated name)."""
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}


class GrpcWebApp:
    def __init__(
        self,
        methods: Methods,
        *,
        max_message: limits.Limit,
        cors: Cors | None = None,
        fallback: App | None = None,
    ) -> None:
        assert max_message.value is not None
        self._methods, self._max_message, self._cors, self._fallback = methods, max_message, cors or Cors(), fallback
        # gRPC's own limit is twice the setting (limits_interceptor.transport_limit): the
        # interceptor refuses the messages in between, naming the setting.
        binary = 2 * max_message.value + 5
        self._body_limits = {frames.Mode.BINARY: binary, frames.Mode.TEXT: 4 * (binary + 2) // 3 + 4}

    async def __call__(self, scope: Scope, receive: Receive, send: calls.Send) -> None:
        if scope["type"] != "http":
            return
        headers = request_headers(scope)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            requested = headers.get("access-control-request-headers", "")
            status, lines = self._cors.preflight(headers.get("origin"), requested)
            await respond(send, status, lines, b"")
            return
        mode = frames.mode_of(headers.get("content-type", ""))
        if mode is not None:
            await self._call(scope, receive, send, headers, mode)
        elif self._fallback is not None:
            await self._fallback(scope, receive, send)
        else:
            await respond(send, 404, [("content-type", "text/plain")], b"not found: gRPC-Web calls only\n")

    async def _call(
        self, scope: Scope, receive: Receive, send: calls.Send, headers: dict[str, str], mode: frames.Mode
    ) -> None:
        if scope["method"] != "POST":
            await respond(send, 405, [("allow", "POST")], b"a gRPC-Web call is a POST\n")
            return
        reply = calls.Reply(send, mode, self._cors.headers(headers.get("origin")))
        try:
            body = await _body(receive, self._body_limits[mode])
        except _BodyTooLarge as exc:
            await reply.close(grpc.StatusCode.RESOURCE_EXHAUSTED, self._too_large(exc.size))
            return
        except _Disconnected:
            return
        metadata = _metadata(scope)
        handler = await self._methods.find(scope["path"], metadata)
        if handler is None:
            await reply.close(grpc.StatusCode.UNIMPLEMENTED, f"Method not found: {scope['path']}")
            return
        try:
            requests = [_deserialize(handler, message) for message in frames.messages(body, mode)]
        except (frames.FrameError, DecodeError) as exc:
            await reply.close(grpc.StatusCode.INVALID_ARGUMENT, f"{scope['path']}: {exc}")
            return
        timeout = _timeout(headers.get("grpc-timeout"))
        deadline = None if timeout is None else time.monotonic() + timeout
        context = WebContext(metadata=metadata, peer=_peer(scope), auth=PEER_AUTH.get() or {}, deadline=deadline)
        call = calls.Call(handler, context, reply, max_message_size=self._max_message.value or 0)
        await _supervise(call, requests, receive, reply, timeout)

    def _too_large(self, size: int) -> str:
        return (
            f"a request body of more than {size} bytes is larger than the limit of {self._max_message.value} bytes "
            f"per message (raise it with {self._max_message.setting})"
        )


async def _supervise(
    call: calls.Call, requests: Sequence[Any], receive: Receive, reply: calls.Reply, timeout: float | None
) -> None:
    """Runs ``call`` until it ends, its client goes away or its deadline passes."""
    running = asyncio.ensure_future(call.run(requests))
    gone = asyncio.ensure_future(_disconnect(receive))
    try:
        done, _ = await asyncio.wait({running, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (running, gone):
            task.cancel()
        await asyncio.wait({running, gone})
    if running in done and not running.cancelled():
        running.result()
        return
    call.context.finish(cancelled=True)
    if gone not in done:
        await reply.close(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


class _BodyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _Disconnected(Exception):
    pass


async def _body(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _deserialize(handler: grpc.RpcMethodHandler, message: bytes) -> Any:
    return handler.request_deserializer(message) if handler.request_deserializer else message


def _metadata(scope: Scope) -> Metadata:
    found: list[tuple[str, str | bytes]] = []
    for raw_key, raw_value in scope["headers"]:
        key = raw_key.decode("latin-1")
        if key in _TRANSPORT_HEADERS or key.startswith(":"):
            continue
        if key.endswith("-bin"):
            try:
                found.append((key, base64.b64decode(raw_value + b"=" * (-len(raw_value) % 4))))
            except (binascii.Error, ValueError):
                found.append((key, raw_value))
        else:
            found.append((key, raw_value.decode("latin-1")))
    return tuple(found)


def _peer(scope: Scope) -> str:
    """The client as gRPC names peers: ``ipv4:127.0.0.1:5555``, ``ipv6:[::1]:5555``."""
    client = scope.get("client")
    if not client:
        return "unix:"
    host, port = client[0], client[1]
    return f"ipv6:[{host}]:{port}" if ":" in host else f"ipv4:{host}:{port}"


def _timeout(value: str | None) -> float | None:
    """Seconds of a ``grpc-timeout`` header (``10S``, ``500m``); ``None`` when absent or malformed."""
    if not value or value[-1] not in _TIMEOUT_UNITS or not value[:-1].isdigit():
        return None
    return int(value[:-1]) * _TIMEOUT_UNITS[value[-1]]
