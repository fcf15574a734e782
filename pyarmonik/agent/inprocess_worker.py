"""The ``Worker`` adapter that runs a task as a Python function in the
agent's own process: no worker process, no gRPC.

The function has the official SDK's ``TaskHandler -> Output`` shape: it
gets a ``TaskHandler`` (the task's ids and options, its payload and data
dependencies read from the data folder, ``send_results`` for its expected
outputs) and returns ``None`` or an ``Output``-like object (``error`` is
``None`` for success, else the message). What it sends goes through the
task's ``TaskContext`` exactly as a gRPC worker's ``NotifyResultData``
does (a file in the data folder, notified), so what is committed, when and
how is the pollster's business, whatever the adapter.

A coroutine function runs on the agent's event loop (cancelled on timeout,
cancel or stop); a plain function runs in a thread, so that it cannot stall
the loop (its lease keeper, other agents sharing the process): on timeout
its thread is abandoned, as Python cannot stop it. Replies: the ``Output``'s
error is ERROR, an exception is CRASH (the retry path), exceeding the
task's ``max_duration`` is TIMEOUT.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol

from pyarmonik.agent.task_context import TaskContext
from pyarmonik.agent.worker import WorkerReply
from pyarmonik.core import errors
from pyarmonik.core.models import TaskOptions
from pyarmonik.lifecycle.outcomes import Outcome

log = logging.getLogger(__name__)


class OutputLike(Protocol):
    """``armonik.common.Output``'s contract: ``error`` is None on success."""

    @property
    def error(self) -> str | None: ...


TaskFunction = Callable[["TaskHandler"], "OutputLike | Awaitable[OutputLike | None] | None"]


class DataFiles(Mapping[str, bytes]):
    """Result id -> its data, read from the data folder on first access (as
    the SDK's ``LazyLoadDict``): a function that ignores its inputs reads none."""

    def __init__(self, folder: Path, result_ids: list[str]) -> None:
        self._folder, self._ids = folder, list(dict.fromkeys(result_ids))
        self._read: dict[str, bytes] = {}

    def __getitem__(self, result_id: str) -> bytes:
        if result_id not in self._ids:
            raise KeyError(result_id)
        if result_id not in self._read:
            self._read[result_id] = (self._folder / result_id).read_bytes()
        return self._read[result_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class TaskHandler:
    """What the function sees of its task: the SDK ``TaskHandler``'s
    attributes and ``send_results`` (``task_options`` is PyArmoniK's
    ``TaskOptions``, ``data_folder`` a ``Path``); the SDK's other agent
    calls (creating results, submitting tasks) are not offered."""

    def __init__(self, ctx: TaskContext) -> None:
        task = ctx.task
        self.session_id: str = task.session_id
        self.task_id: str = task.task_id
        self.task_options: TaskOptions = task.options
        self.expected_results: list[str] = list(task.expected_output_ids)
        self.payload_id: str = task.payload_id
        self.data_folder: Path = ctx.data_folder
        self.data_dependencies = DataFiles(ctx.data_folder, task.data_dependencies)
        self._payload = DataFiles(ctx.data_folder, [task.payload_id])
        #: Result ids whose data the function wrote, notified when it returns.
        self.sent: list[str] = []

    @property
    def payload(self) -> bytes:
        return self._payload[self.payload_id]

    def send_results(self, data: Mapping[str, bytes]) -> None:
        """Writes each result's data into the data folder, as the SDK does
        before its NotifyResultData."""
        for result_id, value in data.items():
            (self.data_folder / result_id).write_bytes(value)
            self.sent.append(result_id)


class InProcessWorker:
    def __init__(self, function: TaskFunction) -> None:
        self.function = function

    async def start(self) -> None:
        pass

    async def wait_ready(self, stop: asyncio.Event) -> bool:
        return True

    async def process(self, ctx: TaskContext, *, timeout: float | None) -> WorkerReply:
        handler = TaskHandler(ctx)
        try:
            returned = await asyncio.wait_for(self._call(handler), timeout)
        except TimeoutError:
            return WorkerReply(Outcome.TIMEOUT, f"task exceeded its max_duration of {timeout} s")
        except Exception as exc:
            log.warning("task %s: the function raised %s", ctx.task.task_id, _described(exc))
            return WorkerReply(Outcome.CRASH, f"the function raised {_described(exc)}")
        reply = _reply(returned)
        if reply.outcome is not Outcome.OK:
            return reply
        try:
            await ctx.notify(handler.sent)
        except errors.PyArmoniKError as exc:  # e.g. a result that is not the session's
            return WorkerReply(Outcome.ERROR, f"results sent by the function: {exc.message}")
        return reply

    async def _call(self, handler: TaskHandler) -> object:
        if inspect.iscoroutinefunction(self.function):
            return await self.function(handler)
        returned = await asyncio.to_thread(self.function, handler)
        if inspect.isawaitable(returned):  # a callable object whose __call__ is async
            return await returned
        return returned

    async def recover(self) -> None:
        """Nothing to restart: each call stands alone (an abandoned thread
        finishes on its own)."""

    async def close(self) -> None:
        pass


def _reply(returned: object) -> WorkerReply:
    if returned is None:
        return WorkerReply(Outcome.OK)
    if not hasattr(returned, "error"):
        return WorkerReply(Outcome.CRASH, f"the function returned {type(returned).__name__}, not an Output")
    error = returned.error
    if error is None:
        return WorkerReply(Outcome.OK)
    return WorkerReply(Outcome.ERROR, str(error) or "the function returned an error")


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
