"""The agent's restart requests to its worker's supervisor, through a file."""

from __future__ import annotations

import asyncio
import pathlib

from pyarmonik.agent import worker_restart


async def test_a_request_returns_once_the_supervisor_took_it_and_the_old_worker_is_gone(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "worker.restart"
    asking = asyncio.ensure_future(worker_restart.RestartRequests(path)("task t1 timed out"))
    while (reason := worker_restart.take(path)) is None:
        await asyncio.sleep(0.01)
    assert reason == "task t1 timed out" and not asking.done()
    worker_restart.done(path)
    assert await asking is True


async def test_a_request_nobody_takes_is_withdrawn(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "worker.restart"
    assert await worker_restart.RestartRequests(path, taken_within=0.1)("task t1 timed out") is False
    assert not path.exists()


async def test_a_stopping_agent_asks_for_nothing(tmp_path: pathlib.Path) -> None:
    path, stopping = tmp_path / "worker.restart", asyncio.Event()
    requests = worker_restart.RestartRequests(path, stopping=stopping)
    asking = asyncio.ensure_future(requests("task t1 was interrupted"))
    while not path.exists():
        await asyncio.sleep(0.01)
    stopping.set()  # its pod is stopping: the supervisor may be gone already
    assert await asking is False and not path.exists()
    assert await requests("task t2 timed out") is False and not path.exists()
