"""Tasks really run: the official client submits, the official worker SDK
processes, through ``pyarmonik local``'s agents and worker processes."""

from __future__ import annotations

import json
import pathlib
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import grpc
import pytest
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Result, ResultStatus, Task, TaskDefinition, TaskOptions, TaskStatus

from pyarmonik.settings import LocalSettings
from tests.grid_thread import GridThread
from tests.helpers import wait_for

WORKER = pathlib.Path(__file__).parents[1] / "workers" / "behaviours.py"
WORKER_COMMAND = f'"{sys.executable}" "{WORKER}"'


def grid_options(data_dir: pathlib.Path, *, agents: int = 2) -> LocalSettings:
    return LocalSettings(
        port=0,
        data_dir=data_dir,
        partitions=["default"],
        agents=agents,
        worker=[WORKER_COMMAND],
        lease_seconds=3.0,
        heartbeat_seconds=0.2,
        grace_seconds=1.0,
    )


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GridThread]:
    running = GridThread(grid_options(tmp_path_factory.mktemp("grid"))).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def channel(grid: GridThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grid.address) as channel:
        yield channel


def options(**overrides: Any) -> TaskOptions:
    values: dict[str, Any] = {"max_duration": timedelta(seconds=30), "priority": 1, "max_retries": 2}
    return TaskOptions(**(values | overrides))


class Client:
    """The official client's calls this test module repeats."""

    def __init__(self, channel: grpc.Channel, **session_options: Any) -> None:
        self.sessions, self.results = ArmoniKSessions(channel), ArmoniKResults(channel)
        self.tasks, self.events = ArmoniKTasks(channel), ArmoniKEvents(channel)
        self.session_id = self.sessions.create_session(options(**session_options))

    def outputs(self, count: int) -> list[str]:
        names = [f"out-{i}" for i in range(count)]
        created = self.results.create_results_metadata(names, self.session_id)
        return [created[n].result_id for n in names]

    def payloads(self, jobs: list[dict]) -> list[str]:
        data = {f"payload-{i}": json.dumps(job).encode() for i, job in enumerate(jobs)}
        created = self.results.create_results(data, self.session_id, batch_size=500)
        return [created[f"payload-{i}"].result_id for i in range(len(jobs))]

    def submit(
        self, job: dict, *, dependencies: list[str] = (), task_options: TaskOptions | None = None
    ) -> tuple[Task, str]:  # type: ignore[assignment]
        [payload], [output] = self.payloads([job]), self.outputs(1)
        definition = TaskDefinition(payload, [output], list(dependencies), task_options)
        [task] = self.tasks.submit_tasks(self.session_id, [definition])
        return task, output

    def value(self, result_id: str) -> Any:
        self.events.wait_for_result_availability(result_id, self.session_id)
        return json.loads(self.results.download_result_data(result_id, self.session_id))

    def task(self, task_id: str) -> Task:
        return self.tasks.get_task(task_id)

    def result(self, result_id: str) -> Result:
        return self.results.get_result(result_id)

    def wait_status(self, task_id: str, *statuses: TaskStatus) -> Task:
        def reached() -> Task | None:
            try:
                task = self.task(task_id)
            except grpc.RpcError as error:
                if error.code() is grpc.StatusCode.NOT_FOUND:  # type: ignore[attr-defined]
                    return None  # a retry not created yet
                raise
            return task if task.status in statuses else None

        return wait_for(reached, timeout=30)  # type: ignore[return-value]


def test_echo_task_completes_and_its_output_is_downloadable(channel: grpc.Channel) -> None:
    client = Client(channel)
    task, output = client.submit({"do": "echo", "value": "hi"})
    assert client.value(output) == "hi"
    done = client.wait_status(task.id, TaskStatus.COMPLETED)
    assert done.owner_pod_id.startswith("agent-")
    assert client.result(output).owner_task_id == task.id


