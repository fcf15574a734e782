"""What each Outcome of an attempt becomes, through the one ``settle``.

A table over the real stores, on Redis: a running task (popped, acquired,
started by ``AGENT``) is settled with each outcome, and the test reads what
the store then says about the task, its output and the queue.
"""

from __future__ import annotations

import logging
import pathlib
from dataclasses import dataclass
from datetime import timedelta

import pytest
import redis.asyncio

from pyarmonik.core import errors
from pyarmonik.core.models import Partition, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, TaskStatus
from pyarmonik.lifecycle import processing, results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.lifecycle.outcomes import Outcome, settle
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from tests.redis_stores import redis_grid

pytestmark = pytest.mark.integration

AGENT = "agent-under-test"


@dataclass
class Attempt:
    grid: Grid
    task: Task
    output_id: str
    payload_id: str

    def commit(self) -> ports.TaskCommit:
        return ports.TaskCommit(completions=[ports.Completion(self.output_id, 1, b"key")])

    async def task_now(self, task_id: str | None = None) -> Task:
        [task] = await self.grid.state.get_tasks([task_id or self.task.task_id])
        return task

    async def output_status(self) -> ResultStatus:
        [output] = await self.grid.state.get_results([self.output_id])
        return output.status

    async def run_next(self) -> Attempt:
        """Claims (pops, acquires and starts) the next queued task, as an agent does."""
        [claim] = await processing.claim(
            self.grid, "default", agent_id=AGENT, hostname="test", lease_seconds=60, timeout=0
        )
        assert claim.admission is processing.Admission.RUN and claim.task is not None
        return Attempt(self.grid, claim.task, self.output_id, self.payload_id)


@pytest.fixture
async def attempt(tmp_path: pathlib.Path, redis_client: redis.asyncio.Redis) -> Attempt:
    """The first attempt of a task allowed one retry, PROCESSING on ``AGENT``."""
    grid = redis_grid(redis_client, FileSystemObjectStore(tmp_path / "objects"))
    await grid.state.put_partitions([Partition("default")])
    options = TaskOptions(max_duration=timedelta(seconds=60).total_seconds(), max_retries=1, priority=1)
    session = await sessions.create(grid, options=options, partition_ids=[])
    [payload] = await results.create(grid, session.session_id, [results.NewResult("payload", data=b"x")])
    [output] = await results.create(grid, session.session_id, [results.NewResult("output")])
    new = tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[output.result_id])
    [task] = await tasks.submit(grid, session.session_id, [new])
    return await Attempt(grid, task, output.result_id, payload.result_id).run_next()


@pytest.mark.parametrize(
    ("outcome", "task_status", "output_status", "queued"),
    [
        (Outcome.OK, TaskStatus.COMPLETED, ResultStatus.COMPLETED, 0),
        (Outcome.ERROR, TaskStatus.ERROR, ResultStatus.ABORTED, 0),
        (Outcome.CRASH, TaskStatus.RETRIED, ResultStatus.CREATED, 1),
        (Outcome.TIMEOUT, TaskStatus.TIMEOUT, ResultStatus.ABORTED, 0),
        (Outcome.RELEASED, TaskStatus.SUBMITTED, ResultStatus.CREATED, 1),
        (Outcome.LOST, TaskStatus.PROCESSING, ResultStatus.CREATED, 0),
    ],
    ids=lambda value: value.name if isinstance(value, Outcome) else None,
)
async def test_each_outcome_of_a_running_task_leads_to_its_transition(
    attempt: Attempt, outcome: Outcome, task_status: TaskStatus, output_status: ResultStatus, queued: int
) -> None:
    settled = await settle(attempt.grid, attempt.task, outcome, agent_id=AGENT, commit=attempt.commit())
    assert settled is outcome
    assert (await attempt.task_now()).status is task_status
    assert await attempt.output_status() is output_status
    assert await attempt.grid.queue.depth("default") == queued


async def test_error_keeps_the_workers_message_and_is_never_retried(attempt: Attempt) -> None:
    await settle(attempt.grid, attempt.task, Outcome.ERROR, agent_id=AGENT, message="bad input")
    ended = await attempt.task_now()
    assert ended.status_message == "bad input"
    with pytest.raises(errors.NotFound):
        await attempt.grid.state.get_tasks([f"{attempt.task.task_id}###1"])


async def test_timeout_without_a_message_names_the_max_duration(attempt: Attempt) -> None:
    await settle(attempt.grid, attempt.task, Outcome.TIMEOUT, agent_id=AGENT)
    assert "max_duration of 60.0 s" in (await attempt.task_now()).status_message


async def test_crash_is_retried_by_a_new_attempt_that_takes_over_the_outputs(attempt: Attempt) -> None:
    await settle(attempt.grid, attempt.task, Outcome.CRASH, agent_id=AGENT, message="worker died")
    retry = await attempt.task_now(f"{attempt.task.task_id}###1")
    assert retry.status is TaskStatus.SUBMITTED
    assert retry.retry_of_ids == [attempt.task.task_id] and retry.initial_task_id == attempt.task.task_id
    assert (await attempt.task_now()).status_message == "worker died"


