"""``/metrics`` of a live local grid, scraped over HTTP while official-SDK
workers run tasks and after, parsed as Prometheus parses it, and checked
against what the official client reads from the grid."""

from __future__ import annotations

import json
import pathlib
import socket
import sys
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import TaskDefinition, TaskOptions, TaskStatus
from prometheus_client.parser import text_string_to_metric_families

from pyarmonik.local.launcher import LocalGrid
from pyarmonik.settings import LocalSettings
from tests.grid_thread import GridThread
from tests.helpers import wait_for

WORKER = pathlib.Path(__file__).parents[1] / "workers" / "behaviours.py"
AGENTS = 2
ECHOES = 6
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GridThread]:
    options = LocalSettings(
        port=0,
        metrics_port=0,
        data_dir=tmp_path_factory.mktemp("grid"),
        partitions=["default"],
        agents=AGENTS,
        worker=[f'"{sys.executable}" "{WORKER}"'],
        lease_seconds=3.0,
        heartbeat_seconds=0.2,
        grace_seconds=1.0,
    )
    running = GridThread(options).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def channel(grid: GridThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grid.address) as channel:
        yield channel


def scrape(grid: GridThread) -> tuple[str, Samples]:
    assert grid.local is not None and grid.local.metrics_port is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{grid.local.metrics_port}/metrics", timeout=10) as reply:
        content_type, text = reply.headers["Content-Type"], reply.read().decode()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return content_type, samples


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def submit(channel: grpc.Channel, session_id: str, jobs: list[dict]) -> list[str]:
    """One task per job, each with one output; returns the task ids."""
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    payloads = results.create_results({f"p{i}": json.dumps(job).encode() for i, job in enumerate(jobs)}, session_id)
    outputs = results.create_results_metadata([f"o{i}" for i in range(len(jobs))], session_id)
    definitions = [TaskDefinition(payloads[f"p{i}"].result_id, [outputs[f"o{i}"].result_id]) for i in range(len(jobs))]
    return [t.id for t in tasks.submit_tasks(session_id, definitions)]


def test_metrics_follow_the_tasks_while_they_run_and_match_the_store_after(
    grid: GridThread, channel: grpc.Channel, tmp_path: pathlib.Path
) -> None:
    options = TaskOptions(max_duration=timedelta(seconds=60), priority=1, max_retries=2)
    session_id = ArmoniKSessions(channel).create_session(options)
    tasks = ArmoniKTasks(channel)
    gate = tmp_path / "gate"
    # The gated tasks are queued first, so both agents hold one and the rest waits in the queue.
    submit(channel, session_id, [{"do": "wait", "gate": str(gate), "value": i} for i in range(AGENTS)])
    submit(channel, session_id, [*({"do": "echo", "value": i} for i in range(ECHOES)), {"do": "fail"}])
    queued = ECHOES + 1

    def running() -> Samples | None:
        """A scrape that sees both tasks held, in the store and by the agents: a claim starts the task
        in the store before its agent says it is busy."""
        _, samples = scrape(grid)
        held = sample(samples, "pyarmonik_grid_tasks", partition="default", status="PROCESSING")
        busy = sample(samples, "pyarmonik_partition_agents", partition="default", state="busy")
        leased = sample(samples, "pyarmonik_queue_tasks", partition="default", state="leased")
        return samples if held == busy == AGENTS and leased else None

    samples: Samples = wait_for(running, timeout=60)  # type: ignore[assignment]
    counts = tasks.count_tasks_by_status()
    assert sample(samples, "pyarmonik_queue_tasks", partition="default", state="leased") == AGENTS
    assert sample(samples, "pyarmonik_queue_tasks", partition="default", state="queued") == queued
    assert sample(samples, "pyarmonik_grid_tasks", partition="default", status="SUBMITTED") == queued
    assert counts[TaskStatus.SUBMITTED] == queued and counts[TaskStatus.PROCESSING] == AGENTS
    assert sample(samples, "pyarmonik_partition_agents", partition="default", state="busy") == AGENTS
    assert sample(samples, "pyarmonik_tasks_submitted_total", partition="default") == AGENTS + queued

    gate.touch()
    # The failing task may end after the last echo: wait for both.
    ended = {TaskStatus.COMPLETED: AGENTS + ECHOES, TaskStatus.ERROR: 1}
    wait_for(lambda: ended.items() <= tasks.count_tasks_by_status().items(), timeout=60)
    counts = tasks.count_tasks_by_status()
    assert counts[TaskStatus.ERROR] == 1

    def drained() -> Samples | None:
        _, samples = scrape(grid)
        idle = sample(samples, "pyarmonik_partition_agents", partition="default", state="idle") == AGENTS
        return (
            samples
            if idle and sample(samples, "pyarmonik_queue_tasks", partition="default", state="leased") == 0
            else None
        )

    content_type, samples = scrape(grid)
    assert content_type.startswith("text/plain; version=")  # the Prometheus text format
    samples = wait_for(drained, timeout=30)  # type: ignore[assignment]
    assert sample(samples, "pyarmonik_queue_tasks", partition="default", state="queued") == 0
    completed = counts[TaskStatus.COMPLETED]
    ok = {"partition": "default", "outcome": "ok"}
    assert sample(samples, "pyarmonik_tasks_completed_total", **ok) == completed
    assert sample(samples, "pyarmonik_task_duration_seconds_count", **ok) == completed
    assert sample(samples, "pyarmonik_tasks_completed_total", partition="default", outcome="error") == 1
    assert sample(samples, "pyarmonik_grid_tasks", partition="default", status="COMPLETED") == completed
    assert sample(samples, "pyarmonik_grid_tasks", partition="default", status="ERROR") == counts[TaskStatus.ERROR]
    # Results: the payloads and the outputs of the session, one output ABORTED by the failed task.
    assert sample(samples, "pyarmonik_grid_results", status="ABORTED") == 1
    assert sample(samples, "pyarmonik_grid_results", status="COMPLETED") == 2 * (AGENTS + queued) - 1
    submits = {"service": "armonik.api.grpc.v1.tasks.Tasks", "method": "SubmitTasks", "code": "OK"}
    assert sample(samples, "pyarmonik_rpc_duration_seconds_count", **submits) == 2
    notified = {"service": "armonik.api.grpc.v1.agent.Agent", "method": "NotifyResultData", "code": "OK"}
    assert (sample(samples, "pyarmonik_rpc_duration_seconds_count", **notified) or 0) >= AGENTS + ECHOES


