"""The agent's hot path on Redis: one function per step of a task.

A claim is one call (``pa_claim`` in ``lua/fn_agent.lua``: pop up to n
tasks, admit each, lease, acquire and start the first, return each task
with the records of its inputs and outputs and the data of its small
inputs), and each outcome is one call that writes it, stores the small
outputs, acks the lease and queues what it made ready: a task costs two
round trips, data included.

These functions span a partition queue and the sessions of its tasks, so
they need a single-primary Redis (see ``keys``). They are idempotent (a
finish sent again finds its outcome written; a claim sent again returns the
tasks its first run took), so redis-py may send one again after a broken
connection.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from pyarmonik.core import ids, models
from pyarmonik.core.models import Result, Task
from pyarmonik.core.statuses import ResultStatus, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import queue, records
from pyarmonik.storage.redis.library import Arg, Library, Reply, text

#: Most queue entries one claim examines per runnable task wanted: a backlog
#: of cancelled tasks is drained this many at a time, not one per call.
EXAMINED_PER_CLAIM = 8


class RedisDispatch:
    """``Dispatch`` on the Redis that holds both the queues and the state."""

    def __init__(self, redis: Redis, *, clock: Callable[[], float] = time.time) -> None:
        self._redis, self._clock = redis, clock
        self._library = Library.of(redis)

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
    ) -> list[ports.Claim]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        dropped: list[ports.Claim] = []  # entries settled without a run, reported with what comes next
        woken = False
        while True:
            at = self._clock()
            request = ports.NextClaim(partition_id, agent_id, hostname, lease_seconds, count, start_first)
            args, taken = _claim_args(request, at, woken=woken)
            reply = await self._library.call("pa_claim", [partition_id, *args], at=at)
            claims = taken.claims(reply, start_first=start_first)
            if any(c.admission is ports.Admission.RUN for c in claims):
                return dropped + claims
            dropped += claims
            remaining = deadline - loop.time()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return dropped
            if not claims:  # nothing ready: wait for a push
                woken = await queue.wait_for_push(self._redis, self._library, partition_id, remaining, stop=stop)
                if not woken:
                    return dropped

    async def start(self, task: Task, lease: ports.Lease, *, agent_id: str, at: float) -> Task | None:
        reply = await self._finish("pa_start", task, lease, agent_id, at)
        if text(reply[0]) != "run":
            return None
        started = models.clone(task)
        started.status = TaskStatus.PROCESSING
        started.started_at = started.fetched_at = at
        return started

    async def commit(
        self,
        task: Task,
        lease: ports.Lease | None,
        *,
        agent_id: str,
        commit: ports.TaskCommit,
        at: float,
        next_claim: ports.NextClaim | None = None,
    ) -> None:
        args: list[Arg] = [len(commit.new_results), len(commit.completions), len(commit.children)]
        for result in commit.new_results:
            args += records.result_item(result)
        for completion in commit.completions:
            args += records.completion_item(completion)
        for child in commit.children:
            args += records.task_item(child)
        if next_claim is None:
            await self._finish("pa_commit", task, lease, agent_id, at, args)
            return
        claim_args, taken = _claim_args(next_claim, at)
        reply = await self._finish("pa_commit", task, lease, agent_id, at, [*args, *claim_args])
        next_claim.claims = taken.claims(reply[2:], start_first=next_claim.start_first)

    async def fail(
        self, task: Task, lease: ports.Lease | None, *, agent_id: str, status: TaskStatus, message: str, at: float
    ) -> Task:
        reply = await self._finish("pa_fail", task, lease, agent_id, at, [int(status), message])
        return records.decode_task(task.task_id, task.session_id, records.as_fields(reply[1]))  # type: ignore[arg-type]

    async def retry(self, task: Task, lease: ports.Lease | None, *, agent_id: str, message: str, at: float) -> Task:
        new = next_attempt(task, at)
        reply = await self._finish("pa_retry", task, lease, agent_id, at, [message, *records.task_item(new)])
        return records.decode_task(new.task_id, task.session_id, records.as_fields(reply[1]))  # type: ignore[arg-type]

    async def release(self, task: Task, lease: ports.Lease | None, *, agent_id: str, at: float) -> Task:
        reply = await self._finish("pa_release", task, lease, agent_id, at)
        return records.decode_task(task.task_id, task.session_id, records.as_fields(reply[1]))  # type: ignore[arg-type]

    async def cancelled(self, task: Task, lease: ports.Lease | None, *, agent_id: str, at: float) -> None:
        await self._finish("pa_cancelled", task, lease, agent_id, at)

    async def _finish(
        self, name: str, task: Task, lease: ports.Lease | None, agent_id: str, at: float, args: Sequence[Arg] = ()
    ) -> Reply:
        # Only our own lease is ours to ack: '' acks none.
        partition = lease.partition_id if lease is not None and lease.agent_id == agent_id else ""
        return await self._library.call(name, [task.session_id, task.task_id, agent_id, partition, *args], at=at)


def _claim_args(request: ports.NextClaim, at: float, *, woken: bool = False) -> tuple[list[Arg], _Taken]:
    """The arguments of a claim (``claim_into`` in ``lua/fn_agent.lua``), and
    what reads its reply."""
    expires_at = at + request.lease_seconds
    args: list[Arg] = [
        request.agent_id,
        request.hostname,
        records.time_text(expires_at),
        request.count,
        "1" if request.start_first else "0",
        request.count * EXAMINED_PER_CLAIM,
        uuid.uuid4().hex,
        "1" if woken else "0",
    ]
    return args, _Taken(request.partition_id, request.agent_id, request.hostname, at, expires_at)


def next_attempt(task: Task, at: float) -> Task:
    """The attempt that follows a failed one (ArmoniK's retry): the same
    definition, a new id ``{initial_task_id}###{n}``, created by the failed one."""
    retry_of = [*task.retry_of_ids, task.task_id]
    return Task(
        task_id=ids.retry_id(task.initial_task_id, len(retry_of)),
        session_id=task.session_id,
        status=TaskStatus.CREATING,
        options=task.options,
        created_at=at,
        payload_id=task.payload_id,
        data_dependencies=list(task.data_dependencies),
        expected_output_ids=list(task.expected_output_ids),
        parent_task_ids=list(task.parent_task_ids),
        retry_of_ids=retry_of,
        initial_task_id=task.initial_task_id,
        created_by=task.task_id,
    )


@dataclass(frozen=True, slots=True)
class _Taken:
    """What one claim call was: the claims of its reply's items."""

    partition_id: str
    agent_id: str
    hostname: str
    at: float
    expires_at: float

    def claims(self, reply: Reply, *, start_first: bool) -> list[ports.Claim]:
        """The claims of a flat ``pa_claim`` reply (``lua/fn_agent.lua``)."""
        found: list[ports.Claim] = []
        at, started = 0, False
        while at < len(reply):
            admission, task_id, session_id = text(reply[at]), text(reply[at + 1]), text(reply[at + 2])
            if admission != ports.Admission.RUN.value:
                found.append(ports.Claim(ports.Admission(admission), task_id))
                at += 3
                continue
            spec, inputs, outputs, count = reply[at + 3], text(reply[at + 4]), text(reply[at + 5]), int(reply[at + 6])  # type: ignore[call-overload]
            records_at, at = at + 7, at + 7 + 5 * count
            # The first task run is PROCESSING when the claim starts it; the others wait DISPATCHED.
            status = TaskStatus.PROCESSING if start_first and not started else TaskStatus.DISPATCHED
            started = True
            task = records.task_from_spec(task_id, session_id, status, spec, inputs, outputs)  # type: ignore[arg-type]
            found.append(self._run(task, reply[records_at:at]))
        return found

    def _run(self, task: Task, inputs: Reply) -> ports.Claim:
        task.owner_pod_id, task.pod_hostname = self.agent_id, self.hostname
        task.acquired_at = task.received_at = self.at
        if task.status is TaskStatus.PROCESSING:
            task.started_at = task.fetched_at = self.at
        session_id = task.session_id
        # The outputs are results of the session by construction: known, CREATED.
        known = {o: Result(session_id, o, "", ResultStatus.CREATED, 0.0) for o in task.expected_output_ids}
        data: dict[str, bytes] = {}
        for i in range(0, len(inputs), 5):
            result_id, status, size, opaque, payload = inputs[i : i + 5]
            result_id = text(result_id)
            if status:
                known[result_id] = Result(session_id, result_id, "", ResultStatus(int(text(status))), 0.0,
                                          size=int(text(size)), opaque_id=opaque)  # type: ignore[arg-type]  # fmt: skip
            if payload is not None:
                data[result_id] = payload  # type: ignore[assignment]
        queued = ports.QueuedTask(task.task_id, session_id, task.options.priority)
        lease = ports.Lease(queued, self.partition_id, self.agent_id, self.expires_at)
        return ports.Claim(ports.Admission.RUN, task.task_id, lease, task, known, data)
