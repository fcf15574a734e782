"""In-memory event bus: one unbounded asyncio queue per subscriber."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from pyarmonik.core.models import Event


class _Subscription:
    """Async iterator over the events of one subscriber; ends once closed and drained."""

    __slots__ = ("_closed", "_queue")

    def __init__(self) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._closed = False

    def deliver(self, event: Event) -> None:
        if not self._closed:
            self._queue.put_nowait(event)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)  # wakes a reader blocked in __anext__

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> Event:
        event = await self._queue.get()
        if event is None:
            self._queue.put_nowait(None)  # stays ended for later calls
            raise StopAsyncIteration
        return event


class MemoryEventBus:
    """``EventBus`` for one process: ``publish`` hands events to the current
    subscribers of their session, synchronously and in order."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[_Subscription]] = {}

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            for subscription in self._subscribers.get(event.session_id, ()):
                subscription.deliver(event)

    @asynccontextmanager
    async def subscribe(self, session_id: str) -> AsyncIterator[AsyncIterator[Event]]:
        subscription = _Subscription()
        self._subscribers.setdefault(session_id, []).append(subscription)
        try:
            yield subscription
        finally:
            subscription.close()
            subscribers = self._subscribers.get(session_id, [])
            if subscription in subscribers:
                subscribers.remove(subscription)
            if not subscribers:
                self._subscribers.pop(session_id, None)

    def subscriber_count(self, session_id: str) -> int:
        return len(self._subscribers.get(session_id, ()))
