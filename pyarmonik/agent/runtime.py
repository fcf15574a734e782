"""One agent, assembled: a ``Worker`` adapter (by default the official gRPC
protocol, which serves the Agent service its worker calls back) and the
pollster that feeds it; the lease reaper runs beside them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from pyarmonik.agent.grpc_worker import GrpcWorker
from pyarmonik.agent.health import AgentHealth, AgentState
from pyarmonik.agent.pollster import AgentConfig, Pollster
from pyarmonik.agent.worker import Worker
from pyarmonik.lifecycle.grid import Grid

log = logging.getLogger(__name__)

_STATES = [state.value for state in AgentState]


def grpc_address(address: str, socket_type: str = "unixdomainsocket") -> str:
    """The address gRPC takes, from ArmoniK's (path or host:port, socket type)."""
    if socket_type == "unixdomainsocket":
        return address if address.startswith("unix:") else f"unix://{address}"
    return address.removeprefix("http://").removeprefix("https://")


class AgentRuntime:
    def __init__(
        self,
        grid: Grid,
        config: AgentConfig,
        *,
        agent_address: str,
        worker_address: str,
        restart_worker: Callable[[str], Awaitable[object]] | None = None,
        worker: Worker | None = None,
        health: AgentHealth | None = None,
        worker_command: str | None = None,
        worker_log: Path | None = None,
    ) -> None:
        """``worker`` replaces the gRPC adapter built from the addresses,
        ``restart_worker(reason)`` (which asks the worker's supervisor for a
        new worker process when an abandoned call may keep it busy:
        ``worker_restart``) and the worker's command and log, when known."""
        self.grid, self.config = grid, config
        self.agent_address = agent_address
        self.worker: Worker = worker or GrpcWorker(
            agent_address=agent_address,
            worker_address=worker_address,
            restart=restart_worker,
            metrics=grid.metrics,
            worker_command=worker_command,
            worker_log=worker_log,
        )
        self.pollster = Pollster(grid, self.worker, config, health=health)
        self.health = self.pollster.health
        grid.metrics.watch_agent(config.partition_id, lambda: self.health.state.value, _STATES)

    async def start(self) -> None:
        """Readies the worker side (the Agent service, before the worker needs it)."""
        await self.worker.start()

    async def run(self, stop: asyncio.Event) -> None:
        """Polls until ``stop``; the running task gets the grace delay."""
        try:
            await self.pollster.run(stop)
        finally:
            await self.close()

    async def close(self) -> None:
        await self.worker.close()