async def test_crash_after_the_last_retry_ends_in_error_with_outputs_aborted(attempt: Attempt) -> None:
    await settle(attempt.grid, attempt.task, Outcome.CRASH, agent_id=AGENT, message="worker died")
    retry = await attempt.run_next()
    assert await settle(retry.grid, retry.task, Outcome.CRASH, agent_id=AGENT, message="again") is Outcome.CRASH
    last = await retry.task_now()
    assert last.status is TaskStatus.ERROR and "retries exhausted" in last.status_message
    assert await retry.output_status() is ResultStatus.ABORTED
    assert await retry.grid.queue.depth("default") == 0


async def test_released_task_is_queued_again_without_using_a_retry(attempt: Attempt) -> None:
    await settle(attempt.grid, attempt.task, Outcome.RELEASED, agent_id=AGENT)
    again = await attempt.task_now()
    assert again.retry_of_ids == [] and again.owner_pod_id == ""


async def test_cancelled_while_running_ends_cancelled_with_outputs_aborted(attempt: Attempt) -> None:
    await tasks.cancel(attempt.grid, [attempt.task.task_id])
    assert await settle(attempt.grid, attempt.task, Outcome.CANCELLED, agent_id=AGENT) is Outcome.CANCELLED
    assert (await attempt.task_now()).status is TaskStatus.CANCELLED
    assert await attempt.output_status() is ResultStatus.ABORTED


@pytest.mark.parametrize("outcome", [Outcome.OK, Outcome.CRASH, Outcome.RELEASED], ids=lambda o: o.name)
async def test_a_task_cancelled_as_its_attempt_ends_is_cancelled_not_left_cancelling(
    attempt: Attempt, outcome: Outcome
) -> None:
    await tasks.cancel(attempt.grid, [attempt.task.task_id])
    assert await settle(attempt.grid, attempt.task, outcome, agent_id=AGENT, commit=attempt.commit()) is (
        Outcome.CANCELLED
    )
    assert (await attempt.task_now()).status is TaskStatus.CANCELLED


async def test_ok_whose_commit_is_refused_ends_in_error_without_retry(attempt: Attempt) -> None:
    # Completing the payload again: it is COMPLETED already, a retry would be refused too.
    refused = ports.TaskCommit(completions=[ports.Completion(attempt.payload_id, 1, b"key")])
    assert await settle(attempt.grid, attempt.task, Outcome.OK, agent_id=AGENT, commit=refused) is Outcome.ERROR
    ended = await attempt.task_now()
    assert ended.status is TaskStatus.ERROR and ended.status_message.startswith("commit refused: ")
    assert await attempt.grid.queue.depth("default") == 0


#: Finishing a cancellation needs no holder (the reaper finishes those of lost agents).
HELD_WRITES = [o for o in Outcome if o not in (Outcome.LOST, Outcome.CANCELLED)]


@pytest.mark.parametrize("outcome", HELD_WRITES, ids=lambda o: o.name)
async def test_an_outcome_for_a_task_another_agent_holds_is_refused_logged_and_not_raised(
    attempt: Attempt, outcome: Outcome, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pyarmonik.lifecycle.outcomes"):
        settled = await settle(attempt.grid, attempt.task, outcome, agent_id="another-agent", commit=attempt.commit())
    assert settled is Outcome.LOST
    assert (await attempt.task_now()).status is TaskStatus.PROCESSING
    assert f"settled LOST: {outcome.name} refused" in caplog.text


@pytest.mark.parametrize("outcome", list(Outcome), ids=lambda o: o.name)
async def test_every_settled_outcome_is_logged_by_name(
    attempt: Attempt, outcome: Outcome, caplog: pytest.LogCaptureFixture
) -> None:
    if outcome is Outcome.CANCELLED:
        await tasks.cancel(attempt.grid, [attempt.task.task_id])
    with caplog.at_level(logging.DEBUG, logger="pyarmonik.lifecycle.outcomes"):
        await settle(attempt.grid, attempt.task, outcome, agent_id=AGENT, commit=attempt.commit())
    [line] = [r for r in caplog.records if r.name == "pyarmonik.lifecycle.outcomes"]
    assert f"task {attempt.task.task_id} settled {outcome.name}" in line.getMessage()


@pytest.mark.parametrize("outcome", list(Outcome), ids=lambda outcome: outcome.name)
async def test_every_settled_outcome_is_counted_and_timed_once_under_its_partition(
    attempt: Attempt, outcome: Outcome
) -> None:
    settled = await settle(attempt.grid, attempt.task, outcome, agent_id=AGENT, commit=attempt.commit())
    registry = attempt.grid.metrics.registry
    labels = {"partition": "default", "outcome": settled.value}
    assert registry.get_sample_value("pyarmonik_tasks_completed_total", labels) == 1
    assert registry.get_sample_value("pyarmonik_task_duration_seconds_count", labels) == 1
    assert registry.get_sample_value("pyarmonik_tasks_submitted_total", {"partition": "default"}) == 1
