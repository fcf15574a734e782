"""What one task costs the agent in Redis round trips, counted on the wire.

The agent's hot path is one claim script (pop, admission, lease, acquire,
start) and one finish script (commit, ack, push of what it released): a
simple task must cost at most 3 round trips besides its data (the payload
GET and the output SET of the Redis object store), and its events one
PUBLISH per transition. Counted by a redis-py connection that logs every
command it packs and every packet it sends (one send is one round trip: a
pipeline packs all its commands into one).
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio

from pyarmonik.agent.pollster import AgentConfig, Pollster
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.lifecycle import results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage.redis import keys
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.events import RedisEventBus
from pyarmonik.storage.redis.objects import RedisObjectStore
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore
from tests.integration.test_agent_lease import EchoWorker

pytestmark = pytest.mark.integration
TASKS = 20
OBJECT_PREFIX = keys.object_key("").encode()


class CountingConnection(redis.asyncio.Connection):
    """Logs each round trip as the commands it carried: (name, first key)."""

    trips: list[list[tuple[str, bytes]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._packed: list[tuple[str, bytes]] = []

    def pack_command(self, *args: Any) -> list[bytes]:
        name = str(args[0]).upper()
        # EVALSHA <sha> <numkeys> <key...>: its first key tells the script's target
        first = args[3] if name == "EVALSHA" and len(args) > 3 else (args[1] if len(args) > 1 else b"")
        self._packed.append((name, first if isinstance(first, bytes) else str(first).encode()))
        return super().pack_command(*args)

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        packed, self._packed = self._packed, []
        if packed:
            CountingConnection.trips.append(packed)
        await super().send_packed_command(command, check_health=check_health)


def _grid(client: redis.asyncio.Redis) -> Grid:
    return Grid(
        state=RedisStateStore(client),
        queue=RedisTaskQueue(client),
        objects=RedisObjectStore(client),
        events=RedisEventBus(client),
        dispatch=RedisDispatch(client),
    )


@pytest.fixture
async def counted(redis_server: str, redis_client: redis.asyncio.Redis) -> AsyncIterator[redis.asyncio.Redis]:
    pool = redis.asyncio.ConnectionPool.from_url(redis_server, connection_class=CountingConnection)
    client = redis.asyncio.Redis(connection_pool=pool)
    try:
        yield client
    finally:
        await client.aclose()
        await pool.disconnect()


async def _submit(grid: Grid, count: int) -> list[str]:
    await grid.state.put_partitions([Partition("default")])
    options = TaskOptions(max_duration=timedelta(minutes=1).total_seconds(), max_retries=3, priority=1)
    session = await sessions.create(grid, options=options, partition_ids=[])
    sid = session.session_id
    payloads = await results.create(grid, sid, [results.NewResult(f"p{i}", data=b"data") for i in range(count)])
    outputs = await results.create(grid, sid, [results.NewResult(f"o{i}") for i in range(count)])
    new = [tasks.NewTask(payload_id=p.result_id, expected_output_ids=[o.result_id]) for p, o in zip(payloads, outputs)]
    return [t.task_id for t in await tasks.submit(grid, sid, new)]


async def _server_calls(client: redis.asyncio.Redis) -> tuple[int, int]:
    """PUBLISH calls and every command call the server ran (scripts' inside included)."""
    stats = await client.info("commandstats")
    publishes = int(stats.get("cmdstat_publish", {}).get("calls", 0))
    return publishes, sum(int(v.get("calls", 0)) for v in stats.values() if isinstance(v, dict))


@pytest.mark.parametrize("prefetch", [1, 2])
async def test_a_simple_task_costs_the_agent_at_most_three_round_trips_besides_its_data(
    redis_client: redis.asyncio.Redis, counted: redis.asyncio.Redis, tmp_path: pathlib.Path, prefetch: int
) -> None:
    submitter = _grid(redis_client)
    task_ids = await _submit(submitter, TASKS + 2 * prefetch)
    agent = _grid(counted)
    config = AgentConfig(
        "default", tmp_path / "data", agent_id="agent", heartbeat_seconds=60, pop_timeout=0.1, prefetch=prefetch
    )
    pollster = Pollster(agent, EchoWorker(), config)
    stop = asyncio.Event()
    # Warm-up: the first calls load the scripts (NOSCRIPT, then EVAL) and open connections.
    for _ in range(2):
        await pollster._poll_once(stop)
    CountingConnection.trips.clear()
    await redis_client.config_resetstat()
    for _ in range(TASKS // prefetch):
        await pollster._poll_once(stop)
    trips = list(CountingConnection.trips)
    publishes, commands = await _server_calls(redis_client)

    statuses = [t.status for t in await submitter.state.get_tasks(task_ids)]
    assert statuses.count(TaskStatus.COMPLETED) == TASKS + 2 * prefetch
    data = [trip for trip in trips if all(key.startswith(OBJECT_PREFIX) for _, key in trip)]
    metadata = [trip for trip in trips if trip not in data]
    per_task = len(metadata) / TASKS
    print(
        f"prefetch {prefetch}: {per_task:.2f} round trips per task besides data "
        f"({len(data) / TASKS:.2f} for data), {publishes / TASKS:.2f} PUBLISH and {commands / TASKS:.1f} "
        "server commands per task (scripts' included); "
        f"commands: {sorted({name for trip in metadata for name, _ in trip})}"
    )
    assert per_task <= 3
    assert publishes / TASKS <= 2  # the claim's message and the finish's
