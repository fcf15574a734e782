"""Redis event bus: session events over pub/sub, shared by every replica.

Each session has its own channel (``keys.session_events``), so Redis itself
filters by session; a message carries the events of one transition in the
``codec`` line format, whose fixed fields let a subscription skip the kinds
it does not want, and read status updates, without decoding any JSON. The Lua scripts of the Redis state store
PUBLISH the events of a transition in the script that commits it, so this
bus only subscribes: nothing in Python publishes. Delivery is Redis
pub/sub's: at most once, in order per publisher, to the subscribers present
when the event is published.

Every subscription of a process shares one Redis connection
(``fanout.Channels``): a channel is subscribed once however many streams
follow its session, so no number of streams can take the connections the
other calls need. Two concerns, kept apart: which channels are subscribed
(``fanout``) and what a message means (``parse_message``, the one place
that reads the line format).

A subscription whose connection breaks ends with ``errors.Unavailable``,
even when the client reconnects and subscribes again by itself (redis-py
does, on a Redis restart): what was published in between is lost, and only
a new subscription, whose replay reads the store, makes up for it. Closing
the bus (the process stopping) ends every subscription the same way.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Collection

from redis.asyncio import Redis

from pyarmonik.core.models import Event
from pyarmonik.core.statuses import EventKind
from pyarmonik.storage.redis import codec, fanout, keys
from pyarmonik.storage.subscription import SubscriberQueue

log = logging.getLogger(__name__)


class RedisEventBus:
    """``EventBus`` over Redis pub/sub: one connection for every subscription."""

    def __init__(self, redis: Redis) -> None:
        self._channels = fanout.Channels(redis)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, session_id: str, *, kinds: Collection[EventKind] | None = None, light: bool = False
    ) -> AsyncIterator[AsyncIterator[Event]]:
        subscription = SubscriberQueue()
        wanted = None if kinds is None else frozenset(kinds)

        def deliver(data: str | bytes) -> None:
            for event in parse_message(data, session_id=session_id, kinds=wanted, light=light):
                subscription.deliver(event)

        async with self._channels.listening(keys.session_events(session_id), deliver, subscription.fail):
            try:
                yield subscription
            finally:
                subscription.close()

    @property
    def subscribed_sessions(self) -> int:
        """Sessions whose events this process follows."""
        return self._channels.subscribed

    async def close(self) -> None:
        """Ends every subscription (``errors.Unavailable``) and the connection."""
        await self._channels.close()


def parse_message(
    data: str | bytes, *, session_id: str, kinds: frozenset[EventKind] | None, light: bool
) -> list[Event]:
    """The events of one message of ``session_id``'s channel (those of
    ``kinds``; see ``ports.EventBus.subscribe`` for ``light``); none for a
    message that is not events, which is logged and skipped."""
    try:
        return codec.decode_events(data, session_id=session_id, kinds=kinds, light=light)
    except (ValueError, TypeError, KeyError):
        log.warning("ignored a message that is not an event: %.200r", data)
        return []
