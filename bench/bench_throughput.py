"""End-to-end throughput of ``pyarmonik local``: submission, processing and
retrieval of N small tasks through the official client and worker SDK.

The phases match ArmoniK's published benchmark (1 ms-ish tasks, 8-byte data):
submission (results + tasks), processing (until every output is COMPLETED),
retrieval (download every output).

    python bench/bench_throughput.py [--tasks 2000] [--agents 2]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time
from datetime import timedelta

import grpc
from armonik.client import ArmoniKEvents, ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import TaskDefinition, TaskOptions

ROOT = pathlib.Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
from pyarmonik.settings import LocalSettings  # noqa: E402
from tests.grid_thread import GridThread  # noqa: E402

WORKER = f'"{sys.executable}" "{ROOT / "examples" / "hello_world" / "worker.py"}"'
BATCH = 500


def phase(label: str, count: int, started: float) -> None:
    elapsed = time.perf_counter() - started
    print(f"{label:<11} {count} tasks in {elapsed:6.2f} s = {count / elapsed:7.0f} tasks/s")


def run(channel: grpc.Channel, count: int) -> None:
    options = TaskOptions(max_duration=timedelta(seconds=60), priority=1, max_retries=1)
    session_id = ArmoniKSessions(channel).create_session(options)
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    started = time.perf_counter()
    outputs: list[str] = []
    for offset in range(0, count, BATCH):
        size = min(BATCH, count - offset)
        payloads = results.create_results({f"p{i}": b"8 bytes!" for i in range(size)}, session_id, batch_size=BATCH)
        created = results.create_results_metadata([f"o{i}" for i in range(size)], session_id, batch_size=BATCH)
        tasks.submit_tasks(
            session_id,
            [TaskDefinition(payloads[f"p{i}"].result_id, [created[f"o{i}"].result_id]) for i in range(size)],
            chunk_size=BATCH,
        )
        outputs += [created[f"o{i}"].result_id for i in range(size)]
    phase("submission", count, started)
    ArmoniKEvents(channel).wait_for_result_availability(outputs, session_id, bucket_size=1000)
    phase("end to end", count, started)
    started = time.perf_counter()
    for output in outputs:
        results.download_result_data(output, session_id)
    phase("retrieval", count, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        options = LocalSettings(port=0, data_dir=pathlib.Path(data), agents=args.agents, worker=[WORKER])
        running = GridThread(options).start()
        try:
            with grpc.insecure_channel(running.address) as channel:
                run(channel, args.tasks)
        finally:
            running.stop()


if __name__ == "__main__":
    main()
