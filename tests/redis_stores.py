"""Grids over the tests' Redis, for tests that drive the lifecycle use cases
(or a store) directly instead of through a served control plane, and a
recorder of the events the Lua functions publish.

The ``pyarmonik`` Redis Functions library is the one implementation of the
state graph: a test of what a transition leads to runs on it, never on a
stand-in. Each test
gets an emptied database (the ``redis_client`` fixture FLUSHes it); grids
that outlive one test (module or session fixtures) take a database of their
own through ``emptied_database``, so that those flushes leave them alone.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import redis
import redis.asyncio

from pyarmonik.core.models import Event
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.settings import StorageSettings
from pyarmonik.storage import ports
from pyarmonik.storage.redis import codec, keys
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.events import RedisEventBus
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore
from tests.contract.state_contract import RecordingEventBus

EVERY_SESSION_CHANNEL = keys.session_events("*")
MARKER_CHANNEL = keys.session_events("marker")
DRAIN_TIMEOUT = 5.0
#: What a deployment keeps with the records by default (``small_object_bytes``).
INLINE_LIMIT = StorageSettings.model_fields["small_object_bytes"].default

#: Databases of the session's Redis kept for grids that outlive one test
#: (database 0 is every test's own, flushed before each).
FUZZ_DATABASE = 7
MODULE_GRID_DATABASE = 8


def emptied(url: str) -> str:
    """``url``, its database emptied now."""
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


def emptied_database(url: str, index: int) -> str:
    """The URL of database ``index`` of the server at ``url``, emptied now."""
    return emptied(re.sub(r"/\d*$", "", url) + f"/{index}")


def redis_grid(
    client: redis.asyncio.Redis,
    objects: ports.ObjectStore,
    *,
    clock: Callable[[], float] = time.time,
    inline_limit: int = INLINE_LIMIT,
) -> Grid:
    """A grid on ``client``'s database built as ``processes.wiring`` builds
    one: Redis state, queue, events and dispatch, small result data (up to
    ``inline_limit`` bytes) kept with its record, and ``clock`` for the grid
    and its leases (a ``FakeClock`` makes leases expire without waiting)."""
    return Grid(
        state=RedisStateStore(client),
        queue=RedisTaskQueue(client, clock=clock),
        objects=objects,
        events=RedisEventBus(client),
        clock=clock,
        dispatch=RedisDispatch(client, clock=clock),
        inline_limit=inline_limit,
    )


class RedisRecordingBus(RecordingEventBus):
    """Records the events that reach a Redis subscriber of every session.

    The state store does not publish to a bus: its functions PUBLISH, so this
    is a real pub/sub subscriber of every session channel (of any database:
    pub/sub ignores them), drained up to a marker message whenever the test
    reads what was published.
    """

    def __init__(self, url: str) -> None:
        self._received: list[Event] = []
        super().__init__()
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()
        self._pubsub.psubscribe(EVERY_SESSION_CHANNEL)
        self._pubsub.get_message(timeout=DRAIN_TIMEOUT)  # the psubscribe confirmation

    @property  # type: ignore[override]
    def published(self) -> list[Event]:
        self._drain()
        return self._received

    @published.setter
    def published(self, events: list[Event]) -> None:
        self._received = events

    def _drain(self) -> None:
        """Reads every message published so far: one subscriber connection
        receives messages in publication order, so all the events are in once
        a marker published now comes back."""
        token = uuid.uuid4().hex
        self._client.publish(MARKER_CHANNEL, token)
        while True:
            message = self._pubsub.get_message(timeout=DRAIN_TIMEOUT)
            assert message is not None, "the drain marker did not come back"
            if message["type"] != "pmessage":
                continue
            if message["channel"].decode() == MARKER_CHANNEL:
                if message["data"].decode() == token:
                    return
                continue
            channel = message["channel"].decode()
            session_id = channel[channel.index("{") + 1 : channel.rindex("}")]
            self._received.extend(codec.decode_events(message["data"], session_id))

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()
