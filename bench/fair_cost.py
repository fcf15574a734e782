"""``python -m bench.fair_cost``: what a claim costs Redis under fair share,
with one session or 10,000, up to 1,000,000 queued tasks in one partition.

For each layout (how the partition shares: ``plain`` sessions, sessions
with their own ``weighted`` weights, ``user`` keys whose sessions take
turns, ``capped`` user keys, ``fifo``) and each number of sessions, a fresh
redis-server (unix socket, no persistence) is filled through the state
store as the control plane fills it (sessions, then their ready tasks in
batches of at most 1,000), then ``--claims`` claims are made one by one
through the agent's dispatch (``pa_claim``, one task each, started). Over
that window Redis' own ``INFO commandstats`` give the microseconds per
claim (``fcall``: the whole function, its commands included) and the
commands a claim runs (the others' deltas); the log is off, so nothing but
the claims is measured. A metrics scrape's walk of the keys
(``pa_fair_load``) is timed the same way, and Redis' memory per queued task
is read before the claims.

It runs against the PyArmoniK it imports: a checkout before fair share
knows the ``plain`` layout only (its rotation is the same), which is how
RESULTS.md compares before and after on one machine.

    python -m bench.fair_cost --sessions 1,10000 --tasks 100000 --claims 3000
    python -m bench.fair_cost --million          # 1,000,000 tasks in 10,000 sessions (a few minutes, ~2 GB)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

from bench import cli, machine, servers
from bench.proc_cpu import CpuMeter
from pyarmonik.core.models import Partition, Result, Session, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, SessionStatus, TaskStatus
from pyarmonik.storage.redis.dispatch import RedisDispatch
from pyarmonik.storage.redis.library import Library
from pyarmonik.storage.redis.state import RedisStateStore

PARTITION = "bench"
BATCH = 1000
LAYOUTS = ("plain", "weighted", "user", "capped", "fifo")
USERS = 100
WEIGHT_OPTION = "pyarmonik.io/weight"


def fair_share(layout: str) -> Any:
    """The partition's configuration for ``layout`` (None: the default)."""
    if layout in ("plain", "weighted"):
        return None
    from pyarmonik.core import fairshare  # a checkout before fair share has none: plain layouts only

    if layout == "user":
        return fairshare.fair_share(key="user", weights={"u0": 4})
    if layout == "capped":
        return fairshare.fair_share(key="user", caps={"*": 10_000})
    return fairshare.fair_share(mode="fifo")


async def fill(client: redis.asyncio.Redis, layout: str, sessions: int, tasks: int) -> None:
    state = RedisStateStore(client)
    config = fair_share(layout)
    await state.put_partitions([Partition(PARTITION) if config is None else Partition(PARTITION, fair_share=config)])
    per_session = max(tasks // sessions, 1)
    for s in range(sessions):
        session_id = f"s{s:05}"
        extra = {WEIGHT_OPTION: str(1 + s % 4)} if layout == "weighted" else {}
        options = TaskOptions(max_duration=60.0, max_retries=2, priority=1, partition_id=PARTITION, options=extra)
        await state.create_session(
            Session(session_id, SessionStatus.RUNNING, options, [PARTITION], created_at=0.0, owner=f"u{s % USERS}")
        )
        payload = f"{session_id}-p"
        await state.create_results([Result(session_id, payload, "p", ResultStatus.COMPLETED, 0.0, size=1)])
        for first in range(0, per_session, BATCH):
            batch = [
                Task(f"{session_id}-{i}", session_id, TaskStatus.CREATING, options, 0.0, payload_id=payload)
                for i in range(first, min(first + BATCH, per_session))
            ]
            await state.create_tasks(session_id, batch, at=1.0 + s)


def commandstats(client: redis.Redis) -> dict[str, tuple[int, int]]:
    info = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for k, v in info.items()}


