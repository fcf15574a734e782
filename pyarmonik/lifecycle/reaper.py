"""The lease reaper: recovers the tasks of agents that stopped heartbeating,
and finishes the session changes of control planes that stopped midway.

It runs beside every control plane and every agent. Reaping is idempotent
(an expired lease is claimed by one reaper only), so any number may run; the
period follows the lease so that a lost task waits at most a third of a
lease longer than the lease itself. What a lost agent's task becomes is an
``Outcome`` settled like any other (``outcomes.settle``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pyarmonik.core import errors
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.lifecycle import outcomes, sessions
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.storage import ports

log = logging.getLogger(__name__)


def period_for(lease_seconds: float) -> float:
    """How often to reap, for a grid whose leases last ``lease_seconds``."""
    return max(lease_seconds / 3, 0.1)


async def reap_forever(grid: Grid, stop: asyncio.Event, *, every: float) -> None:
    """Recovers the tasks of lost agents (expired leases) until ``stop``."""
    while not stop.is_set():
        try:
            recovered = await reap(grid)
            if recovered:
                log.warning("recovered %d task(s) from lost agents", recovered)
            finished = await sessions.finish_cut_short(grid)
            if finished:
                log.warning("finished the change of %d session(s) a stopped control plane left unsettled", finished)
        except Exception as exc:  # the reaper must outlive a storage hiccup
            if errors.is_transient(exc):
                log.warning("lease reaper: storage unavailable (%s); will retry", exc)
            else:
                log.exception("lease reaper failed; will retry")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def reap(grid: Grid) -> int:
    """Recovers the tasks of every expired lease; safe to run anywhere, often."""
    expired = await grid.queue.reap_expired(now=grid.clock())
    settled = []
    for lease in expired:
        try:
            await recover_lost(grid, lease)
        except errors.PyArmoniKError as exc:
            log.warning("could not recover task %s of lost agent %s: %s", lease.item.task_id, lease.agent_id, exc)
            if errors.is_transient(exc):
                continue  # reaped again after ports.REAP_RETRY_SECONDS
        settled.append(lease)
    if settled:
        await grid.queue.forget_reaped(settled)
    return len(expired)


async def recover_lost(grid: Grid, lease: ports.Lease) -> None:
    """A lease expired: its agent stopped heartbeating. Nothing is probed;
    the task's status says what the lost agent had done with it."""
    try:
        [task] = await grid.state.get_tasks([lease.item.task_id])
    except errors.NotFound:
        return
    held = task.owner_pod_id == lease.agent_id
    # An outcome the lost agent wrote needs nothing: the function that wrote
    # it also acked the lease and queued what it made ready.
    if task.status is TaskStatus.CANCELLING:
        outcome, message = outcomes.Outcome.CANCELLED, ""
    elif held and task.status is TaskStatus.DISPATCHED:
        outcome, message = outcomes.Outcome.RELEASED, f"agent {lease.agent_id} lost before starting the task"
    elif held and task.status is TaskStatus.PROCESSING:
        outcome, message = outcomes.Outcome.CRASH, f"agent {lease.agent_id} lost (lease expired)"
    else:
        return
    await outcomes.settle(grid, task, outcome, agent_id=lease.agent_id, message=message)
