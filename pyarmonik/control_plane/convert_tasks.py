"""Tasks: ``TaskDetailed``/``TaskSummary`` and the parsing of task requests."""

from __future__ import annotations

from collections.abc import Mapping

from armonik.protogen.common import objects_pb2
from armonik.protogen.common import tasks_common_pb2 as pb

from pyarmonik.control_plane import convert, filter_conversion
from pyarmonik.core import filters
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.protocol import options


def _common(task: Task) -> dict[str, object]:
    """Fields TaskDetailed and TaskSummary share."""
    return {
        "id": task.task_id,
        "session_id": task.session_id,
        "owner_pod_id": task.owner_pod_id,
        "initial_task_id": task.initial_task_id,
        "status": int(task.status),
        "status_message": task.status_message,
        "options": options.task_options_to_pb(task.options),
        "created_at": options.timestamp(task.created_at),
        "submitted_at": options.timestamp(task.submitted_at),
        "received_at": options.timestamp(task.received_at),
        "acquired_at": options.timestamp(task.acquired_at),
        "fetched_at": options.timestamp(task.fetched_at),
        "started_at": options.timestamp(task.started_at),
        "processed_at": options.timestamp(task.processed_at),
        "ended_at": options.timestamp(task.ended_at),
        "pod_ttl": options.timestamp(task.pod_ttl),
        "creation_to_end_duration": options.duration(task.creation_to_end_duration),
        "processing_to_end_duration": options.duration(task.processing_to_end_duration),
        "received_to_end_duration": options.duration(task.received_to_end_duration),
        "payload_id": task.payload_id,
        "created_by": task.created_by,
        "pod_hostname": task.pod_hostname,
    }


def task_detailed(task: Task) -> pb.TaskDetailed:
    return pb.TaskDetailed(
        parent_task_ids=task.parent_task_ids,
        data_dependencies=task.data_dependencies,
        expected_output_ids=task.expected_output_ids,
        retry_of_ids=task.retry_of_ids,
        output=pb.TaskDetailed.Output(success=task.output_success, error=task.output_error),
        **_common(task),  # type: ignore[arg-type]
    )


def task_summary(task: Task) -> pb.TaskSummary:
    return pb.TaskSummary(
        count_parent_task_ids=len(task.parent_task_ids),
        count_data_dependencies=len(task.data_dependencies),
        count_expected_output_ids=len(task.expected_output_ids),
        count_retry_of_ids=len(task.retry_of_ids),
        error=task.output_error,
        **_common(task),  # type: ignore[arg-type]
    )


def list_query(request: pb.ListTasksRequest) -> filters.ListQuery:
    return convert.list_query(
        request, filter_conversion.task_filters(request.filters), filter_conversion.task_sort(request.sort)
    )


def list_response(request: pb.ListTasksRequest, page: filters.Page[Task]) -> pb.ListTasksResponse:
    return convert.page_reply(pb.ListTasksResponse, "tasks", request, (task_summary(t) for t in page.items), page.total)


def list_detailed_response(request: pb.ListTasksRequest, page: filters.Page[Task]) -> pb.ListTasksDetailedResponse:
    return convert.page_reply(
        pb.ListTasksDetailedResponse, "tasks", request, (task_detailed(t) for t in page.items), page.total
    )


def result_ids_response(by_task: Mapping[str, list[str]]) -> pb.GetResultIdsResponse:
    return pb.GetResultIdsResponse(
        task_results=[
            pb.GetResultIdsResponse.MapTaskResult(task_id=task_id, result_ids=ids) for task_id, ids in by_task.items()
        ]
    )


def count_response(counts: Mapping[TaskStatus, int]) -> pb.CountTasksByStatusResponse:
    return pb.CountTasksByStatusResponse(
        status=[objects_pb2.StatusCount(status=int(s), count=n) for s, n in sorted(counts.items())]
    )
