"""What one run does and what it measured, whatever the system.

A ``Workload`` is the same for every system (tasks, task duration, payload
and result sizes, worker processes); a ``Run`` holds one system's clocks:
the four phases as ArmoniK's benchmark separates them and, per task, the
latency from its submission to its result being available. Every clock is
``time.perf_counter`` of the client's process, so systems compare.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: The phases, in the order a run goes through them.
PHASES = ("submission", "processing", "retrieval", "end_to_end")
PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Workload:
    tasks: int
    duration_ms: float
    payload_bytes: int
    result_bytes: int
    workers: int
    timeout_s: float

    @property
    def payload(self) -> bytes:
        return b"p" * self.payload_bytes

    def scaled(self, tasks: int) -> Workload:
        """The same workload with another task count (the warm-up's)."""
        return Workload(tasks, self.duration_ms, self.payload_bytes, self.result_bytes, self.workers, self.timeout_s)


#: Advances a progress bar by a number of units (tasks, results).
Advance = Callable[[int], None]
#: Opens a progress bar: (phase, total) -> its ``Advance``.
Tracker = Callable[[str, int], Advance]


def no_progress(phase: str, total: int) -> Advance:
    return lambda _: None


@dataclass
class Run:
    """One run of one system. ``started`` is the clock when the first task
    was submitted; ``submitted``/``available`` are per task, same clock."""

    system: str
    tasks: int
    started: float = field(default_factory=time.perf_counter)
    submission_end: float = 0.0
    processing_end: float = 0.0
    retrieval_end: float = 0.0
    submitted: list[float] = field(default_factory=list)
    available: list[float] = field(default_factory=list)

    def phase_seconds(self) -> dict[str, float]:
        """Submission: first submit to last submit call returned. Processing:
        first result available to last (the rate the system drains work at;
        it overlaps submission). Retrieval: every result downloaded after the
        last became available. End to end: first submit to last result
        downloaded."""
        first = min(self.available, default=self.started)
        drained = self.processing_end - first
        return {
            "submission": self.submission_end - self.started,
            # One task (or all at once): from the first submit instead.
            "processing": drained if drained > 0 else self.processing_end - self.started,
            "retrieval": self.retrieval_end - self.processing_end,
            "end_to_end": self.retrieval_end - self.started,
        }

    def summary(self) -> dict[str, object]:
        seconds = self.phase_seconds()
        phases = {
            name: {"count": self.tasks, "seconds": round(s, 6), "rate": round(self.tasks / s, 1) if s > 0 else 0.0}
            for name, s in seconds.items()
        }
        latencies = sorted(a - s for a, s in zip(self.available, self.submitted))
        return {
            "system": self.system,
            "tasks": self.tasks,
            "phases": phases,
            "latency_s": {f"p{q}": round(percentile(latencies, q), 6) for q in PERCENTILES}
            | {"max": round(latencies[-1], 6) if latencies else 0.0},
            # Seconds since the first submit at which each result became available.
            "completed_at_s": [round(a - self.started, 4) for a in sorted(self.available)],
        }


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty):
    monotone in ``q``, so p50 <= p95 <= p99 always."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class BenchError(RuntimeError):
    """A system could not run the workload: one line naming what failed."""
