"""The control plane and the agents of ``pyarmonik local``, each in its own
process: ``pyarmonik control-plane`` / ``agent``, the commands of a shared
deployment, so ``local`` uses every core.

A child imports the PyArmoniK that runs ``local``, whatever the current
folder: ``python -m pyarmonik`` would put that folder first on
``sys.path``, and a ``pyarmonik`` folder there (the parent of a clone,
another checkout) would be imported instead (``entry_point``).

A child gets its settings as environment variables rendered from its
settings model, the way the operator renders pod environments
(``operator.env.settings_env``: one mapping for both), and nothing else of
``local``'s ``PYARMONIK_*`` variables. It logs JSON lines, which ``local``
reads and hands to its own logging under the child's logger names, so its
console shows every process's lines as before (and tests' log captures
see them). It tells ``local`` when it serves and on which ports
(``processes.supervised``). It runs in its own session, so Ctrl-C reaches
``local`` only, which stops the children in order; it dies with ``local``
(``lifeline``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import signal
import sys
from typing import Any, Generic, TypeVar

from pydantic_settings import BaseSettings

from pyarmonik.core import logcontext
from pyarmonik.local import lifeline
from pyarmonik.operator import env
from pyarmonik.processes import supervised

log = logging.getLogger(__name__)

S = TypeVar("S", bound=BaseSettings)

START_TIMEOUT = 60.0
_KEPT_LINES = 5
#: Variables of ``local``'s own environment a child must not read: its
#: settings are rendered from the model, and an alias (``ComputePlane__*``)
#: left over would contradict them.
_OWN_PREFIXES = ("PYARMONIK_", "ComputePlane__")
#: Loggers whose INFO lines, repeated by every child, say what ``local``
#: chose for them (its Redis, probe ports on 127.0.0.1): shown at DEBUG.
_PLUMBING = frozenset({"pyarmonik.processes.wiring", "pyarmonik.processes.probes"})
#: ``pyarmonik COMMAND`` as the console script runs it: ``python -c`` puts the
#: current folder ("") first on ``sys.path``, taken off before the import
#: (``-P``, which adds nothing, exists from Python 3.11 only).
_ENTRY = 'import sys\nif sys.path[:1] == [""]:\n    del sys.path[0]\nfrom pyarmonik.cli import main\nmain()\n'


def entry_point(command: str) -> list[str]:
    """The argv of ``pyarmonik command`` with this interpreter and its installed package."""
    return [sys.executable, "-c", _ENTRY, command]


def environment(config: BaseSettings, **internal: str) -> dict[str, str]:
    """``os.environ`` minus its settings, plus ``config``'s, as JSON logs."""
    model = type(config)
    values: dict[str, Any] = {name: getattr(config, name) for name in model.model_fields}
    values["log_format"] = "json"
    rendered = {item["name"]: item["value"] for item in env.settings_env(model, **values)}
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    return {**inherited, **rendered, **internal}


class Child(Generic[S]):
    """``pyarmonik <command>`` with ``config``; ``start`` returns once it
    serves, with the ports it announced."""

    def __init__(self, name: str, command: str, config: S, **internal: str) -> None:
        self.name, self.command, self.config, self.internal = name, command, config, internal
        self.process: asyncio.subprocess.Process | None = None
        self.ports: dict[str, int | None] = {}
        self.stopping = False
        self._lines: collections.deque[str] = collections.deque(maxlen=_KEPT_LINES)
        self._relay: asyncio.Future[None] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process is not None else None

    async def start(self) -> dict[str, int | None]:
        ready, announce = os.pipe()
        try:
            self.process = await asyncio.create_subprocess_exec(
                *lifeline.wrapped(entry_point(self.command)),
                env=environment(self.config, **self.internal, **{supervised.READY_FD: str(announce)}),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=(announce,),
                start_new_session=True,
            )
        finally:
            os.close(announce)
        self._relay = asyncio.ensure_future(self._relay_output())
        reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(lambda: protocol, os.fdopen(ready, "rb", 0))
        try:
            line = await asyncio.wait_for(reader.readline(), START_TIMEOUT)
        except TimeoutError:
            await self.stop(grace=1)
            raise RuntimeError(f"{self.name} did not start within {START_TIMEOUT:.0f} s: {self.failure()}") from None
        finally:
            transport.close()
        if not line:  # the pipe closed unwritten: the child exited before serving
            await self.process.wait()
            await self._relay
            raise RuntimeError(self.failure())
        self.ports = json.loads(line)
        return self.ports

    def failure(self) -> str:
        """Why it exited, in one line: its own error line when it printed one."""
        for line in reversed(self._lines):
            if ": error: " in line:
                return line.split(": error: ", 1)[1]
        last = self._lines[-1] if self._lines else "no output"
        return f"{self.name} exited with code {self.returncode}: {last}"

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after ``grace``; its last lines relayed."""
        self.stopping = True
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                log.warning("%s (pid %d) did not stop within %.1f s: killed", self.name, process.pid, grace)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._relay is not None:
            await self._relay

    async def _relay_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := await self.process.stdout.readline():
            text = line.decode(errors="replace").rstrip()
            if text:
                self._relay_line(text)

    def _relay_line(self, text: str) -> None:
        try:
            entry = json.loads(text)
            name, level, message = entry.pop("logger"), entry.pop("level"), entry.pop("message")
        except (ValueError, KeyError, TypeError, AttributeError):
            self._lines.append(text)  # not a log line: a traceback, the command's own error line
            # Its error line is what `failure` reports, when `local` stops for it: once is enough.
            own_error = ": error: " in text and not self.stopping
            log.log(logging.DEBUG if own_error else logging.WARNING, "%s: %s", self.name, text)
            return
        self._lines.append(message)
        entry.pop("time", None)
        problem = entry.pop("exception", None)
        levelno = logging.getLevelName(level)
        if name in _PLUMBING and levelno == logging.INFO:
            levelno = logging.DEBUG
        logger = logging.getLogger(name)
        if not logger.isEnabledFor(levelno):  # ``handle`` does not check the level: ``log`` would
            return
        record = logger.makeRecord(name, levelno, "(child)", 0, message, (), None)
        if problem:
            record.msg, record.args = "%s\n%s", (message, problem)
        with logcontext.bind(**{key: str(value) for key, value in entry.items()}):
            logger.handle(record)
