"""One agent, assembled: the Agent service for its worker, the worker
client and the pollster, with the lease reaper beside them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc
from armonik.protogen.worker import agent_service_pb2_grpc

from pyarmonik.agent.agent_servicer import AgentServicer
from pyarmonik.agent.pollster import AgentConfig, Pollster
from pyarmonik.agent.worker_client import WorkerClient
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.protocol.interceptor import ErrorInterceptor

log = logging.getLogger(__name__)

_MAX_MESSAGE = 64 * 1024 * 1024


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
        restart_worker: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.grid, self.config = grid, config
        self.agent_address = agent_address
        self.servicer = AgentServicer()
        self.worker = WorkerClient(worker_address)
        self.pollster = Pollster(grid, self.worker, self.servicer, config, restart_worker=restart_worker)
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        """Serves the Agent service for the worker (before the worker needs it)."""
        self._server = grpc.aio.server(
            interceptors=[ErrorInterceptor()],
            options=[
                ("grpc.max_receive_message_length", _MAX_MESSAGE),
                ("grpc.max_send_message_length", _MAX_MESSAGE),
            ],
        )
        agent_service_pb2_grpc.add_AgentServicer_to_server(self.servicer, self._server)
        if self._server.add_insecure_port(self.agent_address) == 0:
            raise OSError(f"cannot serve the Agent service on {self.agent_address}")
        await self._server.start()

    async def run(self, stop: asyncio.Event) -> None:
        """Polls until ``stop``; the running task gets the grace delay."""
        try:
            await self.pollster.run(stop)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=1)
            self._server = None
        await self.worker.close()

