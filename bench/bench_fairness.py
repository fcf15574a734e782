"""``python -m bench.bench_fairness``: fair share on a real grid, over time.

A deployment on this machine (a private redis-server, ``pyarmonik
control-plane``, ``--agents`` agents each with the official SDK worker
``bench/worker.py`` working ``--work-ms`` per task), driven by the official
client, in three scenarios:

- **weights**: sessions weighted ``--weights`` (the task option
  ``pyarmonik.io/weight`` of their defaults), ``--tasks`` tasks each,
  queued together (paused while submitting, resumed at once). Each task's
  acquisition time (its record) orders the dispatches; over sliding windows
  of ``--window`` dispatches it reports each session's share against its
  weight's, and the weighted Jain's fairness index of the sessions still
  queued, J = (sum x)^2 / (n sum x^2) with x = share / weight (1: exactly
  by weight);
- **flood**: a session of ``--flood`` tasks, then, once it runs, a session
  of 20 tasks of the same priority: how many flood tasks are dispatched
  between the small session's arrival and its last dispatch, and its
  makespan, fair and then in FIFO mode (the partition's fair share written
  as the operator writes it) for contrast.

It prints the figures, writes them as JSON (``--json``) and a PNG
(``--png``, default ``bench/fairness.png``): shares over time, Jain's index
over time, and the small session's dispatches after the flood, fair and
FIFO. Everything runs on 127.0.0.1 and is stopped by PID at the end.

    python -m bench.bench_fairness --agents 4 --tasks 200 --weights 1,2,4
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import redis.asyncio
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Task, TaskDefinition, TaskOptions, TaskStatus

from bench import cli, machine, servers, targets
from bench.workload import BenchError
from pyarmonik.core import fairshare
from pyarmonik.storage.redis.state import RedisStateStore

PARTITION = "default"
SMALL = 20
TIMEOUT = 600.0


class Session:
    """One session of the official client and the tasks it submitted."""

    def __init__(self, channel: grpc.Channel, **options: Any) -> None:
        self.sessions, self.results = ArmoniKSessions(channel), ArmoniKResults(channel)
        self.tasks = ArmoniKTasks(channel)
        defaults = TaskOptions(max_duration=timedelta(minutes=10), priority=1, max_retries=2, **options)
        self.session_id = self.sessions.create_session(defaults)
        self.count = 0

    def submit(self, count: int) -> None:
        payloads = self.results.create_results({f"p{i}": b"x" for i in range(count)}, self.session_id, 500)
        outputs = self.results.create_results_metadata([f"o{i}" for i in range(count)], self.session_id, 500)
        definitions = [TaskDefinition(payloads[f"p{i}"].result_id, [outputs[f"o{i}"].result_id]) for i in range(count)]
        self.tasks.submit_tasks(self.session_id, definitions, chunk_size=500)
        self.count += count

    def completed(self) -> int:
        return self.tasks.count_tasks_by_status(Task.session_id == self.session_id).get(TaskStatus.COMPLETED, 0)

    def records(self) -> list[Task]:
        found: list[Task] = []
        while len(found) < self.count:
            _, page = self.tasks.list_tasks(
                Task.session_id == self.session_id, page=len(found) // 500, page_size=500, detailed=True
            )
            if not page:
                break
            found += page
        return found


def wait(what: str, done: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not done():
        if time.monotonic() > deadline:
            raise BenchError(f"{what} not done within {TIMEOUT:.0f} s")
        time.sleep(0.2)


def order(*sessions: Session) -> list[tuple[int, Task]]:
    """Every task with its session's index, in the order agents acquired them."""
    found = [(i, t) for i, s in enumerate(sessions) for t in s.records()]
    return sorted(found, key=lambda pair: pair[1].acquired_at)  # type: ignore[arg-type,return-value]


def jain(shares: list[float]) -> float:
    return sum(shares) ** 2 / (len(shares) * sum(x * x for x in shares)) if shares else 1.0


