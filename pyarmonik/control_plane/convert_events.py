"""Events: subscription requests and ``EventSubscriptionResponse``s."""

from __future__ import annotations

from armonik.protogen.common import events_common_pb2 as pb

from pyarmonik.control_plane import convert, filter_conversion
from pyarmonik.core import errors, filters
from pyarmonik.core.models import Event, Result, Task
from pyarmonik.core.statuses import EventKind
from pyarmonik.lifecycle import events

_Response = pb.EventSubscriptionResponse
_ALL_KINDS = frozenset(EventKind) - {EventKind.UNSPECIFIED}
#: The fields ArmoniK.Core lets an event stream filter on (its
#: EventSubscriptionRequestValidator): ids and task options, never a status or
#: a date, which change along the stream. Refused here too, so that a client
#: written against PyArmoniK runs against ArmoniK.Core.
TASK_EVENT_FIELDS = frozenset(
    {"task_id", "session_id", "payload_id", "owner_pod_id", "initial_task_id", "pod_hostname"}
)
RESULT_EVENT_FIELDS = frozenset({"owner_task_id", "session_id", "name", "result_id"})


def _only(where: filters.Filters, allowed: frozenset[str], entity: str) -> filters.Filters:
    for clause in where:
        for condition in clause:
            if condition.field not in allowed and not (entity == "task" and condition.field.startswith("options.")):
                extra = " or a task option" if entity == "task" else ""
                raise errors.InvalidArgument(
                    f"event streams cannot filter {entity}s on {condition.field!r}: only on "
                    f"{', '.join(sorted(allowed))}{extra}"
                )
    return where


def selection(request: pb.EventSubscriptionRequest) -> events.EventSelection:
    """The events the request selects; an empty ``returned_events`` means every kind."""
    try:
        kinds = frozenset(EventKind(k) for k in request.returned_events) - {EventKind.UNSPECIFIED}
    except ValueError as exc:
        raise errors.InvalidArgument(f"unknown event type in {list(request.returned_events)}") from exc
    return events.EventSelection(
        session_id=convert.required(request.session_id, "session_id"),
        task_filters=_only(filter_conversion.task_filters(request.tasks_filters), TASK_EVENT_FIELDS, "task"),
        result_filters=_only(filter_conversion.result_filters(request.results_filters), RESULT_EVENT_FIELDS, "result"),
        kinds=kinds or _ALL_KINDS,
    )


def _task(event: Event) -> Task:
    if event.task is None:
        raise ValueError(f"{event.kind.name} event without a task")
    return event.task


def _result(event: Event) -> Result:
    if event.result is None:
        raise ValueError(f"{event.kind.name} event without a result")
    return event.result


def _new_task(event: Event) -> pb.EventSubscriptionResponse:
    task = _task(event)
    return _Response(
        session_id=event.session_id,
        new_task=_Response.NewTask(
            task_id=task.task_id,
            payload_id=task.payload_id,
            origin_task_id=task.created_by,
            status=int(task.status),
            expected_output_keys=task.expected_output_ids,
            data_dependencies=task.data_dependencies,
            retry_of_ids=task.retry_of_ids,
            parent_task_ids=task.parent_task_ids,
        ),
    )


def _task_status(event: Event) -> pb.EventSubscriptionResponse:
    task = _task(event)
    return _Response(
        session_id=event.session_id,
        task_status_update=_Response.TaskStatusUpdate(task_id=task.task_id, status=int(task.status)),
    )


def _new_result(event: Event) -> pb.EventSubscriptionResponse:
    result = _result(event)
    return _Response(
        session_id=event.session_id,
        new_result=_Response.NewResult(
            result_id=result.result_id, owner_id=result.owner_task_id, status=int(result.status)
        ),
    )


def _result_status(event: Event) -> pb.EventSubscriptionResponse:
    result = _result(event)
    return _Response(
        session_id=event.session_id,
        result_status_update=_Response.ResultStatusUpdate(result_id=result.result_id, status=int(result.status)),
    )


def _result_owner(event: Event) -> pb.EventSubscriptionResponse:
    return _Response(
        session_id=event.session_id,
        result_owner_update=_Response.ResultOwnerUpdate(
            result_id=_result(event).result_id,
            previous_owner_id=event.previous_owner_id,
            current_owner_id=event.current_owner_id,
        ),
    )


_BUILDERS = {
    EventKind.NEW_TASK: _new_task,
    EventKind.TASK_STATUS_UPDATE: _task_status,
    EventKind.NEW_RESULT: _new_result,
    EventKind.RESULT_STATUS_UPDATE: _result_status,
    EventKind.RESULT_OWNER_UPDATE: _result_owner,
}


def event_response(event: Event) -> pb.EventSubscriptionResponse:
    return _BUILDERS[event.kind](event)
