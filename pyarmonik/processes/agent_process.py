"""``pyarmonik agent``: the polling agent of one partition, next to a worker
process it reaches over a socket (the two containers of a partition pod).

On SIGTERM it stops taking tasks and gives the running one the grace delay,
then releases it without using a retry.
"""

from __future__ import annotations

import asyncio
import logging

from pyarmonik.agent.pollster import AgentConfig
from pyarmonik.agent.runtime import AgentRuntime, grpc_address
from pyarmonik.lifecycle.reaper import reap_forever
from pyarmonik.processes.wiring import open_grid
from pyarmonik.settings import AgentSettings

log = logging.getLogger(__name__)


async def run_agent(settings: AgentSettings, stop: asyncio.Event) -> None:
    async with open_grid(settings, default_partition=settings.partition) as grid:
        await grid.state.get_partition(settings.partition)  # NotFound names an undeclared partition
        identity = {"agent_id": settings.agent_id} if settings.agent_id else {}
        config = AgentConfig(
            partition_id=settings.partition,
            **identity,  # type: ignore[arg-type]
            data_root=settings.shared_dir,
            lease_seconds=settings.lease_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
            grace_seconds=settings.grace_seconds,
        )
        runtime = AgentRuntime(
            grid,
            config,
            agent_address=grpc_address(settings.agent_address, settings.agent_socket_type),
            worker_address=grpc_address(settings.worker_address, settings.worker_socket_type),
        )
        await runtime.start()
        reaper = asyncio.ensure_future(reap_forever(grid, stop, every=max(settings.lease_seconds / 3, 0.5)))
        try:
            await runtime.run(stop)
        finally:
            await reaper
