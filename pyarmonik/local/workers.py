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

from pyarmonik.local import lifeline

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


def guarded(command: str) -> str:
    """``command`` in a shell that, on SIGTERM, passes it on to its whole
    process group: the shell gets SIGTERM when ``local`` dies (``lifeline``),
    and the worker it started, which the kernel does not signal, must die
    too. The command runs in the background so that the shell's ``wait``,
    unlike a foreground command, lets the trap run at once; the shell exits
    with the command's code."""
    return f"trap 'trap - TERM; kill 0' TERM\n{{ {command}\n}} &\nwait $!"


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
        pid_file: Path | None = None,
    ):
        """``pid_file`` holds the process group of the running command, for
        the agent next to it to kill when its worker may be stuck."""
        self.name, self.command, self.env, self.log_file, self.cwd = name, command, env, log_file, cwd
        self.pid_file = pid_file
        self.starts = 0
        self.quick_exits = 0
        self.last_exit = ""
        self._on_exit = on_exit
        self._process: asyncio.subprocess.Process | None = None
        #: Where the current run's output starts in the log (earlier runs' are above).
        self._log_start = 0

    @property
    def pid(self) -> int | None:
        """The running command's shell (its process group), ``None`` between runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    @property
    def cannot_start(self) -> bool:
        return self.quick_exits >= GIVE_UP_AFTER

    async def run(self, stop: asyncio.Event) -> None:
        backoff = _BACKOFF_FIRST
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        while not stop.is_set():
            started = time.monotonic()
            with self.log_file.open("ab") as output:
                self._log_start = output.tell()
                self._process = await asyncio.create_subprocess_exec(
                    *lifeline.wrapped(["/bin/sh", "-c", guarded(self.command)], signal.SIGTERM),
                    env=self.env,
                    stdout=output,
                    stderr=output,
                    cwd=self.cwd,
                    start_new_session=True,
                )
            if self.pid_file is not None:
                self.pid_file.write_text(str(self._process.pid))
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
        """The end of the last run's log, on one line (a command that fails
        at once writes the same error at each restart: once is enough)."""
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(max(handle.seek(0, os.SEEK_END) - 4096, self._log_start))
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
