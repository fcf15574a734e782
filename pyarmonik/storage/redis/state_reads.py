"""Reads of the Redis state store, and the global indexes it keeps.

A task or result id alone does not say which session (hence which hash tag)
holds it: the global hashes ``keys.TASK_SESSIONS``/``keys.RESULT_SESSIONS``
do. They live outside every session's slot, so no script can write them;
``claim`` writes entries before the script that creates their records and
``release_claims`` removes them after a refusal or a deletion. An entry
without its record therefore reads as NotFound, never as a record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from redis.asyncio import Redis

from pyarmonik.core import errors
from pyarmonik.core.models import Result, Session, Task
from pyarmonik.storage.redis import keys, records
from pyarmonik.storage.redis.state_scripts import StateScripts, session_keys, text

R = TypeVar("R")
#: Most fields per HMGET/HDEL/HSETNX round trip.
CHUNK = 1000


def _chunks(items: Sequence[R]) -> Iterable[Sequence[R]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class StateReads:
    """Base of ``RedisStateStore``: the client, the scripts, the reads."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._scripts = StateScripts(redis)

    # -- global indexes ----------------------------------------------------------
    async def _sessions_of(self, index: str, ids: Sequence[str]) -> list[str | None]:
        """The session of each id in ``index`` (``None`` when unknown)."""
        found: list[str | None] = []
        for chunk in _chunks(ids):
            found += [None if s is None else text(s) for s in await self._redis.hmget(index, list(chunk))]
        return found

    async def _claim(self, index: str, session_id: str, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Points the unclaimed ``ids`` at ``session_id`` (HSETNX); returns
        (the ids claimed now, the ids already claimed by another session)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for id_ in ids:
                pipe.hsetnx(index, id_, session_id)
            claimed = await pipe.execute()
        taken = [i for i, new in zip(ids, claimed) if not new]
        owners = await self._sessions_of(index, taken) if taken else []
        foreign = [i for i, owner in zip(taken, owners) if owner is not None and owner != session_id]
        return [i for i, new in zip(ids, claimed) if new], foreign

    async def _release_claims(self, index: str, ids: Sequence[str]) -> None:
        for chunk in _chunks(list(ids)):
            await self._redis.hdel(index, *chunk)

    #: The same index writes for ``dispatch``, around its own scripts.
    claim_ids = _claim
    release_ids = _release_claims

    # -- records -----------------------------------------------------------------
    async def _records(
        self, index: str, field: Callable[[keys.SessionKeys], str], ids: Sequence[str], session_id: str | None
    ) -> tuple[list[bytes | str | None], list[str]]:
        """The raw records of ``ids`` in the order asked (``None`` where
        missing, or in another session than ``session_id`` when given) and
        the missing ids."""
        if session_id is not None:  # an id that cannot be a hash tag names no session: all missing
            sessions: list[str | None] = [session_id if keys.is_taggable(session_id) else None] * len(ids)
        else:
            sessions = await self._sessions_of(index, ids)
        by_session: dict[str, list[int]] = {}
        for position, owner in enumerate(sessions):
            if owner is not None:
                by_session.setdefault(owner, []).append(position)
        raw: list[bytes | str | None] = [None] * len(ids)
        async with self._redis.pipeline(transaction=False) as pipe:
            for owner, positions in by_session.items():
                pipe.hmget(field(session_keys(owner)), [ids[p] for p in positions])
            replies = await pipe.execute()
        for positions, values in zip(by_session.values(), replies):
            for position, value in zip(positions, values):
                raw[position] = value
        return raw, [i for i, value in zip(ids, raw) if value is None]

    async def _tasks(self, task_ids: Sequence[str]) -> list[Task]:
        raw, missing = await self._records(keys.TASK_SESSIONS, _tasks_key, task_ids, None)
        if missing:
            raise errors.missing("task", missing)
        return [records.decode_task(r) for r in raw if r is not None]

    async def _results(self, result_ids: Sequence[str], session_id: str | None) -> list[Result]:
        raw, missing = await self._records(keys.RESULT_SESSIONS, _results_key, result_ids, session_id)
        if missing:
            raise errors.missing("result", missing)
        return [records.decode_result(r) for r in raw if r is not None]

    async def _session(self, session_id: str) -> Session:
        raw = await self._redis.get(session_keys(session_id).record)
        if raw is None:
            raise errors.missing("session", [session_id])
        return records.decode_session(raw)

    async def _session_task_id(self, task_id: str) -> str | None:
        owner = await self._redis.hget(keys.TASK_SESSIONS, task_id)
        return None if owner is None else text(owner)


def _tasks_key(session: keys.SessionKeys) -> str:
    return session.tasks


def _results_key(session: keys.SessionKeys) -> str:
    return session.results
