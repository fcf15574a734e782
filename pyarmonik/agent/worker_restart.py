"""The agent asks whoever runs its worker for a fresh worker process.

After a call the agent abandoned (a TIMEOUT, a cancel, a lost lease, a
stop), a worker may still be running it: the official SDK serves one call
at a time, so it would take no task until its processing function returns,
maybe never. The agent cannot restart the worker itself: the worker is
another process, in a pod another container, and a container that exits is
restarted by the kubelet with a growing back-off (CrashLoopBackOff after a
few timeouts in a row). So it asks the worker's supervisor, through a file
both see: it writes the reason into ``worker_restart_file``; the supervisor
(``pyarmonik local``'s, or the shell supervisor the operator runs a pod's
worker command under: ``operator.builders.worker_supervisor``) stops the
worker, deletes the file once it is gone, and starts a new one at once.
Such a restart is not a failure, and is logged as asked for.

A supervisor deletes a request it finds when it starts its worker (a stale
one, of an agent that died asking): the worker it starts is fresh anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

#: How long the agent waits for its supervisor to take a request: the
#: supervisor's SIGTERM grace (3 s) and a slow start of its poll, with margin.
TAKEN_WITHIN = 15.0
_POLL = 0.05


class RestartRequests:
    """Restart requests to the supervisor watching ``path``. None once
    ``stopping`` is set: the agent needs no new worker then, and in a pod
    the worker's supervisor is stopping too (a request nobody takes would
    hold the agent's release of its task)."""

    def __init__(
        self, path: Path, *, stopping: asyncio.Event | None = None, taken_within: float = TAKEN_WITHIN
    ) -> None:
        self.path, self._taken_within = path, taken_within
        self._stopping = stopping if stopping is not None else asyncio.Event()

    async def __call__(self, reason: str) -> bool:
        """Asks for a new worker because of ``reason``; returns once the old
        worker is gone (True), or False when stopping or when no supervisor
        took the request in time (it is then withdrawn, and the worker
        waited for instead)."""
        if self._stopping.is_set():
            return False
        staged = self.path.with_name(self.path.name + ".new")
        staged.write_text(reason.replace("\n", " ") + "\n")
        os.replace(staged, self.path)  # whole, or not at all: the supervisor never reads half a reason
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._taken_within
        while self.path.exists():
            if self._stopping.is_set():
                done(self.path)
                return False
            if loop.time() >= deadline:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                log.warning(
                    "no supervisor took the worker restart request %s within %.0f s: waiting for the worker instead "
                    "(is the worker run by pyarmonik local or the operator's worker supervisor?)",
                    self.path,
                    self._taken_within,
                )
                return False
            await asyncio.sleep(_POLL)
        return True


def take(path: Path) -> str | None:
    """The supervisor's side: the reason of a pending request, ``None`` when
    there is none. The request stays until ``done``."""
    try:
        return path.read_text().strip() or "no reason given"
    except FileNotFoundError:
        return None


def done(path: Path) -> None:
    """The supervisor's side: the old worker is gone, the agent may go on."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
