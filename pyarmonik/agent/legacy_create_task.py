"""The legacy client-streaming ``Agent.CreateTask``, which ArmoniK's own test
workers (HtcMock) use to submit children.

The stream is: ``init_request`` (task options for the batch), then for each
task ``init_task.header`` (outputs, dependencies) followed by its payload as
``task_payload`` chunks ending with ``data_complete``; ``init_task.last_task``
closes the batch. Each payload becomes a new result holding that data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from armonik.protogen.common import agent_common_pb2 as pb

from pyarmonik.agent.task_context import TaskContext
from pyarmonik.core import errors
from pyarmonik.core.models import TaskOptions
from pyarmonik.lifecycle import tasks
from pyarmonik.protocol.options import optional_task_options


@dataclass
class _Pending:
    outputs: list[str]
    dependencies: list[str]
    payload: bytearray = field(default_factory=bytearray)
    complete: bool = False


async def handle(
    context_for: Callable[[str], TaskContext], requests: AsyncIterator[pb.CreateTaskRequest]
) -> pb.CreateTaskReply:
    ctx: TaskContext | None = None
    options: TaskOptions | None = None
    pending: list[_Pending] = []
    async for message in requests:
        ctx = ctx or context_for(message.communication_token)
        kind = message.WhichOneof("type")
        if kind == "init_request":
            options = optional_task_options(message.init_request, "task_options")
        elif kind == "init_task" and message.init_task.WhichOneof("type") == "header":
            header = message.init_task.header
            pending.append(_Pending(list(header.expected_output_keys), list(header.data_dependencies)))
        elif kind == "init_task":
            break
        elif kind == "task_payload":
            _add_chunk(pending, message)
        else:
            raise errors.InvalidArgument("CreateTask: message without a type")
    if ctx is None:
        raise errors.InvalidArgument("CreateTask: empty stream")
    return await _submit(ctx, pending, options)


def _add_chunk(pending: list[_Pending], message: pb.CreateTaskRequest) -> None:
    if not pending or pending[-1].complete:
        raise errors.InvalidArgument("CreateTask: payload chunk before a task header")
    if message.task_payload.WhichOneof("type") == "data":
        pending[-1].payload.extend(message.task_payload.data)
    else:
        pending[-1].complete = True


async def _submit(ctx: TaskContext, pending: list[_Pending], options: TaskOptions | None) -> pb.CreateTaskReply:
    incomplete = [i for i, p in enumerate(pending) if not p.complete]
    if incomplete:
        raise errors.InvalidArgument(f"CreateTask: payload of task(s) {incomplete} not completed")
    payloads = ctx.create_results_with_data([(f"payload-{i}", bytes(p.payload)) for i, p in enumerate(pending)])
    new = [
        tasks.NewTask(payload_id=r.result_id, expected_output_ids=p.outputs, data_dependencies=p.dependencies)
        for r, p in zip(payloads, pending)
    ]
    try:
        submitted = await ctx.submit(new, batch_options=options)
    except BaseException:
        ctx.discard(payloads)  # a refused batch leaves no payload behind
        raise
    return pb.CreateTaskReply(
        communication_token=ctx.token,
        creation_status_list=pb.CreateTaskReply.CreationStatusList(
            creation_statuses=[
                pb.CreateTaskReply.CreationStatus(
                    task_info=pb.CreateTaskReply.TaskInfo(
                        task_id=t.task_id,
                        expected_output_keys=t.expected_output_ids,
                        data_dependencies=t.data_dependencies,
                        payload_id=t.payload_id,
                    )
                )
                for t in submitted
            ]
        ),
    )
