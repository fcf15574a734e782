"""Agent-side transitions of the embedded state store.

A task is held by one agent from acquisition to its outcome; every write
here checks that the caller still holds it (``Tables.held_task``), so an
agent whose lease was reaped can never commit or fail a task twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyarmonik.core import errors, ids
from pyarmonik.core.models import Event, Task, clone
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.memory import transitions
from pyarmonik.storage.memory.transitions import HELD_BY_AGENT, Change

_PROCESSING = frozenset({TaskStatus.PROCESSING})
_DISPATCHED = frozenset({TaskStatus.DISPATCHED})


class MemoryProcessingTransitions:
    """Mixed into ``MemoryStateStore``; needs ``self._t`` and ``self._publish``."""

    _t: transitions.Tables

    def _publish(self, events: Sequence[Event]) -> None:  # pragma: no cover - provided by the store
        raise NotImplementedError

    async def acquire_task(self, task_id: str, *, agent_id: str, hostname: str, at: float) -> Task | None:
        """SUBMITTED -> DISPATCHED for ``agent_id``; ``None`` when the task is
        in any other status (already taken, cancelled, paused, ...)."""
        task = self._t.tasks.get(task_id)
        if task is None or task.status is not TaskStatus.SUBMITTED:
            return None
        change = Change(at)
        task.owner_pod_id, task.pod_hostname = agent_id, hostname
        task.acquired_at = task.received_at = at
        self._t.set_task_status(task, TaskStatus.DISPATCHED, change)
        self._publish(change.events)
        return clone(task)

    async def start_task(self, task_id: str, *, agent_id: str, at: float) -> Task:
        task = self._t.held_task(task_id, agent_id, _DISPATCHED)
        change = Change(at)
        task.fetched_at = task.started_at = at
        self._t.set_task_status(task, TaskStatus.PROCESSING, change)
        self._publish(change.events)
        return clone(task)

    async def park_task(self, task_id: str, *, at: float) -> bool:
        """SUBMITTED -> PAUSED, only while its session is paused (checked here,
        atomically, so a concurrent resume is never undone)."""
        task = self._t.tasks.get(task_id)
        if task is None or task.status is not TaskStatus.SUBMITTED:
            return False
        if self._t.sessions[task.session_id].status is not SessionStatus.PAUSED:
            return False
        change = Change(at)
        self._t.set_task_status(task, TaskStatus.PAUSED, change)
        self._publish(change.events)
        return True

    async def finish_cancellation(self, task_id: str, *, at: float) -> None:
        """CANCELLING -> CANCELLED once no agent runs the task any more."""
        task = self._t.tasks.get(task_id)
        if task is not None and task.status is TaskStatus.CANCELLING:
            change = Change(at)
            self._t.set_task_status(task, TaskStatus.CANCELLED, change)
            self._publish(change.events)

    async def commit_task(self, task_id: str, *, agent_id: str, commit: ports.TaskCommit, at: float) -> list[Task]:
        """A task's successful outcome, in one step: the worker's new results,
        the completed ones, the child tasks, the task COMPLETED; returns the
        tasks this made ready."""
        task = self._t.held_task(task_id, agent_id, _PROCESSING)
        self._check_commit(task, commit)
        change = Change(at)
        for result in commit.new_results:
            self._t.add_result(clone(result), change)
        for completion in commit.completions:
            self._t.complete_result(self._t.results[completion.result_id], completion, task_id, change)
        session = self._t.sessions[task.session_id]
        for child in commit.children:
            self._t.insert_task(clone(child), session, change)
        task.processed_at = at
        task.output_success = True
        self._t.set_task_status(task, TaskStatus.COMPLETED, change)
        self._publish(change.events)
        return [clone(t) for t in change.ready]

    async def fail_task(self, task_id: str, *, agent_id: str, status: TaskStatus, message: str, at: float) -> Task:
        """Definitive failure (ERROR, TIMEOUT, or CANCELLED after a cancel):
        outputs ABORTED, dependents ERROR."""
        task = self._t.tasks_of([task_id])[0]
        if task.status is not TaskStatus.CANCELLING:
            task = self._t.held_task(task_id, agent_id, HELD_BY_AGENT)
        change = Change(at)
        task.output_error = message
        task.processed_at = at
        self._t.set_task_status(task, status, change, message)
        self._t.abort_outputs(task, f"task {task_id} ended {status.name}", change)
        self._publish(change.events)
        return clone(task)

    async def retry_task(self, task_id: str, *, agent_id: str, message: str, at: float) -> Task:
        """The failed attempt becomes RETRIED and a new attempt
        ``{initial}###{n}`` takes over its outputs; returned for queuing."""
        old = self._t.held_task(task_id, agent_id, HELD_BY_AGENT)
        new_id = ids.retry_id(old.initial_task_id, len(old.retry_of_ids) + 1)
        if new_id in self._t.tasks:  # checked before any write: a raise leaves the attempt as it was
            raise errors.AlreadyExists(f"retry {new_id} already exists")
        change = Change(at)
        old.output_error = message
        self._t.set_task_status(old, TaskStatus.RETRIED, change, message)
        new = Task(
            task_id=new_id,
            session_id=old.session_id,
            status=TaskStatus.CREATING,
            options=clone(old.options),
            created_at=at,
            payload_id=old.payload_id,
            data_dependencies=list(old.data_dependencies),
            expected_output_ids=list(old.expected_output_ids),
            parent_task_ids=list(old.parent_task_ids),
            retry_of_ids=[*old.retry_of_ids, old.task_id],
            initial_task_id=old.initial_task_id,
            created_by=old.task_id,
        )
        self._t.insert_task(new, self._t.sessions[old.session_id], change)
        self._publish(change.events)
        return clone(new)

    async def release_task(self, task_id: str, *, agent_id: str, at: float) -> Task:
        """Back to SUBMITTED without using a retry (agent shutting down, or a
        lost agent that never started the task); returned for queuing."""
        task = self._t.held_task(task_id, agent_id, HELD_BY_AGENT)
        change = Change(at)
        task.owner_pod_id = task.pod_hostname = ""
        self._t.make_ready(task, change)
        self._publish(change.events)
        return clone(task)

    def _check_commit(self, task: Task, commit: ports.TaskCommit) -> None:
        new_ids = {r.result_id for r in commit.new_results}
        clashes = [r for r in new_ids if r in self._t.results]
        if clashes:
            raise errors.AlreadyExists(f"results already exist: {', '.join(clashes)}")
        existing = [c.result_id for c in commit.completions if c.result_id not in new_ids]
        for result in self._t.results_of(existing, task.session_id):
            if result.status is not ResultStatus.CREATED:
                raise errors.FailedPrecondition(f"result {result.result_id} is {result.status.name}, not CREATED")
        self._t.check_new_tasks(task.session_id, commit.children, commit.new_results)
