"""Reads of records by id, in one round trip each (``pa_get``).

A task or result id alone does not say which session (hence which hash
tag) holds it: the global hashes ``keys.TASK_SESSIONS`` and
``keys.RESULT_SESSIONS`` do, written by the functions that create and
delete the records. ``pa_get`` looks the sessions up and reads the records
in Redis, so that reading 1,000 records is one call, not 1,000 pipelined
commands for Python to build and parse.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from pyarmonik.core import errors
from pyarmonik.core.models import Result, Session, Task
from pyarmonik.storage.redis import keys, records
from pyarmonik.storage.redis.library import Library, text

R = TypeVar("R")
#: Most records one ``pa_get`` call reads (Redis serves no one else meanwhile).
CHUNK = 1000


def chunks(items: Sequence[R]) -> Iterable[Sequence[R]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def session_tag(session_id: str) -> str:
    """``session_id`` if it can name a session, else NotFound (an id with
    braces would move the hash tag: no session has one)."""
    if not keys.is_taggable(session_id):
        raise errors.missing("session", [session_id])
    return session_id


class Reads:
    """Records by id; the base of the state store."""

    def __init__(self, library: Library) -> None:
        self._library = library

    async def _raw(self, kind: str, ids: Sequence[str], session_id: str) -> list[tuple[str, list[object]]]:
        """(session, flat record) of each id, in order; ('', []) when missing."""
        found: list[tuple[str, list[object]]] = []
        for chunk in chunks(ids):
            reply = await self._library.call("pa_get", [kind, session_id, *chunk])
            found += [(text(s), r) for s, r in zip(reply[::2], reply[1::2])]  # type: ignore[misc]
        return found

    async def _tasks(self, task_ids: Sequence[str], session_id: str = "") -> list[Task]:
        if session_id:
            session_tag(session_id)
        found, missing = [], []
        for task_id, (session, flat) in zip(task_ids, await self._raw("t", task_ids, session_id)):
            if not flat:
                missing.append(task_id)
            else:
                found.append(records.decode_task(task_id, session, records.as_fields(flat)))
        if missing:
            raise errors.missing("task", missing)
        return found

    async def _results(self, result_ids: Sequence[str], session_id: str | None) -> list[Result]:
        if session_id is not None and not keys.is_taggable(session_id):
            raise errors.missing("result", list(result_ids))
        found, missing = [], []
        for result_id, (session, values) in zip(result_ids, await self._raw("r", result_ids, session_id or "")):
            if not values:
                missing.append(result_id)
            else:
                found.append(records.decode_result(result_id, session, records.result_fields(values)))
        if missing:
            raise errors.missing("result", missing)
        return found

    async def _sessions(self, session_ids: Sequence[str]) -> list[Session]:
        """The sessions that exist among ``session_ids``, in order."""
        wanted = [s for s in session_ids if keys.is_taggable(s)]
        return [
            records.decode_session(session_id, records.as_fields(flat))
            for session_id, (_, flat) in zip(wanted, await self._raw("s", wanted, ""))
            if flat
        ]

    async def _session(self, session_id: str) -> Session:
        found = await self._sessions([session_id])
        if not found:
            raise errors.missing("session", [session_id])
        return found[0]


async def session_tasks(library: Library, session_id: str, task_ids: Sequence[object]) -> list[Task]:
    """The tasks of one session among ``task_ids`` (index members, bytes or
    text), in order; one gone meanwhile is left out."""
    ids = [text(i) for i in task_ids]
    found: list[Task] = []
    for chunk in chunks(ids):
        reply = await library.call("pa_get", ["t", session_id, *chunk])
        found += [
            records.decode_task(task_id, session_id, records.as_fields(flat))  # type: ignore[arg-type]
            for task_id, flat in zip(chunk, reply[1::2])
            if flat
        ]
    return found


async def session_results(library: Library, session_id: str, result_ids: Sequence[object]) -> list[Result]:
    """The results of one session among ``result_ids``, in order."""
    ids = [text(i) for i in result_ids]
    found: list[Result] = []
    for chunk in chunks(ids):
        reply = await library.call("pa_get", ["r", session_id, *chunk])
        found += [
            records.decode_result(result_id, session_id, records.result_fields(values))  # type: ignore[arg-type]
            for result_id, values in zip(chunk, reply[1::2])
            if values
        ]
    return found
