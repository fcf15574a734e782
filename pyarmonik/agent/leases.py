"""The leases an agent holds, renewed together until each task's outcome is written.

A lease must outlive everything the agent does with its task, not only the
worker call: fetching large inputs and uploading large results (or an
object store that stalls) can each take longer than a lease. One loop per
agent renews every lease it holds in one call each heartbeat (not a task
and a call per lease), and that call also says which tasks were cancelled
or taken over meanwhile: the agent learns it at the next heartbeat without
reading the tasks again.

A storage outage is waited out: when storage is back, the renewal says
whether each task is still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pyarmonik.agent import outage
from pyarmonik.core import errors
from pyarmonik.storage import ports

log = logging.getLogger(__name__)


@dataclass
class Held:
    """One lease, and what the renewals found of it."""

    lease: ports.Lease
    state: ports.LeaseState = ports.LeaseState.HELD
    #: Called once when the state leaves HELD (the task's run is interrupted).
    on_change: Callable[[ports.LeaseState], None] | None = None


class Leases:
    """The leases of one agent on one partition; ``run`` renews them every
    ``every`` seconds until cancelled."""

    def __init__(
        self, queue: ports.TaskQueue, partition_id: str, *, agent_id: str, lease_seconds: float, every: float
    ) -> None:
        self._queue, self._partition_id, self._agent_id = queue, partition_id, agent_id
        self._lease_seconds, self._every = lease_seconds, every
        self._held: dict[str, Held] = {}
        self._outage = outage.Outage()

    def hold(self, lease: ports.Lease) -> Held:
        held = Held(lease)
        self._held[lease.item.task_id] = held
        return held

    def drop(self, held: Held) -> None:
        """The task's outcome is written (its lease acked): renew it no more."""
        if self._held.get(held.lease.item.task_id) is held:
            del self._held[held.lease.item.task_id]

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            await self.renew_once()

    async def renew_once(self) -> None:
        held = [h for h in self._held.values() if h.state is not ports.LeaseState.LOST]
        if not held:
            return
        try:
            states = await self._queue.renew(
                self._partition_id,
                agent_id=self._agent_id,
                leases=[h.lease for h in held],
                lease_seconds=self._lease_seconds,
            )
        except Exception as exc:
            if not errors.is_transient(exc):
                raise
            self._outage.failed(f"agent {self._agent_id} renewing the lease of {_tasks(held)}", exc)
            return
        self._outage.reached(f"agent {self._agent_id} renews the lease of {_tasks(held)}")
        for entry, state in zip(held, states):
            if state is entry.state:
                continue
            entry.state = state
            if state is ports.LeaseState.LOST:
                log.info("task %s: lease lost (expired and reaped, or taken over)", entry.lease.item.task_id)
            if entry.on_change is not None:
                with contextlib.suppress(Exception):
                    entry.on_change(state)


def _tasks(held: list[Held]) -> str:
    """The tasks of ``held`` for a log line: named when few."""
    ids = [h.lease.item.task_id for h in held]
    if len(ids) == 1:
        return f"task {ids[0]}"
    return f"tasks {', '.join(ids[:3])}" + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
