"""The agent's dispatch scripts on a real Redis: the claim's admissions and
batches, the untouched release of a prefetched task, its cancellation while
it waited, and the key names the scripts build, which must be keys.py's."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis.asyncio

from pyarmonik.agent.pollster import AgentConfig, Pollster
from pyarmonik.agent.task_context import TaskContext
from pyarmonik.agent.worker import WorkerReply
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.core.statuses import SessionStatus, TaskStatus
from pyarmonik.lifecycle import processing, results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.redis import dispatch, keys, scripts
from pyarmonik.storage.redis.events import RedisEventBus
from pyarmonik.storage.redis.queue import RedisTaskQueue
from pyarmonik.storage.redis.state import RedisStateStore
from tests.integration.test_agent_lease import EchoWorker

AGENT = "agent"


@pytest.fixture
async def grid(redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path) -> AsyncIterator[Grid]:
    built = Grid(
        state=RedisStateStore(redis_client),
        queue=RedisTaskQueue(redis_client),
        objects=FileSystemObjectStore(tmp_path / "objects"),
        events=RedisEventBus(redis_client),
        dispatch=dispatch.RedisDispatch(redis_client),
    )
    await built.state.put_partitions([Partition("default")])
    yield built


async def _submit(grid: Grid, count: int) -> tuple[str, list[str]]:
    options = TaskOptions(max_duration=timedelta(minutes=1).total_seconds(), max_retries=3, priority=1)
    session = await sessions.create(grid, options=options, partition_ids=[])
    sid = session.session_id
    payloads = await results.create(grid, sid, [results.NewResult(f"p{i}", data=b"x") for i in range(count)])
    outputs = await results.create(grid, sid, [results.NewResult(f"o{i}") for i in range(count)])
    new = [tasks.NewTask(payload_id=p.result_id, expected_output_ids=[o.result_id]) for p, o in zip(payloads, outputs)]
    return sid, [t.task_id for t in await tasks.submit(grid, sid, new)]


async def _claim(grid: Grid, count: int, *, start_first: bool = True) -> list[ports.Claim]:
    return await processing.claim(
        grid, "default", agent_id=AGENT, hostname="host", lease_seconds=30, count=count, start_first=start_first,
        timeout=0.1,
    )  # fmt: skip


async def _statuses(grid: Grid, task_ids: list[str]) -> list[TaskStatus]:
    return [t.status for t in await grid.state.get_tasks(task_ids)]


async def test_a_batch_claim_starts_the_first_task_and_holds_the_others_dispatched(grid: Grid) -> None:
    _, ids = await _submit(grid, 3)
    claims = await _claim(grid, 2)
    assert [(c.admission, c.task_id) for c in claims] == [(ports.Admission.RUN, i) for i in ids[:2]]
    assert await _statuses(grid, ids) == [TaskStatus.PROCESSING, TaskStatus.DISPATCHED, TaskStatus.SUBMITTED]
    first = claims[0].task
    assert first is not None and first.owner_pod_id == AGENT and first.pod_hostname == "host"
    assert first.acquired_at is not None and first.started_at is not None
    assert set(claims[0].inputs) == {first.payload_id, *first.expected_output_ids}
    assert await grid.queue.leased("default") == 2 and await grid.queue.depth("default") == 1


async def test_a_prefetched_task_released_untouched_is_served_first_again_without_a_retry(grid: Grid) -> None:
    _, ids = await _submit(grid, 2)
    [claim] = await _claim(grid, 1, start_first=False)
    assert claim.task is not None and claim.task.status is TaskStatus.DISPATCHED
    await processing.release(grid, claim.task, agent_id=AGENT, lease=claim.lease)
    assert await grid.queue.leased("default") == 0
    [again] = await _claim(grid, 1)
    assert again.task_id == ids[0] and again.task is not None and again.task.retry_of_ids == []


async def test_a_prefetched_task_cancelled_while_it_waited_is_cancelled_at_its_start(grid: Grid) -> None:
    _, ids = await _submit(grid, 1)
    [claim] = await _claim(grid, 1, start_first=False)
    await grid.state.cancel_tasks(ids, at=1.0, reason="user")
    assert claim.task is not None and claim.lease is not None
    assert await processing.start(grid, claim.task, agent_id=AGENT, lease=claim.lease) is None
    assert await _statuses(grid, ids) == [TaskStatus.CANCELLED]
    assert await grid.queue.leased("default") == 0


async def test_the_claim_settles_what_it_does_not_run_and_drops_it_from_the_queue(grid: Grid) -> None:
    sid, ids = await _submit(grid, 2)
    await grid.state.update_session(sid, allowed_from=frozenset(SessionStatus), status=SessionStatus.PAUSED, at=1.0)
    claims = await _claim(grid, 1)
    assert [c.admission for c in claims] == [ports.Admission.PAUSED, ports.Admission.PAUSED]
    assert await _statuses(grid, ids) == [TaskStatus.PAUSED, TaskStatus.PAUSED]
    other, [closed] = await _submit(grid, 1)
    await grid.state.update_session(other, allowed_from=frozenset(SessionStatus), status=SessionStatus.CLOSED, at=1.0)
    [claim] = await _claim(grid, 1)
    assert claim.admission is ports.Admission.CANCELLED and await _statuses(grid, [closed]) == [TaskStatus.CANCELLED]
    assert await grid.queue.leased("default") == 0 and await grid.queue.depth("default") == 0


async def test_a_commit_acks_the_lease_and_queues_what_it_released(grid: Grid) -> None:
    _, [task_id] = await _submit(grid, 1)
    [claim] = await _claim(grid, 1)
    assert claim.task is not None
    [output] = claim.task.expected_output_ids
    completion = ports.Completion(output, 1, b"key")
    commit = ports.TaskCommit(completions=[completion])
    await processing.complete(grid, claim.task, agent_id=AGENT, files={}, commit=commit, lease=claim.lease)
    assert await _statuses(grid, [task_id]) == [TaskStatus.COMPLETED]
    assert await grid.queue.leased("default") == 0


async def test_the_dispatch_scripts_build_the_key_names_of_keys_py(redis_client: redis.asyncio.Redis) -> None:
    prelude = "\n".join(scripts.source(part) for part in dispatch.PRELUDE)
    body = (
        "use_session(ARGV[5]); local q = queue_keys(ARGV[6]); return {SESSION_KEY, TASKS_KEY, RESULTS_KEY, "
        "WAITING_KEY, REMAINING_KEY, TASK_STATUSES_KEY, RESULT_STATUSES_KEY, COUNTS_KEY, TASK_IDS_KEY, "
        "TASK_CREATED_KEY, CHANNEL, q.sequence, "
        "q.ready, q.leases, q.expiry, q.wake, QUEUE_REGISTRY}"
    )
    built = await redis_client.eval(prelude + "\n" + body, 0, keys.PREFIX, "0", AGENT, 1, "s-1", "p-1")
    session, queue = keys.session("s-1"), keys.queue("p-1")
    expected = [*session.all, session.events, queue.sequence, queue.ready, queue.leases, queue.expiry, queue.wake]
    assert [b.decode() for b in built] == [*expected, keys.QUEUE_REGISTRY]


class _BlockingWorker(EchoWorker):
    """Runs until cancelled: the agent's stop is what ends its call."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def process(self, ctx: TaskContext, *, timeout: float | None) -> WorkerReply:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_stopping_agent_releases_its_running_and_prefetched_tasks_without_a_retry(
    grid: Grid, tmp_path: pathlib.Path
) -> None:
    _, ids = await _submit(grid, 2)
    worker = _BlockingWorker()
    config = AgentConfig(
        "default", tmp_path / "data", agent_id=AGENT, heartbeat_seconds=0.1, grace_seconds=0.1, pop_timeout=0.1,
        prefetch=2,
    )  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.ensure_future(Pollster(grid, worker, config).run(stop))
    await asyncio.wait_for(worker.started.wait(), 10)
    assert await _statuses(grid, ids) == [TaskStatus.PROCESSING, TaskStatus.DISPATCHED]
    stop.set()
    await asyncio.wait_for(running, 10)
    attempts = await grid.state.get_tasks(ids)
    assert [(t.status, t.retry_of_ids, t.owner_pod_id) for t in attempts] == [(TaskStatus.SUBMITTED, [], "")] * 2
    assert await grid.queue.leased("default") == 0 and await grid.queue.depth("default") == 2