def test_an_rpc_refused_with_a_status_is_counted_under_its_code(grid: GridThread, channel: grpc.Channel) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        ArmoniKTasks(channel).get_task("no-such-task")
    assert refused.value.code() is grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    _, samples = scrape(grid)
    labels = {"service": "armonik.api.grpc.v1.tasks.Tasks", "method": "GetTask", "code": "NOT_FOUND"}
    assert sample(samples, "pyarmonik_rpc_duration_seconds_count", **labels) == 1


async def test_a_metrics_port_in_use_is_refused_in_one_line(tmp_path: pathlib.Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"^cannot serve metrics on 127.0.0.1:{port}: "):
            async with LocalGrid(LocalSettings(port=0, metrics_port=port, data_dir=tmp_path)):
                pass


def test_a_client_that_stops_listening_once_its_results_are_there_is_counted_ok(
    grid: GridThread, channel: grpc.Channel
) -> None:
    """``wait_for_result_availability`` ends its event stream by cancelling
    it: the stream's normal end, not an error on a dashboard."""
    session_id = ArmoniKSessions(channel).create_session(TaskOptions(timedelta(seconds=60), 1, 2))
    results = ArmoniKResults(channel)
    [output] = results.create_results_metadata(["awaited"], session_id).values()
    payload = results.create_results({"p": json.dumps({"do": "echo", "value": 1}).encode()}, session_id)["p"]
    ArmoniKTasks(channel).submit_tasks(session_id, [TaskDefinition(payload.result_id, [output.result_id])])
    ArmoniKEvents(channel).wait_for_result_availability(output.result_id, session_id)
    events = {"service": "armonik.api.grpc.v1.events.Events", "method": "GetEvents"}

    def counted() -> Samples | None:
        _, samples = scrape(grid)
        return samples if sample(samples, "pyarmonik_rpc_duration_seconds_count", **events, code="OK") else None

    samples: Samples = wait_for(counted, timeout=30)  # type: ignore[assignment]
    for code in ("CANCELLED", "UNKNOWN"):
        assert sample(samples, "pyarmonik_rpc_duration_seconds_count", **events, code=code) is None, code
