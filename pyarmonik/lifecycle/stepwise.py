"""The agent's dispatch steps made of separate state and queue calls.

For stores that offer no combined script (the embedded ones): a claim is a
pop, the admission reads and the acquisition (and start); a finish is the
state transition, the push of what it made ready, then the ack -- several
round trips, but the same order, so at-least-once holds: an item is acked
only once its outcome is written. One task per claim (``count`` is a hint).
"""

from __future__ import annotations

from pyarmonik.core import errors
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import SessionStatus, TaskStatus
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports

_CLOSED = frozenset({SessionStatus.CANCELLED, SessionStatus.CLOSED, SessionStatus.PURGED, SessionStatus.DELETED})
Admission = ports.Admission


class StepwiseDispatch:
    """``Dispatch`` over ``grid.state`` and ``grid.queue``."""

    def __init__(self, grid: Grid) -> None:
        self._grid = grid

    async def claim(
        self,
        partition_id: str,
        *,
        agent_id: str,
        hostname: str,
        lease_seconds: float,
        count: int,
        start_first: bool,
        timeout: float,
    ) -> list[ports.Claim]:
        grid = self._grid
        lease = await grid.queue.pop(partition_id, agent_id=agent_id, lease_seconds=lease_seconds, timeout=timeout)
        if lease is None:
            return []
        admission, task = await admit(grid, lease.item, agent_id=agent_id, hostname=hostname)
        if admission is not Admission.RUN or task is None:
            await grid.queue.ack(lease)
            return [ports.Claim(admission, lease.item.task_id)]
        if start_first:
            started = await self.start(task, lease, agent_id=agent_id, at=grid.clock())
            if started is None:
                return [ports.Claim(Admission.CANCELLED, task.task_id)]
            task = started
        return [ports.Claim(Admission.RUN, task.task_id, lease, task)]

    async def start(self, task: Task, lease: ports.Lease | None, *, agent_id: str, at: float) -> Task | None:
        grid = self._grid
        try:
            return await grid.state.start_task(task.task_id, agent_id=agent_id, at=at)
        except errors.NotHeld:
            [current] = await grid.state.get_tasks([task.task_id])
            if current.status is not TaskStatus.CANCELLING:
                raise
            await self.cancelled(current, lease, agent_id=agent_id, at=at)
            return None

    async def commit(
        self, task: Task, lease: ports.Lease | None, *, agent_id: str, commit: ports.TaskCommit, at: float
    ) -> None:
        ready = await self._grid.state.commit_task(task.task_id, agent_id=agent_id, commit=commit, at=at)
        await self._grid.enqueue(ready)
        await self._ack(lease)

    async def fail(
        self, task: Task, lease: ports.Lease | None, *, agent_id: str, status: TaskStatus, message: str, at: float
    ) -> Task:
        failed = await self._grid.state.fail_task(
            task.task_id, agent_id=agent_id, status=status, message=message, at=at
        )
        await self._ack(lease)
        return failed

    async def retry(self, task: Task, lease: ports.Lease | None, *, agent_id: str, message: str, at: float) -> Task:
        retry = await self._grid.state.retry_task(task.task_id, agent_id=agent_id, message=message, at=at)
        await self._grid.enqueue([retry])
        await self._ack(lease)
        return retry

    async def release(self, task: Task, lease: ports.Lease | None, *, agent_id: str, at: float) -> Task:
        released = await self._grid.state.release_task(task.task_id, agent_id=agent_id, at=at)
        await self._grid.enqueue([released])
        await self._ack(lease)
        return released

    async def cancelled(self, task: Task, lease: ports.Lease | None, *, agent_id: str, at: float) -> None:
        await self._grid.state.finish_cancellation(task.task_id, at=at)
        await self._ack(lease)

    async def _ack(self, lease: ports.Lease | None) -> None:
        if lease is not None:
            await self._grid.queue.ack(lease)


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
