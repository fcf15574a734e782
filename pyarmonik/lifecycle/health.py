"""Health of the ports a grid runs on, probed with cheap reads.

Each component is probed on its own, so one broken dependency reports
itself without hiding the state of the others.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pyarmonik.core import filters
from pyarmonik.lifecycle.grid import Grid

log = logging.getLogger(__name__)

_PROBE_KEY = ".pyarmonik-health-probe"


class Health(enum.Enum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str
    health: Health
    message: str = ""


async def _probe_state(grid: Grid) -> None:
    await grid.state.list_partitions(query=filters.ListQuery(page_size=0))


async def _probe_queue(grid: Grid) -> None:
    await grid.queue.depth(grid.default_partition)


async def _probe_objects(grid: Grid) -> None:
    await grid.objects.size(_PROBE_KEY)


_PROBES: dict[str, Callable[[Grid], Awaitable[None]]] = {
    "state": _probe_state,
    "queue": _probe_queue,
    "objects": _probe_objects,
}


async def check(grid: Grid) -> list[ComponentHealth]:
    report = []
    for name, probe in _PROBES.items():
        try:
            await probe(grid)
        except Exception as exc:  # a failing dependency is a report, not an error
            log.warning("health probe of %s failed: %s", name, exc)
            report.append(ComponentHealth(name, Health.UNHEALTHY, f"{type(exc).__name__}: {exc}"))
        else:
            report.append(ComponentHealth(name, Health.HEALTHY))
    return report
