"""A pollster on Redis whose Worker is a Python function in its own
process (``InProcessWorker``): results the function sends are committed
and downloadable, an Output error ends the task in ERROR, an exception is
retried as a crash, an overrun is TIMEOUT, as with a gRPC worker."""

from __future__ import annotations

import asyncio
import pathlib
from datetime import timedelta

import pytest
import redis.asyncio

from pyarmonik.agent.inprocess_worker import InProcessWorker, TaskHandler
from pyarmonik.agent.pollster import AgentConfig, Pollster
from pyarmonik.core.models import Partition, Task, TaskOptions
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.lifecycle import results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from tests.helpers import wait_for_async
from tests.redis_stores import redis_grid

pytestmark = pytest.mark.integration

FINAL = {TaskStatus.COMPLETED, TaskStatus.ERROR, TaskStatus.TIMEOUT}


class Output:
    def __init__(self, error: str | None = None) -> None:
        self.error = error


async def behave(handler: TaskHandler) -> Output:
    """Does what its payload says."""
    what = handler.payload
    if what == b"raise":
        raise RuntimeError("worker bug")
    if what == b"error":
        return Output(error="bad input")
    if what == b"slow":
        await asyncio.sleep(60)
    handler.send_results({handler.expected_results[0]: b"echo: " + what})
    return Output()


async def submit(grid: Grid, payload: bytes, *, max_duration: float = 60.0) -> tuple[str, str]:
    """A task of its own session (one retry allowed); its id and its output's."""
    options = TaskOptions(max_duration=timedelta(seconds=max_duration).total_seconds(), max_retries=1, priority=1)
    session = await sessions.create(grid, options=options, partition_ids=[])
    sid = session.session_id
    [data] = await results.create(grid, sid, [results.NewResult("payload", data=payload)])
    [output] = await results.create(grid, sid, [results.NewResult("output")])
    new = tasks.NewTask(payload_id=data.result_id, expected_output_ids=[output.result_id])
    [task] = await tasks.submit(grid, sid, [new])
    return task.task_id, output.result_id


async def attempts(grid: Grid, task_id: str) -> list[Task]:
    """The task, then its retries."""
    chain = await grid.state.get_tasks([task_id])
    while chain[-1].status is TaskStatus.RETRIED:
        chain += await grid.state.get_tasks([f"{task_id}###{len(chain)}"])
    return chain


async def test_an_agent_on_a_python_function_runs_tasks_to_each_outcome(
    tmp_path: pathlib.Path, redis_client: redis.asyncio.Redis
) -> None:
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path / "objects"))
    await grid.state.put_partitions([Partition("default")])
    ok, error, crash = [await submit(grid, p) for p in (b"hello", b"error", b"raise")]
    timeout = await submit(grid, b"slow", max_duration=0.2)
    config = AgentConfig("default", tmp_path / "data", agent_id="in-process", pop_timeout=0.1)
    stop = asyncio.Event()
    running = asyncio.ensure_future(Pollster(grid, InProcessWorker(behave), config).run(stop))
    try:

        async def all_ended() -> bool:
            return all([(await attempts(grid, t))[-1].status in FINAL for t, _ in (ok, error, crash, timeout)])

        await wait_for_async(all_ended, timeout=30)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)

    [done] = await attempts(grid, ok[0])
    assert done.status is TaskStatus.COMPLETED
    assert b"".join([c async for c in await results.download(grid, done.session_id, ok[1])]) == b"echo: hello"
    [refused] = await attempts(grid, error[0])
    assert (refused.status, refused.status_message) == (TaskStatus.ERROR, "bad input")
    crashed = await attempts(grid, crash[0])
    assert [t.status for t in crashed] == [TaskStatus.RETRIED, TaskStatus.ERROR]
    assert crashed[0].status_message == "the function raised RuntimeError: worker bug"
    [overran] = await attempts(grid, timeout[0])
    assert overran.status is TaskStatus.TIMEOUT
