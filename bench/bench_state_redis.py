"""Time the Redis state store's hot transitions and its list path.

- create_tasks of 10,000 tasks in batches of 1,000, each waiting on its own
  payload, then complete_results of the payloads (batches of 1,000)
  releasing them; then 10,000 tasks waiting on ONE shared result, released
  by one completion;
- list_tasks pages of 100 over 100,000 tasks of one session.

Run: ``python bench/bench_state_redis.py [redis://host:port/db]``. Without a
URL it starts a throw-away ``redis-server`` on a free port. The database is
FLUSHed first.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

import redis.asyncio

from pyarmonik.core.filters import Condition, ListQuery, Op, Sort, ValueKind
from pyarmonik.core.models import Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage.ports import Admission, Completion
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.state import RedisStateStore

BATCH = 1_000
T0 = 1_764_288_000.0


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        binary = shutil.which("redis-server") or "redis-server"
        args = [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", directory]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        try:
            time.sleep(0.5)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


def options() -> TaskOptions:
    return TaskOptions(max_duration=60.0, max_retries=2, priority=1, partition_id="p")


def result(session_id: str, result_id: str, status: ResultStatus = ResultStatus.CREATED) -> Result:
    return Result(session_id, result_id, result_id, status, created_at=T0)


def task(session_id: str, task_id: str, payload: str, dependencies: list[str] = ()) -> Task:  # type: ignore[assignment]
    return Task(task_id, session_id, TaskStatus.CREATING, options(), T0, payload, list(dependencies),
                initial_task_id=task_id)  # fmt: skip


async def open_session(store: RedisStateStore, session_id: str, results: list[Result]) -> None:
    await store.create_session(Session(session_id, SessionStatus.RUNNING, options(), ["p"], T0))
    for start in range(0, len(results), BATCH):
        await store.create_results(results[start : start + BATCH])


async def timed(label: str, coroutine) -> object:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = await coroutine
    print(f"{label:<72} {(time.perf_counter() - start) * 1000:9.1f} ms")
    return value


async def own_payloads(store: RedisStateStore, n: int) -> None:
    payloads = [f"p-{i}" for i in range(n)]
    await open_session(store, "own", [result("own", p) for p in payloads])
    tasks = [task("own", f"t-{i}", payloads[i]) for i in range(n)]

    async def create() -> None:
        for start in range(0, n, BATCH):
            await store.create_tasks("own", tasks[start : start + BATCH], at=T0)

    async def complete() -> int:
        released = 0
        for start in range(0, n, BATCH):
            batch = [Completion(p, 8, p.encode()) for p in payloads[start : start + BATCH]]
            released += await store.complete_results("own", batch, completed_by="own", at=T0)
        return released

    await timed(f"create_tasks {n:,} tasks (own payload each), batches of {BATCH:,}", create())
    released = await timed(f"complete_results {n:,} payloads, batches of {BATCH:,}", complete())
    assert released == n, released


async def shared_dependency(store: RedisStateStore, n: int) -> None:
    await open_session(
        store, "shared", [result("shared", "shared-payload", ResultStatus.COMPLETED), result("shared", "r")]
    )
    tasks = [task("shared", f"u-{i}", "shared-payload", ["r"]) for i in range(n)]

    async def create() -> None:
        for start in range(0, n, BATCH):
            await store.create_tasks("shared", tasks[start : start + BATCH], at=T0)

    await timed(f"create_tasks {n:,} tasks on one shared result, batches of {BATCH:,}", create())
    released = await timed(
        f"complete_results of the shared result, releasing {n:,}",
        store.complete_results("shared", [Completion("r", 8, b"r")], completed_by="shared", at=T0),
    )
    assert released == n


async def listing(store: RedisStateStore, n: int) -> None:
    await open_session(store, "big", [result("big", "payload", ResultStatus.COMPLETED)])
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        await store.create_tasks("big", [task("big", f"b-{i}", "payload") for i in range(first, first + BATCH)], at=T0)
    print(f"{'(set-up: create ' + format(n, ',') + ' ready tasks)':<72} {(time.perf_counter() - start) * 1000:9.1f} ms")
    in_big = (Condition("session_id", ValueKind.STRING, Op.EQ, "big"),)
    submitted = (*in_big, Condition("status", ValueKind.STATUS, Op.EQ, TaskStatus.SUBMITTED))
    for label, query in [
        ("list_tasks page 0 of 100, session filter, no sort", ListQuery((in_big,), None, 0, 100)),
        (
            "list_tasks page 500 of 100, session filter, sort task_id (client default)",
            ListQuery((in_big,), Sort("task_id"), 500, 100),
        ),
        ("list_tasks page 0 of 100, sort created_at desc", ListQuery((in_big,), Sort("created_at", True), 0, 100)),
        (
            "list_tasks page 500 of 100, + status filter, sort task_id",
            ListQuery((submitted,), Sort("task_id"), 500, 100),
        ),
        ("list_tasks page_size 0 (total only)", ListQuery((in_big,), None, 0, 0)),
    ]:
        page = await timed(f"{label} [{n:,} tasks]", store.list_tasks(query=query))
        assert page.total == n  # type: ignore[attr-defined]
    await timed(
        f"count_tasks_by_status, session filter (index) [{n:,} tasks]", store.count_tasks_by_status(where=(in_big,))
    )
    await timed(
        f"count_tasks_by_status, + status filter (records) [{n:,} tasks]",
        store.count_tasks_by_status(where=(submitted,)),
    )
    # the session's change first: a step of its tasks moves them only once the session is PAUSED (RUNNING)
    await store.update_session("big", allowed_from=frozenset(SessionStatus), status=SessionStatus.PAUSED, at=T0)
    await timed(
        f"pause_session_tasks: {n:,} SUBMITTED -> PAUSED (scripts of 1,000)", store.pause_session_tasks("big", at=T0)
    )
    await store.update_session("big", allowed_from=frozenset(SessionStatus), status=SessionStatus.RUNNING, at=T0)
    await timed(
        f"resume_session_tasks: {n:,} PAUSED -> SUBMITTED (scripts of 1,000)", store.resume_session_tasks("big", at=T0)
    )


async def rare_status(store: RedisStateStore, dispatch: RedisDispatch, n: int) -> None:
    claimed = 0  # of the big session's: sessions of a partition are served in turn
    while claimed < 100:
        claims = await dispatch.claim(
            "p", agent_id="agent", hostname="host", lease_seconds=60, count=10, start_first=False, timeout=0
        )
        claimed += sum(
            c.admission is Admission.RUN and c.task is not None and c.task.session_id == "big" for c in claims
        )
    dispatched = ((Condition("session_id", ValueKind.STRING, Op.EQ, "big"),
                   Condition("status", ValueKind.STATUS, Op.EQ, TaskStatus.DISPATCHED)),)  # fmt: skip
    page = await timed(
        f"list_tasks DISPATCHED (100 of {n:,}), through the status index",
        store.list_tasks(query=ListQuery(dispatched, Sort("task_id"), 0, 100)),
    )
    assert page.total == claimed  # type: ignore[attr-defined]


async def slowest_scripts(client: redis.asyncio.Redis) -> None:
    """The longest server-side commands (how long Redis served no one else)."""
    entries = await client.slowlog_get(1000)
    entries.sort(key=lambda e: e["duration"], reverse=True)
    for entry in entries[:5]:
        command = entry["command"]
        words = command.split() if isinstance(command, bytes) else str(command).split()
        text = [w.decode(errors="replace") if isinstance(w, bytes) else str(w) for w in words[:2]]
        name = " ".join(text) if text[0].upper() == "FCALL" else text[0]  # a function is named by its second word
        print(f"  server-side {name}: {entry['duration'] / 1000:.1f} ms")


async def main(url: str, *, own_server: bool) -> None:
    client = redis.asyncio.Redis.from_url(url, socket_timeout=120)
    try:
        await client.flushdb()
        if own_server:
            await client.config_set("slowlog-log-slower-than", 10_000)
            await client.config_set("slowlog-max-len", 1_000)
        store = RedisStateStore(client)
        await own_payloads(store, 10_000)
        await shared_dependency(store, 10_000)
        await listing(store, 100_000)
        await rare_status(store, RedisDispatch(client), 100_000)
        if own_server:
            await slowest_scripts(client)
    finally:
        await client.aclose()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1], own_server=False))
    else:
        with throwaway_redis() as url:
            asyncio.run(main(url, own_server=True))
