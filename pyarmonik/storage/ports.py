"""The four storage ports of the grid.

Each port is a small protocol with use-case names. Adapters provide atomic
primitives; the decisions (what a failure means, what a cancel aborts) live
in ``pyarmonik.lifecycle`` and are shared by every adapter. Every adapter of
a port passes the same contract suite in ``tests/contract``.

The state store emits the events of each transition itself, so that a
Redis adapter can write state and events in one atomic script (the memory
one hands them to the ``MemoryEventBus`` it was built with); the event bus
port is therefore only where the lifecycle subscribes to them.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterable, AsyncIterator, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pyarmonik.core import filters
from pyarmonik.core.models import Application, Event, Partition, Result, Session, Task
from pyarmonik.core.statuses import EventKind, ResultStatus, SessionStatus, TaskStatus


@dataclass(frozen=True, slots=True)
class Completion:
    """Data of a result that is now stored: its object key and size."""

    result_id: str
    size: int
    opaque_id: bytes


@dataclass(frozen=True, slots=True)
class QueuedTask:
    """What a partition queue holds: enough to order and to find the task."""

    task_id: str
    session_id: str
    priority: int


@dataclass(frozen=True, slots=True)
class Lease:
    """A task popped by an agent. It returns to the queue unless acked in time."""

    item: QueuedTask
    partition_id: str
    agent_id: str
    expires_at: float
    #: Tells apart two leases of the same task by the same agent (popped,
    #: released, popped again); set by adapters that need it, ``""`` otherwise.
    token: str = ""


class Admission(enum.Enum):
    """What an agent does with a task it popped; logged and counted as such."""

    RUN = "run"
    GONE = "gone"  # deleted, already taken, already final: drop the message
    CANCELLED = "cancelled"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Claim:
    """A queue item an agent took, and what became of it. Only a RUN claim
    holds a lease and its task (DISPATCHED, or PROCESSING when started at
    once), with the records of its payload, data dependencies and expected
    outputs as they were when it was claimed (``inputs``, possibly empty)."""

    admission: Admission
    task_id: str
    lease: Lease | None = None
    task: Task | None = None
    inputs: Mapping[str, Result] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """How many tasks (by partition and status) and results (by status) the
    store holds, for metrics. Statuses without any record may be missing."""

    tasks: Mapping[tuple[str, TaskStatus], int]
    results: Mapping[ResultStatus, int]


@dataclass(frozen=True, slots=True)
class TaskCommit:
    """Everything a successful Process call produced, committed in one step."""

    new_results: Sequence[Result] = ()
    completions: Sequence[Completion] = ()
    children: Sequence[Task] = ()


class StateStore(Protocol):
    # -- partitions ---------------------------------------------------------
    async def put_partitions(self, partitions: Sequence[Partition]) -> None: ...

    async def get_partition(self, partition_id: str) -> Partition:
        """Raises ``errors.NotFound``."""
        ...

    async def list_partitions(self, *, query: filters.ListQuery) -> filters.Page[Partition]: ...

    async def delete_partition(self, partition_id: str) -> bool:
        """Forgets a partition (new submissions to it are refused); its queued
        tasks stay queued. ``False`` when it was not there."""
        ...

    # -- sessions -----------------------------------------------------------
    async def create_session(self, session: Session) -> None: ...

    async def get_session(self, session_id: str) -> Session:
        """Raises ``errors.NotFound``."""
        ...

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
        """Compare-and-set of a session's status and submission flags.

        Raises ``errors.NotFound`` for an unknown session and
        ``errors.FailedPrecondition`` when its status is not in
        ``allowed_from``; the timestamp matching ``status`` is set to ``at``.
        """
        ...

    async def list_sessions(self, *, query: filters.ListQuery) -> filters.Page[Session]: ...

    async def delete_session(self, session_id: str) -> None:
        """Removes the session and every task and result of it."""
        ...

    # -- results ------------------------------------------------------------
    async def create_results(self, results: Sequence[Result]) -> None: ...

    async def get_results(self, result_ids: Sequence[str], *, session_id: str | None = None) -> list[Result]:
        """Results in the order asked. Raises ``errors.NotFound`` naming every
        id that is missing (or belongs to another session when one is given)."""
        ...

    async def list_results(self, *, query: filters.ListQuery) -> filters.Page[Result]: ...

    async def complete_results(
        self, session_id: str, completions: Sequence[Completion], *, completed_by: str, at: float
    ) -> list[Task]:
        """Results CREATED -> COMPLETED with their data, atomically.

        Raises ``errors.FailedPrecondition`` (and changes nothing) when one is
        not CREATED. Returns the tasks that no longer wait on anything, already
        set SUBMITTED (PAUSED when the session is paused): the caller queues them.
        """
        ...

    async def delete_results_data(self, session_id: str, result_ids: Sequence[str], *, at: float) -> list[Result]:
        """Results -> DELETED, except ``manual_deletion`` ones, which are left
        as they are. Returns the results that were set DELETED."""
        ...

    # -- tasks --------------------------------------------------------------
    async def create_tasks(self, session_id: str, tasks: Sequence[Task], *, at: float) -> list[Task]:
        """Inserts a batch of tasks, atomically.

        Checks first, writing nothing on failure: every dependency (payload
        included) and expected output exists in the session (else
        ``NotFound``); no dependency is ABORTED/DELETED and no output is
        already COMPLETED/ABORTED/DELETED (else ``FailedPrecondition``).
        Outputs without an owner get their task as owner. Tasks are PENDING
        while waiting; the ready ones are returned SUBMITTED (PAUSED in a
        paused session) for the caller to queue.
        """
        ...

    async def get_tasks(self, task_ids: Sequence[str]) -> list[Task]:
        """Tasks in the order asked; ``errors.NotFound`` names missing ids."""
        ...

    async def list_tasks(self, *, query: filters.ListQuery) -> filters.Page[Task]: ...

    async def count_tasks_by_status(self, *, where: filters.Filters) -> Mapping[TaskStatus, int]: ...

    async def status_counts(self) -> StatusCounts:
        """Tasks by (partition, status) and results by status over the whole
        store, from counters the transitions keep: a scrape never reads the
        records, whatever their number."""
        ...

    async def cancel_tasks(self, task_ids: Sequence[str], *, at: float, reason: str) -> list[Task]:
        """Non-final tasks are cancelled: those an agent holds (DISPATCHED,
        PROCESSING) become CANCELLING, the others CANCELLED at once. Their
        CREATED outputs are ABORTED and the tasks waiting on those fail
        (ERROR), recursively. Returns the tasks as they are now."""
        ...

    async def cancel_session(self, session_id: str, *, at: float) -> None:
        """Every non-final task of the session cancelled as by ``cancel_tasks``
        and every CREATED result ABORTED."""
        ...

    async def session_results(self, session_id: str) -> list[Result]: ...

    async def owners_of(self, session_id: str, result_ids: Sequence[str]) -> dict[str, str]: ...

    async def list_applications(self, *, query: filters.ListQuery) -> filters.Page[Application]: ...

    async def pause_session_tasks(self, session_id: str, *, at: float) -> None:
        """SUBMITTED tasks of the session -> PAUSED."""
        ...

    async def resume_session_tasks(self, session_id: str, *, at: float) -> list[Task]:
        """PAUSED tasks of the session -> SUBMITTED; returned for queuing."""
        ...

    # -- agent side: every write checks the agent still holds the task -------
    async def acquire_task(self, task_id: str, *, agent_id: str, hostname: str, at: float) -> Task | None:
        """SUBMITTED -> DISPATCHED; ``None`` when the task is not SUBMITTED."""
        ...

    async def start_task(self, task_id: str, *, agent_id: str, at: float) -> Task: ...

    async def park_task(self, task_id: str, *, at: float) -> bool:
        """SUBMITTED -> PAUSED if its session is paused."""
        ...

    async def finish_cancellation(self, task_id: str, *, at: float) -> None: ...

    async def commit_task(self, task_id: str, *, agent_id: str, commit: TaskCommit, at: float) -> list[Task]:
        """Raises ``errors.FailedPrecondition`` when the agent no longer holds
        the task (a late agent); returns the tasks made ready."""
        ...

    async def fail_task(self, task_id: str, *, agent_id: str, status: TaskStatus, message: str, at: float) -> Task: ...

    async def retry_task(self, task_id: str, *, agent_id: str, message: str, at: float) -> Task: ...

    async def release_task(self, task_id: str, *, agent_id: str, at: float) -> Task: ...


class TaskQueue(Protocol):
    """Per-partition queues: higher priority first, FIFO inside a priority,
    at-least-once (a leased item comes back when its lease expires)."""

    async def push(self, partition_id: str, items: Sequence[QueuedTask]) -> None: ...

    async def pop(self, partition_id: str, *, agent_id: str, lease_seconds: float, timeout: float) -> Lease | None:
        """Waits up to ``timeout`` seconds for an item and leases it."""
        ...

    async def renew(self, lease: Lease, *, lease_seconds: float) -> Lease | None:
        """Extends a lease; ``None`` when it was lost (expired and reaped)."""
        ...

    async def ack(self, lease: Lease) -> bool:
        """Removes a leased item for good; ``False`` when the lease was lost."""
        ...

    async def release(self, lease: Lease) -> None:
        """Gives a leased item back to its queue at once."""
        ...

    async def reap_expired(self, *, now: float) -> list[Lease]:
        """Removes expired leases and returns them; the caller decides what
        becomes of their tasks (retry path)."""
        ...

    async def depth(self, partition_id: str) -> int:
        """Items ready in the partition (leased ones not counted)."""
        ...

    async def leased(self, partition_id: str) -> int:
        """Items of the partition leased to agents (taken, not yet acked,
        released or reaped): the tasks its agents are running. With
        ``depth``, the load an autoscaler sizes the partition for."""
        ...


class Dispatch(Protocol):
    """The agent's side of a task, each step one atomic transition of its
    queue item and its state together: a claim (pop, admission, lease,
    acquisition, start) and the finishes, each writing an outcome, acking
    the lease and queuing what the outcome made ready. ``lease`` is ``None``
    for a task whose lease is already gone (the reaper settling it); the
    store checks, as the ``StateStore``'s agent-side writes do, that
    ``agent_id`` still holds the task (``errors.NotHeld`` else)."""

    async def claim(
        self,
        partition_id: str,
        *,
        agent_id: str,
        hostname: str,
        lease_seconds: float,
        count: int,
        start_first: bool,
        timeout: float,
    ) -> list[Claim]:
        """Waits up to ``timeout`` seconds for ready items and takes up to
        ``count`` runnable tasks (each DISPATCHED, the first PROCESSING when
        ``start_first``); the items not run are settled and gone."""
        ...

    async def start(self, task: Task, lease: Lease, *, agent_id: str, at: float) -> Task | None:
        """DISPATCHED -> PROCESSING; ``None`` when it was cancelled meanwhile
        (then CANCELLED, its lease acked)."""
        ...

    async def commit(self, task: Task, lease: Lease | None, *, agent_id: str, commit: TaskCommit, at: float) -> None:
        """``StateStore.commit_task``, the lease acked and the tasks made ready queued."""
        ...

    async def fail(
        self, task: Task, lease: Lease | None, *, agent_id: str, status: TaskStatus, message: str, at: float
    ) -> Task:
        """``StateStore.fail_task`` and the lease acked."""
        ...

    async def retry(self, task: Task, lease: Lease | None, *, agent_id: str, message: str, at: float) -> Task:
        """``StateStore.retry_task``, the lease acked and the new attempt queued."""
        ...

    async def release(self, task: Task, lease: Lease | None, *, agent_id: str, at: float) -> Task:
        """``StateStore.release_task`` and the item back in its queue."""
        ...

    async def cancelled(self, task: Task, lease: Lease | None, *, agent_id: str, at: float) -> None:
        """``StateStore.finish_cancellation`` and the lease acked."""
        ...


class ObjectStore(Protocol):
    """Result data by key. Keys are opaque to callers (ArmoniK's opaque_id)."""

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> int:
        """Stores the streamed data under ``key``; returns its size."""
        ...

    async def put_bytes(self, key: str, data: bytes) -> int: ...

    async def put_all(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Stores each ``(key, data)``, in as few requests as the store allows
        (a submission of 500 payloads is one Redis round trip, not 500)."""
        ...

    async def put_file(self, key: str, path: Path) -> int:
        """Stores the content of the file at ``path``; returns its size. The
        file is the store's afterwards: it may be moved into place (a store on
        the same filesystem renames it instead of copying it)."""
        ...

    def get(self, key: str, *, chunk_size: int) -> AsyncIterator[bytes]:
        """Streams the data in chunks of at most ``chunk_size``; the iterator
        raises ``errors.NotFound`` when the key does not exist."""
        ...

    async def size(self, key: str) -> int | None:
        """Size of the object, ``None`` when it does not exist."""
        ...

    async def copy(self, source: str, target: str) -> int | None:
        """Stores a copy of the object ``source`` under the new key ``target``
        (inside the store: no byte goes through the caller); returns its size,
        ``None`` when ``source`` does not exist. Deleting either leaves the other."""
        ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Deletes objects; missing keys are ignored."""
        ...


class EventBus(Protocol):
    def subscribe(
        self, session_id: str, *, kinds: Collection[EventKind] | None = None, light: bool = False
    ) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Events of the session published from now on, until the context exits.

        Only those of ``kinds`` when given (an adapter drops the others before
        decoding them). With ``light``, the caller reads no more than the ids
        and statuses of status and owner updates: their records may be left
        with every other field at its default.
        """
        ...
