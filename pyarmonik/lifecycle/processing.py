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

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

from pyarmonik.core import errors
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.lifecycle import object_keys
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports

log = logging.getLogger(__name__)


Admission = ports.Admission


async def claim(
    grid: Grid,
    partition_id: str,
    *,
    agent_id: str,
    hostname: str,
    lease_seconds: float,
    count: int = 1,
    start_first: bool = True,
    timeout: float,
    stop: asyncio.Event | None = None,
) -> list[ports.Claim]:
    """Takes up to ``count`` runnable tasks of the partition for ``agent_id``,
    admitted (missing, cancelled, closed, paused ones settled and dropped),
    leased and acquired, the first started when ``start_first``."""
    return await grid.dispatcher().claim(
        partition_id,
        agent_id=agent_id,
        hostname=hostname,
        lease_seconds=lease_seconds,
        count=count,
        start_first=start_first,
        timeout=timeout,
        stop=stop,
    )


async def start(grid: Grid, task: Task, *, agent_id: str, lease: ports.Lease) -> Task | None:
    """DISPATCHED -> PROCESSING; ``None`` when the task was cancelled since it
    was acquired (its cancellation is then finished here, not left CANCELLING)."""
    return await grid.dispatcher().start(task, lease, agent_id=agent_id, at=grid.clock())


async def complete(
    grid: Grid,
    task: Task,
    *,
    agent_id: str,
    files: Mapping[str, Path],
    commit: ports.TaskCommit,
    lease: ports.Lease | None = None,
    next_claim: ports.NextClaim | None = None,
) -> None:
    """Uploads the result files, then commits everything in one step (with
    the ack of ``lease``, the queuing of what the commit made ready, and the
    agent's ``next_claim``).

    Data goes first so that no result is COMPLETED without data; a small
    result's data travels with the commit instead (``Grid.inline_limit``),
    stored in the same step. A refused commit (the agent lost the task
    meanwhile) removes what it uploaded.
    """
    dispatch = grid.dispatcher()
    completions = list(commit.completions)
    uploaded: list[str] = []
    for result_id, path in files.items():
        key = object_keys.new_key(result_id)
        size = path.stat().st_size
        if grid.inline_limit > 0 and size <= grid.inline_limit:
            completions.append(ports.Completion(result_id, size, key.encode(), path.read_bytes()))
        else:
            size = await grid.objects.put_file(key, path)  # moved, not copied, where the store allows
            uploaded.append(key)
            completions.append(ports.Completion(result_id, size, key.encode()))
    final = ports.TaskCommit(commit.new_results, completions, commit.children)
    try:
        await dispatch.commit(task, lease, agent_id=agent_id, commit=final, at=grid.clock(), next_claim=next_claim)
    except errors.PyArmoniKError:
        await grid.objects.delete(uploaded)
        raise
    grid.metrics.count_submitted(commit.children)


async def fail(
    grid: Grid,
    task: Task,
    *,
    agent_id: str,
    message: str,
    status: TaskStatus = TaskStatus.ERROR,
    lease: ports.Lease | None = None,
) -> None:
    await grid.dispatcher().fail(task, lease, agent_id=agent_id, status=status, message=message, at=grid.clock())


async def crash(
    grid: Grid, task: Task, *, agent_id: str, message: str, lease: ports.Lease | None = None
) -> Task | None:
    """Retry path; returns the new attempt, or ``None`` when retries are spent."""
    if len(task.retry_of_ids) < task.options.max_retries:
        retry = await grid.dispatcher().retry(task, lease, agent_id=agent_id, message=message, at=grid.clock())
        log.warning("task %s failed (%s); retried as %s", task.task_id, message, retry.task_id)
        return retry
    message = f"{message} (retries exhausted: {task.options.max_retries})"
    await fail(grid, task, agent_id=agent_id, message=message, lease=lease)
    return None


async def release(grid: Grid, task: Task, *, agent_id: str, lease: ports.Lease | None = None) -> None:
    await grid.dispatcher().release(task, lease, agent_id=agent_id, at=grid.clock())


async def cancelled(grid: Grid, task: Task, *, agent_id: str, lease: ports.Lease | None = None) -> None:
    """The running task was cancelled: CANCELLING -> CANCELLED."""
    await grid.dispatcher().cancelled(task, lease, agent_id=agent_id, at=grid.clock())
