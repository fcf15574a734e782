"""Agent-side transitions of the Redis state store.

A task is held by one agent from acquisition to its outcome; every script
here checks, atomically with its writes, that the caller still holds it
(``held_task`` in ``lua/state_lib_graph.lua``), so an agent whose lease was reaped
can never commit or fail a task twice. The agent names a task by id alone:
its session comes from the global task index first.
"""

from __future__ import annotations

import json

from pyarmonik.core import errors, ids
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import keys, records
from pyarmonik.storage.redis.state_reads import StateReads
from pyarmonik.storage.redis.state_scripts import Reply


def _task(reply: Reply) -> Task:
    return records.decode_task(reply[0])  # type: ignore[arg-type]


class RedisProcessingTransitions(StateReads):
    async def _session_of(self, task_id: str) -> str:
        session_id = await self._session_task_id(task_id)
        if session_id is None:
            raise errors.missing("task", [task_id])
        return session_id

    async def acquire_task(self, task_id: str, *, agent_id: str, hostname: str, at: float) -> Task | None:
        """SUBMITTED -> DISPATCHED for ``agent_id``; ``None`` when the task is
        in any other status (already taken, cancelled, paused, ...)."""
        session_id = await self._session_task_id(task_id)
        if session_id is None:
            return None
        reply = await self._scripts.run("acquire_task", session_id, at, [task_id, agent_id, hostname])
        return _task(reply) if reply else None

    async def start_task(self, task_id: str, *, agent_id: str, at: float) -> Task:
        session_id = await self._session_of(task_id)
        return _task(await self._scripts.run("start_task", session_id, at, [task_id, agent_id]))

    async def park_task(self, task_id: str, *, at: float) -> bool:
        """SUBMITTED -> PAUSED, only while its session is paused."""
        session_id = await self._session_task_id(task_id)
        if session_id is None:
            return False
        [parked] = await self._scripts.run("park_task", session_id, at, [task_id])
        return int(parked) == 1  # type: ignore[call-overload]

    async def finish_cancellation(self, task_id: str, *, at: float) -> None:
        """CANCELLING -> CANCELLED once no agent runs the task any more."""
        session_id = await self._session_task_id(task_id)
        if session_id is not None:
            await self._scripts.run("finish_cancellation", session_id, at, [task_id])

    async def commit_task(self, task_id: str, *, agent_id: str, commit: ports.TaskCommit, at: float) -> list[Task]:
        """The worker's new results, the completed ones, the child tasks and
        the task COMPLETED, in one script; returns the tasks made ready."""
        session_id = await self._session_of(task_id)
        result_ids = [r.result_id for r in commit.new_results]
        claimed_results, foreign_results = await self._claim(keys.RESULT_SESSIONS, session_id, result_ids)
        claimed_tasks, foreign_tasks = await self._claim(
            keys.TASK_SESSIONS, session_id, [c.task_id for c in commit.children]
        )
        try:
            if foreign_results:
                raise errors.AlreadyExists(f"results already exist: {', '.join(foreign_results)}")
            if foreign_tasks:
                raise errors.AlreadyExists(f"tasks already exist: {', '.join(foreign_tasks)}")
            completions = json.dumps([[c.result_id, c.size, c.opaque_id.hex()] for c in commit.completions])
            args: list[str | int] = [
                task_id,
                agent_id,
                len(commit.new_results),
                completions,
                *map(records.encode_result, commit.new_results),
                *map(records.encode_task, commit.children),
            ]
            replies = await self._scripts.run("commit_task", session_id, at, args)
        except BaseException:
            await self._release_claims(keys.RESULT_SESSIONS, claimed_results)
            await self._release_claims(keys.TASK_SESSIONS, claimed_tasks)
            raise
        return [records.decode_task(r) for r in replies]  # type: ignore[arg-type]

    async def fail_task(self, task_id: str, *, agent_id: str, status: TaskStatus, message: str, at: float) -> Task:
        """Definitive failure (ERROR, TIMEOUT, or CANCELLED after a cancel):
        outputs ABORTED, dependents ERROR."""
        session_id = await self._session_of(task_id)
        args: list[str | int] = [task_id, agent_id, int(status), message]
        return _task(await self._scripts.run("fail_task", session_id, at, args))

    async def retry_task(self, task_id: str, *, agent_id: str, message: str, at: float) -> Task:
        """The failed attempt becomes RETRIED and a new attempt
        ``{initial}###{n}`` takes over its outputs; returned for queuing.

        The new id is indexed before the script creates the task; the script
        refuses (and the entry is dropped) if the attempt changed meanwhile."""
        [old] = await self._tasks([task_id])
        new_id = ids.retry_id(old.initial_task_id, len(old.retry_of_ids) + 1)
        claimed, foreign = await self._claim(keys.TASK_SESSIONS, old.session_id, [new_id])
        try:
            if foreign:
                raise errors.AlreadyExists(f"retry {new_id} already exists")
            args = [task_id, agent_id, message, new_id]
            return _task(await self._scripts.run("retry_task", old.session_id, at, args))
        except BaseException:
            await self._release_claims(keys.TASK_SESSIONS, claimed)
            raise

    async def release_task(self, task_id: str, *, agent_id: str, at: float) -> Task:
        """Back to SUBMITTED without using a retry (agent shutting down, or a
        lost agent that never started the task); returned for queuing."""
        session_id = await self._session_of(task_id)
        return _task(await self._scripts.run("release_task", session_id, at, [task_id, agent_id]))
