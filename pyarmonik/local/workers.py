"""Worker processes of the local grid, restarted when they die or when
their agent asks.

Each worker gets the environment the official ``armonik.worker`` SDK reads
(``ComputePlane__WorkerChannel__Address`` and friends), so a user's worker
runs here unchanged. Its output goes to a log file named after it.

Three ways a worker ends, told apart:
- its agent asked for a new one (``agent.worker_restart``: after a call it
  abandoned, a TIMEOUT or a cancel, the old worker may still be running it):
  stopped and started again at once, logged as asked for, never a failure;
- it exited after it opened its socket (it served, or could have: a task
  may well have crashed it): restarted after a short pause;
- it exited without ever opening its socket (a typo in its command, a
  missing module): restarted with a growing back-off, each exit reported in
  one line with the end of its log (CLEF lines decoded: ``worker_log``).
  After ``GIVE_UP_AFTER`` such failed starts in a row the worker counts as
  unable to start; the launcher decides what that means for the grid.
No task, option or cancellation can make a worker fail to start: a task
only runs once its worker has opened its socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from pyarmonik.agent import worker_log, worker_restart
from pyarmonik.local import lifeline

log = logging.getLogger(__name__)

#: Failed starts in a row after which a worker counts as unable to start.
GIVE_UP_AFTER = 3
_BACKOFF_FIRST, _BACKOFF_MAX = 0.2, 5.0
#: How often a running worker's restart file is looked at.
_REQUEST_POLL = 0.05


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
    """Runs ``command`` in a shell until stopped, restarting it when it
    exits, and when asked through ``restart_file``.

    ``socket`` is where it must listen (``ComputePlane__WorkerChannel__Address``):
    a worker that exits without having opened it failed to start.
    ``on_exit`` is called after every exit nobody asked for, once
    ``cannot_start`` and ``last_exit`` describe it.
    """

    def __init__(
        self,
        name: str,
        command: str,
        *,
        env: dict[str, str],
        log_file: Path,
        socket: Path,
        cwd: Path | None = None,
        on_exit: Callable[[WorkerProcess], None] | None = None,
        restart_file: Path | None = None,
    ):
        self.name, self.command, self.env, self.log_file, self.cwd = name, command, env, log_file, cwd
        self.socket, self.restart_file = socket, restart_file
        self.starts = 0
        self.failed_starts = 0
        self.asked_restarts = 0
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
        return self.failed_starts >= GIVE_UP_AFTER

    async def run(self, stop: asyncio.Event) -> None:
        backoff = _BACKOFF_FIRST
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        while not stop.is_set():
            asked = await self._run_once(stop)
            if stop.is_set():
                return
            if asked is not None:
                self.asked_restarts += 1
                log.info("worker %s restarted as its agent asked: %s", self.name, asked)
                backoff = _BACKOFF_FIRST
                continue
            failed = not self.socket.exists()
            self.failed_starts = self.failed_starts + 1 if failed else 0
            backoff = backoff if failed else _BACKOFF_FIRST
            self._report_exit(failed, backoff)
            if self._on_exit is not None:
                self._on_exit(self)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    async def _run_once(self, stop: asyncio.Event) -> str | None:
        """Starts the command and waits until it exits, is asked to restart
        (then stops it) or ``stop`` is set (then kills it); the reason the
        agent gave when it asked, else ``None``."""
        if self.restart_file is not None:
            worker_restart.done(self.restart_file)  # a stale request: this worker is new anyway
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()  # a socket left by the last run: its existence must say this one listened
        with self.log_file.open("ab") as output:
            self._log_start = output.tell()  # this run's output starts here (last_lines reads it only)
            self._process = await asyncio.create_subprocess_exec(
                *lifeline.wrapped(["/bin/sh", "-c", guarded(self.command)], signal.SIGTERM),
                env=self.env,
                stdout=output,
                stderr=output,
                cwd=self.cwd,
                start_new_session=True,
            )
        self.starts += 1
        exited, stopper = asyncio.ensure_future(self._process.wait()), asyncio.ensure_future(stop.wait())
        asker = asyncio.ensure_future(_asked(self.restart_file)) if self.restart_file is not None else None
        waiters = {exited, stopper, *([asker] if asker is not None else [])}
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            asked = asker.result() if asker is not None and asker.done() else None
        finally:
            for waiter in waiters:
                waiter.cancel()
        if stopper.done() or asked is None:
            if stopper.done():
                await self.kill()
            return None
        await self.kill()
        worker_restart.done(self.restart_file)  # type: ignore[arg-type]  # the old worker is gone: its agent goes on
        return asked

    def _report_exit(self, failed: bool, backoff: float) -> None:
        code = self._process.returncode if self._process is not None else None
        how = f"before listening on {self.socket}" if failed else "after listening on its socket"
        self.last_exit = f"worker {self.name} ({self.command}) exited with code {code} {how}: {self.last_lines()}"
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
        return " | ".join(worker_log.decode(line).strip() for line in lines[-count:]) if lines else "(its log is empty)"

    async def kill(self, grace: float = 3.0) -> None:
        """Stops the current process (SIGTERM, then SIGKILL after ``grace``)."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def _asked(restart_file: Path) -> str:
    """The reason of a restart request, once there is one."""
    while (reason := worker_restart.take(restart_file)) is None:
        await asyncio.sleep(_REQUEST_POLL)
    return reason
