"""``pyarmonik control-plane``: the ArmoniK API over shared storage.

Replicas are interchangeable: they share Redis and S3, so a client may talk
to any of them. Each also runs the lease reaper, which is idempotent, and,
with ``metrics_port``, serves the grid's ``/metrics`` (every replica reports
the same store levels; its own RPCs and the outcomes its reaper settled).
``local`` runs this command as a child process, and serves one ``/metrics``
for its whole grid: this endpoint's metrics merged with its agents'.
"""

from __future__ import annotations

import asyncio
import logging

from pyarmonik.control_plane import server
from pyarmonik.control_plane.server import ControlPlane
from pyarmonik.core import errors
from pyarmonik.core.fairshare import FairShare
from pyarmonik.core.models import Partition
from pyarmonik.lifecycle import observed, reaper
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.metrics import CONTENT_TYPE
from pyarmonik.processes import supervised
from pyarmonik.processes.probes import ProbeServer
from pyarmonik.processes.wiring import open_grid
from pyarmonik.protocol import serving
from pyarmonik.settings import ControlPlaneSettings

log = logging.getLogger(__name__)


async def declare_partitions(grid: Grid, partition_ids: list[str], fair_share: FairShare | None = None) -> None:
    """Adds the partitions that do not exist yet. Existing ones keep their
    fields: the operator may have written them from ArmoniKPartitions, and
    a control plane restarting must not reset them; only a ``fair_share``
    given (by this control plane's settings) replaces theirs."""
    changed = []
    for partition_id in partition_ids:
        try:
            partition = await grid.state.get_partition(partition_id)
        except errors.NotFound:
            partition = Partition(partition_id)
        else:
            if fair_share is None or partition.fair_share == fair_share:
                continue
        if fair_share is not None:
            partition.fair_share = fair_share
        log.info("partition %s: %s", partition_id, partition.fair_share.describe())
        changed.append(partition)
    await grid.state.put_partitions(changed)


class ControlPlaneService:
    """The partitions declared, the API served and the reaper running, on
    ``grid``; ``stop`` undoes it in reverse order."""

    def __init__(self, grid: Grid, settings: ControlPlaneSettings) -> None:
        self.grid, self.settings = grid, settings
        self.server = ControlPlane(
            grid, host=settings.host, port=settings.port, security=settings, limits=settings, web=settings
        )
        self.metrics = metrics_server(grid, host=settings.host, port=settings.metrics_port)
        self._stop_reaper = asyncio.Event()
        self._reaper: asyncio.Future[None] | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def metrics_port(self) -> int | None:
        """The bound metrics port, ``None`` when metrics are off."""
        return self.metrics.port if self.metrics is not None else None

    async def start(self) -> None:
        await declare_partitions(self.grid, self.settings.partitions, self.settings.fair_share())
        observed.report_store(self.grid)
        await self.server.start()
        if self.metrics is not None:
            try:
                await self.metrics.start()
            except OSError:
                await self.server.stop(grace=0)
                raise
        every = reaper.period_for(self.settings.lease_seconds)
        self._reaper = asyncio.ensure_future(reaper.reap_forever(self.grid, self._stop_reaper, every=every))
        log.info(
            "control plane serving partitions %s on %s:%d", self.settings.partitions, self.settings.host, self.port
        )

    async def stop(self, grace: float = 5.0) -> None:
        self._stop_reaper.set()
        if self._reaper is not None:
            await self._reaper
        await self.server.stop(grace=grace)
        if self.metrics is not None:
            await self.metrics.stop()


def preflight(settings: ControlPlaneSettings) -> None:
    """Refuses, in one line, settings the control plane could not serve
    with (its ports in use, a TLS or auth file missing or wrong), before
    anything starts or any storage is reached."""
    server.check(host=settings.host, port=settings.port, security=settings)
    if settings.metrics_port:
        serving.check_address(f"{settings.host}:{settings.metrics_port}", what="metrics")


def metrics_server(grid: Grid, *, host: str, port: int | None) -> ProbeServer | None:
    """``/metrics`` of ``grid`` on ``host:port``; ``None`` when ``port`` is."""
    if port is None:
        return None
    return ProbeServer({}, pages={"/metrics": lambda: _scrape(grid)}, host=host, port=port, what="metrics")


async def _scrape(grid: Grid) -> tuple[str, bytes]:
    return CONTENT_TYPE, await grid.metrics.render()


async def run_control_plane(settings: ControlPlaneSettings, stop: asyncio.Event) -> None:
    if not settings.redis_url:
        raise ValueError(
            "a control plane shares its grid's storage with the agents: give --redis-url (env PYARMONIK_REDIS_URL); "
            "`pyarmonik local` starts a private redis-server"
        )
    preflight(settings)
    async with open_grid(settings, default_partition=settings.partitions[0]) as grid:
        service = ControlPlaneService(grid, settings)
        await service.start()
        supervised.announce(port=service.port, metrics_port=service.metrics_port, http_port=service.server.http_port)
        try:
            await stop.wait()
        finally:
            await service.stop()
