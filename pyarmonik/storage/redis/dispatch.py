"""The agent's hot path on Redis: one script per step of a task.

An agent used to make about fifteen round trips per task (pop, reads,
acquire, start, commit, push, ack, each with its index look-ups). Here a
claim is one script (``lua/dispatch_claim.lua``: pop up to n items, admit
each, lease, acquire and start the first, return the task with the records
of its inputs, so that fetching them reads no metadata), and each outcome is
one script that writes it, acks the lease and queues what it made ready
(``lua/dispatch_<outcome>.lua``): a task that needs no retry costs two round
trips besides its data.

These scripts span a partition queue and the sessions of its tasks, so they
need a single-primary Redis (see ``keys``). Each is ``scripts.replayable``:
a call redis-py sends again after a broken connection is applied once.
At-least-once holds as in the queue: a claimed item stays leased until the
script writing its outcome acks it; an item not run (dropped, cancelled,
parked) leaves the queue in the very script that writes why.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections.abc import Callable, Sequence

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from pyarmonik.core import errors, ids
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import keys, queue, records, scripts, state_reads, state_scripts

DISPATCH_SCRIPTS = ("claim", "start", "commit", "fail", "retry", "release", "cancelled")
#: The prelude of a dispatch script: the state scripts', then dispatch_lib.
PRELUDE = (*state_scripts.PRELUDE, "dispatch_lib")
#: Most queue items one claim examines per runnable task wanted: a backlog
#: of cancelled tasks is drained this many at a time, not one per call.
EXAMINED_PER_CLAIM = 8


@functools.cache
def source(name: str) -> str:
    prelude = "\n".join(scripts.source(part) for part in PRELUDE)
    return scripts.replayable(scripts.source(f"dispatch_{name}"), prelude=prelude)


class RedisDispatch:
    """``Dispatch`` on the Redis that holds both the queues and the state."""

    def __init__(self, redis: Redis, *, clock: Callable[[], float] = time.time) -> None:
        self._redis, self._clock = redis, clock
        self._scripts: dict[str, AsyncScript] = {n: redis.register_script(source(n)) for n in DISPATCH_SCRIPTS}
        self._queue = queue.RedisTaskQueue(redis, clock=clock)
        self._index = state_reads.StateReads(redis)

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
    ) -> list[ports.Claim]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        dropped: list[ports.Claim] = []  # items settled without a run, reported with what comes next
        while True:
            expires_at = self._clock() + lease_seconds
            reply = await self._run(
                "claim",
                partition_id,
                agent_id,
                [
                    partition_id,
                    queue.time_text(expires_at),
                    count,
                    "1" if start_first else "0",
                    count * EXAMINED_PER_CLAIM,
                    hostname,
                    uuid.uuid4().hex,
                ],
            )
            claims = _claims(reply, partition_id, agent_id, expires_at)
            if any(c.admission is ports.Admission.RUN for c in claims):
                return dropped + claims
            dropped += claims
            remaining = deadline - loop.time()
            if remaining <= 0:
                return dropped
            if not claims:  # nothing ready: wait for a push
                await self._queue.wait_for_push(partition_id, remaining)

    async def start(self, task: Task, lease: ports.Lease, *, agent_id: str, at: float) -> Task | None:
        reply = await self._finish("start", task, lease, agent_id, at)
        return records.decode_task(reply[1]) if _text(reply[0]) == "run" else None  # type: ignore[arg-type]

    async def commit(
        self, task: Task, lease: ports.Lease | None, *, agent_id: str, commit: ports.TaskCommit, at: float
    ) -> None:
        claimed_results, claimed_tasks = await self._index_new(task.session_id, commit)
        try:
            completions = json.dumps([[c.result_id, c.size, c.opaque_id.hex()] for c in commit.completions])
            args: list[state_scripts.Arg] = [
                len(commit.new_results),
                completions,
                *map(records.encode_result, commit.new_results),
                *map(records.encode_task, commit.children),
            ]
            await self._finish("commit", task, lease, agent_id, at, args)
        except BaseException:
            await self._index.release_ids(keys.RESULT_SESSIONS, claimed_results)
            await self._index.release_ids(keys.TASK_SESSIONS, claimed_tasks)
            raise

    async def fail(
        self, task: Task, lease: ports.Lease | None, *, agent_id: str, status: TaskStatus, message: str, at: float
    ) -> Task:
        reply = await self._finish("fail", task, lease, agent_id, at, [int(status), message])
        return records.decode_task(reply[1])  # type: ignore[arg-type]

    async def retry(self, task: Task, lease: ports.Lease | None, *, agent_id: str, message: str, at: float) -> Task:
        new_id = ids.retry_id(task.initial_task_id, len(task.retry_of_ids) + 1)
        claimed, foreign = await self._index.claim_ids(keys.TASK_SESSIONS, task.session_id, [new_id])
        try:
            if foreign:
                raise errors.AlreadyExists(f"retry {new_id} already exists")
            reply = await self._finish("retry", task, lease, agent_id, at, [message, new_id])
        except BaseException:
            await self._index.release_ids(keys.TASK_SESSIONS, claimed)
            raise
        return records.decode_task(reply[1])  # type: ignore[arg-type]

    async def release(self, task: Task, lease: ports.Lease | None, *, agent_id: str, at: float) -> Task:
        reply = await self._finish("release", task, lease, agent_id, at)
        return records.decode_task(reply[1])  # type: ignore[arg-type]

    async def cancelled(self, task: Task, lease: ports.Lease | None, *, agent_id: str, at: float) -> None:
        await self._finish("cancelled", task, lease, agent_id, at)

    # -- internals ----------------------------------------------------------
    async def _index_new(self, session_id: str, commit: ports.TaskCommit) -> tuple[list[str], list[str]]:
        """The global index entries of the worker's new results and children,
        written before the script creates them (as ``commit_task`` does);
        no round trip for a commit that creates nothing."""
        claimed_results: list[str] = []
        claimed_tasks: list[str] = []
        try:
            if commit.new_results:
                claimed_results, foreign = await self._index.claim_ids(
                    keys.RESULT_SESSIONS, session_id, [r.result_id for r in commit.new_results]
                )
                if foreign:
                    raise errors.AlreadyExists(f"results already exist: {', '.join(foreign)}")
            if commit.children:
                claimed_tasks, foreign = await self._index.claim_ids(
                    keys.TASK_SESSIONS, session_id, [c.task_id for c in commit.children]
                )
                if foreign:
                    raise errors.AlreadyExists(f"tasks already exist: {', '.join(foreign)}")
        except BaseException:
            await self._index.release_ids(keys.RESULT_SESSIONS, claimed_results)
            await self._index.release_ids(keys.TASK_SESSIONS, claimed_tasks)
            raise
        return claimed_results, claimed_tasks

    async def _finish(
        self,
        name: str,
        task: Task,
        lease: ports.Lease | None,
        agent_id: str,
        at: float,
        args: Sequence[state_scripts.Arg] = (),
    ) -> state_scripts.Reply:
        partition = lease.partition_id if lease is not None else task.options.partition_id
        token = lease.token if lease is not None else ""
        if lease is not None and lease.agent_id != agent_id:
            token = ""  # another agent's lease is not ours to ack
        return await self._run(
            name, partition, agent_id, [task.session_id, task.task_id, partition, token, *args], at=at
        )

    async def _run(
        self, name: str, partition_id: str, agent_id: str, args: Sequence[state_scripts.Arg], *, at: float | None = None
    ) -> state_scripts.Reply:
        plain = [str(int(a)) if isinstance(a, int) else a for a in args]
        when = self._clock() if at is None else at
        reply_key = scripts.request_key(keys.queue(partition_id).replies)
        reply = await self._scripts[name](
            keys=[reply_key], args=[keys.PREFIX, repr(float(when)), agent_id, queue.WAKE_TOKENS, *plain]
        )
        if _text(reply[0]) != "OK":
            raise state_scripts.error(reply)
        return list(reply[1:])


def _claims(reply: state_scripts.Reply, partition_id: str, agent_id: str, expires_at: float) -> list[ports.Claim]:
    claims: list[ports.Claim] = []
    at = 0
    while at < len(reply):
        admission, task_id, token, task_json = (_text(r) for r in reply[at : at + 4])
        count = int(reply[at + 4])  # type: ignore[call-overload]
        inputs = [records.decode_result(r) for r in reply[at + 5 : at + 5 + count]]  # type: ignore[arg-type]
        at += 5 + count
        if admission != ports.Admission.RUN.value:
            claims.append(ports.Claim(ports.Admission(admission), task_id))
            continue
        task = records.decode_task(task_json)
        item = ports.QueuedTask(task.task_id, task.session_id, task.options.priority)
        lease = ports.Lease(item, partition_id, agent_id, expires_at, token)
        claims.append(ports.Claim(ports.Admission.RUN, task_id, lease, task, {r.result_id: r for r in inputs}))
    return claims


def _text(value: object) -> str:
    return state_scripts.text(value)
