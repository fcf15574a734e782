"""A shared-storage deployment on this machine, every component its own
process: Redis (AOF), SeaweedFS (S3), control planes, and agents each with
its worker -- what a cluster runs, minus Kubernetes. Each worker runs under
the shell supervisor of a partition pod's worker container, which restarts
it when its agent asks.

Everything listens on 127.0.0.1; processes are stopped (SIGKILL if needed)
when the deployment closes, and their output goes to log files that a
failing test can show.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import grpc
from armonik.client import ArmoniKVersions

from pyarmonik.operator.builders import worker_supervisor
from tests import servers
from tests.helpers import wait_for

ROOT = pathlib.Path(__file__).parents[1]
WORKER = ROOT / "tests" / "workers" / "behaviours.py"
#: In each agent's folder, as ``/cache/worker.restart`` in a pod.
RESTART_FILE = "worker.restart"
STARTUP_TIMEOUT = 60.0
#: The logger whose "control plane listening on port N" line gives a bound port.
LISTENING_LOGGER = "pyarmonik.control_plane.server"


@dataclass
class Agent:
    index: int
    agent: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    sockets: pathlib.Path

    @property
    def agent_id(self) -> str:
        return f"agent-{self.index}"


@dataclass
class Deployment:
    root: pathlib.Path
    lease_seconds: float = 3.0
    redis: servers.RedisServer | None = None
    s3: servers.SeaweedFS | None = None
    control_planes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)
    agents: dict[int, Agent] = field(default_factory=dict)
    _sockets: pathlib.Path = field(default_factory=lambda: pathlib.Path(tempfile.mkdtemp(prefix="pyak-")))

    # -- storage ------------------------------------------------------------
    def start_storage(self) -> None:
        self.redis = servers.start_redis(self.root / "redis", aof=True)
        self.s3 = servers.start_seaweedfs(self.root / "s3")

    def restart_redis(self, *, down_seconds: float = 0.0) -> None:
        """SIGKILL, then (after ``down_seconds``) a new server on the same
        port and AOF directory."""
        assert self.redis is not None
        self.redis.process.kill()
        self.redis.process.wait()
        time.sleep(down_seconds)
        self.redis = servers.start_redis(self.redis.directory, aof=True, port=self.redis.port)

    def pause_s3(self, seconds: float) -> None:
        """SIGSTOP of the S3 server for ``seconds``, then SIGCONT: requests
        hang instead of failing, like a stalled network or disk."""
        assert self.s3 is not None
        self.s3.process.send_signal(signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            self.s3.process.send_signal(signal.SIGCONT)

    def environment(self) -> dict[str, str]:
        assert self.redis is not None and self.s3 is not None
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYARMONIK_REDIS_URL": self.redis.url,
            "PYARMONIK_S3_ENDPOINT": self.s3.endpoint,
            "PYARMONIK_S3_ACCESS_KEY": self.s3.access_key,
            "PYARMONIK_S3_SECRET_KEY": self.s3.secret_key,
            "PYARMONIK_S3_BUCKET": "deployment",
            "PYARMONIK_PARTITIONS": '["default"]',
            "GRPC_VERBOSITY": "NONE",
            # Several control planes on one machine: each its own HTTP port
            # (gRPC-Web, GUI), not all the default 5000 (the tests' conftest
            # sets the same; the fault campaign runs without it).
            "PYARMONIK_HTTP_PORT": os.environ.get("PYARMONIK_HTTP_PORT", "0"),
        }

    # -- processes ----------------------------------------------------------
    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.root / "logs" / f"{name}.log").open("ab") as log:  # the child keeps its own descriptor
            return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start_control_plane(self, index: int, port: int = 0) -> int:
        """Starts control plane ``index`` on ``port``; on 0, the one its
        server binds, which it logs (JSON lines: read without guessing)."""
        log = self.root / "logs" / f"control-plane-{index}.log"
        start = log.stat().st_size if log.exists() else 0  # a restart appends to the same log
        command = [
            sys.executable, "-m", "pyarmonik", "control-plane", "--log-format", "json", "--log-level", "INFO",
            "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        process = self._spawn(f"control-plane-{index}", command, self.environment())
        self.control_planes[index] = process
        bound = int(wait_for(lambda: _listening_port(log, start, process), timeout=STARTUP_TIMEOUT, interval=0.1))
        self.ports[index] = bound
        wait_for(lambda: self._answers(bound), timeout=STARTUP_TIMEOUT, interval=0.1)
        return bound

    def start_agent(self, index: int) -> Agent:
        sockets = self._sockets / str(index)
        sockets.mkdir()
        env = self._agent_environment(sockets)
        agent = Agent(
            index,
            self._spawn(f"agent-{index}", self._agent_command(index, sockets), env),
            self._spawn(f"worker-{index}", self._worker_command(sockets), env),
            sockets,
        )
        self.agents[index] = agent
        return agent

    def restart_agent(self, index: int) -> None:
        """A new agent process with the same id, sockets and shared folder
        (a container restarted in its pod); its worker is left running."""
        agent = self.agents[index]
        env = self._agent_environment(agent.sockets)
        agent.agent = self._spawn(f"agent-{index}", self._agent_command(index, agent.sockets), env)

    def restart_worker(self, index: int) -> None:
        """A new worker container: its supervisor and worker, both killed before."""
        agent = self.agents[index]
        agent.worker = self._spawn(
            f"worker-{index}", self._worker_command(agent.sockets), self._agent_environment(agent.sockets)
        )

    def restart_control_plane(self, index: int) -> None:
        """A new control plane ``index`` on the port the killed one had."""
        self.start_control_plane(index, port=self.ports[index])

    def _agent_command(self, index: int, sockets: pathlib.Path) -> list[str]:
        return [
            sys.executable, "-m", "pyarmonik", "agent", "--partition", "default", "--agent-id", f"agent-{index}",
            "--shared-dir", str(sockets / "shared"), "--lease-seconds", str(self.lease_seconds),
            "--heartbeat-seconds", str(self.lease_seconds / 6), "--grace-seconds", "1",
            "--worker-restart-file", str(sockets / RESTART_FILE),
        ]  # fmt: skip

    @staticmethod
    def _worker_command(sockets: pathlib.Path) -> list[str]:
        """The test worker under the supervisor a pod runs it under: restarted
        in place when its agent asks, never by whoever runs the container."""
        return worker_supervisor.supervised([sys.executable, str(WORKER)], str(sockets / RESTART_FILE))

    def _agent_environment(self, sockets: pathlib.Path) -> dict[str, str]:
        return {
            **self.environment(),
            "ComputePlane__AgentChannel__Address": str(sockets / "agent.sock"),
            "ComputePlane__WorkerChannel__Address": str(sockets / "worker.sock"),
        }

    def address(self, index: int) -> str:
        return f"127.0.0.1:{self.ports[index]}"

    def agent_holding(self, owner_pod_id: str) -> Agent:
        return next(a for a in self.agents.values() if a.agent_id == owner_pod_id)

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        """SIGKILL to the process and its group (nothing gets to clean up)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def logs(self) -> str:
        files = sorted(self.root.glob("logs/*"))
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in files)

    def close(self) -> None:
        processes = [*self.control_planes.values()]
        for agent in self.agents.values():
            processes += [agent.agent, agent.worker]
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(process)
        if self.s3 is not None:
            servers.stop_seaweedfs(self.s3)
        if self.redis is not None:
            servers.stop_redis(self.redis)
        shutil.rmtree(self._sockets, ignore_errors=True)

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                return bool(ArmoniKVersions(channel).list_versions())
        except grpc.RpcError:
            return False


def _listening_port(log: pathlib.Path, start: int, process: subprocess.Popen[bytes]) -> int | None:
    """The port a control plane logged it listens on, past ``start`` in its log."""
    if process.poll() is not None:
        raise AssertionError(f"the control plane exited with status {process.returncode}; see {log}")
    with log.open("rb") as lines:
        lines.seek(start)
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # not a log record (say, a half-written line)
            if isinstance(record, dict) and record.get("logger") == LISTENING_LOGGER:
                found = re.match(r"control plane listening on port (\d+)", str(record.get("message")))
                if found:
                    return int(found[1])
    return None


def start_deployment(root: pathlib.Path, *, control_planes: int, agents: int) -> Deployment:
    (root / "logs").mkdir(parents=True, exist_ok=True)
    deployment = Deployment(root)
    try:
        deployment.start_storage()
        for index in range(control_planes):
            deployment.start_control_plane(index)
        for index in range(agents):
            deployment.start_agent(index)
    except BaseException:
        deployment.close()
        raise
    return deployment
