"""An agent waits a storage outage out and says when storage is back.

A real Redis (appending every write) is stopped under a running local grid
and restarted on the same port and files; the agent's log must show the
outage as warnings and its end as one INFO line, from the poll loop when
the agent was idle and from the heartbeat when a task was running.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import re
from collections.abc import Iterator

import grpc
import pytest

from tests import servers
from tests.grid_thread import GridThread
from tests.helpers import wait_for

from .test_agent_worker import Client, grid_options

pytestmark = pytest.mark.integration

AGENT_LOGS = "pyarmonik.agent"
OUTAGE_TIMEOUT = 30.0


@dataclasses.dataclass
class Storage:
    """A Redis that can be stopped and started again with its data."""

    directory: pathlib.Path
    server: servers.RedisServer

    def stop(self) -> None:
        servers.stop_redis(self.server)

    def restart(self) -> None:
        self.server = servers.start_redis(self.directory, aof=True, port=self.server.port)


@pytest.fixture
def storage(tmp_path: pathlib.Path) -> Iterator[Storage]:
    directory = tmp_path / "redis"
    try:
        storage = Storage(directory, servers.start_redis(directory, aof=True))
    except servers.ServerUnavailable as exc:
        servers.skip_or_fail(f"no Redis server: {exc}")
    try:
        yield storage
    finally:
        storage.stop()


@pytest.fixture
def grid(storage: Storage, tmp_path: pathlib.Path) -> Iterator[GridThread]:
    # Leases outlive the outage, so that the running task stays ours.
    options = grid_options(tmp_path / "grid", agents=1).model_copy(update={"redis_url": storage.server.url})
    running = GridThread(options.model_copy(update={"lease_seconds": 60.0})).start()
    try:
        yield running
    finally:
        running.stop()


def _agent_lines(caplog: pytest.LogCaptureFixture, level: int, pattern: str) -> list[str]:
    return [
        r.getMessage()
        for r in list(caplog.records)
        if r.name.startswith(AGENT_LOGS) and r.levelno == level and re.search(pattern, r.getMessage())
    ]


def test_idle_agent_says_once_when_storage_is_back_and_takes_tasks_again(
    storage: Storage, grid: GridThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AGENT_LOGS)
    [agent] = grid.local.agents  # type: ignore[union-attr]
    name = agent.config.agent_id
    with grpc.insecure_channel(grid.address) as channel:
        client = Client(channel)
        _, before = client.submit({"do": "echo", "value": "before"})
        assert client.value(before) == "before"

        storage.stop()
        wait_for(lambda: _agent_lines(caplog, logging.WARNING, f"^agent {name}: storage unavailable"), OUTAGE_TIMEOUT)
        storage.restart()
        back = f"^storage reachable again after [0-9.]+ s; agent {name} resumes polling$"
        wait_for(lambda: _agent_lines(caplog, logging.INFO, back), OUTAGE_TIMEOUT)

        _, after = client.submit({"do": "echo", "value": "after"})
        assert client.value(after) == "after"
    assert len(_agent_lines(caplog, logging.INFO, back)) == 1


def test_busy_agent_says_when_storage_is_back_and_its_task_still_completes(
    storage: Storage, grid: GridThread, caplog: pytest.LogCaptureFixture, tmp_path: pathlib.Path
) -> None:
    caplog.set_level(logging.INFO, logger=AGENT_LOGS)
    [agent] = grid.local.agents  # type: ignore[union-attr]
    name = agent.config.agent_id
    gate, started = tmp_path / "gate", tmp_path / "started.log"
    with grpc.insecure_channel(grid.address) as channel:
        client = Client(channel)
        task, output = client.submit({"do": "wait", "gate": str(gate), "log": str(started), "value": "survived"})
        wait_for(started.exists, OUTAGE_TIMEOUT)

        storage.stop()
        down = f"^agent {name} renewing the lease of task {task.id}: storage unavailable"
        wait_for(lambda: _agent_lines(caplog, logging.WARNING, down), OUTAGE_TIMEOUT)
        storage.restart()
        back = f"^storage reachable again after [0-9.]+ s; agent {name} renews the lease of task {task.id}$"
        wait_for(lambda: _agent_lines(caplog, logging.INFO, back), OUTAGE_TIMEOUT)

        gate.touch()
        assert client.value(output) == "survived"
