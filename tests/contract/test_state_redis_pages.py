"""List pages the Redis state store reads from its sorted indexes
(``state_pages``) match the pages a sort of every record gives.

2,000 tasks in one session, created in four calls (so created_at ties within
a call), ids shuffled against creation order, in five statuses; each query
is checked against the records sorted by (field, task id), the order the
indexes keep (reversed for a descending sort).
"""

from __future__ import annotations

import dataclasses
import random

import pytest
import redis.asyncio

from pyarmonik.core.filters import Condition, ListQuery, Op, Sort, ValueKind, in_session
from pyarmonik.core.models import Task
from pyarmonik.core.statuses import ResultStatus, TaskStatus
from pyarmonik.storage.redis import keys, state_pages
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.state import RedisStateStore

from .state_contract import AT, T0, claims, open_session, task

pytestmark = pytest.mark.integration

TASKS = 2000
#: Tasks of the other session, "o".
OTHERS = 200
CALLS = 4
SUBMITTED, PENDING, DISPATCHED, CANCELLED = (TaskStatus.SUBMITTED, TaskStatus.PENDING, TaskStatus.DISPATCHED,
                                             TaskStatus.CANCELLED)  # fmt: skip


async def fill(store: RedisStateStore, dispatch: RedisDispatch) -> list[Task]:
    """The session "s" of TASKS tasks (and a small other session "o")."""
    await open_session(store, "s", created=["dep"])
    await open_session(store, "o")
    drawn = [f"t{n:05d}" for n in random.Random(7).sample(range(100_000), TASKS + OTHERS)]
    ids, others = drawn[:TASKS], drawn[TASKS:]
    per_call = TASKS // CALLS
    for call in range(CALLS):
        batch = [
            dataclasses.replace(task(i, dependencies=["dep"] if n % 5 == 0 else []), created_at=T0 + call)
            for n, i in enumerate(ids[call * per_call : (call + 1) * per_call])
        ]
        await store.create_tasks("s", batch, at=AT)
    # Claimed in submission order: the first ready tasks (of the first 60, those waiting on nothing).
    dispatched = [i for n, i in enumerate(ids[:60]) if n % 5 != 0]
    claimed = await claims(dispatch, len(dispatched), start=False)
    assert [c.task_id for c in claimed] == dispatched
    await store.create_tasks("o", [dataclasses.replace(task(i, "o"), created_at=T0 + 1.5) for i in others], at=AT)
    await store.cancel_tasks(ids[100:400:2], at=AT, reason="stop")
    return await store.get_tasks(drawn)


def status_is(status: TaskStatus) -> Condition:
    return Condition("status", ValueKind.STATUS, Op.EQ, status)


def where(statuses: tuple[TaskStatus, ...] | None) -> tuple[tuple[Condition, ...], ...]:
    [clause] = in_session("s")
    return (clause,) if statuses is None else tuple((*clause, status_is(s)) for s in statuses)


def expected(tasks: list[Task], statuses: tuple[TaskStatus, ...] | None, sort: Sort) -> list[str]:
    matched = [t for t in tasks if t.session_id == "s" and (statuses is None or t.status in statuses)]
    ordered = sorted(matched, key=lambda t: (getattr(t, sort.field), t.task_id), reverse=sort.descending)
    return [t.task_id for t in ordered]


STATUS_SETS = [None, (SUBMITTED,), (PENDING, CANCELLED), (DISPATCHED,), (TaskStatus.COMPLETED,)]
SORTS = [Sort(f, d) for f in ("task_id", "created_at", "status") for d in (False, True)]
PAGES = [(0, 100), (3, 100), (2, 250), (7, 300), (40, 100), (0, 0)]


@pytest.mark.parametrize("walk_below", [0, state_pages.FEW], ids=["index walks", "default threshold"])
async def test_indexed_task_pages_match_the_records_sorted_by_field_then_id(
    store: RedisStateStore, dispatch: RedisDispatch, monkeypatch: pytest.MonkeyPatch, walk_below: int
) -> None:
    monkeypatch.setattr(state_pages, "FEW", walk_below)
    monkeypatch.setattr(state_pages, "WALK_CHUNK", 97)  # walks cross several chunks
    tasks = await fill(store, dispatch)
    for statuses in STATUS_SETS:
        for sort in SORTS:
            for number, size in PAGES:
                query = ListQuery(where(statuses), sort, number, size)
                planned = state_pages.plan(query, "task_id", frozenset({"task_id", "created_at"}))
                assert planned is not None
                page = await store.list_tasks(query=query)
                every = expected(tasks, statuses, sort)
                label = f"{statuses} {sort} page {number} of {size}"
                assert page.total == len(every), label
                got = [t.task_id for t in page.items]
                if walk_below == 0 or sort.field != "created_at" or statuses is None:
                    assert got == every[number * size : (number + 1) * size], label
                else:  # a status with few tasks is sorted from its records: ties may come in any order
                    assert len(got) == len(every[number * size : (number + 1) * size]), label
                    assert [tasks_by(tasks, i).created_at for i in got] == [
                        tasks_by(tasks, i).created_at for i in every[number * size : (number + 1) * size]
                    ], label