def test_worker_sees_a_data_folder_named_after_its_communication_token(grid: GridThread, channel: grpc.Channel) -> None:
    client = Client(channel)
    _, output = client.submit({"do": "where"})
    seen = client.value(output)
    folder = pathlib.Path(seen["data_folder"])
    assert folder.name == seen["token"]  # ArmoniK.Core's <shared folder>/<token>, which PymoniK relies on
    assert folder.parent in {agent.config.shared_folder for agent in grid.local.agents}  # type: ignore[union-attr]
    assert seen["payload_there"]
    # The folder is emptied and set aside for the next attempt: an attempt leaves no files behind.
    wait_for(lambda: not folder.exists())
    assert all(spare.is_dir() and not any(spare.iterdir()) for spare in folder.parent.iterdir())


def test_worker_protocol_diagram_results_notify_and_child_that_takes_over_the_output(channel: grpc.Channel) -> None:
    client = Client(channel)
    task, output = client.submit({"do": "diagram", "a": 20, "b": 22})
    assert client.value(output) == 42
    owner = client.results.get_owner_task_id([output], client.session_id)[output]
    assert owner != task.id  # delegated to the child
    child = client.task(owner)
    assert child.parent_task_ids == [client.session_id, task.id] and len(child.data_dependencies) == 2
    assert client.task(task.id).status == TaskStatus.COMPLETED


def test_graph_of_a_thousand_tasks_over_many_levels_completes(channel: grpc.Channel) -> None:
    client = Client(channel)
    levels, width = 20, 50
    previous: list[str] = []
    last_outputs: list[str] = []
    for _level in range(levels):
        jobs = [{"do": "sum"} if previous else {"do": "echo", "value": 1} for _ in range(width)]
        payloads, outputs = client.payloads(jobs), client.outputs(width)
        definitions = [
            TaskDefinition(p, [o], [previous[i], previous[(i + 1) % width]] if previous else [])
            for i, (p, o) in enumerate(zip(payloads, outputs))
        ]
        client.tasks.submit_tasks(client.session_id, definitions, chunk_size=500)
        previous = last_outputs = outputs
    client.events.wait_for_result_availability(last_outputs, client.session_id)
    assert json.loads(client.results.download_result_data(last_outputs[0], client.session_id)) == 2 ** (levels - 1)
    counts = client.tasks.count_tasks_by_status(Task.session_id == client.session_id)
    assert counts == {TaskStatus.COMPLETED: levels * width}


def test_worker_error_ends_task_in_error_aborts_outputs_and_fails_dependents(channel: grpc.Channel) -> None:
    client = Client(channel)
    [output] = client.outputs(1)
    # The dependent is submitted first, so it surely waits when the failure comes.
    dependent, dependent_output = client.submit({"do": "sum"}, dependencies=[output])
    [payload] = client.payloads([{"do": "fail", "message": "bad input"}])
    [failing] = client.tasks.submit_tasks(client.session_id, [TaskDefinition(payload, [output])])
    assert client.wait_status(failing.id, TaskStatus.ERROR).status_message == "bad input"
    assert client.wait_status(dependent.id, TaskStatus.ERROR).status == TaskStatus.ERROR
    assert client.result(output).status == ResultStatus.ABORTED
    assert client.result(dependent_output).status == ResultStatus.ABORTED
    with pytest.raises(RuntimeError, match="aborted"):
        client.events.wait_for_result_availability(output, client.session_id)
    assert client.tasks.list_tasks(Task.initial_task_id == failing.id)[0] == 1  # no retry


def test_worker_crash_mid_task_is_retried_and_the_retry_succeeds(channel: grpc.Channel) -> None:
    client = Client(channel)
    task, output = client.submit({"do": "crash", "value": "survived"})
    assert client.value(output) == "survived"
    assert client.wait_status(task.id, TaskStatus.RETRIED).status == TaskStatus.RETRIED
    retry = client.task(f"{task.id}###1")
    assert retry.status == TaskStatus.COMPLETED
    assert retry.retry_of_ids == [task.id] and retry.initial_task_id == task.id


def test_exception_in_user_code_is_retried_until_retries_are_exhausted(channel: grpc.Channel) -> None:
    client = Client(channel, max_retries=1)
    task, output = client.submit({"do": "raise"})
    last = client.wait_status(f"{task.id}###1", TaskStatus.ERROR)
    assert "retries exhausted" in last.status_message
    assert client.task(task.id).status == TaskStatus.RETRIED
    assert client.result(output).status == ResultStatus.ABORTED


