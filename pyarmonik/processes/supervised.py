"""What a control-plane or agent process started by ``pyarmonik local``
tells it back, and what ``local`` tells its agents of their workers, through
variables only ``local`` sets (not settings: nobody else has a use for them).

- ``PYARMONIK_LOCAL_READY_FD``: a pipe on which the process writes one JSON
  line once it serves, with the ports it bound (``local`` asks for port 0
  and must learn the real ones); then it closes it.
- ``PYARMONIK_LOCAL_WORKER_COMMAND``, ``PYARMONIK_LOCAL_WORKER_LOG``: the
  command of the agent's worker, which ``local`` runs, and the file its
  output goes to, for the agent to name them when the worker does not serve
  or fails a task (and to read what it raised). The agent asks ``local``
  for a new worker through its ``worker_restart_file`` setting, as in a pod.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

READY_FD = "PYARMONIK_LOCAL_READY_FD"
WORKER_COMMAND = "PYARMONIK_LOCAL_WORKER_COMMAND"
WORKER_LOG = "PYARMONIK_LOCAL_WORKER_LOG"


def announce(**ports: int | None) -> None:
    """Tells ``local`` this process serves, on ``ports``; nothing when not under ``local``."""
    fd = os.environ.pop(READY_FD, None)
    if fd is None:
        return
    with open(int(fd), "w", closefd=True) as pipe:
        pipe.write(json.dumps(ports) + "\n")


@dataclass(frozen=True)
class WorkerInfo:
    """What ``local`` told an agent of its worker (nothing, elsewhere)."""

    command: str | None = None
    log_file: Path | None = None

    def variables(self) -> dict[str, str]:
        """The variables that tell it, for the agent's environment."""
        told = {WORKER_COMMAND: self.command, WORKER_LOG: str(self.log_file) if self.log_file else None}
        return {name: value for name, value in told.items() if value}

    @classmethod
    def told(cls) -> WorkerInfo:
        log_file = os.environ.get(WORKER_LOG)
        return cls(os.environ.get(WORKER_COMMAND) or None, Path(log_file) if log_file else None)
