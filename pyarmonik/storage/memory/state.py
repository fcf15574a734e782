"""The embedded state store: every table in process memory.

Each method is one atomic transition: it never awaits between its checks
and its writes, so on one event loop no other call sees half of it, and a
method that raises has written nothing. Records handed out are copies; the
tables are never reachable from a caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pyarmonik.core import errors, filters, models
from pyarmonik.core.models import Application, Event, Partition, Result, Session, Task, clone
from pyarmonik.core.statuses import EventKind, ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.memory import transitions
from pyarmonik.storage.memory.events import MemoryEventBus
from pyarmonik.storage.memory.processing import MemoryProcessingTransitions


class MemoryStateStore(MemoryProcessingTransitions):
    def __init__(self, events: MemoryEventBus) -> None:
        self._events = events
        self._t = transitions.Tables()

    # -- partitions ---------------------------------------------------------
    async def put_partitions(self, partitions: Sequence[Partition]) -> None:
        for partition in partitions:
            self._t.partitions[partition.partition_id] = clone(partition)

    async def get_partition(self, partition_id: str) -> Partition:
        if partition_id not in self._t.partitions:
            raise errors.missing("partition", [partition_id])
        return clone(self._t.partitions[partition_id])

    async def list_partitions(self, *, query: filters.ListQuery) -> filters.Page[Partition]:
        return _copied(filters.apply(self._t.partitions.values(), query))

    async def delete_partition(self, partition_id: str) -> bool:
        return self._t.partitions.pop(partition_id, None) is not None

    # -- sessions -----------------------------------------------------------
    async def create_session(self, session: Session) -> None:
        if session.session_id in self._t.sessions:
            raise errors.AlreadyExists(f"session {session.session_id} already exists")
        self._t.sessions[session.session_id] = clone(session)
        self._t.session_tasks[session.session_id] = {}
        self._t.session_results[session.session_id] = {}

    async def get_session(self, session_id: str) -> Session:
        return clone(self._t.session(session_id))

    async def update_session(
        self,
        session_id: str,
        *,
        allowed_from: frozenset[SessionStatus],
        status: SessionStatus | None = None,
        client_submission: bool | None = None,
        worker_submission: bool | None = None,
        at: float,
    ) -> Session:
        session = self._t.session(session_id)
        if session.status not in allowed_from:
            target = status.name if status else "updated"
            raise errors.FailedPrecondition(f"session {session_id} is {session.status.name} and cannot be {target}")
        if status is not None:
            session.status = status
            if status in models.SESSION_STATUS_TIMES:
                setattr(session, models.SESSION_STATUS_TIMES[status], at)
        if client_submission is not None:
            session.client_submission = client_submission
        if worker_submission is not None:
            session.worker_submission = worker_submission
        return clone(session)

    async def list_sessions(self, *, query: filters.ListQuery) -> filters.Page[Session]:
        return _copied(filters.apply(self._t.sessions.values(), query))

    async def delete_session(self, session_id: str) -> None:
        self._t.session(session_id)
        self._t.forget_session(session_id)

    # -- results ------------------------------------------------------------
    async def create_results(self, results: Sequence[Result]) -> None:
        duplicates = [r.result_id for r in results if r.result_id in self._t.results]
        if duplicates:
            raise errors.AlreadyExists(f"results already exist: {', '.join(duplicates)}")
        for result in results:
            self._t.session(result.session_id)
        for result in results:
            self._t.add_result(clone(result))
        self._publish(Event(EventKind.NEW_RESULT, r.session_id, result=clone(r)) for r in results)

    async def get_results(self, result_ids: Sequence[str], *, session_id: str | None = None) -> list[Result]:
        return [clone(r) for r in self._t.results_of(result_ids, session_id)]

    async def list_results(self, *, query: filters.ListQuery) -> filters.Page[Result]:
        return _copied(filters.apply(self._t.scan_results(query.where), query))

    async def complete_results(
        self, session_id: str, completions: Sequence[ports.Completion], *, completed_by: str, at: float
    ) -> list[Task]:
        results = self._t.results_of([c.result_id for c in completions], session_id)
        not_created = [r.result_id for r in results if r.status is not ResultStatus.CREATED]
        if not_created:
            raise errors.FailedPrecondition(f"results are not waiting for data (not CREATED): {', '.join(not_created)}")
        change = transitions.Change(at)
        for result, completion in zip(results, completions):
            self._t.complete_result(result, completion, completed_by, change)
        self._publish(change.events)
        return [clone(t) for t in change.ready]

    async def delete_results_data(self, session_id: str, result_ids: Sequence[str], *, at: float) -> list[Result]:
        results = self._t.results_of(result_ids, session_id)
        change = transitions.Change(at)
        deleted = [r for r in results if not r.manual_deletion]
        for result in deleted:
            self._t.set_result_status(result, ResultStatus.DELETED, change)
        self._publish(change.events)
        return [clone(r) for r in deleted]

    async def session_results(self, session_id: str) -> list[Result]:
        self._t.session(session_id)
        return [clone(self._t.results[r]) for r in self._t.session_results[session_id]]

    async def owners_of(self, session_id: str, result_ids: Sequence[str]) -> dict[str, str]:
        return {r.result_id: r.owner_task_id for r in self._t.results_of(result_ids, session_id)}

    # -- tasks --------------------------------------------------------------
    async def create_tasks(self, session_id: str, tasks: Sequence[Task], *, at: float) -> list[Task]:
        session = self._t.session(session_id)
        self._t.check_new_tasks(session_id, tasks)
        change = transitions.Change(at)
        for task in tasks:
            self._t.insert_task(clone(task), session, change)
        self._publish(change.events)
        return [clone(t) for t in change.ready]

    async def get_tasks(self, task_ids: Sequence[str]) -> list[Task]:
        return [clone(t) for t in self._t.tasks_of(task_ids)]

    async def list_tasks(self, *, query: filters.ListQuery) -> filters.Page[Task]:
        return _copied(filters.apply(self._t.scan_tasks(query.where), query))

    async def count_tasks_by_status(self, *, where: filters.Filters) -> Mapping[TaskStatus, int]:
        counts: dict[TaskStatus, int] = {}
        match = filters.compile_filters(where)
        for task in self._t.scan_tasks(where):
            if match(task):
                counts[task.status] = counts.get(task.status, 0) + 1
        return counts

    async def status_counts(self) -> ports.StatusCounts:
        tasks, results = self._t.task_counts, self._t.result_counts
        return ports.StatusCounts(
            tasks={key: count for key, count in tasks.items() if count},
            results={status: count for status, count in results.items() if count},
        )

    async def list_applications(self, *, query: filters.ListQuery) -> filters.Page[Application]:
        return filters.apply(models.applications_of(self._t.tasks.values()), query)

    async def cancel_tasks(self, task_ids: Sequence[str], *, at: float, reason: str) -> list[Task]:
        tasks = self._t.tasks_of(task_ids)
        change = transitions.Change(at)
        self._t.cancel_tasks(tasks, reason, change)
        self._publish(change.events)
        return [clone(t) for t in tasks]

    async def cancel_session(self, session_id: str, *, at: float) -> None:
        self._t.session(session_id)
        change = transitions.Change(at)
        session_tasks = [self._t.tasks[t] for t in self._t.session_tasks[session_id]]
        self._t.cancel_tasks(session_tasks, "session cancelled", change)
        for result_id in self._t.session_results[session_id]:
            result = self._t.results[result_id]
            if result.status is ResultStatus.CREATED:
                self._t.set_result_status(result, ResultStatus.ABORTED, change)
        self._publish(change.events)

    async def pause_session_tasks(self, session_id: str, *, at: float) -> None:
        self._t.session(session_id)
        change = transitions.Change(at)
        for task in self._session_tasks_in(session_id, TaskStatus.SUBMITTED):
            self._t.set_task_status(task, TaskStatus.PAUSED, change)
        self._publish(change.events)

    async def resume_session_tasks(self, session_id: str, *, at: float) -> list[Task]:
        self._t.session(session_id)
        change = transitions.Change(at)
        resumed = self._session_tasks_in(session_id, TaskStatus.PAUSED)
        for task in resumed:
            self._t.set_task_status(task, TaskStatus.SUBMITTED, change)
        self._publish(change.events)
        return [clone(t) for t in resumed]

    # -- helpers ------------------------------------------------------------
    def _session_tasks_in(self, session_id: str, status: TaskStatus) -> list[Task]:
        tasks = (self._t.tasks[t] for t in self._t.session_tasks[session_id])
        return [t for t in tasks if t.status is status]

    def _publish(self, events: Iterable[Event]) -> None:
        batch = list(events)
        if batch:
            self._events.publish(batch)


def _copied(page: filters.Page[filters.T]) -> filters.Page[filters.T]:
    return filters.Page([clone(item) for item in page.items], page.total)