async def test_pages_over_several_sessions_merge_the_indexes_of_each(
    store: RedisStateStore, dispatch: RedisDispatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_pages, "FEW", 0)
    tasks = await fill(store, dispatch)
    [s], [o] = in_session("s"), in_session("o")
    cases = {
        (): lambda t: True,
        ((*s, status_is(SUBMITTED)), o): lambda t: t.session_id == "o" or t.status == SUBMITTED,
        ((*s, status_is(CANCELLED)), (*o, status_is(SUBMITTED))): lambda t: (
            t.status == (CANCELLED if t.session_id == "s" else SUBMITTED)
        ),
    }
    for where_, matches in cases.items():
        for sort in SORTS:
            for number, size in PAGES:
                page = await store.list_tasks(query=ListQuery(where_, sort, number, size))
                matched = sorted((t for t in tasks if matches(t)), key=lambda t: (getattr(t, sort.field), t.task_id),
                                 reverse=sort.descending)  # fmt: skip
                every = [t.task_id for t in matched]
                label = f"{where_} {sort} page {number} of {size}"
                assert (page.total, [t.task_id for t in page.items]) == (
                    len(every),
                    every[number * size : (number + 1) * size],
                ), label


def tasks_by(tasks: list[Task], task_id: str) -> Task:
    return next(t for t in tasks if t.task_id == task_id)


async def test_queries_the_indexes_cannot_answer_are_left_to_the_records() -> None:
    [[session]] = in_session("s")
    high = Condition("options.priority", ValueKind.NUMBER, Op.GE, 5)
    other = Condition("session_id", ValueKind.STRING, Op.EQ, "o")
    fields = frozenset({"task_id", "created_at"})
    assert state_pages.plan(ListQuery(((session, high),)), "task_id", fields) is None
    assert state_pages.plan(ListQuery(((session, high), (other,))), "task_id", fields) is None
    assert state_pages.plan(ListQuery(((session,),), Sort("ended_at")), "task_id", fields) is None
    assert state_pages.plan(ListQuery(((high,),)), "task_id", fields) is None
    assert state_pages.plan(ListQuery(((session,),), page=-1), "task_id", fields) is None


async def test_result_pages_sorted_by_status_come_from_the_status_index(store: RedisStateStore) -> None:
    created = [f"r{n:03d}" for n in range(300)]
    await open_session(store, "s", created=created)
    await store.create_tasks("s", [task("a", outputs=created[:50])], at=AT)
    await store.cancel_tasks(["a"], at=AT, reason="stop")  # its 50 outputs ABORTED
    page = await store.list_results(query=ListQuery(in_session("s"), Sort("status"), 0, 100))
    every = sorted(await store.session_results("s"), key=lambda r: (r.status, r.result_id))
    assert [r.result_id for r in page.items] == [r.result_id for r in every[:100]] and page.total == 301
    aborted = (*in_session("s")[0], Condition("status", ValueKind.STATUS, Op.EQ, ResultStatus.ABORTED))
    page = await store.list_results(query=ListQuery((aborted,), Sort("result_id", True), 1, 20))
    assert [r.result_id for r in page.items] == [f"r{n:03d}" for n in range(29, 9, -1)] and page.total == 50


async def test_counts_by_status_under_a_status_filter_come_from_the_status_indexes(
    store: RedisStateStore, dispatch: RedisDispatch, redis_client: redis.asyncio.Redis
) -> None:
    tasks = await fill(store, dispatch)
    [s], [o] = in_session("s"), in_session("o")
    where_ = ((*s, status_is(SUBMITTED)), (*s, status_is(CANCELLED)), (*o, status_is(SUBMITTED)))
    counted: dict[TaskStatus, int] = {}
    for t in tasks:
        if t.status in (SUBMITTED, CANCELLED) and (t.session_id == "s" or t.status == SUBMITTED):
            counted[t.status] = counted.get(t.status, 0) + 1
    assert dict(await store.count_tasks_by_status(where=where_)) == counted
    await redis_client.delete(*(keys.TASK(t.session_id, t.task_id) for t in tasks))  # the records, not the indexes
    assert dict(await store.count_tasks_by_status(where=where_)) == counted
