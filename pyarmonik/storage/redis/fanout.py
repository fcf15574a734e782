"""Redis pub/sub channels shared by every listener of a process.

A listener of its own connection per event stream let one client's burst of
streams take every pooled Redis connection, starving every other call. Here
one pub/sub connection serves the whole process: a channel is subscribed
while at least one listener wants it (its first listener waits for Redis'
confirmation, the next ones join at once) and unsubscribed when the last
leaves, and one reader hands each message to the listeners of its channel.
So any number of streams holds one connection.

This module knows channels and raw messages only; what a message means is
the caller's (``events``). Delivery is Redis pub/sub's: at most once, in
order per publisher. A lost connection loses messages: redis-py reconnects
and subscribes again by itself, and Redis confirming a subscription nobody
asked for reveals it; every listener that was confirmed before then fails
(with ``errors.Unavailable``), since what was published in between is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from pyarmonik.core import errors

log = logging.getLogger(__name__)

#: Bound on the wait for Redis to confirm a subscription.
SUBSCRIBE_TIMEOUT = 5.0

Deliver = Callable[[bytes | str], None]
Fail = Callable[[BaseException], None]


@dataclass(eq=False)
class _Listener:
    deliver: Deliver
    fail: Fail


@dataclass(eq=False)
class _Channel:
    listeners: set[_Listener] = field(default_factory=set)
    confirmed: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Channels:
    """Listeners of Redis pub/sub channels, all over one connection."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._channels: dict[str, _Channel] = {}
        #: SUBSCRIBE commands sent and not yet confirmed, by channel.
        self._pending: Counter[str] = Counter()
        self._commands = asyncio.Lock()  # one (un)subscription on the wire at a time
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def subscribed(self) -> int:
        """Channels with listeners."""
        return len(self._channels)

    @contextlib.asynccontextmanager
    async def listening(self, channel: str, deliver: Deliver, fail: Fail) -> AsyncIterator[None]:
        """Messages of ``channel`` go to ``deliver`` inside the block, from
        the moment Redis confirmed the subscription; ``fail`` gets the error
        that ends them early (the connection lost, the channels closed)."""
        listener = _Listener(deliver, fail)
        try:
            await self._join(channel, listener)
            yield
        finally:
            unsubscribing = self._leave(channel, listener)
            if unsubscribing is not None:
                await asyncio.wait([unsubscribing])  # never cancelled with the caller

    async def close(self) -> None:
        """Ends every listener (``errors.Unavailable``) and the connection."""
        self._closed = True
        self._fail_all(errors.Unavailable("the event bus is closing: subscribe again to another control plane"))
        tasks = [t for t in (self._reader, *self._background) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    # -- joining and leaving -----------------------------------------------
    async def _join(self, channel: str, listener: _Listener) -> None:
        if self._closed:
            raise errors.Unavailable("the event bus is closed")
        entry = self._channels.get(channel)
        if entry is None:
            entry = self._channels[channel] = _Channel()
            entry.listeners.add(listener)
            await self._subscribe(channel, entry)
        else:
            entry.listeners.add(listener)
        try:
            await asyncio.wait_for(asyncio.shield(entry.confirmed), SUBSCRIBE_TIMEOUT)
        except TimeoutError:
            raise errors.Unavailable(f"Redis did not confirm the subscription within {SUBSCRIBE_TIMEOUT} s") from None

    async def _subscribe(self, channel: str, entry: _Channel) -> None:
        """Sends SUBSCRIBE, shielded: a joiner cancelled meanwhile leaves the
        command whole and the bookkeeping right (its leaving unsubscribes)."""
        try:
            await asyncio.shield(self._send_subscribe(channel))
        except Exception as error:
            if self._channels.get(channel) is entry:
                del self._channels[channel]
            if not entry.confirmed.done():
                entry.confirmed.set_exception(error)
                entry.confirmed.exception()  # retrieved: the joiners raise it
            raise

    async def _send_subscribe(self, channel: str) -> None:
        async with self._commands:
            pubsub = self._pubsub = self._pubsub or self._redis.pubsub()
            self._pending[channel] += 1
            try:
                await pubsub.subscribe(channel)
            except BaseException:
                self._confirmed(channel)
                raise
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(pubsub), name="redis-pubsub-reader")

    def _confirmed(self, channel: str) -> bool:
        """Counts off a SUBSCRIBE; ``False`` when none was pending."""
        if not self._pending[channel]:
            del self._pending[channel]
            return False
        self._pending[channel] -= 1
        if not self._pending[channel]:
            del self._pending[channel]
        return True

    def _leave(self, channel: str, listener: _Listener) -> asyncio.Task[None] | None:
        """Forgets ``listener``; the unsubscription when it was the channel's last."""
        entry = self._channels.get(channel)
        if entry is None or listener not in entry.listeners:
            return None
        entry.listeners.discard(listener)
        if entry.listeners:
            return None
        del self._channels[channel]
        return self._in_background(self._unsubscribe(channel))

    async def _unsubscribe(self, channel: str) -> None:
        """Once no listener is left anywhere, the connection goes back to the
        pool: an idle process holds none."""
        async with self._commands:
            pubsub = self._pubsub
            if channel in self._channels or pubsub is None:
                return  # joined again meanwhile (or gone with the connection)
            with contextlib.suppress(Exception):  # a broken connection unsubscribes too
                await pubsub.unsubscribe(channel)
            if not self._channels:
                await self._release(pubsub)

    async def _release(self, pubsub: PubSub) -> None:
        """Under the command lock: the reader ends once Redis confirmed the
        last unsubscription (or is stopped), then the connection is released."""
        reader = self._reader
        if reader is not None and not reader.done():
            await asyncio.wait([reader], timeout=SUBSCRIBE_TIMEOUT)
            if not reader.done():
                reader.cancel()
                await asyncio.wait([reader])
        if self._pubsub is pubsub:
            self._pubsub, self._reader = None, None
            self._pending.clear()
        with contextlib.suppress(Exception):
            await pubsub.aclose()

    async def _drop(self, pubsub: PubSub) -> None:
        """After a lost connection: a later listener starts a new one."""
        async with self._commands:
            if self._pubsub is pubsub:
                self._pubsub = None
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- reading -----------------------------------------------------------
    async def _read(self, pubsub: PubSub) -> None:
        """Until no channel is subscribed (``listen`` then ends), or the
        connection is lost for good: every listener then fails."""
        try:
            async for message in pubsub.listen():
                self._dispatch(message)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("event subscriptions lost their Redis connection: %s", error)
            self._fail_all(errors.Unavailable(f"the event subscription lost its Redis connection: {error}"))
            self._in_background(self._drop(pubsub))

    def _dispatch(self, message: dict) -> None:  # type: ignore[type-arg]
        kind, channel = message["type"], _text(message["channel"])
        if kind == "message":
            entry = self._channels.get(channel)
            if entry is None or not entry.confirmed.done():
                return  # published before the channel's (new) subscription took effect
            for listener in list(entry.listeners):
                try:
                    listener.deliver(message["data"])
                except Exception as error:  # that listener's bug: the others go on
                    log.exception("an event listener of %s failed", channel)
                    self._leave(channel, listener)
                    listener.fail(error)
        elif kind == "subscribe":
            if self._confirmed(channel):
                entry = self._channels.get(channel)
                if entry is not None and not entry.confirmed.done():
                    entry.confirmed.set_result(None)
            else:  # subscribed again by redis-py after a reconnection
                self._fail_confirmed(errors.Unavailable("the event subscription lost its Redis connection"))

    # -- failures ----------------------------------------------------------
    def _fail_confirmed(self, error: errors.PyArmoniKError) -> None:
        """Fails the listeners that may have missed messages (those still
        waiting for their confirmation have not started reading)."""
        for channel, entry in list(self._channels.items()):
            if entry.confirmed.done():
                del self._channels[channel]
                self._in_background(self._unsubscribe(channel))
                for listener in entry.listeners:
                    listener.fail(error)

    def _fail_all(self, error: errors.PyArmoniKError) -> None:
        entries, self._channels = self._channels, {}
        self._pending.clear()
        for entry in entries.values():
            if not entry.confirmed.done():
                entry.confirmed.set_exception(error)
                entry.confirmed.exception()
            for listener in entry.listeners:
                listener.fail(error)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