def delta(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    return {
        name: (calls - before.get(name, (0, 0))[0], usec - before.get(name, (0, 0))[1])
        for name, (calls, usec) in after.items()
        if calls - before.get(name, (0, 0))[0] > 0 and name not in ("info", "ping", "hello", "client")
    }


async def claims(client: redis.asyncio.Redis, count: int, start: Callable[[], None]) -> int:
    """``count`` claims; ``start`` opens the measured window once the
    client has found the library (its own FCALL, left out)."""
    dispatch = RedisDispatch(client)
    await Library.of(client).load()
    start()
    ran = 0
    for _ in range(count):
        for claim in await dispatch.claim(
            PARTITION, agent_id="a", hostname="h", lease_seconds=3600, count=1, start_first=True, timeout=0
        ):
            ran += claim.admission.value == "run"
    return ran


def measure(root: Path, layout: str, sessions: int, tasks: int, count: int) -> dict[str, Any]:
    with servers.redis_process(root / f"{layout}-{sessions}", aof=False, unix_socket=True) as server:
        sync = redis.Redis.from_url(server.url)
        client = redis.asyncio.Redis.from_url(server.url)
        started = time.monotonic()
        asyncio.run(fill_and_close(client, layout, sessions, tasks))
        filled = time.monotonic() - started
        queued = int(sync.hget(f"pyarmonik:queue:{{{PARTITION}}}:counts", "2") or 0)
        memory = int(sync.info("memory")["used_memory"])
        meter, opened = CpuMeter({"redis": [server.pid]}), {}

        def start() -> None:
            opened["stats"] = commandstats(sync)
            meter.start()

        ran = asyncio.run(claim_and_close(redis.asyncio.Redis.from_url(server.url), count, start))
        cpu, before = meter.stop()["redis"], opened["stats"]
        window = delta(before, commandstats(sync))
        fcall_calls, fcall_usec = window.pop("fcall", (0, 0))
        inner = {name: calls / max(fcall_calls, 1) for name, (calls, _) in sorted(window.items())}
        load = scrape(server.url, sync)
        sync.close()
    return {
        "layout": layout,
        "sessions": sessions,
        "queued": queued,
        "fill_seconds": round(filled, 1),
        "bytes_per_queued_task": round(memory / max(queued, 1)),
        "claims": fcall_calls,
        "ran": ran,
        "us_per_claim": round(fcall_usec / max(fcall_calls, 1), 1),
        "cpu_us_per_claim": round(cpu * 1e6 / max(fcall_calls, 1), 1),
        "commands_per_claim": round(sum(inner.values()), 2),
        "commands": {k: round(v, 2) for k, v in inner.items()},
        "scrape_ms": load,
    }


async def fill_and_close(client: redis.asyncio.Redis, layout: str, sessions: int, tasks: int) -> None:
    try:
        await fill(client, layout, sessions, tasks)
    finally:
        await client.aclose()


async def claim_and_close(client: redis.asyncio.Redis, count: int, start: Callable[[], None]) -> int:
    try:
        return await claims(client, count, start)
    finally:
        await client.aclose()


def scrape(url: str, sync: redis.Redis) -> dict[str, float] | None:
    """Redis ms of one metrics scrape's walk of the partition's keys, in all
    and of its longest step (None: a checkout before fair share has none)."""
    from pyarmonik.storage.redis import queue

    if not hasattr(queue.RedisTaskQueue, "key_loads"):
        return None
    sync.config_set("slowlog-max-len", 1_000_000)  # the walk's own commands are logged too
    sync.config_set("slowlog-log-slower-than", 0)
    sync.slowlog_reset()

    async def walk() -> None:
        client = redis.asyncio.Redis.from_url(url)
        try:
            await queue.RedisTaskQueue(client).key_loads(PARTITION)
        finally:
            await client.aclose()

    asyncio.run(walk())
    steps = [e["duration"] for e in sync.slowlog_get(-1) if b"pa_fair_load" in e["command"]]
    sync.config_set("slowlog-log-slower-than", 10000)
    steps.sort()
    return {
        "ms": round(sum(steps) / 1000, 2),
        "steps": len(steps),
        "longest_step_ms": round(max(steps) / 1000, 2),
        "median_step_ms": round(steps[len(steps) // 2] / 1000, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = cli.OneLineParser(prog="python -m bench.fair_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", default="1,10000", help="numbers of sessions, comma-separated")
    parser.add_argument("--tasks", type=cli.at_least(1), default=100_000, help="queued tasks in the partition")
    parser.add_argument("--claims", type=cli.at_least(1), default=3000, help="claims measured")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help=f"of {', '.join(LAYOUTS)}")
    parser.add_argument("--million", action="store_true", help="1,000,000 tasks in 10,000 sessions, plain")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    runs = [(layout, int(s), args.tasks) for layout in args.layouts.split(",") for s in args.sessions.split(",")]
    if args.million:
        runs = [("plain", 10_000, 1_000_000)]
    if unknown := {layout for layout, _, _ in runs} - set(LAYOUTS):
        parser.error(f"--layouts: unknown {', '.join(sorted(unknown))}")
    servers.unwind_on_sigterm()
    figures = []
    described = machine.describe(sys.executable)
    print(f"load average {os.getloadavg()[0]:.1f}; {json.dumps(described)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="fair-cost-", dir="/tmp") as root:
        for layout, sessions, tasks in runs:
            try:
                row = measure(Path(root), layout, sessions, tasks, args.claims)
            except redis.ResponseError as exc:  # a layout this checkout does not know
                print(f"{layout:>8} {sessions:>6} sessions: skipped ({exc})", file=sys.stderr)
                continue
            figures.append(row)
            print(
                f"{layout:>8} {sessions:>6} sessions {row['queued']:>9,} queued: {row['us_per_claim']:7.1f} µs/claim,"
                f" {row['commands_per_claim']:5.2f} commands/claim, {row['bytes_per_queued_task']:,} B/queued task,"
                f" Redis CPU {row['cpu_us_per_claim']:6.1f} µs/claim; scrape {row['scrape_ms']}"
                f" (filled in {row['fill_seconds']} s; load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps({"machine": described, "runs": figures, "load": os.getloadavg()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
