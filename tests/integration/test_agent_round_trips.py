"""What one task costs the agent in Redis round trips, counted on the wire,
with the official SDK worker (``tests/workers/behaviours.py``) behind it.

In steady state an agent's task is ONE call: the commit of a task claims
the agent's next one in the same function (``Dispatch.commit`` with a
``NextClaim``), and the data of small results travels in those calls (the
claim carries the payload, the commit the output), so the object store is
not touched. A prefetched task waits DISPATCHED and costs its own start.
Counted by a redis-py connection that logs every command it packs and every
packet it sends (one send is one round trip), and by an object store that
counts its calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio

from pyarmonik.agent.grpc_worker import GrpcWorker
from pyarmonik.agent.pollster import AgentConfig, Pollster
from pyarmonik.agent.runtime import grpc_address
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.lifecycle import results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.local.workers import worker_environment
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from tests.redis_stores import redis_grid

from .test_agent_worker import WORKER

pytestmark = pytest.mark.integration
TASKS = 20
#: Round trips per task in steady state: the commit that claims the next task,
#: plus, with a prefetch, one start per task that waited its turn.
BUDGET = {1: 1.0, 2: 1.5}


class CountingConnection(redis.asyncio.Connection):
    """Logs each round trip as the commands it carried: (name, first argument)."""

    trips: list[list[tuple[str, str]]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._packed: list[tuple[str, str]] = []

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[1] if len(args) > 1 else b""
        self._packed.append((str(args[0]).upper(), first.decode() if isinstance(first, bytes) else str(first)))
        return super().pack_command(*args)

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        packed, self._packed = self._packed, []
        if packed:
            CountingConnection.trips.append(packed)
        await super().send_packed_command(command, check_health=check_health)


class CountingObjects(FileSystemObjectStore):
    """Files, counting every call that reads or writes one."""

    def __init__(self, root: pathlib.Path) -> None:
        super().__init__(root)
        self.calls = 0

    async def put_file(self, key: str, path: pathlib.Path) -> int:
        self.calls += 1
        return await super().put_file(key, path)

    async def put_all(self, items: Any) -> None:
        self.calls += bool(items)
        await super().put_all(items)

    def get(self, key: str, *, chunk_size: int) -> AsyncIterator[bytes]:
        self.calls += 1
        return super().get(key, chunk_size=chunk_size)


@pytest.fixture
async def counted(redis_url: str, redis_client: redis.asyncio.Redis) -> AsyncIterator[redis.asyncio.Redis]:
    pool = redis.asyncio.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    client = redis.asyncio.Redis(connection_pool=pool)
    try:
        yield client
    finally:
        await client.aclose()
        await pool.disconnect()


@pytest.fixture
def sockets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pathlib.Path, pathlib.Path]]:
    """The agent's and the worker's sockets, in a short path (a unix socket's is bounded)."""
    directory = tmp_path_factory.mktemp("sock")
    yield directory / "agent.sock", directory / "worker.sock"


@pytest.fixture
async def sdk_worker(sockets: tuple[pathlib.Path, pathlib.Path], tmp_path: pathlib.Path) -> AsyncIterator[None]:
    """The official SDK worker of the tests, serving on the worker socket."""
    agent_socket, worker_socket = sockets
    env = worker_environment(worker_socket=worker_socket, agent_socket=agent_socket)
    with (tmp_path / "worker.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(sys.executable, str(WORKER), env=env, stdout=log, stderr=log)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _submit(grid: Grid, count: int) -> list[str]:
    await grid.state.put_partitions([Partition("default")])
    options = TaskOptions(max_duration=timedelta(minutes=1).total_seconds(), max_retries=3, priority=1)
    session = await sessions.create(grid, options=options, partition_ids=[])
    sid = session.session_id
    jobs = [json.dumps({"do": "echo", "value": n}).encode() for n in range(count)]
    payloads = await results.create(grid, sid, [results.NewResult(f"p{n}", data=job) for n, job in enumerate(jobs)])
    outputs = await results.create(grid, sid, [results.NewResult(f"o{n}") for n in range(count)])
    new = [tasks.NewTask(payload_id=p.result_id, expected_output_ids=[o.result_id]) for p, o in zip(payloads, outputs)]
    return [t.task_id for t in await tasks.submit(grid, sid, new)]


async def _server_calls(client: redis.asyncio.Redis) -> tuple[int, int]:
    """PUBLISH calls and every command call the server ran (functions' inside included)."""
    stats = await client.info("commandstats")
    publishes = int(stats.get("cmdstat_publish", {}).get("calls", 0))
    return publishes, sum(int(v.get("calls", 0)) for v in stats.values() if isinstance(v, dict))


@pytest.mark.parametrize("prefetch", [1, 2])
async def test_a_task_costs_the_agent_one_round_trip_in_steady_state_and_none_for_small_data(
    redis_client: redis.asyncio.Redis,
    counted: redis.asyncio.Redis,
    sockets: tuple[pathlib.Path, pathlib.Path],
    sdk_worker: None,
    tmp_path: pathlib.Path,
    prefetch: int,
) -> None:
    submitter = redis_grid(redis_client, FileSystemObjectStore(tmp_path / "objects"))
    warm_up = 2 * prefetch
    task_ids = await _submit(submitter, warm_up + TASKS + prefetch)  # the last commit still claims a batch
    objects = CountingObjects(tmp_path / "objects")
    agent = redis_grid(counted, objects)
    agent_socket, worker_socket = sockets
    worker = GrpcWorker(agent_address=grpc_address(str(agent_socket)), worker_address=grpc_address(str(worker_socket)))
    await worker.start()
    config = AgentConfig(
        "default", tmp_path / "data", agent_id="agent", heartbeat_seconds=600, pop_timeout=0.1, prefetch=prefetch
    )
    pollster = Pollster(agent, worker, config)
    stop = asyncio.Event()
    try:
        # Warm-up: the worker's first call, the library loaded, the connections opened.
        for _ in range(warm_up // prefetch):
            await pollster._poll_once(stop)
        CountingConnection.trips.clear()
        await redis_client.config_resetstat()
        for _ in range(TASKS // prefetch):
            await pollster._poll_once(stop)
    finally:
        await worker.close()
    trips = list(CountingConnection.trips)
    publishes, commands = await _server_calls(redis_client)

    statuses = [t.status for t in await submitter.state.get_tasks(task_ids)]
    assert statuses.count(TaskStatus.COMPLETED) == warm_up + TASKS
    per_task = len(trips) / TASKS
    calls = sorted({f"{name} {first}" for trip in trips for name, first in trip})
    print(
        f"prefetch {prefetch}: {per_task:.2f} Redis round trips per task ({calls}), "
        f"{publishes / TASKS:.2f} PUBLISH and {commands / TASKS:.1f} server commands per task (functions' included), "
        f"{objects.calls} object store calls"
    )
    assert per_task <= BUDGET[prefetch]
    assert all(name == "FCALL" for trip in trips for name, _ in trip)
    assert objects.calls == 0  # small payloads and outputs travel with the claim and the commit
    assert publishes <= len(trips)  # one message per call: a commit's events and its next claim's together
