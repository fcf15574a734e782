"""What becomes of a task an agent pops, runs, finishes or loses.

ArmoniK.Core's failure semantics, shared by every agent and every store:
- ``Output.error`` from the worker: ERROR, no retry, outputs ABORTED;
- a crash (worker died, gRPC error, agent lost): retry while the earlier
  attempts are fewer than ``max_retries``, else ERROR;
- ``max_duration`` exceeded: TIMEOUT, no retry;
- agent shutting down: the task is released without using a retry.

These are the transitions; which one an attempt's end leads to is decided
in ``outcomes.settle`` only.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from pathlib import Path

from pyarmonik.core import errors
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import SessionStatus, TaskStatus
from pyarmonik.lifecycle import results
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports

log = logging.getLogger(__name__)

_CLOSED = frozenset({SessionStatus.CANCELLED, SessionStatus.CLOSED, SessionStatus.PURGED, SessionStatus.DELETED})


class Admission(enum.Enum):
    """What an agent does with a task it popped; logged and counted as such."""

    RUN = "run"
    GONE = "gone"  # deleted, already taken, already final: drop the message
    CANCELLED = "cancelled"
    PAUSED = "paused"


async def admit(grid: Grid, item: ports.QueuedTask, *, agent_id: str, hostname: str) -> tuple[Admission, Task | None]:
    """Checks the task and its session, then acquires it for ``agent_id``."""
    try:
        [task] = await grid.state.get_tasks([item.task_id])
        session = await grid.state.get_session(task.session_id)
    except errors.NotFound:
        return Admission.GONE, None
    at = grid.clock()
    if task.status is TaskStatus.CANCELLING:
        await grid.state.finish_cancellation(task.task_id, at=at)
        return Admission.CANCELLED, None
    if task.status is not TaskStatus.SUBMITTED:
        return Admission.GONE, None
    if session.status in _CLOSED:
        await grid.state.cancel_tasks([task.task_id], at=at, reason=f"session {session.status.name}")
        return Admission.CANCELLED, None
    if session.status is SessionStatus.PAUSED and await grid.state.park_task(task.task_id, at=at):
        return Admission.PAUSED, None
    acquired = await grid.state.acquire_task(task.task_id, agent_id=agent_id, hostname=hostname, at=at)
    return (Admission.RUN, acquired) if acquired else (Admission.GONE, None)


async def start(grid: Grid, task: Task, *, agent_id: str) -> Task | None:
    """DISPATCHED -> PROCESSING; ``None`` when the task was cancelled since it
    was acquired (its cancellation is then finished here, not left CANCELLING)."""
    try:
        return await grid.state.start_task(task.task_id, agent_id=agent_id, at=grid.clock())
    except errors.NotHeld:
        [current] = await grid.state.get_tasks([task.task_id])
        if current.status is not TaskStatus.CANCELLING:
            raise
        await cancelled(grid, current, agent_id=agent_id)
        return None


async def complete(
    grid: Grid, task: Task, *, agent_id: str, files: Mapping[str, Path], commit: ports.TaskCommit
) -> None:
    """Uploads the result files, then commits everything in one step.

    Data goes first so that no result is COMPLETED without data. A refused
    commit (the agent lost the task meanwhile) removes what it uploaded.
    """
    completions = list(commit.completions)
    for result_id, path in files.items():
        key = results.object_key(result_id)
        size = await grid.objects.put_file(key, path)  # moved, not copied, where the store allows
        completions.append(ports.Completion(result_id, size, key.encode()))
    final = ports.TaskCommit(commit.new_results, completions, commit.children)
    try:
        ready = await grid.state.commit_task(task.task_id, agent_id=agent_id, commit=final, at=grid.clock())
    except errors.PyArmoniKError:
        await grid.objects.delete([c.opaque_id.decode() for c in completions[len(commit.completions) :]])
        raise
    grid.metrics.count_submitted(commit.children)
    await grid.enqueue(ready)


async def fail(grid: Grid, task: Task, *, agent_id: str, message: str, status: TaskStatus = TaskStatus.ERROR) -> None:
    await grid.state.fail_task(task.task_id, agent_id=agent_id, status=status, message=message, at=grid.clock())


async def crash(grid: Grid, task: Task, *, agent_id: str, message: str) -> Task | None:
    """Retry path; returns the new attempt, or ``None`` when retries are spent."""
    if len(task.retry_of_ids) < task.options.max_retries:
        retry = await grid.state.retry_task(task.task_id, agent_id=agent_id, message=message, at=grid.clock())
        await grid.enqueue([retry])
        log.warning("task %s failed (%s); retried as %s", task.task_id, message, retry.task_id)
        return retry
    await fail(grid, task, agent_id=agent_id, message=f"{message} (retries exhausted: {task.options.max_retries})")
    return None


async def release(grid: Grid, task: Task, *, agent_id: str) -> None:
    await grid.enqueue([await grid.state.release_task(task.task_id, agent_id=agent_id, at=grid.clock())])


async def cancelled(grid: Grid, task: Task, *, agent_id: str) -> None:
    """The running task was cancelled: CANCELLING -> CANCELLED."""
    await grid.state.finish_cancellation(task.task_id, at=grid.clock())