def weights_scenario(channel: grpc.Channel, weights: list[float], tasks: int, window: int) -> dict[str, Any]:
    sessions = [Session(channel, options={fairshare.WEIGHT_OPTION: repr(w)}) for w in weights]
    for session in sessions:
        session.sessions.pause_session(session.session_id)
        session.submit(tasks)
    for session in sessions:
        session.sessions.resume_session(session.session_id)
    wait("the weighted sessions", lambda: all(s.completed() == s.count for s in sessions))
    dispatched = [i for i, _ in order(*sessions)]
    last = {i: position for position, i in enumerate(dispatched)}
    points: list[dict[str, Any]] = []
    for end in range(window, len(dispatched) + 1, max(window // 5, 1)):
        seen = dispatched[end - window : end]
        queued = [i for i in range(len(sessions)) if last[i] >= end - 1]  # still had tasks at the window's end
        total = sum(weights[i] for i in queued) or 1.0
        shares = {i: seen.count(i) / window for i in range(len(sessions))}
        points.append(
            {
                "dispatch": end,
                "shares": [shares[i] for i in range(len(sessions))],
                "expected": [weights[i] / total if i in queued else 0.0 for i in range(len(sessions))],
                "jain": jain([shares[i] / weights[i] for i in queued]),
            }
        )
    steady = [p for p in points if all(e > 0 for e in p["expected"])]  # all sessions queued
    return {
        "weights": weights,
        "tasks": tasks,
        "window": window,
        "points": points,
        "steady_shares": [sum(p["shares"][i] for p in steady) / max(len(steady), 1) for i in range(len(sessions))],
        "steady_jain_min": min((p["jain"] for p in steady), default=1.0),
        "steady_jain_mean": sum(p["jain"] for p in steady) / max(len(steady), 1),
    }


def flood_scenario(channel: grpc.Channel, flood_tasks: int) -> dict[str, Any]:
    flood, small = Session(channel), Session(channel)
    flood.submit(flood_tasks)
    wait("the flood's start", lambda: flood.completed() >= 10)
    small.submit(SMALL)
    wait("the flood", lambda: flood.completed() == flood.count and small.completed() == small.count)
    dispatched = [(i, t.submitted_at, t.acquired_at, t.ended_at) for i, t in order(flood, small)]
    small_tasks = [(submitted, acquired, ended) for i, submitted, acquired, ended in dispatched if i == 1]
    arrived = min(s for s, _, _ in small_tasks if s is not None)
    last = max(a for _, a, _ in small_tasks if a is not None)
    meanwhile = sum(1 for i, _, a, _ in dispatched if i == 0 and a is not None and arrived < a <= last)
    ended = max(e for _, _, e in small_tasks if e is not None)
    offsets = sorted(round((a - arrived).total_seconds(), 3) for _, a, _ in small_tasks if a is not None)
    return {
        "flood": flood_tasks,
        "small": SMALL,
        "flood_dispatched_meanwhile": meanwhile,
        "small_makespan_s": round((ended - arrived).total_seconds(), 3),
        "small_dispatch_offsets_s": offsets,
    }


async def write_fair_share(redis_url: str, config: fairshare.FairShare, *, partition_id: str = PARTITION) -> None:
    """A partition's fair share, written as the operator writes it."""
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        state = RedisStateStore(client)
        partition = await state.get_partition(partition_id)
        partition.fair_share = config
        await state.put_partitions([partition])
    finally:
        await client.aclose()


def run(args: Any, root: Path) -> dict[str, Any]:
    worker = [sys.executable, str(targets.WORKER), "--duration-ms", str(args.work_ms), "--result-bytes", "8"]
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(servers.redis_process(root / "redis", aof=False, unix_socket=True))
        env = targets.environment() | {
            "PYARMONIK_REDIS_URL": server.url,
            "PYARMONIK_DATA_DIR": str(root / "data"),
            "PYARMONIK_LOG_LEVEL": "WARNING",
        }
        address, _ = targets.start_control_plane(stack, root / "logs" / "control-plane.log", sys.executable, env)
        for index in range(args.agents):
            targets.start_agent(stack, index, root, sys.executable, env, worker)
        with grpc.insecure_channel(address) as channel:
            figures: dict[str, Any] = {"weights": weights_scenario(channel, args.weights, args.tasks, args.window)}
            figures["flood_fair"] = flood_scenario(channel, args.flood)
            asyncio.run(write_fair_share(server.url, fairshare.FairShare(mode="fifo")))
            figures["flood_fifo"] = flood_scenario(channel, args.flood)
    return figures


def plot(figures: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    weights = figures["weights"]
    points = weights["points"]
    fig, (shares, index, flood) = pyplot.subplots(3, 1, figsize=(9, 11))
    x = [p["dispatch"] for p in points]
    for i, weight in enumerate(weights["weights"]):
        [line] = shares.plot(x, [p["shares"][i] for p in points], label=f"weight {weight:g}")
        shares.plot(x, [p["expected"][i] for p in points], "--", color=line.get_color())
    title = f"shares of {weights['window']} dispatches (dashed: by weight)"
    shares.set(title=title, xlabel="dispatches", ylabel="share")
    shares.legend()
    index.plot(x, [p["jain"] for p in points])
    index.set(title="weighted Jain's fairness index of the queued sessions", xlabel="dispatches", ylim=(0, 1.05))
    for name, style in (("flood_fair", "-"), ("flood_fifo", ":")):
        offsets = figures[name]["small_dispatch_offsets_s"]
        flood.step(offsets, range(1, len(offsets) + 1), style, where="post", label=name.replace("flood_", ""))
    flood.set(title=f"the {SMALL}-task session after a {figures['flood_fair']['flood']}-task flood",
              xlabel="seconds after its submission", ylabel="its tasks dispatched")  # fmt: skip
    flood.legend()
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = cli.OneLineParser(prog="python -m bench.bench_fairness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=cli.at_least(1), default=4, help="agents, each with its worker")
    parser.add_argument("--work-ms", type=cli.at_least(0, float), default=20.0, help="each task's work")
    parser.add_argument("--weights", default="1,2,4", help="the sessions' weights, comma-separated")
    parser.add_argument("--tasks", type=cli.at_least(10), default=200, help="tasks of each weighted session")
    parser.add_argument("--window", type=cli.at_least(5), default=35, help="dispatches per share window")
    parser.add_argument("--flood", type=cli.at_least(SMALL), default=400, help="tasks of the flood")
    parser.add_argument("--png", type=Path, default=Path(__file__).parent / "fairness.png")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    try:
        args.weights = [fairshare.weight(w, what="--weights") for w in args.weights.split(",")]
    except ValueError as exc:
        parser.error(str(exc))
    servers.unwind_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="fair-", dir="/tmp") as root:  # short: unix socket paths
        figures = run(args, Path(root))
    figures["machine"], figures["load"] = machine.describe(sys.executable), os.getloadavg()
    w = figures["weights"]
    print(f"weights {w['weights']}: steady shares {[round(s, 3) for s in w['steady_shares']]}, "
          f"Jain's index mean {w['steady_jain_mean']:.3f}, min {w['steady_jain_min']:.3f}")  # fmt: skip
    for name in ("flood_fair", "flood_fifo"):
        f = figures[name]
        print(f"{name}: {f['flood_dispatched_meanwhile']} of {f['flood']} flood tasks dispatched before the last of "
              f"the {f['small']}; its makespan {f['small_makespan_s']} s")  # fmt: skip
    plot(figures, args.png)
    print(f"plot: {args.png}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
