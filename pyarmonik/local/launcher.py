"""A whole grid on one machine from ``LocalSettings``: its storage (a
private ``redis-server`` unless ``redis_url`` is given), the control plane
and ``agents`` agents per partition, each in its own process (the
``control-plane`` and ``agent`` commands, with the settings of ``local``
under the same names: ``children``), and their worker processes.

``local`` keeps a client of the grid's storage (``LocalGrid.grid``) to
declare nothing and read everything: tests read the grid's state through it.

With ``metrics_port`` ``local`` serves one ``/metrics`` for the whole grid:
the control plane's page (the store levels, its RPCs, its reaper) merged
with every agent's (their states, tasks and Agent RPCs), each read from the
child's own endpoint on 127.0.0.1 when scraped.

Stopping goes in the order a running task needs: the agents first (SIGTERM:
the running task gets its grace delay, then goes back to the queue), their
workers, the control plane, Redis last.

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
import socket
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from pyarmonik import metrics
from pyarmonik.control_plane import web_port
from pyarmonik.core import ids
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.local import children, redis_server
from pyarmonik.local.workers import WorkerProcess, worker_environment
from pyarmonik.processes import control_plane_process, supervised, wiring
from pyarmonik.processes.probes import ProbeServer
from pyarmonik.processes.wiring import open_grid
from pyarmonik.settings import AgentSettings, ControlPlaneSettings, LocalSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

_PARTITION_PREFIX = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)=(\S.*)$")
#: After an agent's grace delay: releasing its task, closing its connections.
_AGENT_STOP_MARGIN = 10.0
_CONTROL_PLANE_GRACE = 10.0
_SCRAPE_TIMEOUT = 10.0


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
    exits; ``grid.failure`` completes if a partition's workers cannot start
    or a process of the grid exits."""

    def __init__(self, settings: LocalSettings) -> None:
        self.settings = settings
        self.commands = worker_commands(settings.worker, settings.partitions)
        self._storage = contextlib.AsyncExitStack()
        self.redis: redis_server.PrivateRedis | None = None
        self.grid: Grid
        self.control_plane: children.Child[ControlPlaneSettings] | None = None
        self.agents: list[children.Child[AgentSettings]] = []
        self.workers: dict[str, list[WorkerProcess]] = {}
        self.metrics: ProbeServer | None = None
        self.failure: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        # Set when stopping starts: agents stop first, workers after.
        self._stop = asyncio.Event()
        self._stop_workers = asyncio.Event()
        self._worker_runs: list[asyncio.Future[None]] = []
        self._watches: list[asyncio.Future[None]] = []
        self._sockets = Path(tempfile.mkdtemp(prefix="pyarmonik-"))

    @property
    def redis_url(self) -> str:
        return self.settings.redis_url or (self.redis.url if self.redis is not None else "")

    @property
    def port(self) -> int:
        assert self.control_plane is not None
        port = self.control_plane.ports["port"]
        assert port is not None
        return port

    @property
    def http_port(self) -> int | None:
        """The control plane's HTTP port (gRPC-Web, the GUI), ``None`` when off."""
        assert self.control_plane is not None
        return self.control_plane.ports.get("http_port")

    @property
    def metrics_port(self) -> int | None:
        """The port of the grid's one /metrics endpoint, ``None`` when off."""
        return self.metrics.port if self.metrics is not None else None

    @property
    def agent_count(self) -> int:
        return len(self.agents)

    def processes(self) -> list[int]:
        """The pids of the grid's processes (Redis, control plane, agents, workers)."""
        pids = [self.redis.pid] if self.redis is not None and self.redis.process.returncode is None else []
        pids += [c.pid for c in self._children() if c.returncode is None and c.process is not None]
        return pids + [w.pid for ws in self.workers.values() for w in ws if w.pid is not None]

    def _children(self) -> list[children.Child[Any]]:
        return [*([self.control_plane] if self.control_plane is not None else []), *self.agents]

    async def __aenter__(self) -> LocalGrid:
        try:
            # First: a port in use, a missing file or a data dir that cannot be written is refused
            # before anything starts.
            control_plane_process.preflight(self.settings)
            web_port.check_port(self.settings.host, self.settings)
            wiring.check_data_dir(self.settings.data_dir)
            if self.settings.metrics_port is not None:
                self.metrics = ProbeServer(
                    {}, pages={"/metrics": self._scrape}, host=self.settings.host, port=self.settings.metrics_port,
                    what="metrics",
                )  # fmt: skip
                await self.metrics.start()
            if not self.settings.redis_url:
                self.redis = await redis_server.start(
                    self.settings.data_dir, appendfsync=self.settings.redis_appendfsync
                )
            self.grid = await self._storage.enter_async_context(
                open_grid(self._storage_settings(), default_partition=self.settings.partitions[0])
            )
            # Declared here, so that the agents, which check their partition, start
            # beside the control plane rather than after it.
            await control_plane_process.declare_partitions(self.grid, self.settings.partitions)
            self.control_plane = children.Child("control plane", "control-plane", self._control_plane_settings())
            starts: list[Awaitable[object]] = [self.control_plane.start()]
            for partition, command in self.commands.items():
                starts += [self._start_agent(partition, index, command) for index in range(self.settings.agents)]
            failed = [r for r in await asyncio.gather(*starts, return_exceptions=True) if isinstance(r, BaseException)]
            if failed:
                raise failed[0]
            self._watch(self.control_plane)
            for agent in self.agents:
                self._watch(agent)
            for worker in (w for ws in self.workers.values() for w in ws):
                self._worker_runs.append(asyncio.ensure_future(worker.run(self._stop_workers)))
        except BaseException:
            await self.__aexit__()
            raise
        return self

    def _storage_settings(self) -> LocalSettings:
        return self.settings.model_copy(update={"redis_url": self.redis_url})

    def _control_plane_settings(self) -> ControlPlaneSettings:
        """The grid's own settings under the same names, on its storage; its
        metrics on a free local port, read by ``local``'s endpoint."""
        shared = {name: getattr(self.settings, name) for name in ControlPlaneSettings.model_fields}
        return ControlPlaneSettings(
            **{**shared, "redis_url": self.redis_url, "metrics_port": 0 if self.metrics is not None else None}
        )

    async def _start_agent(self, partition: str, index: int, command: str) -> None:
        name = f"{partition}-{index}"
        folder = self._sockets / name
        folder.mkdir()
        settings = self._agent_settings(partition, index, folder)
        worker_socket = Path(settings.worker_address)
        worker = WorkerProcess(
            name,
            command,
            env=worker_environment(worker_socket=worker_socket, agent_socket=Path(settings.agent_address)),
            log_file=self.settings.data_dir / "logs" / f"worker-{name}.log",
            socket=worker_socket,
            on_exit=lambda _: self._check_partition(partition),
            restart_file=settings.worker_restart_file,
        )
        agent = children.Child(
            f"agent {name}", "agent", settings, **supervised.WorkerInfo(command, worker.log_file).variables()
        )
        self.agents.append(agent)
        self.workers.setdefault(partition, []).append(worker)
        await agent.start()

    def _agent_settings(self, partition: str, index: int, folder: Path) -> AgentSettings:
        """An agent of this grid: the grid's own settings under the same names,
        plus its partition, its id, its sockets and restart file in
        ``folder`` (where its worker's are), and its probes on a free local
        port (its /metrics goes into the grid's)."""
        common = AgentSettings.model_fields.keys() & LocalSettings.model_fields.keys()
        shared = {name: getattr(self.settings, name) for name in common}
        return AgentSettings(
            **{**shared, "redis_url": self.redis_url},
            partition=partition,
            agent_id=f"agent-{socket.gethostname()}-{partition}-{index}-{ids.new_id()[:8]}",
            agent_address=str(folder / "agent.sock"),
            agent_socket_type="unixdomainsocket",
            worker_address=str(folder / "worker.sock"),
            worker_socket_type="unixdomainsocket",
            worker_restart_file=folder / "worker.restart",
            probe_port=0,
            probe_host="127.0.0.1",
        )

    def _watch(self, child: children.Child[Any]) -> None:
        """A process of the grid that exits unasked fails the grid."""

        async def watch() -> None:
            code = await child.wait()
            if not child.stopping and not self._stop.is_set() and not self.failure.done():
                await asyncio.sleep(0.1)  # its last lines, relayed
                self.failure.set_result(f"{child.name} exited with code {code}: {child.failure()}")

        self._watches.append(asyncio.ensure_future(watch()))

    def _check_partition(self, partition: str) -> None:
        workers = self.workers.get(partition, [])
        if workers and all(w.cannot_start for w in workers) and not self.failure.done():
            self.failure.set_result(
                f"partition {partition}: no worker can start: {workers[-1].last_exit} (log: {workers[-1].log_file})"
            )

    async def _scrape(self) -> tuple[str, bytes]:
        ports = [c.ports.get("metrics_port") or c.ports.get("probe_port") for c in self._children()]
        pages = await asyncio.gather(*(_get_metrics(port) for port in ports if port))
        return metrics.CONTENT_TYPE, metrics.merged(pages)

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        grace = self.settings.grace_seconds + _AGENT_STOP_MARGIN
        results = await asyncio.gather(*(a.stop(grace) for a in self.agents), return_exceptions=True)
        self._stop_workers.set()
        results += await asyncio.gather(*self._worker_runs, return_exceptions=True)
        if self.control_plane is not None:
            results += await asyncio.gather(self.control_plane.stop(_CONTROL_PLANE_GRACE), return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.error("component failed during shutdown: %s", result)
        for watch in self._watches:
            watch.cancel()
        if self.metrics is not None:
            await self.metrics.stop()
        await self._storage.aclose()
        if self.redis is not None:
            await self.redis.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(self._sockets)


async def _get_metrics(port: int) -> bytes:
    """``GET /metrics`` of a child of the grid, on 127.0.0.1."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), _SCRAPE_TIMEOUT)
    try:
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), _SCRAPE_TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = reply.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(
            f"/metrics on port {port}: {head.splitlines()[0].decode(errors='replace') if head else 'no reply'}"
        )
    return body


async def while_serving(grid: LocalGrid, work: Awaitable[T]) -> T:
    """The result of ``work``, unless the grid fails first: then
    ``NoWorkerCanStart`` (clients would otherwise wait in silence)."""
    job: asyncio.Future[T] = asyncio.ensure_future(work)
    await asyncio.wait({job, grid.failure}, return_when=asyncio.FIRST_COMPLETED)  # type: ignore[type-var]
    if not job.done():
        job.cancel()
        raise NoWorkerCanStart(grid.failure.result())
    return job.result()


def web_line(settings: LocalSettings, port: int) -> str:
    """Where browsers reach the grid."""
    scheme = "https" if settings.tls_cert_file else "http"
    if settings.gui is not None:
        return f"ArmoniK Admin GUI at {scheme}://{settings.host}:{port}/ (gRPC-Web on the same port)"
    return f"gRPC-Web at {scheme}://{settings.host}:{port} (add --gui DIR for the Admin GUI: docs/gui.md)"


async def serve(settings: LocalSettings, console: Console, stop: asyncio.Event) -> int:
    async with LocalGrid(settings) as grid:
        console.print(
            f"[bold green]PyArmoniK grid serving on {settings.host}:{grid.port}[/] "
            f"(partitions {', '.join(settings.partitions)}; {grid.agent_count} agent(s); data in {settings.data_dir})"
        )
        if grid.http_port is not None:
            console.print(web_line(settings, grid.http_port))
        if grid.metrics_port is not None:
            console.print(f"Prometheus metrics of the whole grid at http://{settings.host}:{grid.metrics_port}/metrics")
        if not grid.commands:
            console.print("No worker given (--worker 'COMMAND'): tasks will be queued but not run.")
        elif not settings.agents:
            console.print("--agents 0: no agent runs, so tasks will be queued but not run.")
        else:
            for partition in (p for p in settings.partitions if p not in grid.commands):
                console.print(
                    f"partition {partition} has no worker (--worker '{partition}=COMMAND'): its tasks will be "
                    "queued but not run."
                )
        await while_serving(grid, stop.wait())
        console.print("Shutting down... (Ctrl-C again to stop at once)")
    return 0
