"""What an agent knows of its own health, for probes and metrics.

The pollster updates it as it goes; the probe endpoint only reads it, so a
probe never touches storage or the worker (a probe that waits on Redis
would restart agents during a Redis restart they are built to wait out).

- live: the agent's loop runs (answering at all proves the event loop).
- ready: storage answered the last poll, the worker is ready, not draining.
- worker live: the worker served before and has not become unresponsive for
  longer than ``stuck_seconds`` since (after a cancelled or timed-out call
  the official SDK's single-threaded worker may stay busy for good: the
  worker container's liveness probe, pointed here, lets the kubelet
  restart it).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from pyarmonik.agent import outage


class AgentState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DRAINING = "draining"
    STOPPED = "stopped"


class AgentHealth:
    def __init__(self, *, stuck_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stuck_seconds, self._clock = stuck_seconds, clock
        self.state = AgentState.STARTING
        self.storage = outage.Outage(clock=clock)
        self._worker_waiting_since: float | None = None
        self._worker_served = False

    # -- written by the pollster ------------------------------------------
    def waiting_for_worker(self) -> None:
        if self._worker_waiting_since is None:
            self._worker_waiting_since = self._clock()

    def worker_ready(self) -> None:
        self._worker_waiting_since = None
        self._worker_served = True

    # -- read by probes ---------------------------------------------------
    def live(self) -> tuple[bool, str]:
        return self.state is not AgentState.STOPPED, f"agent {self.state.value}"

    def ready(self) -> tuple[bool, str]:
        if self.state in (AgentState.DRAINING, AgentState.STOPPED):
            return False, f"agent {self.state.value}: takes no new task"
        if self.storage.down_for() is not None:
            return False, f"storage unavailable for {self.storage.down_for():.0f} s"
        if self._worker_waiting_since is not None or not self._worker_served:
            return False, "waiting for the worker to serve"
        return True, f"agent {self.state.value}"

    def worker_live(self) -> tuple[bool, str]:
        if self._worker_waiting_since is None or not self._worker_served:
            return True, "worker serving" if self._worker_served else "worker starting"
        waited = self._clock() - self._worker_waiting_since
        if waited > self.stuck_seconds:
            return False, f"worker unresponsive for {waited:.0f} s after its last task (limit {self.stuck_seconds} s)"
        return True, f"worker unresponsive for {waited:.0f} s; restarted after {self.stuck_seconds} s"
