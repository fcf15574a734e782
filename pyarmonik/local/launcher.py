"""Wires a whole grid in one process: embedded storage, the control plane,
N agents per partition and their worker processes, and the lease reaper.

Sockets live in a short temporary directory (a unix socket path must stay
under ~100 bytes), objects under ``<data-dir>/objects`` so that
ImportResultsData can name a file placed there by its relative path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pyarmonik.agent.pollster import AgentConfig
from pyarmonik.agent.runtime import AgentRuntime, grpc_address
from pyarmonik.control_plane.server import ControlPlane
from pyarmonik.core.models import Partition
from pyarmonik.lifecycle.grid import DEFAULT_CHUNK_SIZE, Grid
from pyarmonik.lifecycle.reaper import reap_forever
from pyarmonik.local.workers import WorkerProcess, worker_environment
from pyarmonik.processes.wiring import open_grid
from pyarmonik.settings import StorageSettings

log = logging.getLogger(__name__)


@dataclass
class LocalOptions:
    host: str = "127.0.0.1"
    port: int = 5001
    data_dir: Path = Path("pyarmonik-data")
    partitions: list[str] = field(default_factory=lambda: ["default"])
    agents: int = 1
    # partition -> worker command; "" (or a missing partition) means no agents there.
    workers: dict[str, str] = field(default_factory=dict)
    lease_seconds: float = 15.0
    heartbeat_seconds: float = 3.0
    grace_seconds: float = 5.0
    data_chunk_max_size: int = DEFAULT_CHUNK_SIZE
    # Real backends instead of the embedded stores (``--redis``, ``--s3``).
    redis_url: str | None = None
    s3: dict[str, object] = field(default_factory=dict)

    def storage(self) -> StorageSettings:
        s3 = {f"s3_{name}": value for name, value in self.s3.items()}
        return StorageSettings.model_validate(
            {"data_dir": self.data_dir, "data_chunk_max_size": self.data_chunk_max_size, "redis_url": self.redis_url}
            | s3
        )


class LocalGrid:
    """``async with LocalGrid(options) as grid:`` serves until the block exits."""

    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        self._storage = contextlib.AsyncExitStack()
        self.grid: Grid
        self.control_plane: ControlPlane
        self.agents: list[AgentRuntime] = []
        self.workers: list[WorkerProcess] = []
        # Agents stop first (the running task gets its grace delay), workers after.
        self._stop = asyncio.Event()
        self._stop_workers = asyncio.Event()
        self._background: list[asyncio.Future[None]] = []
        self._worker_runs: list[asyncio.Future[None]] = []
        self._sockets = Path(tempfile.mkdtemp(prefix="pyarmonik-"))

    @property
    def port(self) -> int:
        return self.control_plane.port

    async def __aenter__(self) -> LocalGrid:
        grid = open_grid(self.options.storage(), default_partition=self.options.partitions[0])
        self.grid = await self._storage.enter_async_context(grid)
        self.control_plane = ControlPlane(self.grid, host=self.options.host, port=self.options.port)
        await self.grid.state.put_partitions([Partition(p) for p in self.options.partitions])
        await self.control_plane.start()
        for partition in self.options.partitions:
            command = self.options.workers.get(partition, "")
            for index in range(self.options.agents if command else 0):
                await self._start_agent(partition, index, command)
        interval = max(self.options.lease_seconds / 3, 0.1)
        self._background.append(asyncio.ensure_future(reap_forever(self.grid, self._stop, every=interval)))
        return self

    async def _start_agent(self, partition: str, index: int, command: str) -> None:
        name = f"{partition}-{index}"
        folder = self._sockets / name
        folder.mkdir()
        worker_socket, agent_socket = folder / "worker.sock", folder / "agent.sock"
        worker = WorkerProcess(
            name,
            command,
            env=worker_environment(worker_socket=worker_socket, agent_socket=agent_socket),
            log_file=self.options.data_dir / "logs" / f"worker-{name}.log",
        )
        config = AgentConfig(
            partition_id=partition,
            data_root=folder / "data",
            lease_seconds=self.options.lease_seconds,
            heartbeat_seconds=self.options.heartbeat_seconds,
            grace_seconds=self.options.grace_seconds,
        )
        agent = AgentRuntime(
            self.grid,
            config,
            agent_address=grpc_address(str(agent_socket)),
            worker_address=grpc_address(str(worker_socket)),
            restart_worker=worker.kill,
        )
        await agent.start()
        self.agents.append(agent)
        self.workers.append(worker)
        self._worker_runs.append(asyncio.ensure_future(worker.run(self._stop_workers)))
        self._background.append(asyncio.ensure_future(agent.run(self._stop)))

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        results = await asyncio.gather(*self._background, return_exceptions=True)
        self._stop_workers.set()
        results += await asyncio.gather(*self._worker_runs, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("component failed during shutdown: %s", result)
        await self.control_plane.stop(grace=1)
        await self._storage.aclose()
        with contextlib.suppress(OSError):
            shutil.rmtree(self._sockets)
