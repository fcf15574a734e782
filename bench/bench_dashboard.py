"""What the Admin GUI's refresh costs the grid: its dashboard, sessions and
applications tables over 100,000 tasks in 1,000 sessions, through native
gRPC and through gRPC-Web (binary, over HTTP/1.1).

Starts ``pyarmonik local`` in-process (a private Redis, no workers: the
tasks stay queued), creates the sessions and their tasks (10 applications),
then times each call the GUI makes when a page refreshes (every 10 s by
default in the GUI) and prints one line per call: median and max.

    python bench/bench_dashboard.py [--sessions 1000] [--tasks 100] [--repeat 5]

Results of a run on the development machine: docs/gui.md ("Dashboard cost").
"""

from __future__ import annotations

import argparse
import pathlib
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta

import grpc
import httpx
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import TaskDefinition, TaskOptions
from armonik.protogen.client.applications_service_pb2_grpc import ApplicationsStub
from armonik.protogen.client.sessions_service_pb2_grpc import SessionsStub
from armonik.protogen.client.tasks_service_pb2_grpc import TasksStub
from armonik.protogen.common import applications_common_pb2 as apps
from armonik.protogen.common import applications_fields_pb2 as app_fields
from armonik.protogen.common import filters_common_pb2 as common
from armonik.protogen.common import sessions_common_pb2 as sessions
from armonik.protogen.common import sessions_fields_pb2 as session_fields
from armonik.protogen.common import sort_direction_pb2 as sort
from armonik.protogen.common import tasks_common_pb2 as tasks
from armonik.protogen.common import tasks_fields_pb2 as task_fields
from armonik.protogen.common import tasks_filters_pb2 as task_filters
from google.protobuf.message import Message

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from pyarmonik.settings import LocalSettings
from tests import grpc_web
from tests.grid_thread import GridThread

APPLICATIONS = 10


def populate(channel: grpc.Channel, sessions_count: int, per_session: int) -> list[str]:
    results, submitter, created = ArmoniKResults(channel), ArmoniKTasks(channel), []
    started = time.perf_counter()
    for index in range(sessions_count):
        options = TaskOptions(
            max_duration=timedelta(seconds=60), priority=1, max_retries=1,
            application_name=f"app-{index % APPLICATIONS}", application_version="1.0",
        )  # fmt: skip
        session_id = ArmoniKSessions(channel).create_session(options, partition_ids=["default"])
        payloads = results.create_results({f"p{i}": b"x" for i in range(per_session)}, session_id, batch_size=1000)
        outputs = results.create_results_metadata([f"o{i}" for i in range(per_session)], session_id, batch_size=1000)
        definitions = [
            TaskDefinition(payloads[f"p{i}"].result_id, [outputs[f"o{i}"].result_id]) for i in range(per_session)
        ]
        submitter.submit_tasks(session_id, definitions, chunk_size=1000)
        created.append(session_id)
    elapsed = time.perf_counter() - started
    total = sessions_count * per_session
    print(f"created {sessions_count} sessions, {total} tasks in {elapsed:.0f} s")
    return created


def _string_eq(field: task_filters.FilterField, value: str) -> task_filters.FilterField:
    field.filter_string.CopyFrom(common.FilterString(value=value, operator=common.FILTER_STRING_OPERATOR_EQUAL))
    return field


def gui_calls(session_id: str) -> dict[str, tuple[str, Message, Callable[[grpc.Channel], Callable[..., Message]]]]:
    """label -> (gRPC method path, request, native stub method): the requests the GUI sends."""
    desc = sort.SORT_DIRECTION_DESC
    by_session = _string_eq(
        task_filters.FilterField(field=task_fields.TaskField(task_summary_field=task_fields.TaskSummaryField(
            field=task_fields.TASK_SUMMARY_ENUM_FIELD_SESSION_ID))), session_id,
    )  # fmt: skip
    by_application = [
        _string_eq(task_filters.FilterField(field=task_fields.TaskField(task_option_field=task_fields.TaskOptionField(
            field=field))), value)
        for field, value in ((task_fields.TASK_OPTION_ENUM_FIELD_APPLICATION_NAME, "app-3"),
                             (task_fields.TASK_OPTION_ENUM_FIELD_APPLICATION_VERSION, "1.0"))
    ]  # fmt: skip
    created = session_fields.SessionField(
        session_raw_field=session_fields.SessionRawField(field=session_fields.SESSION_RAW_ENUM_FIELD_CREATED_AT)
    )
    name = app_fields.ApplicationField(
        application_field=app_fields.ApplicationRawField(field=app_fields.APPLICATION_RAW_ENUM_FIELD_NAME)
    )
    sessions_page = sessions.ListSessionsRequest(
        page=0, page_size=100, sort=sessions.ListSessionsRequest.Sort(field=created, direction=desc)
    )
    applications_page = apps.ListApplicationsRequest(
        page=0, page_size=100, sort=apps.ListApplicationsRequest.Sort(fields=[name], direction=desc)
    )
    count, count_stub = (
        "/armonik.api.grpc.v1.tasks.Tasks/CountTasksByStatus",
        lambda ch: TasksStub(ch).CountTasksByStatus,
    )
    return {
        "ListSessions, page 0 of 100, created_at desc": (
            "/armonik.api.grpc.v1.sessions.Sessions/ListSessions",
            sessions_page,
            lambda ch: SessionsStub(ch).ListSessions,
        ),
        "CountTasksByStatus, whole grid (dashboard)": (count, tasks.CountTasksByStatusRequest(), count_stub),
        "CountTasksByStatus, one session (x rows of the sessions table)": (count, _count([by_session]), count_stub),
        "ListApplications, page 0 of 100, by name": (
            "/armonik.api.grpc.v1.applications.Applications/ListApplications",
            applications_page,
            lambda ch: ApplicationsStub(ch).ListApplications,
        ),
        "CountTasksByStatus, one application (x rows of its table)": (count, _count(by_application), count_stub),
    }


def _count(fields: list[task_filters.FilterField]) -> tasks.CountTasksByStatusRequest:
    conjunction = task_filters.FiltersAnd(**{"and": fields})
    return tasks.CountTasksByStatusRequest(filters=task_filters.Filters(**{"or": [conjunction]}))


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=100, help="tasks per session")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        running = GridThread(LocalSettings(port=0, http_port=0, data_dir=pathlib.Path(data), agents=0)).start()
        try:
            assert running.local is not None
            web = f"http://127.0.0.1:{running.local.http_port}"
            # TCP_NODELAY as browsers have it: else the body waits for the ACK of the headers (40 ms).
            nodelay = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
            with (
                grpc.insecure_channel(running.address) as channel,
                httpx.Client(transport=nodelay, timeout=300) as client,
            ):
                session_ids = populate(channel, args.sessions, args.tasks)
                print(f"{'call':<64} {'gRPC median/max ms':>20} {'gRPC-Web median/max ms':>24}")
                for label, (path, request, stub) in gui_calls(session_ids[len(session_ids) // 2]).items():
                    native = timed(lambda: stub(channel)(request), args.repeat)  # noqa: B023
                    answer = grpc_web.call(client, web, path, request)
                    assert answer.code == grpc.StatusCode.OK, (label, answer.details)
                    over_web = timed(lambda: grpc_web.call(client, web, path, request), args.repeat)  # noqa: B023
                    print(f"{label:<64} {native[0]:9.1f} / {native[1]:7.1f} {over_web[0]:11.1f} / {over_web[1]:7.1f}")
        finally:
            running.stop()


if __name__ == "__main__":
    main()
