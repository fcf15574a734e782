"""The lease of a task an agent holds, renewed until its outcome is written.

The lease must outlive everything the agent does with the task, not only
the worker call: fetching large inputs and uploading large results (or an
object store that stalls) can each take longer than a lease. A lease that
expired meanwhile would hand the task to another agent, which would meet
the same delay and lose the task again, until its retries ran out.

A storage outage is waited out: when storage is back, the renewal says
whether the task is still ours (``lost``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

from pyarmonik.agent import outage
from pyarmonik.core import errors
from pyarmonik.storage import ports

log = logging.getLogger(__name__)


class LeaseKeeper:
    """``async with`` renews ``lease`` every ``every`` seconds for
    ``lease_seconds``; ``lost`` is set once a renewal is refused."""

    def __init__(
        self, queue: ports.TaskQueue, lease: ports.Lease, *, lease_seconds: float, every: float, agent_id: str
    ) -> None:
        self._queue, self.lease = queue, lease
        self._lease_seconds, self._every, self._agent_id = lease_seconds, every, agent_id
        self.lost = asyncio.Event()
        self._renewing: asyncio.Future[None] | None = None

    async def __aenter__(self) -> LeaseKeeper:
        self._renewing = asyncio.ensure_future(self._renew_forever())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stops renewing (the lease was acked or released); idempotent."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing

    async def lost_within(self, seconds: float) -> bool:
        """Waits up to ``seconds``; whether the lease is lost by then."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.lost.wait(), seconds)
        return self.lost.is_set()

    async def _renew_forever(self) -> None:
        task_id = self.lease.item.task_id
        storage = outage.Outage()
        while True:
            await asyncio.sleep(self._every)
            try:
                renewed = await self._queue.renew(self.lease, lease_seconds=self._lease_seconds)
            except Exception as exc:
                if not errors.is_transient(exc):
                    raise
                storage.failed(f"heartbeat of task {task_id}", exc)
                continue
            storage.reached(f"agent {self._agent_id} renews the lease of task {task_id}")
            if renewed is None:
                log.info("task %s: lease lost (expired and reaped)", task_id)
                self.lost.set()
                return
            self.lease = renewed
