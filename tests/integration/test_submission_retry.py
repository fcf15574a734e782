"""A submission that created its tasks but failed before queuing them (a
Redis restart or a dying control plane between the two writes) is retried
by its client; the retry must queue what the first call left SUBMITTED.

Before this, the retry found the earlier tasks (SubmitTasks is idempotent)
and returned them without queuing them: they stayed SUBMITTED forever, a
hole the fault campaign (tests/faults) aims at. Driven through the
lifecycle use cases on Redis, with a queue that fails once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
import redis.asyncio

from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.lifecycle import results, sessions, tasks
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.redis.queue import RedisTaskQueue
from tests.redis_stores import redis_grid

pytestmark = pytest.mark.integration


class FailingOncePushes(RedisTaskQueue):
    """A queue whose next push fails as a restarting Redis would."""

    fail_next = False

    async def push(self, partition_id: str, items: Sequence[ports.QueuedTask]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("Redis restarted")
        await super().push(partition_id, items)


async def test_a_submission_retried_after_its_queue_push_failed_queues_its_tasks(  # type: ignore[no-untyped-def]
    tmp_path, redis_client: redis.asyncio.Redis
) -> None:
    queue = FailingOncePushes(redis_client)
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path), queue=queue)
    await grid.state.put_partitions([Partition("default")])
    options = TaskOptions(max_duration=timedelta(minutes=1).total_seconds(), max_retries=1, priority=1)
    session = await sessions.create(grid, options=options, partition_ids=[])
    [payload] = await results.create(grid, session.session_id, [results.NewResult("payload", data=b"x")])
    [output] = await results.create(grid, session.session_id, [results.NewResult("output")])
    new = [tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[output.result_id])]

    queue.fail_next = True
    with pytest.raises(ConnectionError):  # what the client sees as UNAVAILABLE: it retries
        await tasks.submit(grid, session.session_id, new)
    assert await queue.depth("default") == 0

    [again] = await tasks.submit(grid, session.session_id, new)
    assert await queue.depth("default") == 1
    lease = await queue.pop("default", agent_id="agent", lease_seconds=10, timeout=0)
    assert lease is not None and lease.item.task_id == again.task_id
