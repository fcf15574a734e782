"""The benchmark's ArmoniK worker, written with the official ``armonik.worker``
SDK only: reads its payload, works ``--duration-ms`` (sleeps: the grid's
overhead is what is measured) and sends a ``--result-bytes`` result.

Started by the grid (``pyarmonik local --worker``, next to ``pyarmonik
agent``) or by the floor's minimal agent, with the SDK's usual
``ComputePlane__*`` environment.
"""

from __future__ import annotations

import argparse
import time

from armonik.common import Output
from armonik.worker import TaskHandler, armonik_worker

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--duration-ms", type=float, default=0.0)
parser.add_argument("--result-bytes", type=int, default=8)
ARGS, _ = parser.parse_known_args()
RESULT = b"r" * ARGS.result_bytes


@armonik_worker()
def processor(task_handler: TaskHandler) -> Output:
    _ = task_handler.payload
    if ARGS.duration_ms > 0:
        time.sleep(ARGS.duration_ms / 1000)
    task_handler.send_results({task_handler.expected_results[0]: RESULT})
    return Output()


if __name__ == "__main__":
    processor.run()
