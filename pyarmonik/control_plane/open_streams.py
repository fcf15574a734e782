"""Event streams end first when the control plane stops.

GetEvents and WatchResults never end on their own: a client keeps one open
for as long as it waits (``wait_for_result_availability``). A server that
stops with one open gives it the whole grace delay for nothing, and then
its process may still wait on the stream's subscription: Ctrl-C on
``pyarmonik local`` with a client waiting took 13-19 s and ended in a kill.

So the server's stop ends open streams before anything else: the task of
each one is cancelled where it waits (for the next event, usually), and the
stream ends with UNAVAILABLE, "the control plane is stopping", which tells
a client to subscribe again (to another replica); the grace delay is left
to the unary calls. A stream opened once stopping has begun is refused the
same way. This costs a stream nothing per event: it is one set entry while
it lives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Collection
from typing import Any

import grpc
from grpc import aio

from pyarmonik.core import errors
from pyarmonik.protocol import handlers

STOPPING = "the control plane is stopping: subscribe again (to another replica)"


class OpenStreams(handlers.WrappingInterceptor):
    """Keeps the tasks of the open calls of ``methods``; ``end_all`` ends them."""

    def __init__(self, methods: Collection[str]) -> None:
        super().__init__()
        self._methods = frozenset(methods)
        self._open: set[asyncio.Task[Any]] = set()
        self._ending = False

    def wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        if method not in self._methods:
            return handler
        return handlers.guarded(handler, self._guard)

    def end_all(self) -> int:
        """Ends every open stream (and refuses new ones); how many were open."""
        self._ending = True
        ended = list(self._open)
        for task in ended:
            task.cancel(STOPPING)
        return len(ended)

    @contextlib.asynccontextmanager
    async def _guard(self, request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        if self._ending:
            raise errors.Unavailable(STOPPING)
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        try:
            yield request
        except asyncio.CancelledError:
            if not self._ending:
                raise  # the client went away: the call is cancelled anyway
            uncancel = getattr(task, "uncancel", None)  # Python 3.11+: let the status be sent
            if uncancel is not None:
                uncancel()
            raise errors.Unavailable(STOPPING) from None
        finally:
            self._open.discard(task)
