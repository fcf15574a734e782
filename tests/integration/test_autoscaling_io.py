"""The autoscaler's reads against real servers: agents' probe endpoints over
HTTP (the operator's aiohttp GET), and a partition's load in a real Redis."""

from __future__ import annotations

import pathlib
import types
from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio

from pyarmonik import metrics
from pyarmonik.agent.health import AgentHealth, AgentState
from pyarmonik.core import errors
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.lifecycle import processing, results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.operator import pod_costs, queue_metrics
from pyarmonik.operator.autoscaler import Load
from pyarmonik.processes.agent_process import build_probes
from pyarmonik.processes.probes import ProbeServer
from pyarmonik.settings import AgentSettings
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from tests import servers
from tests.redis_stores import redis_grid


class Agent:
    """An agent's probe endpoint with the checks the agent process serves."""

    def __init__(self, state: AgentState) -> None:
        self.health = AgentHealth()
        self.health.state = state
        checks = {"/livez": self.health.live, "/readyz": self.health.ready}
        self.server = ProbeServer(checks, host="127.0.0.1", port=0)


@pytest.fixture
async def agents() -> AsyncIterator[dict[str, Agent]]:
    started = {state.value: Agent(state) for state in (AgentState.BUSY, AgentState.IDLE, AgentState.STOPPED)}
    for agent in started.values():
        await agent.server.start()
    try:
        yield started
    finally:
        for agent in started.values():
            await agent.server.stop()


def running_pod(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "status": {"phase": "Running", "podIP": "127.0.0.1"}}


async def test_the_operator_reads_each_agents_state_from_its_probe_endpoint(agents: dict[str, Agent]) -> None:
    async with aiohttp.ClientSession() as session:
        fetch = pod_costs.http_fetch(session)
        states = {}
        for name, agent in agents.items():
            states.update(await pod_costs.agent_states([running_pod(name)], fetch, port=agent.server.port))
        closed = servers.free_port()
        states.update(await pod_costs.agent_states([running_pod("gone")], fetch, port=closed))
    assert states == {"busy": "busy", "idle": "idle", "stopped": "stopped", "gone": None}
    costs = pod_costs.deletion_costs(states)
    assert costs["busy"] > costs["gone"] > costs["idle"] > costs["stopped"]


def test_the_probe_path_the_operator_asks_is_one_the_agent_process_serves() -> None:
    # build_probes reads only the runtime's health and its grid's metrics
    runtime = types.SimpleNamespace(health=AgentHealth(), grid=types.SimpleNamespace(metrics=metrics.Metrics()))
    probes = build_probes(runtime, AgentSettings(probe_port=0))  # type: ignore[arg-type]
    assert probes is not None and pod_costs.STATE_PATH in probes.checks


async def _grid_with_tasks(client: redis.asyncio.Redis, root: pathlib.Path, *, cpu: int, gpu: int) -> Grid:
    """A grid whose session has ``cpu`` and ``gpu`` ready tasks on those partitions."""
    grid = redis_grid(client, FileSystemObjectStore(root))
    await grid.state.put_partitions([Partition("cpu"), Partition("gpu")])
    options = TaskOptions(max_duration=60.0, max_retries=1, priority=1, partition_id="cpu")
    session = await sessions.create(grid, options=options, partition_ids=["cpu", "gpu"])
    [payload] = await results.create(grid, session.session_id, [results.NewResult("payload", data=b"x")])
    on_gpu = TaskOptions(partition_id="gpu")
    new = [tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[]) for _ in range(cpu)]
    new += [tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[], options=on_gpu) for _ in range(gpu)]
    await tasks.submit(grid, session.session_id, new)
    return grid


async def _claim(grid: Grid, partition: str, agent_id: str) -> None:
    [claim] = await processing.claim(grid, partition, agent_id=agent_id, hostname="h", lease_seconds=30, timeout=0)
    assert claim.admission is ports.Admission.RUN


async def test_the_load_is_the_queue_depth_and_the_leased_count_of_the_partition(
    redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    grid = await _grid_with_tasks(redis_client, tmp_path, cpu=5, gpu=1)
    await _claim(grid, "cpu", "a")
    assert await queue_metrics.read_load(grid.queue, "cpu") == Load(queued=4, running=1)
    assert await queue_metrics.read_load(grid.queue, "gpu") == Load(queued=1, running=0)
    assert await queue_metrics.read_load(grid.queue, "none") == Load(queued=0, running=0)


async def test_the_load_of_a_partition_is_read_from_the_grids_redis(
    redis_server: str, redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    grid = await _grid_with_tasks(redis_client, tmp_path, cpu=7, gpu=0)
    for agent in ("a1", "a2"):
        await _claim(grid, "cpu", agent)
    grids = queue_metrics.GridQueues()
    try:
        assert await grids.load(redis_server, "cpu") == Load(queued=5, running=2)
        assert await grids.load(redis_server, "gpu") == Load(queued=0, running=0)
        await grids.forget(redis_server)
        assert await grids.load(redis_server, "cpu") == Load(queued=5, running=2)  # connects again
    finally:
        await grids.aclose()


async def test_an_unreachable_grid_redis_is_unavailable_not_an_empty_queue() -> None:
    grids = queue_metrics.GridQueues()
    try:
        with pytest.raises(errors.Unavailable, match="cannot reach Redis"):
            await grids.load(f"redis://127.0.0.1:{servers.free_port()}/0", "cpu")
    finally:
        await grids.aclose()
