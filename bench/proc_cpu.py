"""CPU time of processes from ``/proc/<pid>/stat``: user + system time of
every thread of the process (its waited-for children not included).

A benchmark takes a reading of each process before and after its measured
window; the difference per task is the load-independent view of what a
task costs (a busy machine stretches wall time, not CPU time much).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (fields 14 and 15; the command name, field 2,
    may hold spaces and parentheses, so fields are counted from its end)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class CpuMeter:
    """Readings of named groups of processes (a group: e.g. every agent process)."""

    groups: Mapping[str, list[int]]
    _before: dict[str, float] = field(default_factory=dict)

    def total(self, name: str) -> float:
        return sum(cpu_seconds(pid) for pid in self.groups[name])

    def start(self) -> None:
        self._before = {name: self.total(name) for name in self.groups}

    def stop(self) -> dict[str, float]:
        """Seconds of CPU each group used since ``start``."""
        return {name: self.total(name) - before for name, before in self._before.items()}
