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

import asyncio
import enum
from collections.abc import AsyncIterable, AsyncIterator, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pyarmonik.core import filters
from pyarmonik.core.fairshare import KeyLoad
from pyarmonik.core.models import Application, Event, Partition, Result, Session, Task
from pyarmonik.core.statuses import EventKind, ResultStatus, SessionStatus, TaskStatus


@dataclass(frozen=True, slots=True)
class Completion:
    """Data of a result that is now stored: its object key and size, and
    ``data`` itself when it is small (``Grid.inline_limit``): then the state
    keeps it with the result's record and the object store never sees it."""

    result_id: str
    size: int
    opaque_id: bytes
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class QueuedTask:
    """What a partition queue holds: enough to order and to find the task."""

    task_id: str
    session_id: str
    priority: int


@dataclass(frozen=True, slots=True)
class Lease:
    """A task claimed by an agent. It returns to the queue unless its
    outcome is written (which acks it) or it is renewed in time."""

    item: QueuedTask
    partition_id: str
    agent_id: str
    expires_at: float


class LeaseState(enum.Enum):
    """What a renewal found of a lease."""

    HELD = "held"  # renewed
    CANCELLING = "cancelling"  # renewed, but the task was cancelled: stop it
    LOST = "lost"  # expired and reaped, or taken over: the task is not ours any more


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
    outputs as they were when it was claimed (``inputs``, possibly empty)
    and the data of those small enough to travel with them (``data``)."""

    admission: Admission
    task_id: str
    lease: Lease | None = None
    task: Task | None = None
    inputs: Mapping[str, Result] = field(default_factory=dict)
    data: Mapping[str, bytes] = field(default_factory=dict)


@dataclass
class NextClaim:
    """The agent's next claim, made in the same step as its commit (an agent
    that commits claims next: one round trip per task instead of two): what
    ``Dispatch.claim`` takes; the claims land in ``claims``."""

    partition_id: str
    agent_id: str
    hostname: str
    lease_seconds: float
    count: int = 1
    start_first: bool = True
    claims: list[Claim] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ResultData:
    """What a download needs of a result: its status and object, and its
    data when it came with them (``None``: read it from the object store)."""

    status: ResultStatus
    size: int
    opaque_id: bytes
    data: bytes | None = None


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
        follow_up: bool = False,
        at: float,
    ) -> Session:
        """Compare-and-set of a session's status and submission flags.

        Raises ``errors.NotFound`` for an unknown session and
        ``errors.FailedPrecondition`` when its status is not in
        ``allowed_from``; the timestamp matching ``status`` is set to ``at``.
        A session that stops running (any status but RUNNING) leaves the
        queues in the same step: no agent takes its tasks afterwards. With
        ``follow_up``, the change is unsettled (``unsettled_sessions``)
        until ``settled(session_id, since=at)``: the caller's steps on the
        session's tasks follow.
        """
        ...

    async def settled(self, session_id: str, *, since: float) -> None:
        """The follow-up of the session's change at ``since`` is done (a
        later change of the session stays unsettled)."""
        ...

    async def follow_up_pending(self, session_id: str) -> bool:
        """Whether a change of the session waits for its follow-up."""
        ...

    async def unsettled_sessions(self, *, started_before: float, at: float) -> list[str]:
        """Some sessions whose change, unsettled since before
        ``started_before``, was cut short (its control plane stopped): the
        caller takes them, as unsettled since ``at``, to finish them."""
        ...

    async def list_sessions(self, *, query: filters.ListQuery) -> filters.Page[Session]: ...

    async def delete_session(self, session_id: str) -> None:
        """Removes the session and every task and result of it."""
        ...

    # -- results ------------------------------------------------------------
    async def create_results(self, results: Sequence[Result], *, data: Mapping[str, bytes] | None = None) -> None:
        """Creates results; ``data`` (result id -> bytes) is the small data of
        COMPLETED ones, kept with their records (the others' data is in the
        object store already)."""
        ...

    async def get_results(self, result_ids: Sequence[str], *, session_id: str | None = None) -> list[Result]:
        """Results in the order asked. Raises ``errors.NotFound`` naming every
        id that is missing (or belongs to another session when one is given)."""
        ...

    async def list_results(self, *, query: filters.ListQuery) -> filters.Page[Result]: ...

    async def result_data(self, session_id: str, result_id: str) -> ResultData:
        """A result of the session (``errors.NotFound``) as a download needs
        it, with its data in the same read when it is small (kept with its
        record; else the object store has it)."""
        ...

    async def complete_results(
        self, session_id: str, completions: Sequence[Completion], *, completed_by: str, at: float
    ) -> int:
        """Results CREATED -> COMPLETED with their data, atomically.

        Raises ``errors.FailedPrecondition`` (and changes nothing) when one is
        not CREATED. The tasks that no longer wait on anything are made ready
        in the same step (SUBMITTED and queued, PAUSED when the session is
        paused); returns how many were queued.
        """
        ...

    async def delete_results_data(self, session_id: str, result_ids: Sequence[str], *, at: float) -> dict[str, bytes]:
        """Results -> DELETED, except ``manual_deletion`` ones, which are left
        as they are. Returns the object key of each result set DELETED."""
        ...

    # -- tasks --------------------------------------------------------------
    async def create_tasks(self, session_id: str, tasks: Sequence[Task], *, at: float) -> list[Task]:
        """Inserts a batch of tasks, atomically.

        Checks first, writing nothing on failure: every dependency (payload
        included) and expected output exists in the session (else
        ``NotFound``); no dependency is ABORTED/DELETED and no output is
        already COMPLETED/ABORTED/DELETED (else ``FailedPrecondition``).
        Outputs without an owner get their task as owner. Tasks are PENDING
        while waiting; the others are SUBMITTED and queued in the same step
        (PAUSED in a paused session). Returns the tasks as created.
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
        """SUBMITTED tasks of the session -> PAUSED (they left the queues when
        the session was paused: ``update_session``)."""
        ...

    async def cancel_queued_tasks(self, session_id: str, *, at: float) -> None:
        """The SUBMITTED tasks of a closed session (out of the queues since
        the close) cancelled, their outputs aborted: ArmoniK cancels them
        when they are dequeued."""
        ...

    async def resume_session_tasks(self, session_id: str, *, at: float) -> None:
        """PAUSED tasks of the session -> SUBMITTED, queued again."""
        ...


