"""A submission whose reply was lost (a control plane killed mid-call, a
Redis restart) is retried by its client, which cannot know whether it took
effect: the retry must hand back the tasks the first call created, queued
once, not a second copy of them.

The creation queues the ready tasks in the same step (one function), so no
state is left where tasks exist but are not queued; what is left to check
is that the retry neither duplicates them nor queues them twice. Driven
through the lifecycle use cases on Redis.
"""

from __future__ import annotations

import pathlib
from datetime import timedelta

import pytest
import redis.asyncio

from pyarmonik.core.filters import ListQuery, in_session
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.lifecycle import processing, results, sessions, tasks
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from tests.redis_stores import redis_grid

pytestmark = pytest.mark.integration


async def test_a_submission_sent_again_returns_the_tasks_of_the_first_queued_once(
    tmp_path: pathlib.Path, redis_client: redis.asyncio.Redis
) -> None:
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path))
    await grid.state.put_partitions([Partition("default")])
    options = TaskOptions(max_duration=timedelta(minutes=1).total_seconds(), max_retries=1, priority=1)
    session = await sessions.create(grid, options=options, partition_ids=[])
    sid = session.session_id
    payloads = await results.create(grid, sid, [results.NewResult(f"payload{n}", data=b"x") for n in range(2)])
    outputs = await results.create(grid, sid, [results.NewResult(f"output{n}") for n in range(2)])
    new = [tasks.NewTask(payload_id=p.result_id, expected_output_ids=[o.result_id]) for p, o in zip(payloads, outputs)]

    first = await tasks.submit(grid, sid, new)  # its reply lost: the client sends it again
    again = await tasks.submit(grid, sid, new)

    assert [t.task_id for t in again] == [t.task_id for t in first]
    assert (await grid.state.list_tasks(query=ListQuery(in_session(sid)))).total == 2
    assert await grid.queue.depth("default") == 2
    found = await processing.claim(
        grid, "default", agent_id="agent", hostname="h", lease_seconds=10, count=3, timeout=0
    )
    assert [(c.admission, c.task_id) for c in found] == [(ports.Admission.RUN, t.task_id) for t in first]
    assert [t.status for t in await grid.state.get_tasks([t.task_id for t in first])] == [
        TaskStatus.PROCESSING,
        TaskStatus.DISPATCHED,
    ]
    assert await processing.claim(grid, "default", agent_id="agent", hostname="h", lease_seconds=10, timeout=0) == []
