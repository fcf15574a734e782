"""The Redis adapters when a connection drops: what the fault campaign
(tests/faults) found on a real deployment, reproduced one case at a time.

- An event subscription whose connection breaks must end, even though
  redis-py reconnects and subscribes again by itself: the events published
  in between are lost and only a new subscription (with its replay) makes
  up for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import Iterator

import pytest

from pyarmonik.core import errors
from pyarmonik.core.models import Event
from pyarmonik.core.statuses import EventKind
from pyarmonik.storage.redis import codec, connection, keys
from pyarmonik.storage.redis.events import RedisEventBus
from tests import servers

pytestmark = pytest.mark.integration
WAIT = 10.0


@pytest.fixture
def redis_process(tmp_path: pathlib.Path) -> Iterator[servers.RedisServer]:
    """A Redis of this test alone, appending every write (restartable)."""
    try:
        server = servers.start_redis(tmp_path / "redis", aof=True)
    except servers.ServerUnavailable as exc:
        servers.skip_or_fail(f"no Redis server: {exc}")
    try:
        yield server
    finally:
        servers.stop_redis(server)


async def test_an_event_subscription_cut_by_a_redis_restart_ends_instead_of_missing_events(
    redis_process: servers.RedisServer, tmp_path: pathlib.Path
) -> None:
    client = await connection.connect_redis(redis_process.url)
    restarted: servers.RedisServer | None = None
    try:
        async with RedisEventBus(client).subscribe("s") as events:
            servers.stop_redis(redis_process)
            restarted = servers.start_redis(redis_process.directory, aof=True, port=redis_process.port)
            missed = Event(EventKind.RESULT_OWNER_UPDATE, "s", previous_owner_id="", current_owner_id="t")
            with contextlib.suppress(Exception):  # published while the subscriber reconnects: lost to it
                await client.publish(keys.session_events("s"), codec.encode_event(missed))
            with pytest.raises(errors.Unavailable):
                await asyncio.wait_for(anext(events), WAIT)
    finally:
        await client.aclose()
        if restarted is not None:
            servers.stop_redis(restarted)