#: A reaped lease not settled by then (its reaper stopped, or lost Redis'
#: reply) is reaped again: longer than settling a batch ever takes, so that
#: two reapers seldom settle the same task (settling twice is harmless).
REAP_RETRY_SECONDS = 60.0


class TaskQueue(Protocol):
    """The upkeep of per-partition queues. Tasks enter them in the state's
    transitions that make them ready and leave them through ``Dispatch``
    (higher priority first, the fairness keys of one priority by weight,
    ``core.fair_queue``); a claimed
    task is leased: at-least-once, it comes back through ``reap_expired``
    if its agent stops renewing it."""

    async def renew(
        self, partition_id: str, *, agent_id: str, leases: Sequence[Lease], lease_seconds: float
    ) -> list[LeaseState]:
        """Extends the leases ``agent_id`` still holds, in one step; what
        became of each, in order."""
        ...

    async def reap_expired(self, *, now: float, retry_after: float = REAP_RETRY_SECONDS) -> list[Lease]:
        """Takes the leases expired by ``now`` from their agents (whose
        renewals then say LOST) and returns them; the caller decides what
        becomes of their tasks (retry path), then ``forget_reaped``. Those
        not forgotten within ``retry_after`` (a reaper that stopped, a reply
        lost) are returned again then: a task is never left without a lease."""
        ...

    async def forget_reaped(self, leases: Sequence[Lease]) -> None:
        """The reaped ``leases`` are settled: they are not returned again."""
        ...

    async def depth(self, partition_id: str) -> int:
        """Runnable tasks of the partition, what its agents could take now:
        SUBMITTED. Leased ones are not counted, nor those of a cancelled or
        paused session (the autoscaler sizes a partition on this and
        ``leased``; ``pyarmonik_queue_tasks{state="queued"}`` reports it)."""
        ...

    async def leased(self, partition_id: str) -> int:
        """Tasks of the partition leased to agents (claimed, outcome not
        written yet): the tasks its agents are running. With ``depth``, the
        load an autoscaler sizes the partition for."""
        ...

    async def key_loads(self, partition_id: str) -> list[KeyLoad]:
        """Queued and running tasks of every fairness key with either in the
        partition (keys of its fair share: sessions, applications or users),
        for metrics: a walk of its queued sessions, never a read of tasks."""
        ...


class Dispatch(Protocol):
    """The agent's side of a task, each step one atomic transition of its
    queue entry and its state together: a claim (pop, admission, lease,
    acquisition, start) and the finishes, each writing an outcome, acking
    the lease and queuing what the outcome made ready. ``lease`` is ``None``
    for a task whose lease is already gone (the reaper settling it). Every
    step checks that ``agent_id`` still holds the task (``errors.NotHeld``
    else: a late agent whose lease was reaped), and each is idempotent: sent
    again for the same agent, it finds its outcome written and succeeds."""

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
        stop: asyncio.Event | None = None,
    ) -> list[Claim]:
        """Waits up to ``timeout`` seconds for ready tasks and takes up to
        ``count`` runnable ones (each DISPATCHED, the first PROCESSING when
        ``start_first``); the entries not run are settled and gone. A wait
        (never a claim under way) ends at once when ``stop`` is set."""
        ...

    async def start(self, task: Task, lease: Lease, *, agent_id: str, at: float) -> Task | None:
        """DISPATCHED -> PROCESSING; ``None`` when it was cancelled meanwhile
        (then CANCELLED, its lease acked)."""
        ...

    async def commit(
        self,
        task: Task,
        lease: Lease | None,
        *,
        agent_id: str,
        commit: TaskCommit,
        at: float,
        next_claim: NextClaim | None = None,
    ) -> None:
        """A successful outcome: the worker's new results, the completed
        results (small data kept with them), the children, the task
        COMPLETED; the lease acked and the tasks made ready queued; then
        ``next_claim`` made, its claims in ``next_claim.claims`` (none
        waited for). ``errors`` exceptions (nothing written, nothing
        claimed) when the commit cannot be applied."""
        ...

    async def fail(
        self, task: Task, lease: Lease | None, *, agent_id: str, status: TaskStatus, message: str, at: float
    ) -> Task:
        """A definitive failure (ERROR, TIMEOUT, CANCELLED): the task's
        CREATED outputs ABORTED and their dependents ERROR; the lease acked."""
        ...

    async def retry(self, task: Task, lease: Lease | None, *, agent_id: str, message: str, at: float) -> Task:
        """The attempt RETRIED and the next one (``{initial_task_id}###{n}``)
        created with its outputs and queued; the lease acked."""
        ...

    async def release(self, task: Task, lease: Lease | None, *, agent_id: str, at: float) -> Task:
        """Back to SUBMITTED (PAUSED in a paused session) without using a
        retry, at the head of its queue; the lease acked."""
        ...

    async def cancelled(self, task: Task, lease: Lease | None, *, agent_id: str, at: float) -> None:
        """CANCELLING -> CANCELLED (the agent stopped it); the lease acked."""
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
