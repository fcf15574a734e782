"""``pyarmonik agent``: the polling agent of one partition, next to a worker
process it reaches over a socket (the two containers of a partition pod).

Its probe port also serves ``/metrics``: the agent's own (its state, the
outcomes and durations of its tasks, its Agent service's RPCs); the grid's
store levels come from the control planes, not from every agent.

On SIGTERM it stops taking tasks and gives the running one the grace delay,
then releases it without using a retry. ``local`` runs its agents as this
command, with the same settings (``pyarmonik.processes.supervised``).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from pyarmonik.agent.health import AgentHealth
from pyarmonik.agent.pollster import AgentConfig
from pyarmonik.agent.runtime import AgentRuntime, grpc_address
from pyarmonik.agent.worker_restart import RestartRequests
from pyarmonik.lifecycle import reaper
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.metrics import CONTENT_TYPE
from pyarmonik.processes import supervised
from pyarmonik.processes.probes import ProbeServer
from pyarmonik.processes.wiring import open_grid
from pyarmonik.protocol import serving
from pyarmonik.settings import AgentSettings

log = logging.getLogger(__name__)


def build_agent(
    grid: Grid,
    settings: AgentSettings,
    *,
    worker: supervised.WorkerInfo | None = None,
    stopping: asyncio.Event | None = None,
) -> AgentRuntime:
    """The agent ``settings`` describe, on ``grid``; its shared folder
    exists. It asks for a new worker through ``worker_restart_file`` when set
    (until ``stopping``); ``worker`` is what it knows of its worker process
    (under ``local``)."""
    folder = settings.shared_folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create the shared folder {folder}: {exc.strerror} (set --shared-dir)") from None
    identity = {"agent_id": settings.agent_id} if settings.agent_id else {}
    config = AgentConfig(
        partition_id=settings.partition,
        **identity,  # type: ignore[arg-type]
        data_root=folder,
        lease_seconds=settings.lease_seconds,
        heartbeat_seconds=settings.heartbeat,
        grace_seconds=settings.grace_seconds,
        prefetch=settings.prefetch,
    )
    restart_file = settings.worker_restart_file
    restart = RestartRequests(restart_file, stopping=stopping) if restart_file is not None else None
    return AgentRuntime(
        grid,
        config,
        agent_address=grpc_address(settings.agent_address, settings.agent_socket_type),
        worker_address=grpc_address(settings.worker_address, settings.worker_socket_type),
        restart_worker=restart,
        health=AgentHealth(stuck_seconds=settings.worker_stuck_seconds),
        worker_command=worker.command if worker is not None else None,
        worker_log=worker.log_file if worker is not None else None,
    )


def check_restart_file(path: Path | None) -> None:
    """Refuses, in one line, a restart file no supervisor can share: its
    folder (a pod's shared volume, the agent's folder under ``local``) must exist."""
    if path is not None and not path.parent.is_dir():
        raise OSError(
            f"cannot ask for worker restarts in {path} (--worker-restart-file): folder {path.parent} does not exist"
        )


def build_probes(runtime: AgentRuntime, settings: AgentSettings) -> ProbeServer | None:
    if settings.probe_port is None:
        return None
    health, metrics = runtime.health, runtime.grid.metrics
    checks = {"/livez": health.live, "/readyz": health.ready, "/worker/livez": health.worker_live}

    async def scrape() -> tuple[str, bytes]:
        return CONTENT_TYPE, await metrics.render()

    return ProbeServer(checks, pages={"/metrics": scrape}, host=settings.probe_host, port=settings.probe_port)


async def run_agent(settings: AgentSettings, stop: asyncio.Event) -> None:
    if not settings.redis_url:
        raise ValueError(
            "an agent shares its grid's storage: give --redis-url (env PYARMONIK_REDIS_URL); "
            "`pyarmonik local` starts a private redis-server for its agents"
        )
    address = grpc_address(settings.agent_address, settings.agent_socket_type)
    serving.check_address(address, what="the Agent service (--agent-address)")
    check_restart_file(settings.worker_restart_file)
    async with open_grid(settings, default_partition=settings.partition) as grid:
        await grid.state.get_partition(settings.partition)  # NotFound names an undeclared partition
        runtime = build_agent(grid, settings, worker=supervised.WorkerInfo.told(), stopping=stop)
        probes = build_probes(runtime, settings)
        if probes is not None:
            await probes.start()
        await runtime.start()
        supervised.announce(probe_port=probes.port if probes is not None else None)
        every = reaper.period_for(settings.lease_seconds)
        reaping = asyncio.ensure_future(reaper.reap_forever(grid, stop, every=every))
        try:
            await runtime.run(stop)
        finally:
            await reaping
            if probes is not None:
                await probes.stop()
