"""Redis event bus: session events over pub/sub, shared by every replica.

Each session has its own channel (``keys.session_events``); a message is one
event in the ``codec`` JSON format, which the Lua scripts of a Redis state
store can PUBLISH too. Delivery is Redis pub/sub's: at most once, in order
per publisher, to the subscribers present when the event is published.

``publish`` is synchronous (state stores call it inline while committing):
it encodes the events at once, a snapshot of their records, and queues them;
one background task per bus PUBLISHes them in order over one connection.
``flush``/``close`` wait until what was published has left; ``subscribe``
flushes first, so a subscriber never sees what this bus published before it
subscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from pyarmonik.core.models import Event
from pyarmonik.storage.redis import codec, keys
from pyarmonik.storage.subscription import Subscription

log = logging.getLogger(__name__)

#: Bound on the wait for Redis to confirm (or end) a subscription.
SUBSCRIBE_TIMEOUT = 5.0
#: Most events sent in one pipelined round trip.
PUBLISH_BATCH = 256

_Message = tuple[str, str]  # (channel, encoded event)


class RedisEventBus:
    """``EventBus`` over Redis pub/sub. Call ``close`` when done with it."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._outbox: asyncio.Queue[_Message] | None = None
        self._sender: asyncio.Task[None] | None = None

    def publish(self, events: Sequence[Event]) -> None:
        """Queues the events for publication; needs a running event loop."""
        if not events:
            return
        outbox = self._started()
        for event in events:
            outbox.put_nowait((keys.session_events(event.session_id), codec.encode_event(event)))

    @contextlib.asynccontextmanager
    async def subscribe(self, session_id: str) -> AsyncIterator[AsyncIterator[Event]]:
        channel = keys.session_events(session_id)
        await self.flush()
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(channel)
            await _confirmed(pubsub, "subscribe")
            subscription = Subscription()
            reader = asyncio.ensure_future(_pump(pubsub, subscription))
            try:
                yield subscription
            finally:
                subscription.close()
                await _unsubscribe(pubsub, channel, reader)
        finally:
            await pubsub.aclose()

    async def flush(self) -> None:
        """Waits until every event published so far has been sent (or dropped
        on a Redis error, which is logged)."""
        if self._outbox is not None and self._sender is not None and not self._sender.done():
            await self._outbox.join()

    async def close(self, *, timeout: float = SUBSCRIBE_TIMEOUT) -> None:
        """Flushes (for at most ``timeout`` seconds) and stops the sender."""
        sender, self._sender = self._sender, None
        if sender is None:
            return
        if self._outbox is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._outbox.join(), timeout)
        sender.cancel()
        await asyncio.wait([sender])

    # -- internals ----------------------------------------------------------
    def _started(self) -> asyncio.Queue[_Message]:
        if self._outbox is None:
            self._outbox = asyncio.Queue()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send(self._outbox), name="redis-event-bus")
        return self._outbox

    async def _send(self, outbox: asyncio.Queue[_Message]) -> None:
        while True:
            batch = [await outbox.get()]
            while len(batch) < PUBLISH_BATCH and not outbox.empty():
                batch.append(outbox.get_nowait())
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, message in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
            except Exception:  # events are notifications: a lost one must not stop the rest
                log.exception("could not publish %d events; they are dropped", len(batch))
            finally:
                for _ in batch:
                    outbox.task_done()


async def _confirmed(pubsub: PubSub, kind: str) -> None:
    """Reads the connection until Redis confirms the (un)subscription."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SUBSCRIBE_TIMEOUT
    while (remaining := deadline - loop.time()) > 0:
        message = await pubsub.get_message(timeout=remaining)
        if message is not None and message["type"] == kind:
            return
    raise TimeoutError(f"Redis did not confirm the {kind} within {SUBSCRIBE_TIMEOUT} s")


async def _pump(pubsub: PubSub, subscription: Subscription) -> None:
    """Hands the messages of the channel to the subscriber until unsubscribed."""
    try:
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            try:
                subscription.deliver(codec.decode_event(message["data"]))
            except (ValueError, TypeError, KeyError):
                log.warning("ignored a message that is not an event: %.200r", message["data"])
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
