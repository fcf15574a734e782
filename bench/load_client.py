"""One benchmark client as a process of its own, through the official
``armonik`` client: submits N no-op tasks in batches (a payload result with
its 8 bytes, an output result, the task), waits for every output on the
event stream, downloads them (``bench_throughput``'s phases).

Run by ``bench.cost`` and ``bench.cluster``, which measure the other
processes over the same window: after an optional warm-up it prints
``ready``; then each ``go N`` line on stdin runs N tasks in a session of
their own and prints one JSON line (its phases' wall-clock times and its
own CPU seconds over them).

    echo "go 1000" | python -m bench.load_client --address 127.0.0.1:5001
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

import grpc
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import TaskDefinition, TaskOptions

from bench.servers import LineProcess

PAYLOAD = b"8 bytes!"


def cpu_seconds() -> float:
    """This process's user + system CPU, every thread (gRPC's) included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def phases(channel: grpc.Channel, count: int, *, batch: int = 500, download: bool = True) -> dict[str, float]:
    """Runs ``count`` tasks in a session of their own; the wall-clock time
    (``time.time``) at which each phase ended, from ``started``."""
    options = TaskOptions(max_duration=timedelta(seconds=60), priority=1, max_retries=1)
    started = time.time()
    session_id = ArmoniKSessions(channel).create_session(options)
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    outputs: list[str] = []
    for offset in range(0, count, batch):
        size = min(batch, count - offset)
        payloads = results.create_results({f"p{i}": PAYLOAD for i in range(size)}, session_id, batch_size=batch)
        created = results.create_results_metadata([f"o{i}" for i in range(size)], session_id, batch_size=batch)
        tasks.submit_tasks(
            session_id,
            [TaskDefinition(payloads[f"p{i}"].result_id, [created[f"o{i}"].result_id]) for i in range(size)],
            chunk_size=batch,
        )
        outputs += [created[f"o{i}"].result_id for i in range(size)]
    submitted = time.time()
    ArmoniKEvents(channel).wait_for_result_availability(outputs, session_id, bucket_size=1000)
    available = time.time()
    if download:
        for output in outputs:
            results.download_result_data(output, session_id)
    return {"started": started, "submitted": submitted, "available": available, "downloaded": time.time()}


class Client(LineProcess):
    """A ``load_client`` process, from the side that runs it: it warms up,
    says ``ready``, then runs a round of N tasks at each ``go N`` and
    answers its figures, until its stdin closes."""

    def __init__(self, address: str, log: Path, *, batch: int = 500, warm_up: int = 0, download: bool = True,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        command = [sys.executable, "-m", "bench.load_client", "--address", address, "--batch", str(batch),
                   "--warm-up", str(warm_up)]  # fmt: skip
        super().__init__([*command, *([] if download else ["--no-download"])], log, env)

    def wait_ready(self, timeout: float) -> None:
        self.line("ready", timeout)

    def go(self, tasks: int) -> None:
        self.send(f"go {tasks}")

    def result(self, timeout: float) -> dict[str, float]:
        return json.loads(self.line("{", timeout))  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--warm-up", type=int, default=0, help="tasks run before 'ready' (not measured)")
    parser.add_argument("--no-download", action="store_true")
    args = parser.parse_args()
    with grpc.insecure_channel(args.address) as channel:
        if args.warm_up:
            phases(channel, args.warm_up, batch=args.batch)
        print("ready", flush=True)
        for line in sys.stdin:
            command, tasks = line.split()
            if command != "go":
                raise SystemExit(f"expected 'go N', got {line!r}")
            cpu = cpu_seconds()
            times = phases(channel, int(tasks), batch=args.batch, download=not args.no_download)
            cpu = cpu_seconds() - cpu
            print(json.dumps({"tasks": int(tasks), "cpu_s": cpu, **times}), flush=True)


if __name__ == "__main__":
    main()
