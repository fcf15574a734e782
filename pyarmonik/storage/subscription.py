"""The subscriber side every event bus hands out: events delivered into an
unbounded queue, read as an async iterator that ends once the subscription
is closed and drained, or raises the error that broke it."""

from __future__ import annotations

import asyncio

from pyarmonik.core.models import Event


class SubscriberQueue:
    """Async iterator over one subscriber's events; ends once closed and
    drained, or raises the error that broke its connection."""

    __slots__ = ("_closed", "_error", "_queue")

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._closed = False
        self._error: BaseException | None = None

    def deliver(self, event: Event) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    def fail(self, error: BaseException) -> None:
        if not self._closed:
            self._error = error
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)  # wakes a reader blocked in __anext__

    def __aiter__(self) -> SubscriberQueue:
        return self

    async def __anext__(self) -> Event:
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)  # stays ended for later calls
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return event
