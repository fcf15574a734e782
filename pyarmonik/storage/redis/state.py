"""The Redis state store: sessions, results and tasks shared by every replica.

Each transition of one session is one Lua script (``state_scripts``) that
checks, writes and PUBLISHes its events atomically, on keys under the
session's hash tag. What a script cannot do is done around scripts:

- the global indexes (task/result id -> session, the session registry) live
  in no session's slot: written before the script that creates the records,
  removed after the one that deletes them (``state_reads``);
- calls whose records belong to several sessions (``create_results``,
  ``cancel_tasks``) run one script per session;
- whole-session transitions (``cancel_session``, pause, resume) run as
  several scripts of at most ``RUN_LIMIT`` tasks: Redis serves no other
  client while a script runs, and a session may hold 100,000 tasks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from redis.asyncio import Redis

from pyarmonik.core import errors, filters, models
from pyarmonik.core.models import Application, Partition, Result, Session, Task
from pyarmonik.core.statuses import SessionStatus, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import keys, records, state_lists, state_pages
from pyarmonik.storage.redis.state_processing import RedisProcessingTransitions
from pyarmonik.storage.redis.state_scripts import session_keys, text

#: Most tasks (or results) one whole-session script changes: about 50 ms of
#: Redis time, so that other clients wait at most that long.
RUN_LIMIT = 1000


def _flag(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _completions(completions: Sequence[ports.Completion]) -> str:
    return json.dumps([[c.result_id, c.size, c.opaque_id.hex()] for c in completions])


def _tasks(replies: Sequence[object]) -> list[Task]:
    return [records.decode_task(r) for r in replies]  # type: ignore[arg-type]


def _by(query: filters.ListQuery, field: str) -> bool:
    return query.sort is not None and query.sort.field == field and query.page >= 0 and query.page_size >= 0


class RedisStateStore(RedisProcessingTransitions):
    """``StateStore`` on one Redis (or Redis Cluster: sessions never span slots)."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis)

    # -- partitions ---------------------------------------------------------
    async def put_partitions(self, partitions: Sequence[Partition]) -> None:
        if partitions:
            await self._redis.hset(
                keys.PARTITIONS, mapping={p.partition_id: records.encode_partition(p) for p in partitions}
            )

    async def get_partition(self, partition_id: str) -> Partition:
        raw = await self._redis.hget(keys.PARTITIONS, partition_id)
        if raw is None:
            raise errors.missing("partition", [partition_id])
        return records.decode_partition(raw)

    async def list_partitions(self, *, query: filters.ListQuery) -> filters.Page[Partition]:
        stored = await self._redis.hvals(keys.PARTITIONS)
        return filters.apply(map(records.decode_partition, stored), query)

    async def delete_partition(self, partition_id: str) -> bool:
        return bool(await self._redis.hdel(keys.PARTITIONS, partition_id))

    # -- sessions -----------------------------------------------------------
    async def create_session(self, session: Session) -> None:
        if not keys.is_taggable(session.session_id):
            raise errors.InvalidArgument(f"session id {session.session_id!r} may not contain braces")
        added = await self._redis.zadd(keys.SESSIONS, {session.session_id: session.created_at}, nx=True)
        try:
            await self._scripts.run("create_session", session.session_id, session.created_at,
                                    [records.encode_session(session)])  # fmt: skip
        except errors.AlreadyExists:
            raise  # the registry entry is the existing session's
        except BaseException:
            if added:
                await self._redis.zrem(keys.SESSIONS, session.session_id)
            raise

    async def get_session(self, session_id: str) -> Session:
        return await self._session(session_id)

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
        args = [
            json.dumps(sorted(int(s) for s in allowed_from)),
            "" if status is None else int(status),
            models.SESSION_STATUS_TIMES.get(status, "") if status is not None else "",
            _flag(client_submission),
            _flag(worker_submission),
        ]
        [raw] = await self._scripts.run("update_session", session_id, at, args)
        return records.decode_session(raw)  # type: ignore[arg-type]

    async def list_sessions(self, *, query: filters.ListQuery) -> filters.Page[Session]:
        return filters.apply(await state_lists.scan_sessions(self._redis), query)

    async def delete_session(self, session_id: str) -> None:
        task_ids, result_ids = await self._scripts.run("delete_session", session_id, 0.0)
        await self._release_claims(keys.TASK_SESSIONS, [text(t) for t in task_ids])  # type: ignore[attr-defined]
        await self._release_claims(keys.RESULT_SESSIONS, [text(r) for r in result_ids])  # type: ignore[attr-defined]
        await self._redis.zrem(keys.SESSIONS, session_id)

    # -- results ------------------------------------------------------------
    async def create_results(self, results: Sequence[Result]) -> None:
        """One script per session: atomic for the results of one session (the
        only case the services produce)."""
        by_session: dict[str, list[Result]] = {}
        for result in results:
            by_session.setdefault(result.session_id, []).append(result)
        for session_id in by_session:
            await self._session(session_id)
        for session_id, batch in by_session.items():
            await self._create_session_results(session_id, batch)

    async def _create_session_results(self, session_id: str, batch: Sequence[Result]) -> None:
        ids = [r.result_id for r in batch]
        claimed, foreign = await self._claim(keys.RESULT_SESSIONS, session_id, ids)
        try:
            if foreign:
                raise errors.AlreadyExists(f"results already exist: {', '.join(foreign)}")
            args = [part for r in batch for part in (r.result_id, int(r.status), records.encode_result(r))]
            await self._scripts.run("create_results", session_id, 0.0, args)
        except BaseException:
            await self._release_claims(keys.RESULT_SESSIONS, claimed)
            raise

    async def get_results(self, result_ids: Sequence[str], *, session_id: str | None = None) -> list[Result]:
        return await self._results(result_ids, session_id)

    async def list_results(self, *, query: filters.ListQuery) -> filters.Page[Result]:
        indexed = await state_pages.results_page(self._redis, query)
        if indexed is not None:
            return filters.Page([records.result_from_fields(r) for r in indexed[0]], indexed[1])
        session_id = state_lists.one_whole_session(query.where)
        if session_id is not None and _by(query, "result_id"):
            found, total = await state_lists.id_sorted_page(self._redis, session_keys(session_id).results, query)
            return filters.Page([records.result_from_fields(r) for r in found], total)
        return filters.apply(await state_lists.scan_results(self._redis, query.where), query)

    async def complete_results(
        self, session_id: str, completions: Sequence[ports.Completion], *, completed_by: str, at: float
    ) -> list[Task]:
        args = [completed_by, _completions(completions)]
        return _tasks(await self._scripts.run("complete_results", session_id, at, args))

    async def delete_results_data(self, session_id: str, result_ids: Sequence[str], *, at: float) -> list[Result]:
        replies = await self._scripts.run("delete_results_data", session_id, at, [json.dumps(list(result_ids))])
        return [records.decode_result(r) for r in replies]  # type: ignore[arg-type]

    async def session_results(self, session_id: str) -> list[Result]:
        await self._session(session_id)
        return await state_lists.scan_results(self._redis, filters.in_session(session_id))

    async def owners_of(self, session_id: str, result_ids: Sequence[str]) -> dict[str, str]:
        return {r.result_id: r.owner_task_id for r in await self._results(result_ids, session_id)}

    # -- tasks --------------------------------------------------------------
    async def create_tasks(self, session_id: str, tasks: Sequence[Task], *, at: float) -> list[Task]:
        session_keys(session_id)  # NotFound before any index entry for an impossible session id
        claimed, foreign = await self._claim(keys.TASK_SESSIONS, session_id, [t.task_id for t in tasks])
        try:
            if foreign:
                raise errors.AlreadyExists(f"tasks already exist: {', '.join(foreign)}")
            encoded = [records.encode_task(t) for t in tasks]
            return _tasks(await self._scripts.run("create_tasks", session_id, at, encoded))
        except BaseException:
            await self._release_claims(keys.TASK_SESSIONS, claimed)
            raise

    async def get_tasks(self, task_ids: Sequence[str]) -> list[Task]:
        return await self._tasks(task_ids)

    async def list_tasks(self, *, query: filters.ListQuery) -> filters.Page[Task]:
        if query.page_size == 0 and query.page >= 0:
            whole = await state_lists.whole_sessions(self._redis, query.where)
            if whole is not None:
                return filters.Page(total=await state_lists.total_tasks(self._redis, whole))
        indexed = await state_pages.tasks_page(self._redis, query)
        if indexed is not None:
            return filters.Page([records.task_from_fields(t) for t in indexed[0]], indexed[1])
        return filters.apply(await state_lists.scan_tasks(self._redis, query.where), query)

    async def count_tasks_by_status(self, *, where: filters.Filters) -> Mapping[TaskStatus, int]:
        """From the status indexes when ``where`` selects whole sessions
        (the common case: a session's progress) or adds only status EQs to
        its session pins, else from the records."""
        whole = await state_lists.whole_sessions(self._redis, where)
        if whole is not None:
            return await state_lists.count_by_status(self._redis, whole)
        indexed = await state_pages.count_by_status(self._redis, where)
        if indexed is not None:
            return indexed
        counts: dict[TaskStatus, int] = {}
        match = filters.compile_filters(where)
        try:
            for task in await state_lists.scan_tasks(self._redis, where):
                if match(task):
                    counts[task.status] = counts.get(task.status, 0) + 1
        except AttributeError as error:
            raise errors.InvalidArgument(f"filter names an unknown field: {error}") from error
        return counts

    async def status_counts(self) -> ports.StatusCounts:
        return await state_lists.status_counts(self._redis)

    async def list_applications(self, *, query: filters.ListQuery) -> filters.Page[Application]:
        tasks = await state_lists.scan_tasks(self._redis, filters.EVERYTHING)
        return filters.apply(models.applications_of(tasks), query)

    async def cancel_tasks(self, task_ids: Sequence[str], *, at: float, reason: str) -> list[Task]:
        """One script per session: atomic for the tasks of one session."""
        sessions = await self._sessions_of(keys.TASK_SESSIONS, task_ids)
        missing = [t for t, s in zip(task_ids, sessions) if s is None]
        if missing:
            raise errors.missing("task", missing)
        by_session: dict[str, list[str]] = {}
        for task_id, session_id in zip(task_ids, sessions):
            by_session.setdefault(session_id, []).append(task_id)  # type: ignore[arg-type]
        cancelled: dict[str, Task] = {}
        for session_id, batch in by_session.items():
            replies = await self._scripts.run("cancel_tasks", session_id, at, [reason, json.dumps(batch)])
            cancelled.update((t.task_id, t) for t in _tasks(replies))
        return [cancelled[t] for t in task_ids]

    async def cancel_session(self, session_id: str, *, at: float) -> None:
        """In three steps of short scripts (a session may hold 100,000 tasks
        and Redis serves no one while a script runs): every non-final task
        cancelled, then the outputs of those tasks aborted (their dependents
        ERROR), then every CREATED result ABORTED. Cancelling every task before
        aborting anything keeps ArmoniK's outcome: a task cancelled with its
        producer ends CANCELLED, not ERROR."""
        cancelled: list[str] = []
        while True:
            examined, *ids = await self._scripts.run("cancel_session_tasks", session_id, at, [RUN_LIMIT])
            cancelled += [text(i) for i in ids]
            if int(examined) < RUN_LIMIT:  # type: ignore[call-overload]
                break
        for start in range(0, len(cancelled), RUN_LIMIT):
            batch = json.dumps(cancelled[start : start + RUN_LIMIT])
            await self._scripts.run("abort_outputs", session_id, at, [batch])
        while True:
            [examined] = await self._scripts.run("abort_session_results", session_id, at, [RUN_LIMIT])
            if int(examined) < RUN_LIMIT:  # type: ignore[call-overload]
                break

    async def pause_session_tasks(self, session_id: str, *, at: float) -> None:
        await self._move_session_tasks(session_id, TaskStatus.SUBMITTED, TaskStatus.PAUSED, at)

    async def resume_session_tasks(self, session_id: str, *, at: float) -> list[Task]:
        return await self._move_session_tasks(session_id, TaskStatus.PAUSED, TaskStatus.SUBMITTED, at)

    async def _move_session_tasks(self, session_id: str, from_: TaskStatus, to: TaskStatus, at: float) -> list[Task]:
        """In short scripts of at most ``RUN_LIMIT`` tasks each: the session's
        status changed first (``update_session``) is what agents check, so
        the tasks may follow in steps."""
        moved: list[Task] = []
        # Bounded: a concurrent opposite move (pause racing resume) could
        # otherwise hand the same tasks back and forth for ever.
        runs = 2 + await self._redis.hlen(session_keys(session_id).tasks) // RUN_LIMIT
        for _ in range(runs):
            examined, *replies = await self._scripts.run("move_session_tasks", session_id, at, [from_, to, RUN_LIMIT])
            moved += _tasks(replies)
            if int(examined) < RUN_LIMIT:  # type: ignore[call-overload]
                break
        return moved
