"""``pyarmonik control-plane``: the ArmoniK API over shared storage.

Replicas are interchangeable: they share Redis and S3, so a client may talk
to any of them. Each also runs the lease reaper, which is idempotent.
"""

from __future__ import annotations

import asyncio
import logging

from pyarmonik.control_plane.server import ControlPlane
from pyarmonik.core.models import Partition
from pyarmonik.lifecycle.reaper import reap_forever
from pyarmonik.processes.wiring import open_grid
from pyarmonik.settings import ControlPlaneSettings

log = logging.getLogger(__name__)

REAP_EVERY = 5.0


async def run_control_plane(settings: ControlPlaneSettings, stop: asyncio.Event) -> None:
    async with open_grid(settings, default_partition=settings.partitions[0]) as grid:
        await grid.state.put_partitions([Partition(p) for p in settings.partitions])
        server = ControlPlane(grid, host=settings.host, port=settings.port)
        await server.start()
        reaper = asyncio.ensure_future(reap_forever(grid, stop, every=REAP_EVERY))
        log.info("control plane serving partitions %s on %s:%d", settings.partitions, settings.host, server.port)
        try:
            await stop.wait()
        finally:
            await reaper
            await server.stop(grace=5)
