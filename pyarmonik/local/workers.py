"""Worker processes of the local grid, restarted when they die.

Each worker gets the environment the official ``armonik.worker`` SDK reads
(``ComputePlane__WorkerChannel__Address`` and friends), so a user's worker
runs here unchanged. Its output goes to a log file named after it.

A worker that exits straight after starting (a typo in its command, a
missing module) is restarted with a growing back-off, and each such exit is
reported in one line with the last lines of its log: the error a user needs
is there, not in a file they do not know of. After ``GIVE_UP_AFTER`` such
exits in a row the worker counts as unable to start; the launcher decides
what that means for the grid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

#: A worker that exits sooner than this after starting never served a task.
QUICK_EXIT_SECONDS = 5.0
#: Quick exits in a row after which a worker counts as unable to start.
GIVE_UP_AFTER = 3
_BACKOFF_FIRST, _BACKOFF_MAX = 0.2, 5.0


def worker_environment(*, worker_socket: Path, agent_socket: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ComputePlane__WorkerChannel__Address": str(worker_socket),
        "ComputePlane__WorkerChannel__SocketType": "unixdomainsocket",
        "ComputePlane__AgentChannel__Address": str(agent_socket),
        "ComputePlane__AgentChannel__SocketType": "unixdomainsocket",
        "PYTHONUNBUFFERED": "1",
    }


class WorkerProcess:
    """Runs ``command`` in a shell until stopped, restarting it when it exits.

    ``on_exit`` is called after every unexpected exit, once ``cannot_start``
    and ``last_exit`` describe it.
    """

    def __init__(
        self,
        name: str,
        command: str,
        *,
        env: dict[str, str],
        log_file: Path,
        cwd: Path | None = None,
        on_exit: Callable[[WorkerProcess], None] | None = None,
    ):
        self.name, self.command, self.env, self.log_file, self.cwd = name, command, env, log_file, cwd
        self.starts = 0
        self.quick_exits = 0
        self.last_exit = ""
        self._on_exit = on_exit
        self._process: asyncio.subprocess.Process | None = None

    @property
    def cannot_start(self) -> bool:
        return self.quick_exits >= GIVE_UP_AFTER

    async def run(self, stop: asyncio.Event) -> None:
        backoff = _BACKOFF_FIRST
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        while not stop.is_set():
            started = time.monotonic()
            with self.log_file.open("ab") as output:
                self._process = await asyncio.create_subprocess_shell(
                    self.command, env=self.env, stdout=output, stderr=output, cwd=self.cwd, start_new_session=True
                )
            self.starts += 1
            waiter = asyncio.ensure_future(self._process.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if stop.is_set():
                await self.kill()
                return
            quick = time.monotonic() - started < QUICK_EXIT_SECONDS
            self.quick_exits = self.quick_exits + 1 if quick else 0
            backoff = backoff if quick else _BACKOFF_FIRST
            self._report_exit(quick, backoff)
            if self._on_exit is not None:
                self._on_exit(self)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _report_exit(self, quick: bool, backoff: float) -> None:
        code = self._process.returncode if self._process is not None else None
        when = "at once" if quick else "after running a while"
        self.last_exit = f"worker {self.name} ({self.command}) exited {when} with code {code}: {self.last_lines()}"
        log.warning("%s; restarting in %.1f s (log: %s)", self.last_exit, backoff, self.log_file)

    def last_lines(self, count: int = 3) -> str:
        """The end of the worker's log, on one line."""
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(max(handle.seek(0, os.SEEK_END) - 4096, 0))
                lines = handle.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in lines[-count:]) if lines else "(its log is empty)"

    async def kill(self, grace: float = 3.0) -> None:
        """Stops the current process (SIGTERM, then SIGKILL); ``run`` restarts
        it unless stopping. Used too for a worker stuck in a cancelled task."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
