"""What a task can do to its worker on ``pyarmonik local``, through the
official client and the official worker SDK: time out, run with ArmoniK's
"infinite" max_duration, raise. None of it may stop the grid or leave a
partition without a worker, and each is told in words a worker author reads.
"""

from __future__ import annotations

import json
import logging
import pathlib
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import TaskDefinition, TaskOptions, TaskStatus

from pyarmonik.local.workers import WorkerProcess
from pyarmonik.settings import LocalSettings
from tests.grid_thread import GridThread
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

WORKER = pathlib.Path(__file__).parents[1] / "workers" / "behaviours.py"
WORKER_COMMAND = f'"{sys.executable}" "{WORKER}"'
#: ArmoniK's INFINITE_DURATION: the largest protobuf Duration, the default
#: max_duration of ArmoniK's Rust crate and .NET SDK.
INFINITE = timedelta(seconds=315576000000)


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GridThread]:
    """One agent, so that every task of this module meets the same worker."""
    options = LocalSettings(
        port=0,
        data_dir=tmp_path_factory.mktemp("grid"),
        partitions=["default"],
        agents=1,
        worker=[WORKER_COMMAND],
        lease_seconds=3.0,
        heartbeat_seconds=0.2,
        grace_seconds=1.0,
    )
    running = GridThread(options).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def channel(grid: GridThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grid.address) as opened:
        yield opened


def options(**overrides: Any) -> TaskOptions:
    values: dict[str, Any] = {"max_duration": timedelta(seconds=60), "priority": 1, "max_retries": 2}
    return TaskOptions(**(values | overrides))


class Client:
    def __init__(self, channel: grpc.Channel, **session_options: Any) -> None:
        self.sessions, self.results = ArmoniKSessions(channel), ArmoniKResults(channel)
        self.tasks, self.events = ArmoniKTasks(channel), ArmoniKEvents(channel)
        self.session_id = self.sessions.create_session(options(**session_options))

    def submit(self, job: dict, task_options: TaskOptions | None = None) -> tuple[str, str]:
        """The task's id and its output's."""
        payload = self.results.create_results({"payload": json.dumps(job).encode()}, self.session_id)["payload"]
        output = self.results.create_results_metadata(["output"], self.session_id)["output"]
        definition = TaskDefinition(payload.result_id, [output.result_id], [], task_options)
        [task] = self.tasks.submit_tasks(self.session_id, [definition])
        return task.id, output.result_id

    def value(self, result_id: str) -> Any:
        self.events.wait_for_result_availability(result_id, self.session_id)
        return json.loads(self.results.download_result_data(result_id, self.session_id))

    def status(self, task_id: str, *statuses: TaskStatus, timeout: float = 60) -> TaskStatus:
        """The task's status once it is one of ``statuses`` (a retry may not exist yet)."""

        def reached() -> TaskStatus | None:
            try:
                status = self.tasks.get_task(task_id).status
            except grpc.RpcError as error:
                if error.code() is grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                    return None
                raise
            return status if status in statuses else None

        return wait_for(reached, timeout=timeout)  # type: ignore[return-value]


def worker(grid: GridThread) -> WorkerProcess:
    assert grid.local is not None
    [only] = grid.local.workers["default"]
    return only


def test_timeouts_in_a_row_leave_the_grid_serving_and_the_next_task_completes(
    grid: GridThread, channel: grpc.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pyarmonik.local.workers")
    asked_before = worker(grid).asked_restarts
    client = Client(channel, max_duration=timedelta(seconds=0.5))
    for _ in range(4):
        task_id, _ = client.submit({"do": "echo", "value": "late", "work": 3})
        assert client.status(task_id, TaskStatus.TIMEOUT, TaskStatus.COMPLETED) == TaskStatus.TIMEOUT
    _, output = client.submit({"do": "echo", "value": "served"}, task_options=options())
    assert client.value(output) == "served"
    assert grid.local is not None and not grid.local.failure.done()
    # Each timeout restarted the worker, busy with the abandoned call, as its agent asked: no failure, no back-off.
    assert worker(grid).asked_restarts - asked_before == 4 and worker(grid).failed_starts == 0
    asked = [r.getMessage() for r in caplog.records if "restarted as its agent asked" in r.getMessage()]
    assert len(asked) == 4 and all("max_duration of 0.5 s" in line for line in asked)
    assert not [r for r in caplog.records if r.name == "pyarmonik.local.workers" and r.levelno >= logging.WARNING]


def test_tasks_that_crash_the_worker_in_a_row_leave_the_grid_serving(grid: GridThread, channel: grpc.Channel) -> None:
    client = Client(channel, max_retries=3)
    task_id, output = client.submit({"do": "crash", "always": True})
    assert client.status(f"{task_id}###3", TaskStatus.ERROR) == TaskStatus.ERROR  # four exits of the worker
    _, output = client.submit({"do": "echo", "value": "still serving"})
    assert client.value(output) == "still serving"
    assert grid.local is not None and not grid.local.failure.done()


def test_a_session_whose_default_max_duration_is_armoniks_infinite_one_runs_its_task(channel: grpc.Channel) -> None:
    client = Client(channel, max_duration=INFINITE)
    task_id, output = client.submit({"do": "echo", "value": "forever is fine"})
    assert client.value(output) == "forever is fine"
    assert client.tasks.get_task(task_id).status == TaskStatus.COMPLETED


def test_a_task_whose_max_duration_is_armoniks_infinite_one_runs(channel: grpc.Channel) -> None:
    client = Client(channel)
    task_id, output = client.submit({"do": "echo", "value": "no deadline"}, task_options=options(max_duration=INFINITE))
    assert client.value(output) == "no deadline"
    assert client.tasks.get_task(task_id).options.max_duration == INFINITE


def test_an_exception_in_the_processing_function_is_told_with_its_message_and_log_and_restarts_nothing(
    grid: GridThread, channel: grpc.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pyarmonik.local.workers")
    starts = wait_for(lambda: worker(grid).starts, timeout=60)  # its first start, when this test runs first
    client = Client(channel, max_retries=1)
    task_id, _ = client.submit({"do": "raise"})
    assert client.status(f"{task_id}###1", TaskStatus.ERROR) == TaskStatus.ERROR
    said = client.tasks.get_task(task_id).status_message
    assert said == (
        "the worker's processing function raised: RuntimeError: an exception in the user's code; "
        f"log: {worker(grid).log_file}"
    )
    assert worker(grid).starts == starts  # the worker answered the call: it is free, nothing to restart
    lines = [record.getMessage() for record in caplog.records]
    assert not [line for line in lines if "exited" in line or "restarted" in line]
    assert not [line for line in lines if '"@mt"' in line]  # the worker's CLEF log is never printed raw


def test_a_worker_that_never_serves_is_reported_naming_its_command_socket_and_log(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    silent = f'"{sys.executable}" -c "import time; time.sleep(120)"'
    options = LocalSettings(port=0, data_dir=tmp_path, partitions=["default"], agents=1, worker=[silent])
    running = GridThread(options).start()
    try:
        reported = wait_for(
            lambda: [r.getMessage() for r in caplog.records if "the worker does not serve on" in r.getMessage()],
            timeout=60,
            interval=0.2,
        )
    finally:
        running.stop()
    [line] = reported  # type: ignore[misc]  # once: the next report comes when the wait has doubled
    assert "/default-0/worker.sock (ComputePlane__WorkerChannel__Address)" in line
    assert f"command: {silent}" in line
    assert f"log: {tmp_path / 'logs' / 'worker-default-0.log'}" in line
