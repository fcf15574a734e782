"""Session isolation: a caller reaches only the sessions it owns.

``IsolatedState`` wraps the control plane's state store (when
authentication is on): every client use case reaches sessions, tasks and
results through the store, so checking there covers them all without code
in any servicer or use case. A session records its creator
(``Session.owner``); a caller whose roles grant ``identity.ALL_SESSIONS``
reaches every session, as does code outside a client call (``current()``
is ``None``: the agents and the reaper never go through this wrapper anyway).

Someone else's session, task or result is NOT_FOUND, exactly like an id
that does not exist, and lists are cut to the caller's sessions: ids of
other users never leak, not even their existence.

A session's owner never changes, so owners are cached by session id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyarmonik.core import errors, filters, identity, models
from pyarmonik.core.models import Application, Result, Session, Task
from pyarmonik.core.statuses import SessionStatus, TaskStatus
from pyarmonik.storage import ports

_CACHE_SIZE = 100_000
_ALL = 1 << 62  # a page size that takes every matching record
#: Methods that hold no session data (partitions): passed through as they are.
_PASS_THROUGH = frozenset({"put_partitions", "get_partition", "list_partitions", "delete_partition"})


def _restricted_caller() -> identity.Identity | None:
    """The caller if its reach is limited to its own sessions."""
    caller = identity.current()
    return None if caller is None or caller.sees_every_session else caller


def restrict(where: filters.Filters, owned: frozenset[str]) -> filters.Filters:
    """``where`` cut to the sessions ``owned``.

    A clause that pins sessions the caller owns is kept as it is (stores
    keep their fast paths for "the tasks of session S"), one pinning none of
    them is dropped, any other gets "and in one of ``owned``"."""
    clauses: list[filters.Clause] = []
    for clause in where or ((),):
        pinned = filters.clause_session_ids(clause)
        if pinned is not None and pinned <= owned:
            clauses.append(clause)
        elif pinned is None or pinned & owned:
            clauses.append((*clause, filters.in_sessions(owned if pinned is None else pinned & owned)))
    return tuple(clauses) or ((filters.in_sessions(frozenset()),),)


class IsolatedState:
    """A ``ports.StateStore`` that shows each caller its own sessions only."""

    def __init__(self, inner: ports.StateStore) -> None:
        self._inner = inner
        self._owners: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        if name in _PASS_THROUGH:
            return getattr(self._inner, name)
        raise AttributeError(f"{type(self).__name__} does not pass {name!r} through unchecked")

    # -- checks -------------------------------------------------------------
    async def _owner(self, session_id: str) -> str | None:
        """The session's owner; ``None`` when the session does not exist."""
        if session_id not in self._owners:
            try:
                session = await self._inner.get_session(session_id)
            except errors.NotFound:
                return None
            if len(self._owners) >= _CACHE_SIZE:
                self._owners.clear()
            self._owners[session_id] = session.owner
        return self._owners[session_id]

    async def _foreign(self, session_ids: Sequence[str]) -> set[str]:
        """The sessions among ``session_ids`` the caller may not reach."""
        caller = _restricted_caller()
        if caller is None:
            return set()
        return {s for s in set(session_ids) if await self._owner(s) != caller.username}

    async def _check_session(self, session_id: str) -> None:
        if await self._foreign([session_id]):
            raise errors.missing("session", [session_id])

    async def _owned(self, where: filters.Filters) -> frozenset[str]:
        """The caller's sessions ``where`` may match."""
        caller = _restricted_caller()
        assert caller is not None
        pinned = filters.session_ids_in(where)
        if pinned is not None:
            return frozenset(pinned - await self._foreign(sorted(pinned)))
        mine = ((filters.Condition("owner", filters.ValueKind.STRING, filters.Op.EQ, caller.username),),)
        page = await self._inner.list_sessions(query=filters.ListQuery(where=mine, page_size=_ALL))
        return frozenset(s.session_id for s in page.items)

    async def _where(self, where: filters.Filters) -> filters.Filters:
        if _restricted_caller() is None:
            return where
        return restrict(where, await self._owned(where))

    async def _query(self, query: filters.ListQuery) -> filters.ListQuery:
        return filters.ListQuery(await self._where(query.where), query.sort, query.page, query.page_size)

    # -- sessions -----------------------------------------------------------
    async def create_session(self, session: Session) -> None:
        caller = identity.current()
        if caller is not None:
            session.owner = caller.username
        await self._inner.create_session(session)

    async def get_session(self, session_id: str) -> Session:
        await self._check_session(session_id)
        return await self._inner.get_session(session_id)

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
        await self._check_session(session_id)
        return await self._inner.update_session(
            session_id,
            allowed_from=allowed_from,
            status=status,
            client_submission=client_submission,
            worker_submission=worker_submission,
            follow_up=follow_up,
            at=at,
        )

    async def settled(self, session_id: str, *, since: float) -> None:
        await self._check_session(session_id)
        await self._inner.settled(session_id, since=since)

    async def follow_up_pending(self, session_id: str) -> bool:
        await self._check_session(session_id)
        return await self._inner.follow_up_pending(session_id)

    async def list_sessions(self, *, query: filters.ListQuery) -> filters.Page[Session]:
        caller = _restricted_caller()
        if caller is None:
            return await self._inner.list_sessions(query=query)
        mine = filters.Condition("owner", filters.ValueKind.STRING, filters.Op.EQ, caller.username)
        where = tuple((*clause, mine) for clause in query.where or ((),))
        return await self._inner.list_sessions(query=filters.ListQuery(where, query.sort, query.page, query.page_size))

    async def delete_session(self, session_id: str) -> None:
        await self._check_session(session_id)
        await self._inner.delete_session(session_id)

    async def cancel_session(self, session_id: str, *, at: float) -> None:
        await self._check_session(session_id)
        await self._inner.cancel_session(session_id, at=at)

    async def pause_session_tasks(self, session_id: str, *, at: float) -> None:
        await self._check_session(session_id)
        await self._inner.pause_session_tasks(session_id, at=at)

    async def cancel_queued_tasks(self, session_id: str, *, at: float) -> None:
        await self._check_session(session_id)
        await self._inner.cancel_queued_tasks(session_id, at=at)

    async def resume_session_tasks(self, session_id: str, *, at: float) -> None:
        await self._check_session(session_id)
        await self._inner.resume_session_tasks(session_id, at=at)

    async def session_results(self, session_id: str) -> list[Result]:
        await self._check_session(session_id)
        return await self._inner.session_results(session_id)

    # -- results ------------------------------------------------------------
    async def create_results(self, results: Sequence[Result], *, data: Mapping[str, bytes] | None = None) -> None:
        foreign = await self._foreign([r.session_id for r in results])
        if foreign:
            raise errors.missing("session", foreign)
        await self._inner.create_results(results, data=data)

    async def get_results(self, result_ids: Sequence[str], *, session_id: str | None = None) -> list[Result]:
        if session_id is not None and await self._foreign([session_id]):
            raise errors.missing("result", result_ids)
        found = await self._inner.get_results(result_ids, session_id=session_id)
        foreign = await self._foreign([r.session_id for r in found])
        if foreign:
            raise errors.missing("result", [r.result_id for r in found if r.session_id in foreign])
        return found

    async def list_results(self, *, query: filters.ListQuery) -> filters.Page[Result]:
        return await self._inner.list_results(query=await self._query(query))

    async def result_data(self, session_id: str, result_id: str) -> ports.ResultData:
        if await self._foreign([session_id]):
            raise errors.missing("result", [result_id])
        return await self._inner.result_data(session_id, result_id)

    async def complete_results(
        self, session_id: str, completions: Sequence[ports.Completion], *, completed_by: str, at: float
    ) -> int:
        await self._check_session(session_id)
        return await self._inner.complete_results(session_id, completions, completed_by=completed_by, at=at)

    async def delete_results_data(self, session_id: str, result_ids: Sequence[str], *, at: float) -> dict[str, bytes]:
        await self._check_session(session_id)
        return await self._inner.delete_results_data(session_id, result_ids, at=at)

    async def owners_of(self, session_id: str, result_ids: Sequence[str]) -> dict[str, str]:
        if await self._foreign([session_id]):
            raise errors.missing("result", result_ids)
        return await self._inner.owners_of(session_id, result_ids)

    # -- tasks --------------------------------------------------------------
    async def create_tasks(self, session_id: str, tasks: Sequence[Task], *, at: float) -> list[Task]:
        await self._check_session(session_id)
        return await self._inner.create_tasks(session_id, tasks, at=at)

    async def get_tasks(self, task_ids: Sequence[str]) -> list[Task]:
        found = await self._inner.get_tasks(task_ids)
        foreign = await self._foreign([t.session_id for t in found])
        if foreign:
            raise errors.missing("task", [t.task_id for t in found if t.session_id in foreign])
        return found

    async def list_tasks(self, *, query: filters.ListQuery) -> filters.Page[Task]:
        return await self._inner.list_tasks(query=await self._query(query))

    async def count_tasks_by_status(self, *, where: filters.Filters) -> Mapping[TaskStatus, int]:
        return await self._inner.count_tasks_by_status(where=await self._where(where))

    async def cancel_tasks(self, task_ids: Sequence[str], *, at: float, reason: str) -> list[Task]:
        await self.get_tasks(task_ids)
        return await self._inner.cancel_tasks(task_ids, at=at, reason=reason)

    async def list_applications(self, *, query: filters.ListQuery) -> filters.Page[Application]:
        if _restricted_caller() is None:
            return await self._inner.list_applications(query=query)
        tasks = await self.list_tasks(query=filters.ListQuery(page_size=_ALL))
        return filters.apply(models.applications_of(tasks.items), query)
