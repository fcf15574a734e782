"""The autoscaler's reads against real servers: agents' probe endpoints over
HTTP (the operator's aiohttp GET), and a partition's load in a real Redis."""

from __future__ import annotations

import asyncio
import pathlib
import socket
import types
from collections.abc import AsyncIterator, Awaitable

import aiohttp
import pytest
import redis.asyncio

from pyarmonik import metrics
from pyarmonik.agent.health import AgentHealth, AgentState
from pyarmonik.core import errors, filters
from pyarmonik.core.models import Partition, TaskOptions
from pyarmonik.lifecycle import processing, results, sessions, tasks
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.operator import grids, pod_costs
from pyarmonik.operator.autoscaler import Load
from pyarmonik.processes import operator_process
from pyarmonik.processes.agent_process import build_probes
from pyarmonik.processes.probes import ProbeServer
from pyarmonik.settings import AgentSettings
from pyarmonik.storage import ports
from pyarmonik.storage.objects.filesystem import FileSystemObjectStore
from pyarmonik.storage.redis.state import RedisStateStore
from tests import helpers, servers
from tests.redis_stores import redis_grid

#: Longer than a local Redis ever takes to connect or answer.
WAIT = 10.0


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


GRID = ("science", "grid")


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


async def test_the_load_is_the_queue_depth_and_the_leased_count_of_each_partition(
    redis_server: str, redis_client: redis.asyncio.Redis, tmp_path: pathlib.Path
) -> None:
    grid = await _grid_with_tasks(redis_client, tmp_path, cpu=5, gpu=1)
    [claim] = await processing.claim(grid, "cpu", agent_id="a", hostname="h", lease_seconds=30, timeout=0)
    assert claim.admission is ports.Admission.RUN
    grid_storage = grids.Grids(operator_process.connect_grid)
    try:
        loads = [await grid_storage.load(GRID, redis_server, p, wait=WAIT) for p in ("cpu", "gpu", "none")]
    finally:
        await grid_storage.aclose()
    assert loads == [Load(queued=4, running=1), Load(queued=1, running=0), Load(queued=0, running=0)]


async def test_one_connection_per_cluster_is_kept_between_calls_and_closed_when_the_cluster_goes(
    redis_server: str, redis_client: redis.asyncio.Redis
) -> None:
    before = await _clients(redis_client)
    grid_storage = grids.Grids(operator_process.connect_grid)
    try:
        for partition_id in ("cpu", "gpu", "cpu"):
            await grid_storage.declare(GRID, redis_server, Partition(partition_id, pod_max=3), wait=WAIT)
            await grid_storage.load(GRID, redis_server, partition_id, wait=WAIT)
        assert await _clients(redis_client) == before + 1
        state = RedisStateStore(redis_client)
        assert (await state.get_partition("gpu")).pod_max == 3
        assert await grid_storage.forget_partition(GRID, redis_server, "gpu", wait=WAIT)
        await grid_storage.forget(GRID)
        assert GRID not in grid_storage
        await helpers.wait_for_async(lambda: _is(_clients(redis_client), before), timeout=WAIT)
        assert not await grid_storage.forget_partition(GRID, redis_server, "gpu", wait=WAIT)  # connects again
        assert [p.partition_id for p in (await state.list_partitions(query=filters.ListQuery())).items] == ["cpu"]
    finally:
        await grid_storage.aclose()


async def test_an_unreachable_grid_is_unavailable_not_an_empty_queue() -> None:
    grid_storage = grids.Grids(operator_process.connect_grid)
    closed = f"redis://127.0.0.1:{servers.free_port()}/0"
    try:
        with pytest.raises(errors.Unavailable, match="no answer yet"):
            await grid_storage.load(GRID, closed, "cpu", wait=0.1)

        async def reported() -> bool:
            with pytest.raises(errors.Unavailable) as raised:
                await grid_storage.load(GRID, closed, "cpu", wait=0.1)
            return "cannot reach Redis at" in raised.value.message

        await helpers.wait_for_async(reported, timeout=60)
    finally:
        await grid_storage.aclose()


async def test_a_silent_redis_holds_no_caller_beyond_its_wait() -> None:
    """A server that accepts connections and never answers (a Redis stuck
    loading, a half-open network path): each call returns at its wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        grid_storage = grids.Grids(operator_process.connect_grid)
        try:
            for _ in range(3):
                with pytest.raises(errors.Unavailable, match="no answer yet"):
                    await asyncio.wait_for(
                        grid_storage.declare(GRID, url, Partition("cpu"), wait=0.2), timeout=WAIT * 5
                    )
        finally:
            await grid_storage.aclose()


async def _clients(redis_client: redis.asyncio.Redis) -> int:
    return len(await redis_client.client_list())


async def _is(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
