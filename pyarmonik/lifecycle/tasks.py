"""Task submission and the task use cases of the client API.

Submission validates the whole batch before writing anything: options
merged over the session defaults, partition one of the session's (an
unknown partition is rejected, never left queued), submission open. The
store then checks dependencies and outputs atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyarmonik.core import errors, filters, ids, limits, ranges
from pyarmonik.core.models import Application, NewTask, Session, Task, TaskOptions

__all__ = ["NewTask"]  # re-exported: the input of ``submit``
from pyarmonik.core.statuses import SessionStatus, TaskStatus
from pyarmonik.lifecycle.grid import Grid

_SUBMITTABLE = frozenset({SessionStatus.RUNNING, SessionStatus.PAUSED})


@dataclass(frozen=True, slots=True)
class Submitter:
    """Who submits: a client (``parent`` is None) or a running task."""

    parent: Task | None = None

    @property
    def created_by(self) -> str:
        return self.parent.task_id if self.parent else ""

    def may_submit(self, session: Session) -> bool:
        flag = session.worker_submission if self.parent else session.client_submission
        return flag and session.status in _SUBMITTABLE


CLIENT = Submitter()


def build_tasks(
    session: Session, new: Sequence[NewTask], *, batch_options: TaskOptions | None, submitter: Submitter, at: float
) -> list[Task]:
    """Domain tasks for a batch, validated; raises before anything is written."""
    if not submitter.may_submit(session):
        raise errors.FailedPrecondition(f"Submission for the session {session.session_id} is closed")
    ranges.check_task_options(batch_options, field="task_options")
    for index, item in enumerate(new):
        ranges.check_task_options(item.options, field=f"task_creations[{index}].task_options")
    defaults = batch_options.merged_over(session.options) if batch_options else session.options
    # As ArmoniK.Core: a client's tasks descend from their session, a worker's
    # children from the ancestors of their parent, then the parent.
    parent = submitter.parent
    parents = [*parent.parent_task_ids, parent.task_id] if parent else [session.session_id]
    tasks = []
    for index, item in enumerate(new):
        if not item.payload_id:
            raise errors.InvalidArgument(f"task creation {index}: payload_id is required")
        options = item.options.merged_over(defaults) if item.options else defaults
        if options.partition_id not in session.partition_ids:
            raise errors.InvalidArgument(
                f"task creation {index}: partition {options.partition_id!r} is not one of the session's "
                f"partitions {session.partition_ids}"
            )
        task_id = ids.new_id()
        tasks.append(
            Task(
                task_id=task_id,
                session_id=session.session_id,
                status=TaskStatus.CREATING,
                options=options,
                created_at=at,
                payload_id=item.payload_id,
                data_dependencies=list(item.data_dependencies),
                expected_output_ids=list(item.expected_output_ids),
                parent_task_ids=parents,
                initial_task_id=task_id,
                created_by=submitter.created_by,
            )
        )
    return tasks


async def submit(
    grid: Grid, session_id: str, new: Sequence[NewTask], *, batch_options: TaskOptions | None = None
) -> list[Task]:
    _check_limits(grid.limits, new, batch_options)
    session = await grid.state.get_session(session_id)
    at = grid.clock()
    tasks = build_tasks(session, new, batch_options=batch_options, submitter=CLIENT, at=at)
    _check_options_sizes(grid.limits, tasks)
    await require_partitions(grid, tasks)
    existing = await _already_submitted(grid, session_id, tasks)
    fresh = [t for t in tasks if t.task_id not in existing]
    created = {t.task_id: t for t in await grid.state.create_tasks(session_id, fresh, at=at)} if fresh else {}
    grid.metrics.count_submitted(fresh)
    return [existing.get(t.task_id) or created[t.task_id] for t in tasks]


def _check_limits(grid_limits: limits.Limits, new: Sequence[NewTask], batch_options: TaskOptions | None) -> None:
    limits.check_count(grid_limits.tasks_per_request, len(new), what="tasks in one SubmitTasks request")
    names = [name for t in new for name in (t.payload_id, *t.data_dependencies, *t.expected_output_ids)]
    limits.check_ids(grid_limits.id_length, names, what="result id")
    options = [batch_options, *(t.options for t in new)]
    limits.check_ids(grid_limits.id_length, [n for o in options for n in limits.option_names(o)], what="task option")


def _check_options_sizes(grid_limits: limits.Limits, tasks: Sequence[Task]) -> None:
    """The options each task stores, session defaults merged (tasks without
    options of their own share one object: measured once)."""
    measured: set[int] = set()
    for index, task in enumerate(tasks):
        if id(task.options) not in measured:
            measured.add(id(task.options))
            what = f"task creation {index} (with the batch's and the session's defaults)"
            limits.check_options_size(grid_limits.task_options_size, task.options, what=what)


async def require_partitions(grid: Grid, tasks: Sequence[Task]) -> None:
    """Every task's partition still exists: a partition deleted since its
    session was created (an ArmoniKPartition removed) is refused, not left
    with tasks no agent will ever take."""
    for partition_id in sorted({t.options.partition_id for t in tasks}):
        try:
            await grid.state.get_partition(partition_id)
        except errors.NotFound:
            raise errors.InvalidArgument(f"partition {partition_id!r} does not exist (any more)") from None


def _same_definition(new: Task, old: Task) -> bool:
    return (
        not old.created_by
        and old.payload_id == new.payload_id
        and old.data_dependencies == new.data_dependencies
        and old.expected_output_ids == new.expected_output_ids
        and old.options == new.options
    )


async def _already_submitted(grid: Grid, session_id: str, tasks: Sequence[Task]) -> dict[str, Task]:
    """New task id -> the task an earlier, identical submission created.

    A client whose SubmitTasks call was cut off (a control plane killed
    mid-call) cannot know whether it took effect, so it retries; a task whose
    expected outputs are all owned by one earlier client task of the same
    definition is that earlier task, not a duplicate the client never saw.
    """
    outputs = list({o for t in tasks for o in t.expected_output_ids})
    owners = await grid.state.owners_of(session_id, outputs) if outputs else {}
    # A result the client created with its data is owned by the session itself (ArmoniK's rule), no task.
    owner_ids = sorted({owner for owner in owners.values() if owner and owner != session_id})
    if not owner_ids:
        return {}
    earlier = {t.task_id: t for t in await grid.state.get_tasks(owner_ids)}
    found = {}
    for task in tasks:
        candidates = {owners[o] for o in task.expected_output_ids}
        if len(candidates) == 1 and (old := earlier.get(candidates.pop())) and _same_definition(task, old):
            found[task.task_id] = old
    return found


async def get(grid: Grid, task_id: str) -> Task:
    [task] = await grid.state.get_tasks([task_id])
    return task


async def list_tasks(grid: Grid, query: filters.ListQuery) -> filters.Page[Task]:
    return await grid.state.list_tasks(query=query)


async def cancel(grid: Grid, task_ids: Sequence[str]) -> list[Task]:
    return await grid.state.cancel_tasks(task_ids, at=grid.clock(), reason="cancelled by the client")


async def result_ids(grid: Grid, task_ids: Sequence[str]) -> dict[str, list[str]]:
    return {t.task_id: t.expected_output_ids for t in await grid.state.get_tasks(task_ids)}


async def count_by_status(grid: Grid, where: filters.Filters) -> Mapping[TaskStatus, int]:
    return await grid.state.count_tasks_by_status(where=where)


async def list_applications(grid: Grid, query: filters.ListQuery) -> filters.Page[Application]:
    """Applications named in task options, as ArmoniK lists them."""
    return await grid.state.list_applications(query=query)
