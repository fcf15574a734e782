"""Throughput of a shared-storage deployment on this machine: Redis (AOF),
SeaweedFS S3, 2 control planes and 3 agents (each with its worker) as
separate processes; N echo tasks submitted with the official client.

    python bench/bench_deployment.py [--tasks 2000]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

import grpc

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from tests.deployment import start_deployment
from tests.integration.test_multiprocess import Client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000)
    count = parser.parse_args().tasks
    deployment = start_deployment(pathlib.Path(tempfile.mkdtemp()), control_planes=2, agents=3)
    try:
        with grpc.insecure_channel(deployment.address(0)) as channel:
            client = Client(channel)
            started = time.perf_counter()
            outputs = client.submit([{"do": "echo", "value": i} for i in range(count)])
            submitted = time.perf_counter() - started
            client.events.wait_for_result_availability(outputs, client.session_id, bucket_size=1000)
            total = time.perf_counter() - started
        print(f"submission  {count} tasks in {submitted:6.2f} s = {count / submitted:6.0f} tasks/s")
        print(f"end to end  {count} tasks in {total:6.2f} s = {count / total:6.0f} tasks/s")
    finally:
        deployment.close()


if __name__ == "__main__":
    main()
