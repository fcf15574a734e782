"""The in-process Worker adapter: a Python function's return, exception or
overrun becomes the reply the gRPC adapter would give, and what it sends
lands in the TaskContext as a gRPC worker's NotifyResultData would.

The context's expected output is a known input (as a claim makes it), so
notifying it reads no store; the one test of an unknown result gives the
context a state port that knows none (the same adapter on real Redis, under
a pollster: tests/integration/test_inprocess_agent.py)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from pyarmonik.agent.inprocess_worker import InProcessWorker, TaskFunction, TaskHandler
from pyarmonik.agent.task_context import TaskContext
from pyarmonik.core import errors
from pyarmonik.core.models import Result, Task, TaskOptions
from pyarmonik.core.statuses import ResultStatus, TaskStatus
from pyarmonik.lifecycle.grid import Grid
from pyarmonik.lifecycle.outcomes import Outcome


class Output:
    """``armonik.common.Output``'s shape (the adapter needs no SDK)."""

    def __init__(self, error: str | None = None) -> None:
        self.error = error


class NoResults:
    """A state port that knows no result."""

    async def get_results(self, result_ids: list[str], *, session_id: str | None = None) -> list[Result]:
        raise errors.missing("result", result_ids)


def context(tmp_path: Path, *, data_dependencies: tuple[str, ...] = ()) -> TaskContext:
    task = Task(
        task_id="task-1",
        session_id="session-1",
        status=TaskStatus.PROCESSING,
        options=TaskOptions(max_duration=60.0),
        created_at=0.0,
        payload_id="payload-1",
        data_dependencies=list(data_dependencies),
        expected_output_ids=["output-1"],
    )
    grid = Grid(state=NoResults(), queue=None, objects=None, events=None)  # type: ignore[arg-type]
    ctx = TaskContext(grid, task, tmp_path)
    ctx.data_folder.mkdir()
    (ctx.data_folder / "payload-1").write_bytes(b"the payload")
    for result_id in data_dependencies:
        (ctx.data_folder / result_id).write_bytes(f"data of {result_id}".encode())
    ctx.known_inputs = {"output-1": Result("session-1", "output-1", "out", ResultStatus.CREATED, 0.0)}
    return ctx


async def run(function: TaskFunction, ctx: TaskContext, *, timeout: float | None = 60.0) -> Any:
    return await InProcessWorker(function).process(ctx, timeout=timeout)


async def test_a_function_that_returns_an_output_sends_its_result_through_the_task_context(tmp_path: Path) -> None:
    ctx = context(tmp_path, data_dependencies=("dep-1",))
    seen: dict[str, Any] = {}

    def echo(handler: TaskHandler) -> Output:
        seen.update(payload=handler.payload, deps=dict(handler.data_dependencies), options=handler.task_options)
        handler.send_results({handler.expected_results[0]: handler.payload.upper()})
        return Output()

    reply = await run(echo, ctx)
    assert reply.outcome is Outcome.OK
    assert seen == {"payload": b"the payload", "deps": {"dep-1": b"data of dep-1"}, "options": ctx.task.options}
    assert ctx.files == {"output-1": ctx.data_folder / "output-1"}
    assert (ctx.data_folder / "output-1").read_bytes() == b"THE PAYLOAD"


async def test_a_coroutine_function_returning_none_is_ok(tmp_path: Path) -> None:
    ctx = context(tmp_path)

    async def noop(handler: TaskHandler) -> None:
        handler.send_results({"output-1": b"r"})

    assert (await run(noop, ctx)).outcome is Outcome.OK
    assert list(ctx.files) == ["output-1"]


async def test_an_output_with_an_error_is_error_with_its_message_and_nothing_notified(tmp_path: Path) -> None:
    ctx = context(tmp_path)

    def refuse(handler: TaskHandler) -> Output:
        handler.send_results({"output-1": b"partial"})
        return Output(error="bad input")

    reply = await run(refuse, ctx)
    assert (reply.outcome, reply.message) == (Outcome.ERROR, "bad input")
    assert ctx.files == {}


async def test_an_exception_is_a_crash_naming_it(tmp_path: Path) -> None:
    def explode(handler: TaskHandler) -> Output:
        raise ValueError("no such key")

    reply = await run(explode, context(tmp_path))
    assert (reply.outcome, reply.message) == (Outcome.CRASH, "the function raised ValueError: no such key")


async def test_a_return_that_is_not_an_output_is_a_crash(tmp_path: Path) -> None:
    reply = await run(lambda handler: 42, context(tmp_path))  # type: ignore[arg-type,return-value]
    assert (reply.outcome, reply.message) == (Outcome.CRASH, "the function returned int, not an Output")


async def test_a_coroutine_over_its_max_duration_is_a_timeout_and_is_cancelled(tmp_path: Path) -> None:
    cancelled = asyncio.Event()

    async def forever(handler: TaskHandler) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    reply = await run(forever, context(tmp_path), timeout=0.05)
    assert (reply.outcome, reply.message) == (Outcome.TIMEOUT, "task exceeded its max_duration of 0.05 s")
    assert cancelled.is_set()


async def test_a_plain_function_over_its_max_duration_is_a_timeout_its_thread_abandoned(tmp_path: Path) -> None:
    release = threading.Event()
    try:
        reply = await run(lambda handler: release.wait(), context(tmp_path), timeout=0.05)  # type: ignore[arg-type,return-value]
        assert reply.outcome is Outcome.TIMEOUT
    finally:
        release.set()


async def test_a_result_the_session_does_not_have_is_an_error(tmp_path: Path) -> None:
    def stray(handler: TaskHandler) -> None:
        handler.send_results({"not-of-this-session": b"x"})

    reply = await run(stray, context(tmp_path))
    assert reply.outcome is Outcome.ERROR
    assert "not-of-this-session" in reply.message


async def test_cancelling_the_call_cancels_the_coroutine(tmp_path: Path) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def forever(handler: TaskHandler) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    call = asyncio.ensure_future(run(forever, context(tmp_path), timeout=None))
    await asyncio.wait_for(started.wait(), 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert cancelled.is_set()
