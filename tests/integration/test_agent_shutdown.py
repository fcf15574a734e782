"""Agent start and stop: a late worker is waited for, a stopping agent lets
its running task finish within the grace delay or releases it unharmed."""

from __future__ import annotations

import logging
import pathlib
import re
import threading

import grpc
import pytest
from armonik.common import TaskDefinition, TaskStatus

from pyarmonik.core.statuses import TaskStatus as DomainStatus
from tests.grid_thread import GridThread
from tests.helpers import wait_for

from .test_agent_worker import WORKER_COMMAND, Client, grid_options

POLLSTER_LOG = "pyarmonik.agent.pollster"
#: The agent's own lines about its stop ("agent A stopping: ...", "agent A stopped: ..."), not a
#: task's line that happens to mention the stop.
STOP_LINE = re.compile(r"^agent \S+ stopp(ing|ed): ")


def _stop_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The pollster's INFO lines announcing the agent's stop, in order."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == POLLSTER_LOG and r.levelno == logging.INFO and STOP_LINE.match(r.getMessage())
    ]


def _submit_gated(client: Client, tmp_path: pathlib.Path) -> tuple[str, pathlib.Path, pathlib.Path]:
    gate, started = tmp_path / "gate", tmp_path / "started.log"
    [payload] = client.payloads([{"do": "wait", "gate": str(gate), "log": str(started), "value": "done"}])
    [output] = client.outputs(1)
    [task] = client.tasks.submit_tasks(client.session_id, [TaskDefinition(payload, [output])])
    return task.id, gate, started


def _stop_in_background(running: GridThread) -> threading.Thread:
    stopper = threading.Thread(target=running.stop)
    stopper.start()
    return stopper


def test_worker_that_starts_late_is_waited_for_and_gets_its_task(tmp_path: pathlib.Path) -> None:
    options = grid_options(tmp_path, agents=1).model_copy(update={"worker": [f"sleep 1 && {WORKER_COMMAND}"]})
    running = GridThread(options).start()
    try:
        with grpc.insecure_channel(running.address) as channel:
            client = Client(channel)
            _, output = client.submit({"do": "echo", "value": "late but fine"})
            assert client.value(output) == "late but fine"
    finally:
        running.stop()


def test_stopping_agent_lets_its_running_task_finish_within_the_grace_delay(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=POLLSTER_LOG)
    options = grid_options(tmp_path, agents=1).model_copy(update={"grace_seconds": 30.0})
    running = GridThread(options).start()
    with grpc.insecure_channel(running.address) as channel:
        task_id, gate, started = _submit_gated(Client(channel), tmp_path)
        wait_for(started.exists, timeout=30)
    stopper = _stop_in_background(running)
    wait_for(lambda: running.local is not None and running.local._stop.is_set(), timeout=10)
    gate.touch()
    stopper.join(60)
    [task] = running.read_stored(lambda grid: grid.state.get_tasks([task_id]))
    assert task.status is DomainStatus.COMPLETED
    [agent] = running.local.agents  # type: ignore[union-attr]
    name = agent.config.agent_id
    assert _stop_lines(caplog) == [
        f"agent {name} stopping: no new tasks; task {task_id} gets up to 30.0 s to finish",
        f"agent {name} stopped: task {task_id} finished (ok)",
    ]


def test_task_outliving_the_grace_delay_is_released_without_using_a_retry(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=POLLSTER_LOG)
    options = grid_options(tmp_path, agents=1).model_copy(update={"grace_seconds": 0.5})
    running = GridThread(options).start()
    with grpc.insecure_channel(running.address) as channel:
        client = Client(channel)
        task_id, _, started = _submit_gated(client, tmp_path)
        wait_for(started.exists, timeout=30)
        assert client.task(task_id).status == TaskStatus.PROCESSING
    running.stop()
    [task] = running.read_stored(lambda grid: grid.state.get_tasks([task_id]))
    assert task.status is DomainStatus.SUBMITTED
    assert task.retry_of_ids == [] and task.owner_pod_id == ""
    assert running.read_stored(lambda grid: grid.queue.depth("default")) == 1
    [agent] = running.local.agents  # type: ignore[union-attr]
    name = agent.config.agent_id
    assert _stop_lines(caplog) == [
        f"agent {name} stopping: no new tasks; task {task_id} gets up to 0.5 s to finish",
        f"agent {name} stopped: task {task_id} released to the queue (no retry used)",
    ]


def test_idle_agent_says_it_stops_idle_and_stopped_with_no_task(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=POLLSTER_LOG)
    running = GridThread(grid_options(tmp_path, agents=1)).start()
    [agent] = running.local.agents  # type: ignore[union-attr]
    running.stop()
    name = agent.config.agent_id
    assert _stop_lines(caplog) == [
        f"agent {name} stopping: no new tasks; idle",
        f"agent {name} stopped: no task was running",
    ]
