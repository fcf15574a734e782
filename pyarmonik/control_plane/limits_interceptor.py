"""Transport limits of the API: message size, concurrent event streams and
idle uploads.

gRPC refuses a message above its own limit with a message of its own that
names no setting; so gRPC's hard limit is set to twice ``max_message_size``
(memory stays bounded) and messages between the two are refused here, with
the setting that raises the limit. Event streams (GetEvents and
WatchResults) hold a subscription each for as long as the client wants:
each user (each host without authentication) may keep a bounded number open.
Any other client stream (an upload) holds what it writes to (a temporary
file, one of the S3 store's few upload threads): a client that sends
nothing for ``max_upload_idle_seconds`` is refused, and nothing is stored.

The limits on what a request carries (tasks, results, data, name lengths)
are the use cases' (``core.limits``), whatever the transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from grpc import aio

from pyarmonik import settings
from pyarmonik.core import errors, identity
from pyarmonik.protocol import handlers


def transport_limit(max_message_size: int) -> int:
    """gRPC's own receive limit, above which it refuses messages itself."""
    return 2 * max_message_size


class _TooLarge:
    """What the deserializer gives for a message above the limit."""

    def __init__(self, size: int) -> None:
        self.size = size


def _setting(name: str) -> str:
    return f"{settings.flag_of(name)} or {settings.env_of(settings.LimitSettings, name)}"


def client_of(context: aio.ServicerContext) -> str:
    """Whom a stream counts against: the user, else the peer's host."""
    caller = identity.current()
    if caller is not None and caller is not identity.ANONYMOUS:
        return f"user {caller.username}"
    peer = context.peer() or "unknown"
    host = peer.rsplit(":", 1)[0] if peer.startswith(("ipv4:", "ipv6:")) else peer
    return f"host {host}"


class LimitsInterceptor(handlers.WrappingInterceptor):
    def __init__(self, *, max_message_size: int, max_streams: int, max_upload_idle: float | None = None) -> None:
        super().__init__()
        self._max_message_size = max_message_size
        self._max_streams = max_streams
        self._max_upload_idle = max_upload_idle
        self._open: Counter[str] = Counter()

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        guard = functools.partial(self._guard, method, handler.request_streaming, method in handlers.EVENT_STREAMS)
        return handlers.guarded(handler, guard, request_deserializer=self._deserializer(handler.request_deserializer))

    def _deserializer(self, deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
        def checked(raw: bytes) -> Any:
            if len(raw) > self._max_message_size:
                return _TooLarge(len(raw))
            return deserialize(raw) if deserialize is not None else raw

        return checked

    def _refuse(self, method: str, message: _TooLarge) -> errors.ResourceExhausted:
        return errors.ResourceExhausted(
            f"{method}: a message of {message.size} bytes is larger than the limit of {self._max_message_size} "
            f"bytes (raise it with {_setting('max_message_size')})"
        )

    async def _checked(self, method: str, requests: AsyncIterator[Any], idle: float | None) -> AsyncIterator[Any]:
        """``requests``, each checked for its size and, with ``idle``, awaited
        for that long at most."""
        iterator = aiter(requests)
        while True:
            try:
                request = await (anext(iterator) if idle is None else asyncio.wait_for(anext(iterator), idle))
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise errors.ResourceExhausted(
                    f"{method}: no message for {idle:g} s: the limit is {idle:g} s between two messages of an "
                    f"upload (raise it with {_setting('max_upload_idle_seconds')})"
                ) from None
            if isinstance(request, _TooLarge):
                raise self._refuse(method, request)
            yield request

    @contextlib.asynccontextmanager
    async def _guard(
        self, method: str, streaming: bool, counted: bool, request: Any, context: aio.ServicerContext
    ) -> AsyncIterator[Any]:
        if isinstance(request, _TooLarge):
            raise self._refuse(method, request)
        idle = None if counted else self._max_upload_idle
        guarded = self._checked(method, request, idle) if streaming else request
        if not counted:
            yield guarded
            return
        client = client_of(context)
        if self._open[client] >= self._max_streams:
            raise errors.ResourceExhausted(
                f"{client} already has {self._open[client]} event streams open (GetEvents, WatchResults): the "
                f"limit is {self._max_streams} (raise it with {_setting('max_event_streams_per_client')})"
            )
        self._open[client] += 1
        try:
            yield guarded
        finally:
            self._open[client] -= 1
            if not self._open[client]:
                del self._open[client]
