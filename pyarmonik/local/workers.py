"""Worker processes of the local grid, restarted when they die.

Each worker gets the environment the official ``armonik.worker`` SDK reads
(``ComputePlane__WorkerChannel__Address`` and friends), so a user's worker
runs here unchanged. Its output goes to a log file named after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger(__name__)

_BACKOFF_MAX = 5.0


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
    """Runs ``command`` in a shell until stopped, restarting it when it exits."""

    def __init__(self, name: str, command: str, *, env: dict[str, str], log_file: Path, cwd: Path | None = None):
        self.name, self.command, self.env, self.log_file, self.cwd = name, command, env, log_file, cwd
        self.starts = 0
        self._process: asyncio.subprocess.Process | None = None

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        while not stop.is_set():
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
            log.warning(
                "worker %s exited with code %s; restarting (log: %s)",
                self.name,
                self._process.returncode,
                self.log_file,
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _last_line(self) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(max(handle.seek(0, os.SEEK_END) - 4096, 0))
                lines = handle.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return lines[-1] if lines else "(nothing)"

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
