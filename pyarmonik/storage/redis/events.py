"""Redis event bus: session events over pub/sub, shared by every replica.

Each session has its own channel (``keys.session_events``), so Redis itself
filters by session; a message carries the events of one transition in the
``codec`` line format, whose fixed fields let a subscription skip the kinds
it does not want. The Lua functions of the Redis state store PUBLISH the
events of a transition in the call that commits it, so this bus only
subscribes: nothing in Python publishes. Status updates carry ids and
statuses only; a subscription that is not ``light`` gets each event's
record read from the store (``_with_records``), with the event's status. Delivery is Redis
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
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from pyarmonik.core import errors
from pyarmonik.core.models import Event
from pyarmonik.core.statuses import EventKind
from pyarmonik.core.statuses import EventKind as _Kind
from pyarmonik.storage.redis import codec, keys, reads
from pyarmonik.storage.redis.library import Library
from pyarmonik.storage.subscription import SubscriberQueue

log = logging.getLogger(__name__)

#: Bound on the wait for Redis to confirm (or end) a subscription.
SUBSCRIBE_TIMEOUT = 5.0


class RedisEventBus:
    """``EventBus`` over Redis pub/sub: one connection per subscription."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._library = Library.of(redis)

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
                codec.decode_events, session_id=session_id, kinds=None if kinds is None else frozenset(kinds)
            )
            complete = None if light else functools.partial(_with_records, self._library, session_id)
            reader = asyncio.ensure_future(_pump(pubsub, subscription, decode, complete))
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


async def _with_records(library: Library, session_id: str, events: list[Event]) -> list[Event]:
    """The events with their records as stored now (an update carries none),
    each keeping the status the event reported."""
    task_ids = [e.task.task_id for e in events if e.task is not None and e.kind is not _Kind.NEW_TASK]
    result_ids = [e.result.result_id for e in events if e.result is not None]
    tasks = {t.task_id: t for t in await reads.session_tasks(library, session_id, task_ids)}
    results = {r.result_id: r for r in await reads.session_results(library, session_id, result_ids)}
    complete = []
    for event in events:
        if event.task is not None and event.task.task_id in tasks:
            task = dataclasses.replace(tasks[event.task.task_id], status=event.task.status)
            event = dataclasses.replace(event, task=task)
        elif event.result is not None and event.result.result_id in results:
            result = dataclasses.replace(results[event.result.result_id], status=event.result.status)
            event = dataclasses.replace(event, result=result)
        complete.append(event)
    return complete


async def _pump(
    pubsub: PubSub,
    subscription: SubscriberQueue,
    decode: Callable[[str | bytes], list[Event]],
    complete: Callable[[list[Event]], Awaitable[list[Event]]] | None,
) -> None:
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
            if complete is not None and events:
                events = await complete(events)
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
