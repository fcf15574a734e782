"""The Redis state store: sessions, results and tasks shared by every replica.

Each transition is one function of the ``pyarmonik`` library (``library``,
``lua/fn_control.lua``) that checks, writes, queues what it made ready and
PUBLISHes its events atomically. Around them:

- calls whose records belong to several sessions (``create_results``,
  ``cancel_tasks``) run one function call per session;
- whole-session transitions (``cancel_session``, pause, resume, delete) run
  as several calls of at most ``RUN_LIMIT`` records: Redis serves no other
  client while a function runs, and a session may hold 1,000,000 tasks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from redis.asyncio import Redis

from pyarmonik.core import errors, filters, models
from pyarmonik.core.models import Application, Partition, Result, Session, Task
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage import ports
from pyarmonik.storage.redis import keys, records, state_lists, state_pages
from pyarmonik.storage.redis.library import Library, request_id, text
from pyarmonik.storage.redis.reads import Reads, session_tag

#: Most tasks (or results) one whole-session call changes: a few ms of
#: Redis time, so that other clients wait at most that long.
RUN_LIMIT = 1000
#: Most sessions whose cut-short follow-up one caller takes at once.
UNSETTLED_BATCH = 20


def _flag(value: bool | None) -> str:
    return "" if value is None else ("1" if value else "0")


class RedisStateStore(Reads):
    """``StateStore`` on one Redis."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(Library.of(redis))
        self._redis = redis

    # -- partitions ---------------------------------------------------------
    # A partition is its JSON record and its fair share's hash, which the
    # queue functions read (``records.fair_share_fields``): written together.
    async def put_partitions(self, partitions: Sequence[Partition]) -> None:
        if not partitions:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.PARTITIONS, mapping={p.partition_id: records.encode_partition(p) for p in partitions})
            for partition in partitions:
                fair = keys.FAIR(partition.partition_id)
                pipe.delete(fair)
                fields = records.fair_share_fields(partition.fair_share)
                if fields:
                    pipe.hset(fair, mapping={name: value for name, value in fields.items()})
            await pipe.execute()

    async def get_partition(self, partition_id: str) -> Partition:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(keys.PARTITIONS, partition_id)
            pipe.hgetall(keys.FAIR(partition_id))
            raw, fair = await pipe.execute()
        if raw is None:
            raise errors.missing("partition", [partition_id])
        return _with_fair_share(raw, fair)

    async def list_partitions(self, *, query: filters.ListQuery) -> filters.Page[Partition]:
        stored = await self._redis.hgetall(keys.PARTITIONS)
        async with self._redis.pipeline(transaction=False) as pipe:
            for partition_id in stored:
                pipe.hgetall(keys.FAIR(text(partition_id)))
            fair = await pipe.execute()
        return filters.apply(map(_with_fair_share, stored.values(), fair), query)

    async def delete_partition(self, partition_id: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.PARTITIONS, partition_id)
            pipe.delete(keys.FAIR(partition_id))
            deleted, _ = await pipe.execute()
        return bool(deleted)

    # -- sessions -----------------------------------------------------------
    async def create_session(self, session: Session) -> None:
        if not keys.is_taggable(session.session_id):
            raise errors.InvalidArgument(f"session id {session.session_id!r} may not contain braces")
        fields = records.session_fields(session)
        queue_fields = records.session_queue_fields(session)
        await self._library.call(
            "pa_create_session",
            [session.session_id, request_id(), *fields, records.time_text(session.created_at), *queue_fields],
        )

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
        follow_up: bool = False,
        at: float,
    ) -> Session:
        args = [
            session_tag(session_id),
            request_id(),
            ",".join(str(int(s)) for s in sorted(allowed_from)),
            "" if status is None else str(int(status)),
            models.SESSION_STATUS_TIMES.get(status, "") if status is not None else "",
            _flag(client_submission),
            _flag(worker_submission),
            "1" if follow_up else "",
        ]
        [flat] = await self._library.call("pa_update_session", args, at=at)
        return records.decode_session(session_id, records.as_fields(flat))  # type: ignore[arg-type]

    async def settled(self, session_id: str, *, since: float) -> None:
        await self._library.call("pa_settled", [session_id, records.time_text(since)])

    async def follow_up_pending(self, session_id: str) -> bool:
        return await self._redis.zscore(keys.SETTLING, session_id) is not None

    async def unsettled_sessions(self, *, started_before: float, at: float) -> list[str]:
        reply = await self._library.call("pa_unsettled", [records.time_text(started_before), UNSETTLED_BATCH], at=at)
        return [text(session_id) for session_id in reply]

    async def list_sessions(self, *, query: filters.ListQuery) -> filters.Page[Session]:
        ids = [text(s) for s in await self._redis.zrange(keys.SESSIONS, 0, -1)]
        return filters.apply(await self._sessions(ids), query)

    async def delete_session(self, session_id: str) -> None:
        session_tag(session_id)
        while True:
            [done] = await self._library.call("pa_delete_session", [session_id, RUN_LIMIT])
            if int(done):  # type: ignore[call-overload]
                return

    # -- results ------------------------------------------------------------
    async def create_results(self, results: Sequence[Result], *, data: Mapping[str, bytes] | None = None) -> None:
        """One call per session: atomic for the results of one session (the
        only case the services produce)."""
        data = data or {}
        by_session: dict[str, list[Result]] = {}
        for result in results:
            by_session.setdefault(result.session_id, []).append(result)
        for session_id, batch in by_session.items():
            args: list[str | bytes | int] = [session_tag(session_id), request_id(), len(batch)]
            for result in batch:
                args += records.result_item(result, data.get(result.result_id))
            await self._library.call("pa_create_results", args)

    async def get_results(self, result_ids: Sequence[str], *, session_id: str | None = None) -> list[Result]:
        return await self._results(result_ids, session_id)

    async def list_results(self, *, query: filters.ListQuery) -> filters.Page[Result]:
        indexed = await state_pages.results_page(self._redis, self._library, query)
        if indexed is not None:
            return indexed
        return filters.apply(await state_lists.scan_results(self._redis, self._library, query.where), query)

    async def result_data(self, session_id: str, result_id: str) -> ports.ResultData:
        if not keys.is_taggable(session_id):
            raise errors.missing("result", [result_id])
        status, size, opaque, data = await self._library.call("pa_read_data", [session_id, result_id])
        return ports.ResultData(ResultStatus(int(text(status))), int(text(size)), opaque, data)  # type: ignore[arg-type]

    async def complete_results(
        self, session_id: str, completions: Sequence[ports.Completion], *, completed_by: str, at: float
    ) -> int:
        args: list[str | bytes | int] = [session_tag(session_id), request_id(), completed_by]
        for completion in completions:
            args += records.completion_item(completion)
        [ready] = await self._library.call("pa_complete_results", args, at=at)
        return int(ready)  # type: ignore[call-overload]

    async def delete_results_data(self, session_id: str, result_ids: Sequence[str], *, at: float) -> dict[str, bytes]:
        reply = await self._library.call("pa_delete_results_data", [session_tag(session_id), *result_ids], at=at)
        return {text(r): o for r, o in zip(reply[::2], reply[1::2])}  # type: ignore[misc]

    async def session_results(self, session_id: str) -> list[Result]:
        await self._session(session_id)
        return await state_lists.scan_results(self._redis, self._library, filters.in_session(session_id))

    async def owners_of(self, session_id: str, result_ids: Sequence[str]) -> dict[str, str]:
        return {r.result_id: r.owner_task_id for r in await self._results(result_ids, session_id)}

    # -- tasks --------------------------------------------------------------
    async def create_tasks(self, session_id: str, tasks: Sequence[Task], *, at: float) -> list[Task]:
        args: list[str | bytes | int] = [session_tag(session_id), request_id(), len(tasks)]
        for task in tasks:
            args += records.task_item(task)
        statuses = await self._library.call("pa_create_tasks", args, at=at)
        created = []
        for task, status in zip(tasks, statuses):
            task = models.clone(task)
            task.status = TaskStatus(int(status))  # type: ignore[call-overload]
            if task.status is not TaskStatus.PENDING:
                task.submitted_at = at
            created.append(task)
        return created

    async def get_tasks(self, task_ids: Sequence[str]) -> list[Task]:
        return await self._tasks(task_ids)

    async def list_tasks(self, *, query: filters.ListQuery) -> filters.Page[Task]:
        if query.page_size == 0 and query.page >= 0:
            whole = await state_lists.whole_sessions(self._redis, query.where)
            if whole is not None:
                return filters.Page(total=await state_lists.total_tasks(self._redis, whole))
        indexed = await state_pages.tasks_page(self._redis, self._library, query)
        if indexed is not None:
            return indexed
        return filters.apply(await state_lists.scan_tasks(self._redis, self._library, query.where), query)

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
            for task in await state_lists.scan_tasks(self._redis, self._library, where):
                if match(task):
                    counts[task.status] = counts.get(task.status, 0) + 1
        except AttributeError as error:
            raise errors.InvalidArgument(f"filter names an unknown field: {error}") from error
        return counts

    async def status_counts(self) -> ports.StatusCounts:
        return await state_lists.status_counts(self._redis)

    async def list_applications(self, *, query: filters.ListQuery) -> filters.Page[Application]:
        """From the applications index the task functions keep (no task read)."""
        stored = await self._redis.hgetall(keys.APPLICATIONS)
        found = [Application(*text(k).split(records.APP_SEP)) for k, n in stored.items() if int(n) > 0]
        return filters.apply(found, query)

    async def cancel_tasks(self, task_ids: Sequence[str], *, at: float, reason: str) -> list[Task]:
        """One call per session: atomic for the tasks of one session."""
        found = await self._tasks(task_ids)
        by_session: dict[str, list[str]] = {}
        for task in found:
            by_session.setdefault(task.session_id, []).append(task.task_id)
        cancelled: dict[str, Task] = {}
        for session_id, batch in by_session.items():
            flats = await self._library.call("pa_cancel_tasks", [session_id, reason, *batch], at=at)
            for task_id, flat in zip(batch, flats):
                cancelled[task_id] = records.decode_task(task_id, session_id, records.as_fields(flat))  # type: ignore[arg-type]
        return [cancelled[t] for t in task_ids]

    async def cancel_session(self, session_id: str, *, at: float) -> None:
        """In three steps of short calls (a session may hold 1,000,000 tasks
        and Redis serves no one while a function runs): the session's queued
        work leaves the queues and every non-final task is cancelled, then
        the outputs of those tasks are aborted (their dependents ERROR), then
        every CREATED result ABORTED. Cancelling every task before aborting
        anything keeps ArmoniK's outcome: a task cancelled with its producer
        ends CANCELLED, not ERROR."""
        session_tag(session_id)
        cancelled: list[str] = []
        while True:
            examined, *ids = await self._library.call("pa_cancel_session_tasks", [session_id, RUN_LIMIT], at=at)
            cancelled += [text(i) for i in ids]
            if int(examined) < RUN_LIMIT:  # type: ignore[call-overload]
                break
        for start in range(0, len(cancelled), RUN_LIMIT):
            await self._library.call("pa_abort_outputs", [session_id, *cancelled[start : start + RUN_LIMIT]], at=at)
        while True:
            [examined] = await self._library.call("pa_abort_session_results", [session_id, RUN_LIMIT], at=at)
            if int(examined) < RUN_LIMIT:  # type: ignore[call-overload]
                break

    async def pause_session_tasks(self, session_id: str, *, at: float) -> None:
        await self._move_session_tasks(session_id, TaskStatus.SUBMITTED, TaskStatus.PAUSED, at)

    async def cancel_queued_tasks(self, session_id: str, *, at: float) -> None:
        session_tag(session_id)
        while True:
            [examined] = await self._library.call("pa_cancel_queued_tasks", [session_id, RUN_LIMIT], at=at)
            if int(examined) < RUN_LIMIT:  # type: ignore[call-overload]
                break

    async def resume_session_tasks(self, session_id: str, *, at: float) -> None:
        await self._move_session_tasks(session_id, TaskStatus.PAUSED, TaskStatus.SUBMITTED, at)

    async def _move_session_tasks(self, session_id: str, from_: TaskStatus, to: TaskStatus, at: float) -> None:
        """In short calls of at most ``RUN_LIMIT`` tasks each: the session's
        status changed first (``update_session``) is what agents check, so
        the tasks may follow in steps."""
        session_tag(session_id)
        # Bounded: a concurrent opposite move (pause racing resume) could
        # otherwise hand the same tasks back and forth for ever.
        runs = 2 + await self._redis.zcard(keys.TASK_IDS(session_id)) // RUN_LIMIT
        for _ in range(runs):
            examined, *_ = await self._library.call(
                "pa_move_session_tasks", [session_id, int(from_), int(to), RUN_LIMIT], at=at
            )
            if int(examined) < RUN_LIMIT:  # type: ignore[call-overload]
                break


def _with_fair_share(raw: str | bytes, fair: records.Fields) -> Partition:
    partition = records.decode_partition(raw)
    partition.fair_share = records.decode_fair_share(fair)
    return partition
