"""Redis event bus: session events over pub/sub, shared by every replica.

Each session has its own channel (``keys.session_events``), so Redis itself
filters by session; a message carries the events of one transition in the
``codec`` line format, whose fixed fields let a subscription skip the kinds
it does not want, and read status updates, without decoding any JSON. The Lua scripts of the Redis state store
PUBLISH the events of a transition in the script that commits it, so this
bus only subscribes: nothing in Python publishes. Delivery is Redis
pub/sub's: at most once, in order per publisher, to the subscribers present
when the event is published.

A subscription whose connection breaks ends with ``errors.Unavailable``,
even when the client reconnects and subscribes again by itself (redis-py
does, on a Redis restart): what was published in between is lost, and only
a new subscription, whose replay reads the store, makes up for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Collection

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from pyarmonik.core import errors
from pyarmonik.core.models import Event
from pyarmonik.core.statuses import EventKind
from pyarmonik.storage.redis import codec, keys
from pyarmonik.storage.subscription import SubscriberQueue

log = logging.getLogger(__name__)

#: Bound on the wait for Redis to confirm (or end) a subscription.
SUBSCRIBE_TIMEOUT = 5.0


class RedisEventBus:
    """``EventBus`` over Redis pub/sub: one connection per subscription."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @contextlib.asynccontextmanager
    async def subscribe(
        self, session_id: str, *, kinds: Collection[EventKind] | None = None, light: bool = False
    ) -> AsyncIterator[AsyncIterator[Event]]:
        channel = keys.session_events(session_id)
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(channel)
            await _confirmed(pubsub, "subscribe")
            subscription = SubscriberQueue()
            decode = functools.partial(
                codec.decode_events,
                session_id=session_id,
                kinds=None if kinds is None else frozenset(kinds),
                light=light,
            )
            reader = asyncio.ensure_future(_pump(pubsub, subscription, decode))
            try:
                yield subscription
            finally:
                subscription.close()
                await _unsubscribe(pubsub, channel, reader)
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        """Nothing to release (each subscription closes its own connection
        on exit); kept because ``processes.wiring`` registers it."""


async def _confirmed(pubsub: PubSub, kind: str) -> None:
    """Reads the connection until Redis confirms the (un)subscription."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SUBSCRIBE_TIMEOUT
    while (remaining := deadline - loop.time()) > 0:
        message = await pubsub.get_message(timeout=remaining)
        if message is not None and message["type"] == kind:
            return
    raise TimeoutError(f"Redis did not confirm the {kind} within {SUBSCRIBE_TIMEOUT} s")


async def _pump(pubsub: PubSub, subscription: SubscriberQueue, decode: Callable[[str | bytes], list[Event]]) -> None:
    """Hands the messages of the channel to the subscriber until unsubscribed,
    or until the connection is lost (a second subscribe confirmation means
    the client reconnected, so events may be missing)."""
    try:
        async for message in pubsub.listen():
            if message["type"] == "subscribe":
                raise errors.Unavailable("the event subscription lost its Redis connection; subscribe again")
            if message["type"] != "message":
                continue
            try:
                events = decode(message["data"])
            except (ValueError, TypeError, KeyError):
                log.warning("ignored a message that is not an event: %.200r", message["data"])
                continue
            for event in events:
                subscription.deliver(event)
    except Exception as error:
        subscription.fail(error)
    finally:
        subscription.close()


async def _unsubscribe(pubsub: PubSub, channel: str, reader: asyncio.Future[None]) -> None:
    """Unsubscribes and lets the reader see the confirmation and end; a
    broken connection is simply dropped (which unsubscribes as well)."""
    if not reader.done():
        with contextlib.suppress(Exception):
            await pubsub.unsubscribe(channel)
            await asyncio.wait([reader], timeout=SUBSCRIBE_TIMEOUT)
    if not reader.done():
        reader.cancel()
        await asyncio.wait([reader])
