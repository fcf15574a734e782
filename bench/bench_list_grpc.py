"""ListTasks over 100,000 tasks through gRPC, with the official client.

Starts ``pyarmonik local`` in-process (embedded storage, no workers: the
tasks stay queued), submits N tasks in one session, then times 100-item
pages of ListTasks / ListTasksDetailed / CountTasksByStatus.

    python bench/bench_list_grpc.py [--tasks 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time
from datetime import timedelta

import grpc
from armonik.client import ArmoniKResults, ArmoniKSessions, ArmoniKTasks
from armonik.common import Direction, Task, TaskDefinition, TaskOptions, TaskStatus

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from pyarmonik.settings import LocalSettings
from tests.grid_thread import GridThread

BATCH = 1000


def submit(channel: grpc.Channel, count: int) -> str:
    options = TaskOptions(max_duration=timedelta(seconds=60), priority=1, max_retries=1)
    session_id = ArmoniKSessions(channel).create_session(options)
    results, tasks = ArmoniKResults(channel), ArmoniKTasks(channel)
    started = time.perf_counter()
    for offset in range(0, count, BATCH):
        size = min(BATCH, count - offset)
        payloads = results.create_results({f"p{i}": b"x" for i in range(size)}, session_id, batch_size=BATCH)
        outputs = results.create_results_metadata([f"o{i}" for i in range(size)], session_id, batch_size=BATCH)
        definitions = [TaskDefinition(payloads[f"p{i}"].result_id, [outputs[f"o{i}"].result_id]) for i in range(size)]
        tasks.submit_tasks(session_id, definitions, chunk_size=BATCH)
    elapsed = time.perf_counter() - started
    print(f"submitted {count} tasks in {elapsed:.1f} s ({count / elapsed:.0f} tasks/s, with their results)")
    return session_id


def timed(label: str, call, repeat: int) -> None:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    print(f"{label:<62} median {statistics.median(samples):7.1f} ms   max {max(samples):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        running = GridThread(LocalSettings(port=0, data_dir=pathlib.Path(data), agents=0)).start()
        try:
            with grpc.insecure_channel(running.address, options=[("grpc.max_receive_message_length", -1)]) as ch:
                session_id = submit(ch, args.tasks)
                tasks = ArmoniKTasks(ch)
                in_session = Task.session_id == session_id
                cases = {
                    "ListTasks, no filter, page 0 of 100, by task id": lambda: tasks.list_tasks(
                        page_size=100, detailed=False
                    ),
                    "ListTasks, session filter, page 500 of 100, created_at desc": lambda: tasks.list_tasks(
                        in_session,
                        page=500,
                        page_size=100,
                        sort_field=Task.created_at,
                        sort_direction=Direction.DESC,
                        detailed=False,
                    ),
                    "ListTasksDetailed, status filter, page 0 of 100": lambda: tasks.list_tasks(
                        in_session & (Task.status == TaskStatus.SUBMITTED), page_size=100
                    ),
                    "CountTasksByStatus, session filter": lambda: tasks.count_tasks_by_status(in_session),
                }
                for label, call in cases.items():
                    timed(label, call, args.repeat)
        finally:
            running.stop()


if __name__ == "__main__":
    main()
