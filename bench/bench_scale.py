"""One session of 1,000,000 queued tasks on Redis, through the official client.

Starts its own redis-server (AOF, ``appendfsync everysec``), SeaweedFS (S3;
the 1-byte payloads are small objects, kept in Redis) and one control plane
process, with NO agents: every task stays queued (SUBMITTED). It submits N
tasks in one session, each with its own payload (``create_results``, with
data) and output (``create_results_metadata``), in batches, then prints:

- the submission rate of each tenth of the tasks (per 100,000 at 1M: the
  criterion is the last within 20 % of the first), and the CPU time Redis
  and the control plane spent per task in each tenth (what the session's
  size could slow down, barely moved by other jobs on the machine);
- Redis ``used_memory`` per queued task, and the share of the largest keys;
- the latency of ListTasks pages (the official client's defaults: sorted by
  task id; created_at desc; a status filter), CountTasksByStatus, and
  ListResults (the client's default sort: by status).

Everything it starts is stopped at the end (or on Ctrl-C).

    python bench/bench_scale.py [--tasks 1000000] [--batch 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import grpc
import redis
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Direction, Result, Task, TaskDefinition, TaskOptions, TaskStatus

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from tests import servers
from tests.deployment import Deployment

#: The deep page of the created_at-sorted case: page 500 of 100 = tasks 50,000-50,099.
DEEP_PAGE = 500


def _redis_arguments(port: int, directory: pathlib.Path) -> list[str]:
    # The tests' arguments, with the usual production fsync policy rather
    # than their every-write one.
    arguments = servers.redis_arguments(port, directory, aof=True)
    return [a if a != "always" else "everysec" for a in arguments]


@contextlib.contextmanager
def deployment(root: pathlib.Path, redis_binary: str) -> Iterator[Deployment]:
    """Redis + SeaweedFS + one control plane, no agent."""
    (root / "logs").mkdir(parents=True)
    grid = Deployment(root)
    try:
        port = servers.free_port()
        (root / "redis").mkdir()
        process = subprocess.Popen([redis_binary, *_redis_arguments(port, root / "redis")], stdin=subprocess.DEVNULL)
        grid.redis = servers.RedisServer(url=f"redis://127.0.0.1:{port}/0", port=port, directory=root / "redis",
                                         process=process)  # fmt: skip
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        grid.s3 = servers.start_seaweedfs(root / "s3")
        grid.start_control_plane(0)
        yield grid
    finally:
        grid.close()


def cpu_seconds(client: redis.Redis, control_plane: int) -> tuple[float, float]:
    """CPU time used so far by Redis and by the control plane: unlike the
    wall-clock rate, barely changed by other jobs sharing the cores."""
    info = client.info("cpu")
    fields = pathlib.Path(f"/proc/{control_plane}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"]), (int(fields[11]) + int(fields[12])) / ticks


def submit(
    channel: grpc.Channel, count: int, batch: int, cpu: Callable[[], tuple[float, float]]
) -> tuple[str, list[float], list[tuple[float, float]]]:
    """Submits ``count`` tasks in one session; returns it, the time at which
    each tenth of the tasks was submitted and the CPU times then."""
    options = TaskOptions(max_duration=timedelta(seconds=60), priority=1, max_retries=1)
    session_id = ArmoniKSessions(channel).create_session(options)
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    tenth = max(count // 10, 1)
    marks, cpus = [time.perf_counter()], [cpu()]
    for offset in range(0, count, batch):
        size = min(batch, count - offset)
        payloads = results.create_results({f"p{i}": b"x" for i in range(size)}, session_id, batch_size=size)
        outputs = results.create_results_metadata([f"o{i}" for i in range(size)], session_id, batch_size=size)
        definitions = [TaskDefinition(payloads[f"p{i}"].result_id, [outputs[f"o{i}"].result_id]) for i in range(size)]
        tasks.submit_tasks(session_id, definitions, chunk_size=size)
        done = offset + size
        if done // tenth > (done - size) // tenth or done == count:
            marks.append(time.perf_counter())
            cpus.append(cpu())
            print(f"  {done:>9,} tasks submitted, {time.perf_counter() - marks[0]:7.1f} s", flush=True)
    return session_id, marks, cpus


def report_rates(count: int, marks: list[float], cpus: list[tuple[float, float]]) -> None:
    tenth = max(count // 10, 1)
    rates = [tenth / (b - a) for a, b in itertools.pairwise(marks)]
    total = marks[-1] - marks[0]
    print(f"submission: {count:,} tasks in {total:.0f} s = {count / total:.0f} tasks/s (each with 2 results)")
    print("  per tenth (tasks/s): " + ", ".join(f"{r:.0f}" for r in rates))
    first, last = rates[0], rates[-1]
    verdict = "within" if abs(last - first) <= 0.2 * first else "NOT within"
    print(f"  first {first:.0f}, last {last:.0f}: {100 * (last - first) / first:+.1f} % ({verdict} 20 %)")
    per_task = [((b[0] - a[0]) * 1e6 / tenth, (b[1] - a[1]) * 1e6 / tenth) for a, b in itertools.pairwise(cpus)]
    print("  CPU per task, Redis / control plane (us): " + ", ".join(f"{r:.0f}/{c:.0f}" for r, c in per_task))
    (redis_first, cp_first), (redis_last, cp_last) = per_task[0], per_task[-1]
    print(f"  first tenth {redis_first + cp_first:.0f} us, last {redis_last + cp_last:.0f} us: "
          f"{100 * (redis_last + cp_last - redis_first - cp_first) / (redis_first + cp_first):+.1f} %")  # fmt: skip


def report_memory(client: redis.Redis, before: int, count: int, session_id: str) -> None:
    info = client.info("memory")
    used = int(info["used_memory"]) - before
    print(f"Redis used_memory: {info['used_memory_human']} in all; {used / count:.0f} bytes per queued task")
    tag = "{" + session_id + "}"
    names = [k.decode() for k in client.scan_iter(match=f"*{tag}*", count=1000) if b":reply:" not in k]
    names += ["pyarmonik:task-sessions", "pyarmonik:result-sessions"]
    names += [k.decode() for k in client.scan_iter(match="pyarmonik:queue:*:ready")]
    sizes = {n: int(client.memory_usage(n, samples=1000) or 0) for n in names}
    objects = used - sum(sizes.values())
    for name, size in sorted(sizes.items(), key=lambda item: -item[1]):
        if size > count:  # more than a byte per task: worth a line
            print(f"  {name.replace(tag, '{S}'):<42} {size / count:6.0f} bytes per task")
    print(f"  {'the rest (small payload objects, ...)':<42} {objects / count:6.0f} bytes per task")


def timed(label: str, call: Callable[[], object], repeat: int) -> None:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"  {label:<66} median {statistics.median(samples):8.1f} ms   max {max(samples):8.1f} ms", flush=True)


def report_latencies(channel: grpc.Channel, session_id: str, repeat: int) -> None:
    tasks, results = ArmoniKTasks(channel), ArmoniKResults(channel)
    in_session = Task.session_id == session_id
    print(f"latency (median of {repeat}):")
    cases: dict[str, Callable[[], object]] = {
        "ListTasksDetailed, session, page 0 of 1000, by id (client defaults)": lambda: tasks.list_tasks(in_session),
        "ListTasks, session, page 0 of 100, by id": lambda: tasks.list_tasks(in_session, page_size=100, detailed=False),
        f"ListTasks, session, page {DEEP_PAGE} of 100, created_at desc": lambda: tasks.list_tasks(
            in_session,
            page=DEEP_PAGE,
            page_size=100,
            sort_field=Task.created_at,
            sort_direction=Direction.DESC,
            detailed=False,
        ),
        "ListTasks, session, page 0 of 100, created_at desc": lambda: tasks.list_tasks(
            in_session, page_size=100, sort_field=Task.created_at, sort_direction=Direction.DESC, detailed=False
        ),
        "ListTasksDetailed, session & status SUBMITTED, page 0 of 100": lambda: tasks.list_tasks(
            in_session & (Task.status == TaskStatus.SUBMITTED), page_size=100
        ),
        "ListTasks, session & status SUBMITTED, page 0 of 100, created_at": lambda: tasks.list_tasks(
            in_session & (Task.status == TaskStatus.SUBMITTED),
            page_size=100,
            sort_field=Task.created_at,
            detailed=False,
        ),
        "ListTasks, session & status COMPLETED (none), page 0 of 100": lambda: tasks.list_tasks(
            in_session & (Task.status == TaskStatus.COMPLETED), page_size=100, detailed=False
        ),
        "CountTasksByStatus, session": lambda: tasks.count_tasks_by_status(in_session),
        "ListResults, session, page 0 of 1000 (client defaults: by status)": lambda: results.list_results(
            Result.session_id == session_id
        ),
    }
    for label, call in cases.items():
        timed(label, call, repeat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000, help="tasks per create_results/submit_tasks call")
    parser.add_argument("--repeat", type=int, default=5, help="calls per latency figure")
    parser.add_argument("--redis-server", default=servers.redis_server_binary() or "redis-server")
    args = parser.parse_args()
    version = subprocess.run([args.redis_server, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{version}; {args.tasks:,} tasks in batches of {args.batch:,}", flush=True)
    root = pathlib.Path(tempfile.mkdtemp(prefix="bench-scale-"))
    try:
        with deployment(root, args.redis_server) as grid:
            assert grid.redis is not None
            client = redis.Redis.from_url(grid.redis.url)
            options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
            with grpc.insecure_channel(grid.address(0), options=options) as channel:
                before = int(client.info("memory")["used_memory"])
                pid = grid.control_planes[0].pid
                session_id, marks, cpus = submit(channel, args.tasks, args.batch, lambda: cpu_seconds(client, pid))
                report_rates(args.tasks, marks, cpus)
                report_memory(client, before, args.tasks, session_id)
                report_latencies(channel, session_id, args.repeat)
            client.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
