"""Task submission messages, which the client API (Tasks.SubmitTasks) and the
Agent API (Agent.SubmitTasks) shape alike but type apart."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message

from pyarmonik.core import errors
from pyarmonik.core.models import NewTask, Task
from pyarmonik.protocol.options import optional_task_options

R = TypeVar("R", bound=Message)


def new_tasks(request: Any) -> list[NewTask]:
    """The ``task_creations`` of a SubmitTasksRequest (either API)."""
    if not request.task_creations:
        raise errors.InvalidArgument("task_creations must list at least one task")
    return [
        NewTask(
            payload_id=c.payload_id,
            expected_output_ids=list(c.expected_output_keys),
            data_dependencies=list(c.data_dependencies),
            options=optional_task_options(c, "task_options"),
        )
        for c in request.task_creations
    ]


def submit_response(response_type: type[R], submitted: Sequence[Task]) -> R:
    """A SubmitTasksResponse (of either API) listing the submitted tasks."""
    info = response_type.TaskInfo  # type: ignore[attr-defined]
    return response_type(
        task_infos=[
            info(
                task_id=t.task_id,
                expected_output_ids=t.expected_output_ids,
                data_dependencies=t.data_dependencies,
                payload_id=t.payload_id,
            )
            for t in submitted
        ]
    )
