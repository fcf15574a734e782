"""Redis event bus: session events over pub/sub, shared by every replica.

Each session has its own channel (``keys.session_events``), so Redis itself
filters by session; a message carries the events of one transition in the
``codec`` line format, whose fixed fields let a subscription skip the kinds
it does not want. The Lua functions of the Redis state store PUBLISH the
events of a transition in the call that commits it, so this bus only
subscribes: nothing in Python publishes. Status updates carry ids and
statuses only; a subscription that is not ``light`` gets each event's
record read from the store (``_with_records``), with the event's status.
Delivery is Redis pub/sub's: at most once, in order per publisher, to the
subscribers present when the event is published.

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

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Collection

from redis.asyncio import Redis

from pyarmonik.core.models import Event
from pyarmonik.core.statuses import EventKind
from pyarmonik.storage.redis import codec, fanout, keys, reads
from pyarmonik.storage.redis.library import Library
from pyarmonik.storage.subscription import SubscriberQueue

log = logging.getLogger(__name__)


class RedisEventBus:
    """``EventBus`` over Redis pub/sub: one connection for every subscription."""

    def __init__(self, redis: Redis) -> None:
        self._library = Library.of(redis)
        self._channels = fanout.Channels(redis)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, session_id: str, *, kinds: Collection[EventKind] | None = None, light: bool = False
    ) -> AsyncIterator[AsyncIterator[Event]]:
        subscription = SubscriberQueue()
        wanted = None if kinds is None else frozenset(kinds)
        # A full subscription's events wait here for their records, read in
        # order by one task; a light one's go straight to the subscriber.
        waiting: asyncio.Queue[list[Event]] = asyncio.Queue()

        def deliver(data: str | bytes) -> None:
            events = parse_message(data, session_id=session_id, kinds=wanted)
            if light:
                for event in events:
                    subscription.deliver(event)
            elif events:
                waiting.put_nowait(events)

        async with self._channels.listening(keys.session_events(session_id), deliver, subscription.fail):
            completing = None if light else asyncio.ensure_future(self._complete(session_id, waiting, subscription))
            try:
                yield subscription
            finally:
                subscription.close()
                if completing is not None:
                    completing.cancel()
                    await asyncio.gather(completing, return_exceptions=True)

    async def _complete(self, session_id: str, waiting: asyncio.Queue[list[Event]], to: SubscriberQueue) -> None:
        try:
            while True:
                for event in await _with_records(self._library, session_id, await waiting.get()):
                    to.deliver(event)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the store unreachable: the stream ends with it
            to.fail(error)

    @property
    def subscribed_sessions(self) -> int:
        """Sessions whose events this process follows."""
        return self._channels.subscribed

    async def close(self) -> None:
        """Ends every subscription (``errors.Unavailable``) and the connection."""
        await self._channels.close()


def parse_message(data: str | bytes, *, session_id: str, kinds: frozenset[EventKind] | None) -> list[Event]:
    """The events of one message of ``session_id``'s channel (those of
    ``kinds``, every kind when ``None``); none for a message that is not
    events, which is logged and skipped."""
    try:
        return codec.decode_events(data, session_id, kinds=kinds)
    except (ValueError, TypeError):
        log.warning("ignored a message that is not an event: %.200r", data)
        return []


async def _with_records(library: Library, session_id: str, events: list[Event]) -> list[Event]:
    """The events with their records as stored now (an update carries none),
    each keeping the status the event reported."""
    task_ids = [e.task.task_id for e in events if e.task is not None and e.kind is not EventKind.NEW_TASK]
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
