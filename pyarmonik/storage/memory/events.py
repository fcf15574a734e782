"""In-memory event bus: one unbounded asyncio queue per subscriber."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager

from pyarmonik.core.models import Event
from pyarmonik.core.statuses import EventKind
from pyarmonik.storage.subscription import SubscriberQueue


class MemoryEventBus:
    """``EventBus`` for one process, which the memory state store publishes
    to: ``publish`` hands events to the current subscribers of their
    session, synchronously and in order."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[SubscriberQueue]] = {}

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            for subscription in self._subscribers.get(event.session_id, ()):
                subscription.deliver(event)

    @asynccontextmanager
    async def subscribe(
        self, session_id: str, *, kinds: Collection[EventKind] | None = None, light: bool = False
    ) -> AsyncIterator[AsyncIterator[Event]]:
        # ``kinds`` and ``light`` only spare decoding, which this bus never does.
        subscription = SubscriberQueue()
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
