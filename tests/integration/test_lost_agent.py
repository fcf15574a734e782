"""An agent that freezes (stops heartbeating) loses its task to another one,
and its late commit is refused: no result is ever completed twice.

Driven through the lifecycle use cases on Redis, with a fake clock (of the
grid and of its queue's leases) instead of waiting for leases to expire.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis.asyncio

from pyarmonik.core import errors
from pyarmonik.core.models import Partition, Task, TaskOptions
from pyarmonik.core.statuses import EventKind, ResultStatus, TaskStatus
from pyarmonik.lifecycle import processing, reaper, results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from tests.contract.queue_contract import FakeClock
from tests.redis_stores import RedisRecordingBus, redis_grid

pytestmark = pytest.mark.integration

LEASE = 10.0


@pytest.fixture
def bus(redis_url: str) -> Iterator[RedisRecordingBus]:
    recording = RedisRecordingBus(redis_url)
    try:
        yield recording
    finally:
        recording.close()


@pytest.fixture
async def setup(tmp_path: pathlib.Path, redis_client: redis.asyncio.Redis, bus: RedisRecordingBus):  # type: ignore[no-untyped-def]
    clock = FakeClock()
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path / "objects"), clock=clock)
    await grid.state.put_partitions([Partition("default")])
    session = await sessions.create(
        grid,
        options=TaskOptions(max_duration=timedelta(seconds=60).total_seconds(), max_retries=2, priority=1),
        partition_ids=[],
    )
    [payload] = await results.create(grid, session.session_id, [results.NewResult("payload", data=b"x")])
    [output] = await results.create(grid, session.session_id, [results.NewResult("output")])
    [task] = await tasks.submit(
        grid, session.session_id, [tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[output.result_id])]
    )
    return grid, clock, bus, task, output


async def _claim(grid: Grid, agent_id: str, *, start: bool = True) -> ports.Claim:
    [claim] = await processing.claim(
        grid, "default", agent_id=agent_id, hostname="test", lease_seconds=LEASE, start_first=start, timeout=0
    )
    assert claim.admission is processing.Admission.RUN and claim.task is not None and claim.lease is not None
    return claim


async def _take(grid: Grid, agent_id: str) -> tuple[ports.Lease, Task]:
    claim = await _claim(grid, agent_id)
    assert claim.lease is not None and claim.task is not None
    return claim.lease, claim.task


def _commit_of(output_id: str) -> ports.TaskCommit:
    return ports.TaskCommit(completions=[ports.Completion(output_id, 1, b"key")])


async def test_frozen_agent_task_is_retried_by_another_agent_and_its_late_commit_refused(setup) -> None:  # type: ignore[no-untyped-def]
    grid, clock, bus, task, output = setup
    _, frozen = await _take(grid, "frozen-agent")

    clock.advance(LEASE + 1)  # no heartbeat came
    assert await reaper.reap(grid) == 1

    [old] = await grid.state.get_tasks([task.task_id])
    assert old.status is TaskStatus.RETRIED
    lease, retry = await _take(grid, "healthy-agent")
    assert retry.task_id == f"{task.task_id}###1"
    assert retry.retry_of_ids == [task.task_id]
    await processing.complete(
        grid, retry, agent_id="healthy-agent", files={}, commit=_commit_of(output.result_id), lease=lease
    )
    assert await grid.queue.leased("default") == 0

    with pytest.raises(errors.NotHeld):
        await processing.complete(grid, frozen, agent_id="frozen-agent", files={}, commit=_commit_of(output.result_id))
    completed = [
        e
        for e in bus.published
        if e.kind is EventKind.RESULT_STATUS_UPDATE and e.result and e.result.result_id == output.result_id
    ]
    assert [e.result.status for e in completed if e.result] == [ResultStatus.COMPLETED]
    [result] = await grid.state.get_results([output.result_id])
    assert result.owner_task_id == retry.task_id


async def test_lost_agent_that_never_started_its_task_releases_it_without_using_a_retry(setup) -> None:  # type: ignore[no-untyped-def]
    grid, clock, _, task, _ = setup
    await _claim(grid, "lost", start=False)  # DISPATCHED, never started

    clock.advance(LEASE + 1)
    await reaper.reap(grid)

    [again] = await grid.state.get_tasks([task.task_id])
    assert again.status is TaskStatus.SUBMITTED and again.retry_of_ids == []
    assert await grid.queue.depth("default") == 1


async def test_a_task_its_lost_agent_never_started_is_claimed_by_another_agent(setup) -> None:  # type: ignore[no-untyped-def]
    grid, clock, _, task, _ = setup
    await _claim(grid, "lost", start=False)

    clock.advance(LEASE + 1)
    await reaper.reap(grid)

    _lease, started = await _take(grid, "other")
    assert (started.task_id, started.retry_of_ids, started.owner_pod_id) == (task.task_id, [], "other")


async def test_renewals_keep_the_task_of_a_live_agent(setup) -> None:  # type: ignore[no-untyped-def]
    grid, clock, _, task, _ = setup
    lease, _ = await _take(grid, "alive")
    for _ in range(3):
        clock.advance(LEASE / 2)
        states = await grid.queue.renew("default", agent_id="alive", leases=[lease], lease_seconds=LEASE)
        assert states == [ports.LeaseState.HELD]
        assert await reaper.reap(grid) == 0
    [still] = await grid.state.get_tasks([task.task_id])
    assert still.status is TaskStatus.PROCESSING and still.owner_pod_id == "alive"


async def test_a_task_cancelled_while_its_agent_was_lost_ends_cancelled(setup) -> None:  # type: ignore[no-untyped-def]
    grid, clock, _, task, output = setup
    await _take(grid, "lost")
    await tasks.cancel(grid, [task.task_id])  # CANCELLING: the lost agent never sees it

    clock.advance(LEASE + 1)
    assert await reaper.reap(grid) == 1

    [final] = await grid.state.get_tasks([task.task_id])
    assert final.status is TaskStatus.CANCELLED and final.retry_of_ids == []
    [result] = await grid.state.get_results([output.result_id])
    assert result.status is ResultStatus.ABORTED
    assert (await grid.queue.depth("default"), await grid.queue.leased("default")) == (0, 0)


async def test_crash_after_last_retry_ends_in_error_with_outputs_aborted(setup) -> None:  # type: ignore[no-untyped-def]
    grid, _, _, task, output = setup
    for attempt in range(3):  # max_retries=2: the first attempt and two retries
        _, running = await _take(grid, f"agent-{attempt}")
        await processing.crash(grid, running, agent_id=f"agent-{attempt}", message="boom")
    [last] = await grid.state.get_tasks([f"{task.task_id}###2"])
    assert last.status is TaskStatus.ERROR
    assert "retries exhausted" in last.status_message
    [result] = await grid.state.get_results([output.result_id])
    assert result.status is ResultStatus.ABORTED


async def test_task_cancelled_between_acquisition_and_start_ends_cancelled_not_stuck(setup) -> None:  # type: ignore[no-untyped-def]
    grid, _, _, task, output = setup
    claim = await _claim(grid, "agent", start=False)
    assert claim.task is not None and claim.lease is not None
    await tasks.cancel(grid, [task.task_id])  # while the agent downloads the inputs

    assert await processing.start(grid, claim.task, agent_id="agent", lease=claim.lease) is None

    [final] = await grid.state.get_tasks([task.task_id])
    assert final.status is TaskStatus.CANCELLED
    [result] = await grid.state.get_results([output.result_id])
    assert result.status is ResultStatus.ABORTED


async def test_a_commit_queues_what_it_released_in_the_same_step_leaving_the_reaper_nothing(setup) -> None:  # type: ignore[no-untyped-def]
    grid, clock, _, task, output = setup
    [payload] = await results.create(grid, task.session_id, [results.NewResult("reader payload", data=b"y")])
    [reader] = await tasks.submit(
        grid,
        task.session_id,
        [tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[], data_dependencies=[output.result_id])],
    )
    lease, started = await _take(grid, "lost")
    await processing.complete(
        grid, started, agent_id="lost", files={}, commit=_commit_of(output.result_id), lease=lease
    )
    assert await grid.queue.depth("default") == 1  # the reader, queued by the commit itself

    clock.advance(LEASE + 1)  # the agent is lost right after its commit
    assert await reaper.reap(grid) == 0  # its lease was acked with the commit

    _lease, taken = await _take(grid, "other")
    assert taken.task_id == reader.task_id
