"""Session isolation over the Redis state store: owners recorded, foreign
ids NOT_FOUND, lists cut to the caller's sessions."""

from __future__ import annotations

import pytest
import redis.asyncio

from pyarmonik.core import errors, filters, identity
from pyarmonik.core.filters import ListQuery
from pyarmonik.core.identity import Identity
from pyarmonik.core.models import Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.lifecycle.isolation import IsolatedState
from pyarmonik.storage.redis.state import RedisStateStore

pytestmark = pytest.mark.integration

ALICE = Identity("alice", ("client",), frozenset({"Sessions:*"}))
BOB = Identity("bob", ("client",), frozenset({"Sessions:*"}))
ADMIN = Identity("admin", ("admin",), frozenset({"*"}))
OPTIONS = TaskOptions(max_duration=60.0, max_retries=1, priority=1, partition_id="p", application_name="app")


async def _session(state: IsolatedState, session_id: str) -> None:
    await state.create_session(Session(session_id, SessionStatus.RUNNING, OPTIONS, ["p"], 0.0))
    await state.create_results([Result(session_id, f"{session_id}-r", "r", ResultStatus.CREATED, 0.0)])
    task = Task(f"{session_id}-t", session_id, TaskStatus.CREATING, OPTIONS, 0.0, payload_id=f"{session_id}-r")
    await state.create_tasks(session_id, [task], at=0.0)


async def test_callers_reach_only_their_own_sessions(redis_client: redis.asyncio.Redis) -> None:
    """Each test runs in a task of its own: the caller set here goes with it."""
    as_caller = identity.set_current
    state = IsolatedState(RedisStateStore(redis_client))
    as_caller(ALICE)
    await _session(state, "a")
    as_caller(BOB)
    await _session(state, "b")

    assert [s.session_id for s in (await state.list_sessions(query=ListQuery())).items] == ["b"]
    assert [t.task_id for t in (await state.list_tasks(query=ListQuery())).items] == ["b-t"]
    assert (await state.list_results(query=ListQuery(where=filters.in_session("a")))).total == 0
    assert await state.count_tasks_by_status(where=filters.in_session("a")) == {}
    for call in (
        state.get_session("a"),
        state.get_tasks(["a-t"]),
        state.get_results(["a-r"]),
        state.get_results(["a-r"], session_id="a"),
        state.cancel_tasks(["a-t"], at=1.0, reason="x"),
        state.owners_of("a", ["a-r"]),
        state.delete_session("a"),
    ):
        with pytest.raises(errors.NotFound):
            await call

    as_caller(ADMIN)
    assert (await state.get_session("a")).owner == "alice"
    assert (await state.list_sessions(query=ListQuery())).total == 2
    assert (await state.list_applications(query=ListQuery())).total == 1


async def test_code_outside_client_calls_is_not_restricted(redis_client: redis.asyncio.Redis) -> None:
    state = IsolatedState(RedisStateStore(redis_client))
    await _session(state, "s")

    assert (await state.get_session("s")).owner == ""
    assert (await state.list_tasks(query=ListQuery())).total == 1


def test_unchecked_store_methods_are_not_passed_through(redis_client: redis.asyncio.Redis) -> None:
    state = IsolatedState(RedisStateStore(redis_client))

    assert state.get_partition is not None  # no session data: passed through
    with pytest.raises(AttributeError, match="unchecked"):
        state.something_new  # noqa: B018
