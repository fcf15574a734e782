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

import grpc

ROOT = pathlib.Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
from bench import load_client  # noqa: E402
from pyarmonik.settings import LocalSettings  # noqa: E402
from tests.grid_thread import GridThread  # noqa: E402

WORKER = f'"{sys.executable}" "{ROOT / "examples" / "hello_world" / "worker.py"}"'
BATCH = 500


def phase(label: str, count: int, seconds: float) -> None:
    print(f"{label:<11} {count} tasks in {seconds:6.2f} s = {count / seconds:7.0f} tasks/s")


def run(channel: grpc.Channel, count: int) -> None:
    times = load_client.phases(channel, count, batch=BATCH)
    phase("submission", count, times["submitted"] - times["started"])
    phase("end to end", count, times["available"] - times["started"])
    phase("retrieval", count, times["downloaded"] - times["available"])


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
