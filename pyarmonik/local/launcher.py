"""Wires a whole grid in one process from ``LocalSettings``: the storage, the
control-plane service, ``agents`` agents per partition and their worker
processes, each built by ``pyarmonik.processes`` from the same settings the
separate ``control-plane`` and ``agent`` commands take.

With ``metrics_port`` the control plane serves one ``/metrics`` for the
whole grid: the agents built here share the grid's registry.

Sockets live in a short temporary directory (a unix socket path must stay
under ~100 bytes); task data folders under the shared folder
(``<shared>/<communication token>``, ArmoniK's layout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from rich.console import Console

from pyarmonik.agent.runtime import AgentRuntime
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.local.workers import WorkerProcess, worker_environment
from pyarmonik.processes import agent_process
from pyarmonik.processes.control_plane_process import ControlPlaneService
from pyarmonik.processes.wiring import open_grid
from pyarmonik.settings import AgentSettings, LocalSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

_PARTITION_PREFIX = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)=(\S.*)$")


class NoWorkerCanStart(RuntimeError):
    """Every worker of a partition exits as soon as it starts."""


def worker_commands(specs: list[str], partitions: list[str]) -> dict[str, str]:
    """partition -> worker command, from ``--worker [PARTITION=]COMMAND``.

    A ``NAME=COMMAND`` spec names a partition, which must be declared; a
    command that really starts with an environment assignment is written
    ``env NAME=value command``. A plain command serves every partition that
    no ``PARTITION=`` spec names.
    """
    named: dict[str, str] = {}
    everywhere: str | None = None
    for spec in specs:
        match = _PARTITION_PREFIX.match(spec)
        if match is None:
            everywhere = spec
        elif match.group(1) in partitions:
            named[match.group(1)] = match.group(2)
        else:
            raise ValueError(
                f"--worker {spec!r}: partition {match.group(1)!r} is not declared (declared: "
                f"{', '.join(partitions)}; add --partitions {match.group(1)}, or write 'env {spec}' for a command "
                "that sets an environment variable)"
            )
    return {p: named.get(p, everywhere) for p in partitions if named.get(p, everywhere)}  # type: ignore[misc]


class LocalGrid:
    """``async with LocalGrid(settings) as grid:`` serves until the block
    exits; ``grid.failure`` completes if a partition's workers cannot start."""

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.commands = worker_commands(settings.worker, settings.partitions)
        self._storage = contextlib.AsyncExitStack()
        self.grid: Grid
        self.control_plane: ControlPlaneService
        self.agents: list[AgentRuntime] = []
        self.workers: dict[str, list[WorkerProcess]] = {}
        self.failure: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        # Agents stop first (the running task gets its grace delay), workers after.
        self._stop = asyncio.Event()
        self._stop_workers = asyncio.Event()
        self._agent_runs: list[asyncio.Future[None]] = []
        self._worker_runs: list[asyncio.Future[None]] = []
        self._sockets = Path(tempfile.mkdtemp(prefix="pyarmonik-"))

    @property
    def port(self) -> int:
        return self.control_plane.port

    @property
    def metrics_port(self) -> int | None:
        """The port of the grid's one /metrics endpoint, ``None`` when off."""
        return self.control_plane.metrics_port

    @property
    def agent_count(self) -> int:
        return len(self.agents)

    async def __aenter__(self) -> LocalGrid:
        try:
            self.grid = await self._storage.enter_async_context(
                open_grid(self.settings, default_partition=self.settings.partitions[0])
            )
            self.control_plane = ControlPlaneService(self.grid, self.settings)
            await self.control_plane.start()
            for partition, command in self.commands.items():
                for index in range(self.settings.agents):
                    await self._start_agent(partition, index, command)
        except BaseException:
            await self.__aexit__()
            raise
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
            log_file=self.settings.data_dir / "logs" / f"worker-{name}.log",
            on_exit=lambda _: self._check_partition(partition),
        )
        agent = agent_process.build_agent(
            self.grid, self._agent_settings(partition, agent_socket, worker_socket), restart_worker=worker.kill
        )
        await agent.start()
        self.agents.append(agent)
        self.workers.setdefault(partition, []).append(worker)
        self._worker_runs.append(asyncio.ensure_future(worker.run(self._stop_workers)))
        self._agent_runs.append(asyncio.ensure_future(agent.run(self._stop)))

    def _agent_settings(self, partition: str, agent_socket: Path, worker_socket: Path) -> AgentSettings:
        """An agent of this grid: the grid's own settings under the same names,
        plus its partition and sockets."""
        common = AgentSettings.model_fields.keys() & LocalSettings.model_fields.keys()
        shared = {name: getattr(self.settings, name) for name in common}
        return AgentSettings(
            **shared,
            partition=partition,
            agent_id=None,
            agent_address=str(agent_socket),
            agent_socket_type="unixdomainsocket",
            worker_address=str(worker_socket),
            worker_socket_type="unixdomainsocket",
        )

    def _check_partition(self, partition: str) -> None:
        workers = self.workers.get(partition, [])
        if workers and all(w.cannot_start for w in workers) and not self.failure.done():
            self.failure.set_result(
                f"partition {partition}: no worker can start: {workers[-1].last_exit} (log: {workers[-1].log_file})"
            )

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        results = await asyncio.gather(*self._agent_runs, return_exceptions=True)
        self._stop_workers.set()
        results += await asyncio.gather(*self._worker_runs, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("component failed during shutdown: %s", result)
        if hasattr(self, "control_plane"):
            await self.control_plane.stop(grace=1)
        await self._storage.aclose()
        with contextlib.suppress(OSError):
            shutil.rmtree(self._sockets)


async def while_serving(grid: LocalGrid, work: Awaitable[T]) -> T:
    """The result of ``work``, unless the grid fails first: then
    ``NoWorkerCanStart`` (clients would otherwise wait in silence)."""
    job: asyncio.Future[T] = asyncio.ensure_future(work)
    await asyncio.wait({job, grid.failure}, return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
    if not job.done():
        job.cancel()
        raise NoWorkerCanStart(grid.failure.result())
    return job.result()


async def serve(settings: LocalSettings, console: Console, stop: asyncio.Event) -> int:
    async with LocalGrid(settings) as grid:
        console.print(
            f"[bold green]PyArmoniK grid serving on {settings.host}:{grid.port}[/] "
            f"(partitions {', '.join(settings.partitions)}; {grid.agent_count} agent(s); data in {settings.data_dir})"
        )
        if grid.metrics_port is not None:
            console.print(f"Prometheus metrics of the whole grid at http://{settings.host}:{grid.metrics_port}/metrics")
        if not grid.commands:
            console.print("No worker given (--worker 'COMMAND'): tasks will be queued but not run.")
        elif not settings.agents:
            console.print("--agents 0: no agent runs, so tasks will be queued but not run.")
        await while_serving(grid, stop.wait())
        console.print("Shutting down...")
    return 0
