"""What a control-plane or agent process started by ``pyarmonik local``
tells it back, through variables only ``local`` sets (not settings: nobody
else has a use for them).

- ``PYARMONIK_LOCAL_READY_FD``: a pipe on which the process writes one JSON
  line once it serves, with the ports it bound (``local`` asks for port 0
  and must learn the real ones); then it closes it.
- ``PYARMONIK_LOCAL_WORKER_PID_FILE``: the file holding the process group of
  the agent's worker, which ``local`` starts and restarts; the agent kills
  that group when a cancelled call may keep the worker busy, and ``local``
  starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

READY_FD = "PYARMONIK_LOCAL_READY_FD"
WORKER_PID_FILE = "PYARMONIK_LOCAL_WORKER_PID_FILE"
_KILL_GRACE = 3.0


def announce(**ports: int | None) -> None:
    """Tells ``local`` this process serves, on ``ports``; nothing when not under ``local``."""
    fd = os.environ.pop(READY_FD, None)
    if fd is None:
        return
    with open(int(fd), "w", closefd=True) as pipe:
        pipe.write(json.dumps(ports) + "\n")


def worker_restarter() -> Callable[[], Awaitable[None]] | None:
    """Kills the worker next to this agent, for ``local`` to restart it; ``None``
    when not under ``local`` (in a pod, the kubelet restarts the worker)."""
    path = os.environ.get(WORKER_PID_FILE)
    if not path:
        return None
    pid_file = Path(path)

    async def restart() -> None:
        try:
            group = int(pid_file.read_text())
        except (OSError, ValueError):
            return  # not started yet, or between two starts
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + _KILL_GRACE
            while loop.time() < deadline:
                os.killpg(group, 0)  # ProcessLookupError once the group is gone
                await asyncio.sleep(0.05)
            os.killpg(group, signal.SIGKILL)

    return restart
