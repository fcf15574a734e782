"""The tables of the embedded state store and the writes that change them.

Separated from ``state`` so that the store's methods read as use cases and
the graph bookkeeping (who waits on which result, what a failure aborts) is
in one place. Every write records its events in a ``Change`` that the store
publishes once the whole transition is done.

Every change of a task's or a result's status goes through
``insert_task``/``set_task_status`` and ``add_result``/``set_result_status``
(and ``forget_session``), which keep ``task_counts`` and ``result_counts``:
metrics read those instead of scanning the tables.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pyarmonik.core import errors, filters
from pyarmonik.core.models import Event, Partition, Result, Session, Task, clone
from pyarmonik.core.statuses import EventKind, ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage import ports

_UNUSABLE_DEPENDENCY = frozenset({ResultStatus.ABORTED, ResultStatus.DELETED})
_WAITING = frozenset({TaskStatus.CREATING, TaskStatus.PENDING})
HELD_BY_AGENT = frozenset({TaskStatus.DISPATCHED, TaskStatus.PROCESSING})


@dataclass
class Change:
    """What one transition did: its events, and the tasks it made ready."""

    at: float
    events: list[Event] = field(default_factory=list)
    ready: list[Task] = field(default_factory=list)


@dataclass
class Tables:
    sessions: dict[str, Session] = field(default_factory=dict)
    partitions: dict[str, Partition] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    results: dict[str, Result] = field(default_factory=dict)
    # Insertion-ordered sets (dict keys) of each session's ids.
    session_tasks: dict[str, dict[str, None]] = field(default_factory=dict)
    session_results: dict[str, dict[str, None]] = field(default_factory=dict)
    # Dependency graph: result -> tasks waiting on it; task -> results it still needs.
    waiting: dict[str, set[str]] = field(default_factory=dict)
    remaining: dict[str, set[str]] = field(default_factory=dict)
    # Records by (partition, status) and by status, kept by every write.
    task_counts: Counter[tuple[str, TaskStatus]] = field(default_factory=Counter)
    result_counts: Counter[ResultStatus] = field(default_factory=Counter)

    # -- reads --------------------------------------------------------------
    def session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise errors.missing("session", [session_id])
        return session

    def results_of(self, result_ids: Sequence[str], session_id: str | None) -> list[Result]:
        found = [self.results.get(r) for r in result_ids]
        missing = [
            rid
            for rid, r in zip(result_ids, found)
            if r is None or (session_id is not None and r.session_id != session_id)
        ]
        if missing:
            raise errors.missing("result", missing)
        return [r for r in found if r is not None]

    def tasks_of(self, task_ids: Sequence[str]) -> list[Task]:
        found = [self.tasks.get(t) for t in task_ids]
        missing = [tid for tid, t in zip(task_ids, found) if t is None]
        if missing:
            raise errors.missing("task", missing)
        return [t for t in found if t is not None]

    def scan_tasks(self, where: filters.Filters) -> Iterator[Task]:
        sessions = filters.session_ids_in(where)
        if sessions is None:
            yield from self.tasks.values()
            return
        for session_id in sorted(sessions):
            for task_id in self.session_tasks.get(session_id, ()):
                yield self.tasks[task_id]

    def scan_results(self, where: filters.Filters) -> Iterator[Result]:
        sessions = filters.session_ids_in(where)
        if sessions is None:
            yield from self.results.values()
            return
        for session_id in sorted(sessions):
            for result_id in self.session_results.get(session_id, ()):
                yield self.results[result_id]

    # -- checks -------------------------------------------------------------
    def check_new_tasks(self, session_id: str, tasks: Sequence[Task], pending: Sequence[Result] = ()) -> None:
        """Raises before any write when a batch of tasks cannot be created.

        ``pending`` are results about to be created in the same transition.
        """
        duplicates = [t.task_id for t in tasks if t.task_id in self.tasks]
        if duplicates:
            raise errors.AlreadyExists(f"tasks already exist: {', '.join(duplicates)}")
        known = {r.result_id for r in pending}
        dependencies = self.results_of(list({d for t in tasks for d in t.dependencies} - known), session_id)
        unusable = [r.result_id for r in dependencies if r.status in _UNUSABLE_DEPENDENCY]
        if unusable:
            raise errors.FailedPrecondition(f"dependencies are aborted or deleted: {', '.join(sorted(unusable))}")
        outputs = self.results_of(list({o for t in tasks for o in t.expected_output_ids} - known), session_id)
        done = [r.result_id for r in outputs if r.status is not ResultStatus.CREATED]
        if done:
            raise errors.FailedPrecondition(
                f"expected outputs are already completed, aborted or deleted: {', '.join(sorted(done))}"
            )

    # -- writes -------------------------------------------------------------
    def add_result(self, result: Result, change: Change | None = None) -> None:
        self.results[result.result_id] = result
        self.session_results[result.session_id][result.result_id] = None
        self.result_counts[result.status] += 1
        if change is not None:
            change.events.append(Event(EventKind.NEW_RESULT, result.session_id, result=clone(result)))

    def held_task(self, task_id: str, agent_id: str, statuses: frozenset[TaskStatus]) -> Task:
        """The task, if ``agent_id`` still holds it in one of ``statuses``.

        This is what refuses a late agent: once its lease was reaped the task
        was retried (or released) and the agent's writes are rejected.
        """
        [task] = self.tasks_of([task_id])
        if task.owner_pod_id != agent_id or task.status not in statuses:
            raise errors.NotHeld(
                f"task {task_id} is {task.status.name} and held by {task.owner_pod_id or 'no agent'}, "
                f"not by agent {agent_id}"
            )
        return task

    def insert_task(self, task: Task, session: Session, change: Change) -> None:
        self.tasks[task.task_id] = task
        self.session_tasks[task.session_id][task.task_id] = None
        for output_id in task.expected_output_ids:
            output = self.results[output_id]
            if output.owner_task_id in ("", task.created_by):
                self.set_owner(output, task.task_id, change)
        remaining = {d for d in task.dependencies if self.results[d].status is not ResultStatus.COMPLETED}
        if remaining:
            task.status = TaskStatus.PENDING
            self.remaining[task.task_id] = remaining
            for result_id in remaining:
                self.waiting.setdefault(result_id, set()).add(task.task_id)
        else:
            # A new task is announced once, by NEW_TASK with its first status.
            self._make_ready(task, session, change, announce=False)
        self.task_counts[(task.options.partition_id, task.status)] += 1
        change.events.append(Event(EventKind.NEW_TASK, task.session_id, task=clone(task)))

    def set_owner(self, result: Result, owner_task_id: str, change: Change) -> None:
        previous = result.owner_task_id
        if previous == owner_task_id:
            return
        result.owner_task_id = owner_task_id
        change.events.append(
            Event(
                EventKind.RESULT_OWNER_UPDATE,
                result.session_id,
                result=clone(result),
                previous_owner_id=previous,
                current_owner_id=owner_task_id,
            )
        )

    def complete_result(self, result: Result, completion: ports.Completion, by: str, change: Change) -> None:
        result.size = completion.size
        result.opaque_id = completion.opaque_id
        result.completed_at = change.at
        result.created_by = result.created_by or by
        self.set_result_status(result, ResultStatus.COMPLETED, change)
        session = self.sessions[result.session_id]
        for task_id in sorted(self.waiting.pop(result.result_id, ())):
            remaining = self.remaining.get(task_id)
            if remaining is None:
                continue
            remaining.discard(result.result_id)
            if not remaining:
                del self.remaining[task_id]
                task = self.tasks[task_id]
                if task.status in _WAITING:
                    self._make_ready(task, session, change)

    def set_result_status(self, result: Result, status: ResultStatus, change: Change) -> None:
        if result.status is status:
            return
        self.result_counts[result.status] -= 1
        self.result_counts[status] += 1
        result.status = status
        change.events.append(Event(EventKind.RESULT_STATUS_UPDATE, result.session_id, result=clone(result)))

    def set_task_status(self, task: Task, status: TaskStatus, change: Change, message: str = "") -> None:
        if task.status is status:
            return
        self.task_counts[(task.options.partition_id, task.status)] -= 1
        self.task_counts[(task.options.partition_id, status)] += 1
        task.status = status
        if message:
            task.status_message = message
        if status is TaskStatus.SUBMITTED:
            task.submitted_at = change.at
        if status.is_final:
            task.ended_at = change.at
            self._forget_dependencies(task.task_id)
        change.events.append(Event(EventKind.TASK_STATUS_UPDATE, task.session_id, task=clone(task)))

    def cancel_tasks(self, tasks: Sequence[Task], reason: str, change: Change) -> None:
        """Cancels every non-final task first, then aborts their outputs, so a
        task cancelled together with its producer ends CANCELLED, whatever
        the order the tasks are visited in."""
        cancelled = [t for t in tasks if not t.status.is_final and t.status is not TaskStatus.CANCELLING]
        for task in cancelled:
            target = TaskStatus.CANCELLING if task.status in HELD_BY_AGENT else TaskStatus.CANCELLED
            self.set_task_status(task, target, change, reason)
        for task in cancelled:
            self.abort_outputs(task, f"task {task.task_id} was cancelled", change)

    def abort_outputs(self, task: Task, reason: str, change: Change) -> None:
        """ArmoniK's definitive failure: the CREATED outputs a task owns are
        ABORTED and the tasks waiting on them fail, recursively."""
        stack = [task]
        while stack:
            current = stack.pop()
            for output_id in current.expected_output_ids:
                output = self.results[output_id]
                if output.owner_task_id != current.task_id or output.status is not ResultStatus.CREATED:
                    continue
                self.set_result_status(output, ResultStatus.ABORTED, change)
                for waiter_id in sorted(self.waiting.pop(output_id, ())):
                    waiter = self.tasks[waiter_id]
                    if waiter.status in _WAITING:
                        self.set_task_status(
                            waiter, TaskStatus.ERROR, change, f"{reason}: dependency {output_id} aborted"
                        )
                        stack.append(waiter)

    def forget_session(self, session_id: str) -> None:
        """Removes a session with its tasks and results."""
        for task_id in self.session_tasks.pop(session_id):
            task = self.tasks.pop(task_id)
            self.task_counts[(task.options.partition_id, task.status)] -= 1
            self.remaining.pop(task_id, None)
        for result_id in self.session_results.pop(session_id):
            self.result_counts[self.results.pop(result_id).status] -= 1
            self.waiting.pop(result_id, None)
        del self.sessions[session_id]

    def make_ready(self, task: Task, change: Change) -> None:
        self._make_ready(task, self.sessions[task.session_id], change)

    # -- internals ----------------------------------------------------------
    def _make_ready(self, task: Task, session: Session, change: Change, *, announce: bool = True) -> None:
        status = TaskStatus.PAUSED if session.status is SessionStatus.PAUSED else TaskStatus.SUBMITTED
        if announce:
            self.set_task_status(task, status, change)
        else:
            task.status = status
            task.submitted_at = change.at
        if status is TaskStatus.SUBMITTED:
            change.ready.append(task)

    def _forget_dependencies(self, task_id: str) -> None:
        for result_id in self.remaining.pop(task_id, ()):
            waiters = self.waiting.get(result_id)
            if waiters is not None:
                waiters.discard(task_id)
