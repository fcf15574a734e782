"""How an attempt at a task ended, and the one place that says what it means.

Whoever sees an attempt end (an agent whose worker replied, was interrupted
or could not be reached; the reaper, for an agent that vanished) names the
ending with an ``Outcome`` and hands it to ``settle``. The mapping from
outcome to transition lives only here, like Celery's ``app/trace.py``, so
the retry decision (in ``processing.crash``) is reached from one spot, and
every outcome passes through one log line and one count
(``pyarmonik_tasks_completed_total`` and ``pyarmonik_task_duration_seconds``).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from pathlib import Path

from pyarmonik.core import errors
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.lifecycle import processing
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    """How one attempt at a task ended; logged and counted as such."""

    OK = "ok"  # the worker succeeded: commit what it produced
    ERROR = "error"  # the worker returned Output.error (or its commit was refused): no retry
    CRASH = "crash"  # worker died, call failed, no output, inputs unreadable: the retry path
    TIMEOUT = "timeout"  # max_duration exceeded: no retry
    CANCELLED = "cancelled"  # the task was cancelled while it ran
    RELEASED = "released"  # the agent is stopping: back to the queue, no retry used
    LOST = "lost"  # the lease was lost: whoever took the task over decides


#: What the task's status message says when the one who saw the end said nothing.
_DEFAULT_MESSAGES = {
    Outcome.ERROR: "the worker returned an error",
    Outcome.CRASH: "the worker failed",
}

_NO_FILES: Mapping[str, Path] = {}


async def settle(
    grid: Grid,
    task: Task,
    outcome: Outcome,
    *,
    agent_id: str,
    message: str = "",
    files: Mapping[str, Path] = _NO_FILES,
    commit: ports.TaskCommit | None = None,
    lease: ports.Lease | None = None,
    next_claim: ports.NextClaim | None = None,
) -> Outcome:
    """Writes what ``outcome`` means for ``task`` held by ``agent_id``.

    ``files`` and ``commit`` are what an OK attempt produced. ``lease``, the
    agent's, is acked with the outcome's write (in one step on stores that
    combine them); it is left alone when nothing was written (LOST). An OK
    outcome also makes ``next_claim`` in the same step (the agent's next
    tasks land in its ``claims``; it stays empty otherwise). Returns the
    outcome actually written: ERROR for an OK whose commit was refused (it
    would be refused again on a retry), CANCELLED when the task was
    cancelled as the attempt ended (the cancel wins), LOST when the store
    refused the write because another agent took the task over or the task
    is gone -- a refusal is logged, never raised: it is the normal fate of a
    late agent.
    """
    message = message or _DEFAULT_MESSAGES.get(outcome, "")
    if outcome is Outcome.TIMEOUT:
        message = message or f"task exceeded its max_duration of {task.options.max_duration} s"
    try:
        if outcome is Outcome.OK:
            outcome, message = await _complete(
                grid, task, agent_id=agent_id, files=files, commit=commit, lease=lease, next_claim=next_claim
            )
        else:
            await _end(grid, task, outcome, agent_id=agent_id, message=message, lease=lease)
    except errors.NotHeld as exc:
        level, outcome, message = await _refused(
            grid, task, outcome, agent_id=agent_id, reason=exc.message, lease=lease
        )
    except errors.NotFound as exc:  # deleted with its session meanwhile
        level, outcome, message = logging.WARNING, Outcome.LOST, f"{outcome.name} refused: {exc.message}"
    else:
        level = logging.DEBUG if outcome is Outcome.OK else logging.INFO
    # The one line every outcome passes through, and the one count of it.
    log.log(level, "task %s settled %s%s", task.task_id, outcome.name, f": {message}" if message else "")
    began = task.started_at or task.acquired_at
    grid.metrics.settled(task, outcome, seconds=grid.clock() - began if began else None)
    return outcome


async def _refused(
    grid: Grid, task: Task, outcome: Outcome, *, agent_id: str, reason: str, lease: ports.Lease | None
) -> tuple[int, Outcome, str]:
    """A write the store refused: another agent took the task over (LOST), or
    the task was cancelled as it ended, which the cancel wins (CANCELLED)."""
    try:
        [current] = await grid.state.get_tasks([task.task_id])
    except errors.NotFound:
        return logging.WARNING, Outcome.LOST, f"{outcome.name} refused: {reason}"
    if current.status is TaskStatus.CANCELLING and current.owner_pod_id == agent_id:
        await processing.cancelled(grid, current, agent_id=agent_id, lease=lease)
        return logging.INFO, Outcome.CANCELLED, f"cancelled as it ended {outcome.name}"
    return logging.WARNING, Outcome.LOST, f"{outcome.name} refused: {reason}"


async def _end(
    grid: Grid, task: Task, outcome: Outcome, *, agent_id: str, message: str, lease: ports.Lease | None
) -> None:
    if outcome is Outcome.ERROR:
        await processing.fail(grid, task, agent_id=agent_id, message=message, lease=lease)
    elif outcome is Outcome.CRASH:
        await processing.crash(grid, task, agent_id=agent_id, message=message, lease=lease)
    elif outcome is Outcome.TIMEOUT:
        await processing.fail(grid, task, agent_id=agent_id, message=message, status=TaskStatus.TIMEOUT, lease=lease)
    elif outcome is Outcome.CANCELLED:
        await processing.cancelled(grid, task, agent_id=agent_id, lease=lease)
    elif outcome is Outcome.RELEASED:
        await processing.release(grid, task, agent_id=agent_id, lease=lease)
    # LOST: nothing is ours to write.


async def _complete(
    grid: Grid,
    task: Task,
    *,
    agent_id: str,
    files: Mapping[str, Path],
    commit: ports.TaskCommit | None,
    lease: ports.Lease | None,
    next_claim: ports.NextClaim | None,
) -> tuple[Outcome, str]:
    try:
        commit = commit or ports.TaskCommit()
        await processing.complete(
            grid, task, agent_id=agent_id, files=files, commit=commit, lease=lease, next_claim=next_claim
        )
    except errors.NotHeld:
        raise
    except errors.PyArmoniKError as exc:
        # What the worker asked for cannot be committed (e.g. a child on an
        # aborted result): a retry would be refused the same way.
        message = f"commit refused: {exc.message}"
        await processing.fail(grid, task, agent_id=agent_id, message=message, lease=lease)
        return Outcome.ERROR, message
    return Outcome.OK, ""
