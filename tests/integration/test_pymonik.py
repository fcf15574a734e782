"""PymoniK (ArmoniK's Python framework) runs unchanged on the grid.

PymoniK's client ships cloudpickled functions and objects as results; its
worker (``run_pymonik_worker``, on the official worker SDK) loads them, and
``PymonikContext.retrieve_object`` calls GetResourceData and then reads
``/cache/shared/<communication token>/<result id>`` itself: it relies on
ArmoniK.Core's data-folder layout, which the agent must reproduce. So the
agent of this test uses ``/cache/shared`` as its data root (CI runs as root;
elsewhere the test skips when that folder cannot be made).
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pyarmonik.agent.pollster import AgentConfig
from pyarmonik.agent.runtime import AgentRuntime, grpc_address
from pyarmonik.agent.worker_restart import RestartRequests
from pyarmonik.local.workers import WorkerProcess, worker_environment
from tests import redis_stores, servers

from .conftest import RunningGrid, start_grid

pytestmark = pytest.mark.integration

#: Where PymoniK looks for a task's files (``PymonikContext.get_object_path``).
SHARED = pathlib.Path("/cache/shared")
WORKER_COMMAND = f'"{sys.executable}" -c "from pymonik import run_pymonik_worker; run_pymonik_worker()"'
PARTITION = "default"


def _pymonik() -> Any:
    try:
        import pymonik
    except ImportError as exc:
        servers.skip_or_fail(f"PymoniK is not installed (pip install 'pymonik==0.2.5'): {exc}")
    return pymonik


def _shared_folder() -> pathlib.Path:
    try:
        SHARED.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        servers.skip_or_fail(f"PymoniK reads {SHARED}/<token>/<result id>, which cannot be created here: {exc}")
    if not os.access(SHARED, os.W_OK):
        servers.skip_or_fail(f"PymoniK reads {SHARED}/<token>/<result id>, and {SHARED} is not writable here")
    return SHARED


@dataclass
class PymonikAgent:
    """An agent on ``/cache/shared`` and its PymoniK worker process, run on
    the grid's event loop next to its control plane."""

    agent: AgentRuntime
    worker: WorkerProcess
    stop: asyncio.Event
    runs: list[asyncio.Future[None]]

    @classmethod
    async def start(cls, running: RunningGrid, *, sockets: pathlib.Path, logs: pathlib.Path) -> PymonikAgent:
        worker_socket, agent_socket = sockets / "worker.sock", sockets / "agent.sock"
        env = worker_environment(worker_socket=worker_socket, agent_socket=agent_socket)
        restart_file = sockets / "worker.restart"
        worker = WorkerProcess(
            "pymonik",
            WORKER_COMMAND,
            env=env,
            log_file=logs / "worker-pymonik.log",
            socket=worker_socket,
            restart_file=restart_file,
        )
        agent = AgentRuntime(
            running.grid,
            AgentConfig(partition_id=PARTITION, data_root=_shared_folder(), heartbeat_seconds=0.5, grace_seconds=1),
            agent_address=grpc_address(str(agent_socket)),
            worker_address=grpc_address(str(worker_socket)),
            restart_worker=RestartRequests(restart_file),
        )
        await agent.start()
        stop = asyncio.Event()
        runs = [asyncio.ensure_future(worker.run(stop)), asyncio.ensure_future(agent.run(stop))]
        return cls(agent, worker, stop, runs)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.runs)


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[RunningGrid]:
    _pymonik()
    _shared_folder()
    sockets = pathlib.Path(tempfile.mkdtemp(prefix="pyak-"))  # unix socket paths must stay short
    logs = tmp_path_factory.mktemp("logs")
    database = redis_stores.emptied_database(redis_server, redis_stores.MODULE_GRID_DATABASE)
    with start_grid(tmp_path_factory.mktemp("grid"), database) as running:
        agent = running.run(PymonikAgent.start(running, sockets=sockets, logs=logs))
        try:
            yield running
        finally:
            running.run(agent.close())
            shutil.rmtree(sockets, ignore_errors=True)


def test_a_task_retrieves_an_object_put_by_the_client_through_its_context(grid: RunningGrid) -> None:
    pymonik = _pymonik()

    @pymonik.task(require_context=True)
    def retrieve(ctx: Any, result_id: str) -> Any:
        # Not a data dependency: GetResourceData, then PymoniK reads /cache/shared/<token>/<id>.
        return {"object": ctx.retrieve_object(result_id), "path": str(ctx.get_object_path(result_id))}

    with pymonik.Pymonik(endpoint=grid.address, partition=PARTITION) as client:
        handle = client.put({"answer": 42}, name="the-object")
        got = retrieve.invoke(handle.result_id).wait().get()
    assert got["object"] == {"answer": 42}
    assert pathlib.Path(got["path"]).parent.parent == SHARED


def test_a_task_receives_an_object_put_by_the_client_as_its_argument(grid: RunningGrid) -> None:
    pymonik = _pymonik()

    @pymonik.task
    def double(values: list[int]) -> list[int]:
        return [2 * v for v in values]

    with pymonik.Pymonik(endpoint=grid.address, partition=PARTITION) as client:
        handle = client.put([1, 2, 3])
        assert double.invoke(handle).wait().get() == [2, 4, 6]
