"""An agent keeps the lease of its task for as long as it holds it, not only
while the worker runs: inputs slow to fetch and results slow to upload (an
object store that stalls) do not hand the task to another agent.

Found by the fault campaign (tests/faults): with S3 stopped for a few
seconds, tasks whose results were uploading lost their lease, were retried,
and the retry met the same stall. Run on Redis with a real pollster, a
reaper and an object store that stalls on demand.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio

from pyarmonik.agent.pollster import AgentConfig, Pollster
from pyarmonik.agent.task_context import TaskContext
from pyarmonik.agent.worker import WorkerReply
from pyarmonik.core.models import Partition, Task, TaskOptions
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.lifecycle import outcomes, reaper, results, sessions, tasks
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from tests.helpers import wait_for_async
from tests.redis_stores import redis_grid

pytestmark = pytest.mark.integration

LEASE = 0.6
HEARTBEAT = 0.1
STALL = 3 * LEASE  # three leases: without renewal the reaper takes the task over


class StallingObjects(FileSystemObjectStore):
    """Files, with puts (the agent uploads its output files with ``put_file``)
    or gets that stall once ``stalled`` names them."""

    def __init__(self, root: pathlib.Path) -> None:
        super().__init__(root)
        self.stalled: set[str] = set()
        self.stalls = 0

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        if "put" in self.stalled:
            await self._stall()
        return await super().put(key, chunks)

    async def put_file(self, key: str, path: pathlib.Path) -> int:
        if "put" in self.stalled:
            await self._stall()
        return await super().put_file(key, path)

    async def get(self, key: str, *, chunk_size: int) -> AsyncIterator[bytes]:
        if "get" in self.stalled:
            await self._stall()
        async for chunk in super().get(key, chunk_size=chunk_size):
            yield chunk

    async def _stall(self) -> None:
        self.stalls += 1
        await asyncio.sleep(STALL)


class EchoWorker:
    """A worker in the agent's process: writes its payload to its output."""

    async def start(self) -> None: ...

    async def wait_ready(self, stop: asyncio.Event) -> bool:
        return True

    async def process(self, ctx: TaskContext, *, timeout: float | None) -> WorkerReply:
        [output] = ctx.task.expected_output_ids
        (ctx.data_folder / output).write_bytes((ctx.data_folder / ctx.task.payload_id).read_bytes())
        await ctx.notify([output])
        return WorkerReply(outcomes.Outcome.OK)

    async def recover(self) -> None: ...

    async def close(self) -> None: ...


@pytest.mark.parametrize("stalled", ["put", "get"], ids=["results-slow-to-upload", "inputs-slow-to-fetch"])
async def test_a_task_whose_data_is_slower_than_its_lease_completes_without_a_retry(
    tmp_path: pathlib.Path, stalled: str, redis_client: redis.asyncio.Redis
) -> None:
    objects = StallingObjects(tmp_path / "objects")
    # No data kept with the result records: the payload and the output go through the object store.
    grid = redis_grid(redis_client, objects, inline_limit=0)
    await grid.state.put_partitions([Partition("default")])
    options = TaskOptions(max_duration=timedelta(minutes=1).total_seconds(), max_retries=3, priority=1)
    session = await sessions.create(grid, options=options, partition_ids=[])
    [payload] = await results.create(grid, session.session_id, [results.NewResult("payload", data=b"slow data")])
    [output] = await results.create(grid, session.session_id, [results.NewResult("output")])
    objects.stalled.add(stalled)
    new = tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[output.result_id])
    [task] = await tasks.submit(grid, session.session_id, [new])
    config = AgentConfig(
        "default",
        tmp_path / "data",
        agent_id="agent",
        lease_seconds=LEASE,
        heartbeat_seconds=HEARTBEAT,
        pop_timeout=0.1,
    )
    stop = asyncio.Event()
    running = [
        asyncio.ensure_future(Pollster(grid, EchoWorker(), config).run(stop)),
        asyncio.ensure_future(reaper.reap_forever(grid, stop, every=HEARTBEAT)),
    ]
    try:

        async def output_completed() -> bool:
            [result] = await grid.state.get_results([output.result_id])
            return result.completed_at is not None

        await wait_for_async(output_completed, timeout=10 * STALL)
    finally:
        stop.set()
        await asyncio.wait(running, timeout=10)
    attempts: list[Task] = await grid.state.get_tasks([task.task_id])
    assert [(t.status, t.retry_of_ids) for t in attempts] == [(TaskStatus.COMPLETED, [])]
    assert objects.stalls == 1  # the task's data went through the stall, once: no second attempt
