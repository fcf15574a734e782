"""gRPC-Web round trips from Node with the client stack the ArmoniK Admin
GUI runs (the ``grpc-web`` npm client under Aneo's generated
``@aneoconsultingfr/armonik.api.angular`` clients), against a running
``pyarmonik local`` with a worker, in text mode (the GUI's) and binary
mode; then every action of the GUI on a running session."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import ResultStatus, SessionStatus, TaskDefinition, TaskOptions, TaskStatus

from pyarmonik.settings import LocalSettings
from tests import web_clients
from tests.grid_thread import GridThread
from tests.helpers import wait_for
from tests.integration.test_metrics_endpoint import WORKER

FORMATS = ["text", "binary"]
BIG = 10 * 1024 * 1024
APPLICATION = "gui-check"


@dataclass
class Grid:
    thread: GridThread
    url: str
    channel: grpc.Channel


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grid]:
    web_clients.node()  # skip (or fail under CI) before starting anything
    options = LocalSettings(
        port=0,
        http_port=0,
        data_dir=tmp_path_factory.mktemp("node-grid"),
        agents=1,
        worker=[f'"{sys.executable}" "{WORKER}"'],
    )
    thread = GridThread(options).start()
    assert thread.local is not None
    try:
        with grpc.insecure_channel(thread.address) as channel:
            yield Grid(thread, f"http://127.0.0.1:{thread.local.http_port}", channel)
    finally:
        thread.stop()


def new_session(channel: grpc.Channel) -> str:
    options = TaskOptions(
        max_duration=timedelta(seconds=60), priority=1, max_retries=2, application_name=APPLICATION,
        application_version="1.0",
    )  # fmt: skip
    return ArmoniKSessions(channel).create_session(options, partition_ids=["default"])


@pytest.fixture(scope="module")
def big_result(grid: Grid) -> tuple[str, str, str]:
    """(session, result, sha256) of a 10 MB result."""
    session_id = new_session(grid.channel)
    results = ArmoniKResults(grid.channel)
    result_id = results.create_results_metadata(["big"], session_id)["big"].result_id
    data = bytes(range(256)) * (BIG // 256)
    results.upload_result_data(result_id, session_id, data)
    return session_id, result_id, hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_unary_call_answers_the_grid_version(grid: Grid, fmt: str) -> None:
    versions = web_clients.run("node.mjs", grid.url, fmt, "unary")

    assert versions["core"] == "0.1.0"
    assert versions["core"].replace(".", "").isdigit()  # the GUI shows numeric versions only


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_error_status_reaches_the_gui_client_with_its_code_and_message(grid: Grid, fmt: str) -> None:
    failure = web_clients.run("node.mjs", grid.url, fmt, "error", "no-such-session")

    assert failure == {"code": grpc.StatusCode.NOT_FOUND.value[0], "message": "session not found: no-such-session"}


def test_the_event_stream_delivers_each_event_as_it_comes_in_text_mode(grid: Grid) -> None:
    """The GUI's mode: its graphs read an event stream that never ends."""
    session_id = new_session(grid.channel)
    created = ArmoniKResults(grid.channel).create_results_metadata(["a", "b"], session_id)

    events = web_clients.run("node.mjs", grid.url, "text", "stream", session_id, "2")

    assert {e["newResult"]["resultId"] for e in events} == {r.result_id for r in created.values()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_10_mb_result_downloads_whole(grid: Grid, big_result: tuple[str, str, str], fmt: str) -> None:
    session_id, result_id, digest = big_result

    downloaded = web_clients.run("node.mjs", grid.url, fmt, "download", session_id, result_id)

    assert downloaded["bytes"] == BIG and downloaded["sha256"] == digest
    assert downloaded["chunks"] == BIG // (2 * 1024 * 1024)  # one message per chunk of --data-chunk-max-size


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_cancelled_event_stream_ends_on_the_grid(grid: Grid, fmt: str) -> None:
    session_id = new_session(grid.channel)
    with web_clients.start("node.mjs", grid.url, fmt, "cancel", session_id) as process:
        assert process.stdin is not None
        assert web_clients.read_json_line(process) == {"subscribed": True}
        wait_for(lambda: grid.thread.subscriber_count(session_id) == 1, timeout=30)
        process.stdin.write("cancel\n")
        process.stdin.flush()
        assert web_clients.read_json_line(process)["cancelled"]
        wait_for(lambda: grid.thread.subscriber_count(session_id) == 0, timeout=30)  # node still running
        assert process.poll() is None
        process.stdin.close()
        process.wait(timeout=30)


def test_every_gui_action_works_through_grpc_web_on_a_running_session(grid: Grid) -> None:
    channel = grid.channel
    session_id, other_session_id = new_session(channel), new_session(channel)
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    payload = results.create_results({"payload": json.dumps({"do": "echo", "value": "done"}).encode()}, session_id)
    created = results.create_results_metadata(["output", "never-written", "pending-output"], session_id)
    output, missing = created["output"].result_id, created["never-written"].result_id
    [done_task] = tasks.submit_tasks(session_id, [TaskDefinition(payload["payload"].result_id, [output])])
    [pending] = tasks.submit_tasks(
        session_id, [TaskDefinition(payload["payload"].result_id, [created["pending-output"].result_id], [missing])]
    )
    wait_for(lambda: results.get_result(output).status == ResultStatus.COMPLETED, timeout=60)

    report = web_clients.run(
        "node.mjs", grid.url, "text", "actions", session_id, done_task.id, pending.id, output, other_session_id
    )

    assert report["ListVersions"]["core"] == "0.1.0"
    assert report["GetCurrentUser"] == "anonymous"  # authentication off
    assert report["CheckHealth"] == ["state", "queue", "objects"]
    assert session_id in report["ListSessions"]
    assert report["GetSession"] == SessionStatus.RUNNING
    counts = dict(report["CountTasksByStatus"])
    assert counts[TaskStatus.COMPLETED] == 1 and counts[TaskStatus.PENDING] == 1
    assert report["ListTasks"] == 2
    assert report["GetTask"] == TaskStatus.COMPLETED
    assert report["ListResults"] == 4
    assert report["GetResult"] == ResultStatus.COMPLETED
    assert report["DownloadResultData"] == '"done"'
    assert "default" in report["ListPartitions"] and report["GetPartition"] == "default"
    assert APPLICATION in report["ListApplications"]
    assert len(report["GetEvents"]) == 1
    assert report["CancelTasks"] == [TaskStatus.CANCELLED]  # a PENDING task is finalised at once
    assert report["PauseSession"] == SessionStatus.PAUSED
    assert report["ResumeSession"] == SessionStatus.RUNNING
    assert report["CancelSession"] == SessionStatus.CANCELLED
    assert report["CloseSession"] == SessionStatus.CLOSED
    assert report["PurgeSession"] == SessionStatus.PURGED
    assert report["DeleteSession"] == SessionStatus.DELETED
    assert report["GetDeletedSession"]["code"] == grpc.StatusCode.NOT_FOUND.value[0]