def test_task_exceeding_max_duration_times_out_without_retry(channel: grpc.Channel, tmp_path: pathlib.Path) -> None:
    client = Client(channel)
    slow = options(max_duration=timedelta(seconds=1))
    task, output = client.submit({"do": "wait", "gate": str(tmp_path / "never"), "timeout": 20}, task_options=slow)
    assert client.wait_status(task.id, TaskStatus.TIMEOUT).status == TaskStatus.TIMEOUT
    assert client.result(output).status == ResultStatus.ABORTED
    assert client.tasks.list_tasks(Task.initial_task_id == task.id)[0] == 1


def test_cancelling_a_running_task_stops_it(channel: grpc.Channel, tmp_path: pathlib.Path) -> None:
    client = Client(channel)
    started = tmp_path / "started.log"
    task, output = client.submit({"do": "wait", "gate": str(tmp_path / "never"), "log": str(started), "timeout": 20})
    wait_for(started.exists, timeout=30)
    client.tasks.cancel_tasks([task.id])
    assert client.wait_status(task.id, TaskStatus.CANCELLED).status == TaskStatus.CANCELLED
    assert client.result(output).status == ResultStatus.ABORTED


def test_cancelling_the_session_cancels_its_running_task(channel: grpc.Channel, tmp_path: pathlib.Path) -> None:
    client = Client(channel)
    started = tmp_path / "started.log"
    task, _ = client.submit({"do": "wait", "gate": str(tmp_path / "never"), "log": str(started), "timeout": 20})
    wait_for(started.exists, timeout=30)
    client.sessions.cancel_session(client.session_id)
    assert client.wait_status(task.id, TaskStatus.CANCELLED).status == TaskStatus.CANCELLED


def test_paused_session_keeps_its_tasks_until_resumed(channel: grpc.Channel) -> None:
    client = Client(channel)
    client.sessions.pause_session(client.session_id)
    task, output = client.submit({"do": "echo", "value": 7})
    assert client.task(task.id).status == TaskStatus.PAUSED
    client.sessions.resume_session(client.session_id)
    assert client.value(output) == 7


def test_get_resource_data_fetches_a_result_that_is_not_a_dependency(channel: grpc.Channel) -> None:
    client = Client(channel)
    [extra] = client.payloads([{"some": "data"}])
    _, output = client.submit({"do": "resource", "result_id": extra})
    assert client.value(output) == {"some": "data"}


def test_higher_priority_task_queued_after_lower_ones_runs_first(tmp_path: pathlib.Path) -> None:
    running = GridThread(grid_options(tmp_path, agents=1)).start()
    try:
        with grpc.insecure_channel(running.address) as channel:
            client = Client(channel)
            gate, log = tmp_path / "gate", tmp_path / "order.log"
            _blocker, _ = client.submit({"do": "wait", "gate": str(gate), "log": str(log), "value": "blocker"})
            wait_for(log.exists, timeout=30)  # the only agent is now busy
            outputs = [
                client.submit({"do": "wait", "log": str(log), "value": f"low-{i}"}, task_options=options(priority=1))[1]
                for i in range(3)
            ]
            outputs.append(
                client.submit({"do": "wait", "log": str(log), "value": "high"}, task_options=options(priority=9))[1]
            )
            gate.touch()
            client.events.wait_for_result_availability(outputs, client.session_id)
            order = [json.loads(line) for line in log.read_text().splitlines()]
            assert order == ["blocker", "high", "low-0", "low-1", "low-2"]
    finally:
        running.stop()


def test_an_agent_with_a_serving_worker_answers_its_probes_ready(grid: GridThread) -> None:
    import urllib.error
    import urllib.request

    assert grid.local is not None
    port = grid.local.agents[0].ports["probe_port"]  # local's agents serve their probes on 127.0.0.1

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
                return reply.status, reply.read().decode().strip()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode().strip()

    assert wait_for(lambda: get("/readyz")[0] == 200, timeout=30)
    assert get("/livez") == (200, "agent idle") or get("/livez") == (200, "agent busy")
    assert get("/worker/livez") == (200, "worker serving")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain; version=")
        assert 'pyarmonik_partition_agents{partition="default",state="idle"}' in reply.read().decode()
