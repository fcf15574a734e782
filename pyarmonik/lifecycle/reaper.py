"""The lease reaper: recovers the tasks of agents that stopped heartbeating.

It runs beside every control plane and every agent. Reaping is idempotent
(an expired lease is claimed by one reaper only), so any number may run; the
period follows the lease so that a lost task waits at most a third of a
lease longer than the lease itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pyarmonik.core import errors
from pyarmonik.lifecycle import processing
from pyarmonik.lifecycle.grid import Grid

log = logging.getLogger(__name__)


def period_for(lease_seconds: float) -> float:
    """How often to reap, for a grid whose leases last ``lease_seconds``."""
    return max(lease_seconds / 3, 0.1)


async def reap_forever(grid: Grid, stop: asyncio.Event, *, every: float) -> None:
    """Recovers the tasks of lost agents (expired leases) until ``stop``."""
    while not stop.is_set():
        try:
            recovered = await processing.reap(grid)
            if recovered:
                log.warning("recovered %d task(s) from lost agents", recovered)
        except Exception as exc:  # the reaper must outlive a storage hiccup
            if errors.is_transient(exc):
                log.warning("lease reaper: storage unavailable (%s); will retry", exc)
            else:
                log.exception("lease reaper failed; will retry")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
