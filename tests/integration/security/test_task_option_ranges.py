"""Numeric task options out of their range are refused at the door
(``core/ranges.py``): INVALID_ARGUMENT naming the field and the range, and
nothing written. A priority the queue could not order used to be stored
first and refused by the queue after (INTERNAL), stranding its task
SUBMITTED forever. ArmoniK's legal values stay accepted, the largest
protobuf Duration (its "no time limit") included."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
import pytest
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Session, Task, TaskDefinition, TaskStatus

from pyarmonik.core import ranges

from ..conftest import PARTITIONS, default_options

LARGEST_DURATION = timedelta(seconds=ranges.MAX_DURATION_SECONDS)


def refusal(call: Any) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as error:
        return error.code(), error.details()  # type: ignore[attr-defined]
    raise AssertionError("the call succeeded; a refusal was expected")


def definition(results: ArmoniKResults, session_id: str, **options: Any) -> TaskDefinition:
    created = results.create_results_metadata(["out"], session_id)["out"].result_id
    payload = results.create_results({"payload": b"p"}, session_id)["payload"].result_id
    return TaskDefinition(payload, [created], options=default_options(**options) if options else None)


def tasks_of(tasks: ArmoniKTasks, session_id: str) -> list[Task]:
    return tasks.list_tasks(Task.session_id == session_id)[1]


@pytest.mark.parametrize(
    ("options", "field", "allowed"),
    [
        ({"priority": 4096}, "priority", "-4095..4095"),
        ({"priority": -4096}, "priority", "-4095..4095"),
        ({"priority": 2**31 - 1}, "priority", "-4095..4095"),
        ({"max_retries": -1}, "max_retries", "0..2147483647"),
        ({"max_duration": timedelta(seconds=-5)}, "max_duration", "0..315576000000 s"),
    ],
)
def test_a_task_option_out_of_range_is_refused_naming_it_and_nothing_is_written(
    results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str, options: dict[str, Any], field: str, allowed: str
) -> None:
    task = definition(results, session_id, **options)

    code, details = refusal(lambda: tasks.submit_tasks(session_id, [task]))

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert f"task_creations[0].task_options.{field}" in details and allowed in details
    assert tasks_of(tasks, session_id) == []


def test_batch_options_out_of_range_are_refused_naming_them(
    results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str
) -> None:
    task = definition(results, session_id)

    code, details = refusal(
        lambda: tasks.submit_tasks(session_id, [task], default_task_options=default_options(priority=5000))
    )

    assert code is grpc.StatusCode.INVALID_ARGUMENT and "task_options.priority is 5000" in details
    assert tasks_of(tasks, session_id) == []


@pytest.mark.parametrize("priority", [ranges.PRIORITY.low, 0, ranges.PRIORITY.high])
def test_the_queues_extreme_priorities_are_accepted_and_queued(
    results: ArmoniKResults, tasks: ArmoniKTasks, session_id: str, priority: int
) -> None:
    [submitted] = tasks.submit_tasks(session_id, [definition(results, session_id, priority=priority)])

    task = tasks.get_task(submitted.id)
    assert task.status == TaskStatus.SUBMITTED and task.options.priority == priority


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"priority": 0}, "priority"),
        ({"priority": 100}, "priority"),
        ({"priority": 5000}, "priority"),
        ({"max_retries": 0}, "max_retries"),
        ({"max_duration": timedelta(0)}, "max_duration"),
        ({"max_duration": timedelta(seconds=-1)}, "max_duration"),
    ],
)
def test_session_defaults_out_of_range_are_refused_and_no_session_is_created(
    sessions: ArmoniKSessions, options: dict[str, Any], field: str
) -> None:
    before = sessions.list_sessions()[0]

    code, details = refusal(lambda: sessions.create_session(default_options(**options), list(PARTITIONS)))

    assert code is grpc.StatusCode.INVALID_ARGUMENT and f"default_task_option.{field}" in details
    assert sessions.list_sessions()[0] == before


def test_the_largest_protobuf_duration_is_accepted_for_a_session_and_a_task(
    sessions: ArmoniKSessions, results: ArmoniKResults, tasks: ArmoniKTasks
) -> None:
    """ArmoniK's "no time limit": refusing it would refuse ArmoniK clients."""
    session_id = sessions.create_session(default_options(max_duration=LARGEST_DURATION), list(PARTITIONS))

    [submitted] = tasks.submit_tasks(session_id, [definition(results, session_id, max_duration=LARGEST_DURATION)])

    assert sessions.list_sessions(Session.session_id == session_id)[1][0].options.max_duration == LARGEST_DURATION
    assert tasks.get_task(submitted.id).options.max_duration == LARGEST_DURATION
