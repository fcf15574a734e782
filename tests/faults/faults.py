"""The faults of a campaign: a schedule drawn from a seed, and the thread
that injects it into a running deployment.

Kinds, as a cluster meets them:
- ``agent``: SIGKILL of an agent (its worker keeps running), restarted with
  the same id, like a container restarted in its pod;
- ``worker``: SIGKILL of a worker process, restarted;
- ``control_plane``: SIGKILL of a control plane, restarted on its port;
- ``redis``: SIGKILL of Redis, restarted on its AOF files;
- ``s3``: the S3 server stopped (SIGSTOP) for a few seconds, then resumed;
- ``timeout``: the client submits a task that never ends by itself, with a
  max_duration of ``down`` seconds (``workload.Timeouts``): it times out,
  and its worker, busy with it, is restarted at its agent's request.

The schedule (times, kinds, targets, how long each component stays down)
is a pure function of the seed; what the grid was doing when each fault
hit is not, so the report lists when each one was actually injected.

Between faults the injector also supervises: a component that exited
without being killed is counted (an anomaly: components wait storage out)
and restarted, as Kubernetes would.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.deployment import Deployment
from tests.faults import workload

log = logging.getLogger(__name__)

SUPERVISE_EVERY = 1.0


class Kind(enum.Enum):
    AGENT = "agent"
    WORKER = "worker"
    CONTROL_PLANE = "control_plane"
    REDIS = "redis"
    S3 = "s3"
    TIMEOUT = "timeout"


#: How often each kind is drawn: processes die more often than storage does.
WEIGHTS = {Kind.AGENT: 3, Kind.WORKER: 3, Kind.CONTROL_PLANE: 2, Kind.REDIS: 1.5, Kind.S3: 1.5, Kind.TIMEOUT: 2}


@dataclass(frozen=True, slots=True)
class Fault:
    at: float  # seconds after the campaign started
    kind: Kind
    target: int  # agent or control plane index (unused for storage)
    down: float  # seconds the component stays down (or S3 stays stopped)


def schedule(seed: int, *, faults: int, duration: float, agents: int, control_planes: int) -> list[Fault]:
    """``faults`` faults spread over ``duration`` seconds, from ``seed`` only."""
    rng = random.Random(seed)
    kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
    times = sorted(rng.uniform(0.05 * duration, duration) for _ in range(faults))
    drawn = []
    for at in times:
        kind = rng.choices(kinds, weights)[0]
        target = rng.randrange(control_planes if kind is Kind.CONTROL_PLANE else agents)
        if kind is Kind.S3:
            down = rng.uniform(1.0, 5.0)
        else:  # a max_duration for a timeout: never 0, which would mean the session's own
            down = rng.uniform(0.5, 2.0) if kind is Kind.TIMEOUT else rng.uniform(0.0, 2.0)
        drawn.append(Fault(round(at, 3), kind, target, round(down, 3)))
    return drawn


@dataclass
class Injected:
    fault: Fault
    started: float  # seconds after the campaign started
    seconds: float  # how long the injection (kill, downtime, restart) took
    error: str = ""
    wall: float = 0.0  # time.time() when it started

    def breaks_streams_of(self, control_plane: int) -> bool:
        """Whether it cuts the event streams served by ``control_plane``."""
        kind = self.fault.kind
        return kind is Kind.REDIS or (kind is Kind.CONTROL_PLANE and self.fault.target == control_plane)


@dataclass
class Injector:
    deployment: Deployment
    plan: list[Fault]
    timeouts: workload.Timeouts | None = None
    started: float = field(default_factory=time.monotonic)
    done: list[Injected] = field(default_factory=list)
    unexpected_exits: list[str] = field(default_factory=list)
    plan_done: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="faults", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def _run(self) -> None:
        """The plan, then supervision only, until stopped."""
        for fault in self.plan:
            if not self._supervise_until(self.started + fault.at):
                return
            self._inject(fault)
        self.plan_done.set()
        self._supervise_until(float("inf"))

    def _supervise_until(self, moment: float) -> bool:
        """Supervises until ``moment``; ``False`` when stopped first."""
        while (remaining := moment - time.monotonic()) > 0:
            if self._stop.wait(min(SUPERVISE_EVERY, remaining)):
                return False
            self._supervise()
        return True

    def _supervise(self) -> None:
        """Restarts what died without being killed."""
        d = self.deployment
        for index, process in list(d.control_planes.items()):
            if process.poll() is not None:
                self._exited(f"control plane {index}", process.returncode, lambda i=index: d.restart_control_plane(i))
        for index, agent in d.agents.items():
            if agent.agent.poll() is not None:
                self._exited(f"agent {index}", agent.agent.returncode, lambda i=index: d.restart_agent(i))
            if agent.worker.poll() is not None:
                self._exited(f"worker {index}", agent.worker.returncode, lambda i=index: d.restart_worker(i))
        if d.redis is not None and d.redis.process.poll() is not None:
            self._exited("redis", d.redis.process.returncode, d.restart_redis)

    def _exited(self, what: str, status: int | None, restart: Callable[[], None]) -> None:
        at = time.monotonic() - self.started
        self.unexpected_exits.append(f"{what} exited with status {status} at {at:.1f} s")
        log.warning("%s exited on its own (status %s); restarting it", what, status)
        try:
            restart()
        except Exception:
            log.exception("%s could not be restarted; will try again", what)

    def _inject(self, fault: Fault) -> None:
        began = time.monotonic()
        record = Injected(fault, round(began - self.started, 3), 0.0, wall=time.time())
        log.info("fault %s on %s (down %.1f s)", fault.kind.value, fault.target, fault.down)
        try:
            inject(self.deployment, fault, timeouts=self.timeouts)
        except Exception as error:  # a component that cannot come back is reported, not hidden
            record.error = f"{type(error).__name__}: {error}"
            log.exception("fault %s could not be injected or recovered from", fault)
        record.seconds = round(time.monotonic() - began, 3)
        self.done.append(record)


def inject(deployment: Deployment, fault: Fault, *, timeouts: workload.Timeouts | None = None) -> None:
    """One fault, and the restart that ends it (a timeout ends by itself)."""
    d = deployment
    if fault.kind is Kind.AGENT:
        d.kill(d.agents[fault.target].agent)
        time.sleep(fault.down)
        d.restart_agent(fault.target)
    elif fault.kind is Kind.WORKER:
        d.kill(d.agents[fault.target].worker)
        time.sleep(fault.down)
        d.restart_worker(fault.target)
    elif fault.kind is Kind.CONTROL_PLANE:
        d.kill(d.control_planes[fault.target])
        time.sleep(fault.down)
        d.restart_control_plane(fault.target)
    elif fault.kind is Kind.REDIS:
        d.restart_redis(down_seconds=fault.down)
    elif fault.kind is Kind.TIMEOUT:
        if timeouts is None:
            raise ValueError("a timeout fault needs the campaign's client (Injector.timeouts)")
        timeouts.submit(fault.down)
    else:
        d.pause_s3(fault.down)
