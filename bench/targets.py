"""The PyArmoniK grids a benchmark runs on, each started with the package's
own commands as a user would, and stopped at the end:

- ``embedded``: ``python -m pyarmonik local`` (storage inside the grid);
- ``deployment``: a redis-server and SeaweedFS S3, one ``pyarmonik
  control-plane`` and ``--workers`` ``pyarmonik agent`` processes, each with
  its worker process: what a cluster runs, minus Kubernetes.

``grid_python`` is the interpreter that runs the grid (another install's, to
measure an older commit); the workers always run the official SDK worker
of ``bench/worker.py`` with the interpreter running the benchmark.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
from armonik.client import ArmoniKVersions

from bench import servers
from bench.workload import Workload

WORKER = Path(__file__).with_name("worker.py")
TARGETS = ("embedded", "deployment")


def worker_command(workload: Workload) -> list[str]:
    return [
        sys.executable,
        str(WORKER),
        "--duration-ms",
        str(workload.duration_ms),
        "--result-bytes",
        str(workload.result_bytes),
    ]


def environment() -> dict[str, str]:
    """The grid's processes' environment: gRPC's core is quiet (it logs again
    what the grid reports), and the checkout is off PYTHONPATH (the peers'
    workers need it; the grid's must import the PyArmoniK installed for
    ``--grid-python``, and bench/worker.py imports nothing of ``bench``)."""
    checkout = str(Path(__file__).resolve().parents[1])
    path = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry and entry != checkout]
    return {**os.environ, "GRPC_VERBOSITY": "NONE", "PYTHONPATH": os.pathsep.join(path)}


def answers(address: str) -> bool:
    try:
        with grpc.insecure_channel(address) as channel:
            return bool(ArmoniKVersions(channel).list_versions())
    except grpc.RpcError:
        return False


@contextlib.contextmanager
def embedded(workload: Workload, root: Path, grid_python: str) -> Iterator[str]:
    """``pyarmonik local`` on a free port; yields its address."""
    (port,) = servers.free_ports(1)
    command = [
        grid_python, "-m", "pyarmonik", "local", "--port", str(port), "--agents", str(workload.workers),
        "--worker", shlex.join(worker_command(workload)), "--data-dir", str(root / "data"),
    ]  # fmt: skip
    log = root / "logs" / "local.log"
    process = servers.spawn(command, log, environment())
    address = f"127.0.0.1:{port}"
    try:
        servers.wait_until("pyarmonik local", lambda: answers(address), process, log)
        yield address
    finally:
        servers.stop(process, grace=15)


@contextlib.contextmanager
def deployment(workload: Workload, root: Path, grid_python: str) -> Iterator[str]:
    """Redis + S3 + one control plane + ``workers`` agents and workers, each
    its own process; yields the control plane's address."""
    with contextlib.ExitStack() as stack:
        redis_url = stack.enter_context(servers.redis_server(root / "redis", aof=True))
        s3 = stack.enter_context(servers.seaweedfs(root / "s3"))
        env = environment() | {
            "PYARMONIK_REDIS_URL": redis_url,
            "PYARMONIK_S3_ENDPOINT": s3,
            "PYARMONIK_S3_ACCESS_KEY": servers.S3_ACCESS_KEY,
            "PYARMONIK_S3_SECRET_KEY": servers.S3_SECRET_KEY,
            "PYARMONIK_S3_BUCKET": "bench",
            "PYARMONIK_LOG_LEVEL": "WARNING",
        }
        address, _ = start_control_plane(stack, root / "logs" / "control-plane.log", grid_python, env)
        for index in range(workload.workers):
            start_agent(stack, index, root, grid_python, env, worker_command(workload))
        yield address


def start_control_plane(
    stack: contextlib.ExitStack, log: Path, grid_python: str, env: dict[str, str]
) -> tuple[str, subprocess.Popen[bytes]]:
    """``pyarmonik control-plane`` on a free port, stopped with ``stack``;
    its address once it answers, and its process."""
    (port,) = servers.free_ports(1)
    address = f"127.0.0.1:{port}"
    # The benchmarks measure the gRPC API; with the HTTP port off, several
    # control planes share a machine (the cluster benchmark runs two).
    command = [grid_python, "-m", "pyarmonik", "control-plane", "--port", str(port), "--http-port", "off"]
    plane = servers.spawn(command, log, env)
    stack.callback(servers.stop, plane)
    servers.wait_until("pyarmonik control-plane", lambda: answers(address), plane, log)
    return address, plane


def start_agent(
    stack: contextlib.ExitStack, index: int, root: Path, grid_python: str, env: dict[str, str], worker: list[str]
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """``pyarmonik agent`` and its ``worker`` process, stopped with ``stack``."""
    sockets = root / "sockets" / str(index)  # the run's root is short: unix socket paths stay under 100 bytes
    sockets.mkdir(parents=True)
    env = env | {
        "ComputePlane__AgentChannel__Address": str(sockets / "agent.sock"),
        "ComputePlane__WorkerChannel__Address": str(sockets / "worker.sock"),
    }
    command = [grid_python, "-m", "pyarmonik", "agent", "--agent-id", f"bench-{index}", "--shared-dir", str(sockets)]
    agent = servers.spawn(command, root / "logs" / f"agent-{index}.log", env)
    stack.callback(servers.stop, agent)
    process = servers.spawn(worker, root / "logs" / f"worker-{index}.log", env)
    stack.callback(servers.stop, process)
    return agent, process
